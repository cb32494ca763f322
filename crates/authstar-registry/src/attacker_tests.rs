//! What a lost file, a busy database or a guesser does to the registry.

use std::path::PathBuf;
use std::time::Duration;

use crate::*;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authstar-registry-{name}-{}-{}",
        std::process::id(),
        hex(&random::<4>().unwrap())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_secrets_file_is_refused_never_replaced() {
    let dir = fresh_dir("lost");
    let db = dir.join("r.db");
    let registry = Registry::open(&db).await.unwrap();
    let created = registry
        .create_client(Some("svc"), None, &[])
        .await
        .unwrap();
    drop(registry);
    let secrets = secrets_path(&db);
    let saved = std::fs::read(&secrets).unwrap();
    std::fs::remove_file(&secrets).unwrap();
    let error = Registry::open(&db).await.unwrap_err().to_string();
    assert!(
        error.contains("missing") && error.contains("restore"),
        "{error}"
    );
    assert!(!secrets.exists(), "no new pepper was written");
    // Another database's secrets file is refused too.
    let other = dir.join("other.db");
    Registry::open(&other).await.unwrap();
    std::fs::copy(secrets_path(&other), &secrets).unwrap();
    let error = Registry::open(&db).await.unwrap_err().to_string();
    assert!(error.contains("another database"), "{error}");
    // The right file back: everything works again.
    std::fs::write(&secrets, saved).unwrap();
    let registry = Registry::open(&db).await.unwrap();
    assert!(
        registry
            .authenticate_client("svc", &created.client_secret)
            .await
            .unwrap()
            .is_some()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_and_secrets_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = fresh_dir("modes");
    let db = dir.join("r.db");
    let registry = Registry::open(&db).await.unwrap();
    registry
        .create_client(Some("svc"), None, &[])
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm", ".secrets.json"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let mode = std::fs::metadata(PathBuf::from(&name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name:?} is {mode:o}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Issue 20, item 15: a secrets file other users can read was used silently.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_file_others_can_read_is_refused_with_its_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = fresh_dir("shared-secrets");
    let db = dir.join("r.db");
    drop(Registry::open(&db).await.unwrap());
    let secrets = secrets_path(&db);
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = Registry::open(&db).await.unwrap_err().to_string();
    assert!(
        error.contains("readable by other users") && error.contains("chmod 600"),
        "{error}"
    );
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The database file itself: a warning, not a refusal (its hashes need the pepper).
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Registry::open(&db).await.is_ok());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_ttl_out_of_range_is_refused_before_any_file_is_made() {
    let dir = fresh_dir("ttl");
    let db = dir.join("r.db");
    let error = Registry::builder(db.as_path())
        .cache_ttl(Duration::from_secs(99_999_999_999))
        .open()
        .await;
    assert!(matches!(error, Err(RegistryError::CacheTtlTooLong(_))));
    assert!(!db.exists() && !secrets_path(&db).exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_secrets_must_be_long_enough() {
    let dir = fresh_dir("weak");
    let registry = Registry::open(&dir.join("r.db")).await.unwrap();
    assert!(matches!(
        registry
            .create_client(Some("svc"), Some("hunter2"), &[])
            .await,
        Err(RegistryError::WeakSecret)
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_holding_the_database_does_not_fail_valid_credentials() {
    let dir = fresh_dir("locked");
    let db = dir.join("r.db");
    let registry = Registry::builder(db.as_path())
        .cache_ttl(Duration::ZERO)
        .open()
        .await
        .unwrap();
    let created = registry
        .create_client(Some("svc"), None, &[])
        .await
        .unwrap();
    let key = registry.create_key("svc", &[]).await.unwrap();
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer
        .execute_batch("BEGIN IMMEDIATE; UPDATE clients SET scopes = scopes;")
        .unwrap();
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert!(
            registry
                .authenticate_client("svc", &created.client_secret)
                .await
                .unwrap()
                .is_some()
        );
        assert!(registry.authenticate_key(&key.key).await.unwrap().is_some());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no wait for the writer's lock"
    );
    writer.execute_batch("COMMIT;").unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// Issue 20, item 8: a wrong generated (HMAC) secret was refused in 0.7 ms, an unknown,
/// revoked or imported-secret id in ~18 ms: the time told which ids exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_costs_the_same_whatever_its_reason() {
    let dir = fresh_dir("timing-all");
    let registry = Registry::builder(dir.join("r.db"))
        .cache_ttl(Duration::ZERO)
        .open()
        .await
        .unwrap();
    registry
        .create_client(Some("imported"), Some("a long imported secret"), &[])
        .await
        .unwrap();
    registry
        .create_client(Some("generated"), None, &[])
        .await
        .unwrap();
    registry
        .create_client(Some("revoked"), None, &[])
        .await
        .unwrap();
    registry.revoke_client("revoked").await.unwrap();
    let time = async |id: &str| {
        let started = std::time::Instant::now();
        let answer = registry
            .check_client_any(id, &["a wrong guess!!!"])
            .await
            .unwrap();
        assert!(answer.is_none());
        started.elapsed()
    };
    time("generated").await;
    // Each round times every kind of id one after the other, and compares each with the
    // unknown id of the same round: a busy moment slows a whole round, not one side. What
    // this must catch is a refusal several times faster (HMAC speed: 25×), not noise.
    let ids = ["imported", "generated", "revoked", "nobody"];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); ids.len()];
    for _ in 0..11 {
        let mut round = Vec::new();
        for id in ids {
            round.push(time(id).await.as_secs_f64());
        }
        for (ratios, took) in ratios.iter_mut().zip(&round) {
            ratios.push(took / round[3]);
        }
    }
    for (id, mut ratios) in ids.iter().zip(ratios) {
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        assert!(
            (0.6..1.66).contains(&median),
            "{id}: {median:.2} times an unknown id's refusal ({ratios:?})"
        );
    }
    // Two readings of one secret (as sent, RFC 6749-decoded) cost two checks, whatever
    // the id: still no difference between ids.
    let two = async |id: &str| {
        let started = std::time::Instant::now();
        let answer = registry
            .check_client_any(id, &["a%2Bwrong", "a+wrong"])
            .await;
        assert!(answer.unwrap().is_none());
        started.elapsed()
    };
    let (generated, nobody) = (two("generated").await, two("nobody").await);
    let ratio = generated.as_secs_f64() / nobody.as_secs_f64();
    assert!((0.6..1.66).contains(&ratio), "{generated:?} vs {nobody:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_cost_as_much_as_a_wrong_imported_secret() {
    let dir = fresh_dir("timing");
    let registry = Registry::builder(dir.join("r.db"))
        .cache_ttl(Duration::ZERO)
        .open()
        .await
        .unwrap();
    registry
        .create_client(Some("imported"), Some("a long imported secret"), &[])
        .await
        .unwrap();
    let time = async |id: &str| {
        let started = std::time::Instant::now();
        assert!(
            registry
                .authenticate_client(id, "a wrong guess!!!")
                .await
                .unwrap()
                .is_none()
        );
        started.elapsed()
    };
    // Interleaved, after a warm-up, so both see the same machine.
    time("imported").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..11 {
        known.push(time("imported").await);
        unknown.push(time("nobody").await);
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[5], unknown[5]);
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    // Equal costs give ~1; the defect this pins (an unknown id answered without a password
    // check) gives ~0.04. The band is wide because the whole suite shares two cores: 0.8
    // failed once under load with equal work on both sides.
    assert!(
        (0.6..1.67).contains(&ratio),
        "unknown {unknown:?} vs known {known:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

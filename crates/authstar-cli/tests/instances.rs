//! Several `authstar demo` processes sharing one registry: what one instance or the CLI does,
//! every other instance sees, revocations within a second (API key by the CLI or the admin API,
//! Basic, session, JWT by RFC 7009 or with its client), with every cache on (30 s TTL, verified
//! JWTs until `exp`).
//!
//! Once on a shared SQLite file (processes on one host), once on PostgreSQL (skipped without
//! `AUTHSTAR_TEST_DATABASE_URL`, failing under `CI=true`).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::{Demo, postgres_database};

/// The `authstar` command on the shared registry.
fn cli(db: &str, secrets: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_authstar"))
        .args(args)
        .args(["--db", db, "--secrets"])
        .arg(secrets)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Polls `status` until it answers `want`, for at most a second after the change.
async fn within_a_second<F, Fut>(what: &str, want: StatusCode, status: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let changed = Instant::now();
    loop {
        let got = status().await;
        if got == want {
            return;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "{what}: still {got} after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn two_instances_share_one_registry(name: &str, db: &str) {
    let dir =
        std::env::temp_dir().join(format!("authstar-instances-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    let secrets_arg = secrets.to_str().unwrap();
    // One issuer for both, as behind a load balancer: each verifies the other's tokens.
    let args = [
        "--db",
        db,
        "--secrets",
        secrets_arg,
        "--cache-ttl",
        "30",
        "--issuer",
        "https://auth.example.test",
    ];
    let first = Demo::start_with(&format!("{name}-a"), &args);
    let second = Demo::start_with(&format!("{name}-b"), &args);
    // The second start names the database it uses, never a password it carries (issue 20,
    // item 14: a `?password=` was printed).
    assert!(
        second
            .printed
            .iter()
            .any(|line| line.contains("using the clients in"))
            && !second.printed.iter().any(|line| line.contains(PASSWORD)),
        "{:?}",
        second.printed
    );
    let http = reqwest::Client::new();

    // The API key the first instance created works on the second.
    let key = first.value("api_key:");
    // `/me` on the second instance with an API key.
    let me_with_api_key = |api_key: &str| {
        let request = http
            .get(format!("{}/me", second.base))
            .header("x-api-key", api_key);
        async move { request.send().await.unwrap().status() }
    };
    let me_with_key = || me_with_api_key(&key);
    assert_eq!(me_with_key().await, StatusCode::OK);

    // A client created with the CLI works on both, and a session opened on the second.
    let created = cli(
        db,
        &secrets,
        &[
            "clients",
            "create",
            "--id",
            "ops",
            "--scope",
            "reports:read",
            "--json",
        ],
    );
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let token_from = |base: &str| {
        let request = http
            .post(format!("{base}/oauth2/token"))
            .basic_auth("ops", Some(&secret))
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(token_from(&first.base).await, StatusCode::OK);
    assert_eq!(token_from(&second.base).await, StatusCode::OK);

    // JWTs issued by the first, verified (and cached) by the second.
    let jwt_from_first = || support::access_token(&first.base, "ops", &secret);
    let (revoked_jwt, kept_jwt) = (jwt_from_first().await, jwt_from_first().await);
    let me_with = |token: &str| {
        let request = http.get(format!("{}/me", second.base)).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me_with(&revoked_jwt).await, StatusCode::OK);
    assert_eq!(me_with(&kept_jwt).await, StatusCode::OK);
    // Revoked through the first instance's RFC 7009 endpoint: the second refuses it within a
    // second, though its verified-token cache holds it for an hour.
    let revoked = http
        .post(format!("{}/oauth2/revoke", first.base))
        .basic_auth("ops", Some(&secret))
        .form(&[("token", &revoked_jwt)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    within_a_second(
        "JWT revoked on the other instance",
        StatusCode::UNAUTHORIZED,
        || me_with(&revoked_jwt),
    )
    .await;
    assert_eq!(me_with(&kept_jwt).await, StatusCode::OK, "only that token");
    let login = http
        .post(format!("{}/session", second.base))
        .basic_auth("ops", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me_with_cookie = || {
        let request = http
            .get(format!("{}/me", second.base))
            .header("cookie", &cookie);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me_with_cookie().await, StatusCode::OK);

    // Revoked through the CLI (another process): the second instance, whose caches hold all
    // three for 30 s, refuses each within a second.
    let keys: serde_json::Value =
        serde_json::from_str(&cli(db, &secrets, &["keys", "list", "--json"])).unwrap();
    let key_id = keys[0]["key_id"].as_str().unwrap().to_owned();
    cli(db, &secrets, &["keys", "revoke", &key_id]);
    within_a_second("revoked API key", StatusCode::UNAUTHORIZED, me_with_key).await;

    // An API key made through the first instance's admin API works on the second; revoked
    // through the admin API, the second refuses it within a second.
    let root: serde_json::Value = serde_json::from_str(&cli(
        db,
        &secrets,
        &[
            "clients", "create", "--id", "root", "--scope", "admin", "--json",
        ],
    ))
    .unwrap();
    let root_secret = root["client_secret"].as_str().unwrap().to_owned();
    let made: serde_json::Value = http
        .post(format!("{}/admin/keys", first.base))
        .basic_auth("root", Some(&root_secret))
        .json(&serde_json::json!({"client_id": "ops"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin_key = made["key"].as_str().unwrap().to_owned();
    let me_with_admin_key = || me_with_api_key(&admin_key);
    assert_eq!(me_with_admin_key().await, StatusCode::OK);

    // The key's own rate limit and a new expiry, set through the first instance's admin API,
    // are in force on the second within its poll (it counts alone: no Redis here).
    let key_route = |what: &str| {
        format!(
            "{}/admin/keys/{}/{what}",
            first.base,
            made["key_id"].as_str().unwrap()
        )
    };
    let put = |url: String, body: serde_json::Value| {
        http.put(url)
            .basic_auth("root", Some(&root_secret))
            .json(&body)
            .send()
    };
    let limited = put(
        key_route("rate-limit"),
        serde_json::json!({"rate": "2/60s"}),
    );
    assert_eq!(limited.await.unwrap().status(), StatusCode::NO_CONTENT);
    within_a_second(
        "a key's own rate limit",
        StatusCode::TOO_MANY_REQUESTS,
        me_with_admin_key,
    )
    .await;
    let cleared = put(key_route("rate-limit"), serde_json::json!({"rate": null}));
    assert_eq!(cleared.await.unwrap().status(), StatusCode::NO_CONTENT);
    within_a_second(
        "a key's limit taken away",
        StatusCode::OK,
        me_with_admin_key,
    )
    .await;
    let brief: serde_json::Value = serde_json::from_str(&cli(
        db,
        &secrets,
        &["keys", "create", "--client-id", "ops", "--json"],
    ))
    .unwrap();
    let brief_key = brief["key"].as_str().unwrap().to_owned();
    let me_with_brief = || me_with_api_key(&brief_key);
    assert_eq!(me_with_brief().await, StatusCode::OK, "cached there");
    let ends = put(
        format!(
            "{}/admin/keys/{}/expiry",
            first.base,
            brief["key_id"].as_str().unwrap()
        ),
        serde_json::json!({"expires_in": 1}),
    );
    assert_eq!(ends.await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    within_a_second(
        "a key whose expiry was brought forward",
        StatusCode::UNAUTHORIZED,
        me_with_brief,
    )
    .await;

    // A rotation through the first instance: the new key works on the second, the old one
    // too for the overlap; its audit entries, paged, are read through the second, by who made
    // them.
    let expired_rotation = http
        .post(format!(
            "{}/admin/keys/{}/rotate",
            first.base,
            brief["key_id"].as_str().unwrap()
        ))
        .basic_auth("root", Some(&root_secret))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expired_rotation.status(),
        StatusCode::NOT_FOUND,
        "an expired key is not rotated"
    );
    let rotation = http
        .post(key_route("rotate"))
        .basic_auth("root", Some(&root_secret))
        .json(&serde_json::json!({"overlap": 3_600}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotation.status(), StatusCode::CREATED);
    let rotation: serde_json::Value = rotation.json().await.unwrap();
    let new_key = rotation["key"].as_str().unwrap().to_owned();
    within_a_second(
        "a rotated key on the other instance",
        StatusCode::OK,
        || me_with_api_key(&new_key),
    )
    .await;
    assert_eq!(
        me_with_admin_key().await,
        StatusCode::OK,
        "within the overlap"
    );
    let trail = support::every_page(
        &second.base,
        "/admin/audit?client=ops&limit=2",
        ("root", &root_secret),
        2,
    )
    .await;
    let actions: Vec<(&str, &str)> = trail
        .iter()
        .map(|entry| {
            let (action, actor) = (entry["action"].as_str(), entry["actor"].as_str());
            (action.unwrap(), actor.unwrap())
        })
        .collect();
    for (action, actor) in [
        ("client.create", "cli"),
        ("key.rate_limit", "admin:root"),
        ("key.expiry", "admin:root"),
        ("key.rotate", "admin:root"),
    ] {
        assert!(
            actions.contains(&(action, actor)),
            "{action} by {actor} in {actions:?}"
        );
    }

    let revoked = http
        .delete(format!(
            "{}/admin/keys/{}",
            first.base,
            made["key_id"].as_str().unwrap()
        ))
        .basic_auth("root", Some(&root_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    within_a_second(
        "API key revoked through the admin API",
        StatusCode::UNAUTHORIZED,
        me_with_admin_key,
    )
    .await;

    cli(db, &secrets, &["clients", "revoke", "ops"]);
    within_a_second(
        "revoked client's session",
        StatusCode::UNAUTHORIZED,
        me_with_cookie,
    )
    .await;
    within_a_second("revoked client's Basic", StatusCode::UNAUTHORIZED, || {
        token_from(&second.base)
    })
    .await;
    within_a_second("revoked client's JWT", StatusCode::UNAUTHORIZED, || {
        me_with(&kept_jwt)
    })
    .await;
    // And the other instance's token endpoint too: 401 `invalid_client` (not 500).
    within_a_second(
        "revoked client's token request",
        StatusCode::UNAUTHORIZED,
        || token_from(&first.base),
    )
    .await;
    drop((first, second));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_sqlite_file() {
    let dir = std::env::temp_dir().join(format!("authstar-instances-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("shared.db");
    two_instances_share_one_registry("sqlite", db.to_str().unwrap()).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres() {
    let Some(url) = postgres_database("instances") else {
        return;
    };
    // The test server trusts loopback: the password is there to be hidden, not checked.
    let url = format!("{url}?password={PASSWORD}");
    two_instances_share_one_registry("postgres", &url).await;
}

/// A database password that must appear in no output.
const PASSWORD: &str = "never-printed-anywhere";

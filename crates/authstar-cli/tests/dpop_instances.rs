//! A DPoP proof is used once across instances that share Redis (RFC 9449 §11.1): a proof
//! accepted by one demo process is refused as a replay by another, both ways; without Redis
//! (the control) the other instance accepts it, so the test can tell the difference.

use authstar_testkit::python;
mod support;

use authstar_testkit::redis::{RedisServer, free_port};
use support::Demo;

const ISSUER: &str = "https://auth.example.test";

/// Two demos on one SQLite file and one issuer URL, with `extra` arguments; the replay script's
/// output.
fn replay_across(name: &str, extra: &[&str], expect: &str) -> String {
    let dir = std::env::temp_dir().join(format!("authstar-dpop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (db, secrets) = (dir.join("shared.db"), dir.join("secrets.json"));
    let mut args = vec![
        "--db",
        db.to_str().unwrap(),
        "--secrets",
        secrets.to_str().unwrap(),
        "--issuer",
        ISSUER,
    ];
    args.extend_from_slice(extra);
    let a = Demo::start_with(&format!("{name}-a"), &args);
    let b = Demo::start_with(&format!("{name}-b"), &args);
    let (id, secret) = (a.value("client_id:"), a.value("client_secret:"));
    let out = python::run(
        "dpop_replay_across.py",
        &[ISSUER, &a.base, &b.base, &id, &secret, expect],
    );
    let _ = std::fs::remove_dir_all(dir);
    out
}

#[test]
fn a_proof_used_on_one_instance_is_refused_on_another_through_redis() {
    if !python::available("jwt, cryptography, httpx") {
        return;
    }
    let Some(redis) = RedisServer::start(free_port()) else {
        return;
    };
    let url = redis.url();
    let shared = replay_across("shared", &["--redis", &url], "refused");
    assert!(shared.contains("replay refused"), "{shared}");
    // The control: without Redis each instance knows only its own proofs.
    let apart = replay_across("apart", &[], "accepted");
    assert!(apart.contains("replay accepted"), "{apart}");
}

/// A `private_key_jwt` assertion is used once across instances too (RFC 7523 §3): its `jti`
/// travels through the same Redis channel as the proofs, into the assertions' own memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_used_on_one_instance_is_refused_on_another_through_redis() {
    use authstar_testkit::assertion::KeyClient;
    let Some(redis) = RedisServer::start(free_port()) else {
        return;
    };
    let url = redis.url();
    for (name, extra, replay_status) in [
        ("assertions-shared", vec!["--redis", url.as_str()], 401),
        // The control: without Redis each instance knows only its own assertions.
        ("assertions-apart", vec![], 200),
    ] {
        let dir = std::env::temp_dir().join(format!("authstar-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (db, secrets) = (dir.join("shared.db"), dir.join("secrets.json"));
        let mut args = vec![
            "--db",
            db.to_str().unwrap(),
            "--secrets",
            secrets.to_str().unwrap(),
            "--issuer",
            ISSUER,
        ];
        args.extend_from_slice(&extra);
        let a = Demo::start_with(&format!("{name}-a"), &args);
        let b = Demo::start_with(&format!("{name}-b"), &args);
        let job = KeyClient::new("job");
        let jwks = dir.join("job.jwks.json");
        std::fs::write(&jwks, job.jwks()).unwrap();
        let created = std::process::Command::new(env!("CARGO_BIN_EXE_authstar"))
            .args([
                "clients",
                "create",
                "--id",
                "job",
                "--auth-method",
                "private_key_jwt",
            ])
            .args(["--jwks", jwks.to_str().unwrap()])
            .args([
                "--db",
                db.to_str().unwrap(),
                "--secrets",
                secrets.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(created.status.success(), "{created:?}");
        let post = |base: String, assertion: String| async move {
            reqwest::Client::new()
                .post(format!("{base}/oauth2/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        let assertion = job.assertion(ISSUER);
        assert_eq!(post(a.base.clone(), assertion.clone()).await, 200);
        if replay_status == 401 {
            // Published in the same script that records it: once Redis holds it, the other
            // instance has been told (one try only: a second would meet its own memory).
            authstar_testkit::serve::until(
                std::time::Duration::from_secs(5),
                "the assertion's jti in Redis",
                || {
                    let held = redis.cli(&["ZRANGE", "authstar:dpop:seen", "0", "-1"]);
                    std::future::ready(held.lines().any(|member| member.starts_with("a:")))
                },
            )
            .await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            post(b.base.clone(), assertion).await,
            replay_status,
            "{name}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

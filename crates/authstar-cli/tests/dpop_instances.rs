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

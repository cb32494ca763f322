//! What authstar's own tests share (unpublished): written once here instead of in each test
//! file.
//!
//! * [`dpop::DpopClient`]: DPoP proofs signed as a client library signs them (jsonwebtoken, not
//!   authstar's own signing code);
//! * [`assertion::KeyClient`]: a `private_key_jwt` client's keys and assertions, signed by
//!   jsonwebtoken;
//! * [`proofs::FakeProofs`]: a scripted `ProofVerifier` for layer and endpoint tests that are
//!   not about the proof's cryptography;
//! * [`serve`]: an axum app on a free loopback port, and [`serve::until`], the readiness wait
//!   every test polls with instead of sleeping;
//! * [`python`]: the Python clients in `tests/python` (authlib, PyJWT, grpcio);
//! * [`redis::RedisServer`]: a `redis-server` of the test's own, to kill and restart.
//!
//! A test that needs an outside program (python3 and its packages, redis-server) skips on a
//! laptop without it and fails under `CI=true`.

#![forbid(unsafe_code)]

pub mod assertion;
pub mod dpop;
pub mod proofs;
pub mod python;
pub mod redis;
pub mod serve;

/// Whether this run is CI's (`CI=true`): a missing outside program is then a failure.
pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips (returns `false`, saying why) when `available` is false, except under `CI=true`,
/// where it panics with `what` and how to install it.
pub fn require(available: bool, what: &str) -> bool {
    if !available {
        assert!(!ci(), "CI=true but {what}");
        eprintln!("skipped: {what}");
    }
    available
}

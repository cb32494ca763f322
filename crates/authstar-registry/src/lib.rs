//! # authstar-registry
//!
//! OAuth2 clients and API keys for authstar: create, list, revoke and verify them, on embedded
//! SQLite (the default) or on PostgreSQL shared by several instances. Async; the engines sit
//! behind the [`Store`](store::Store) trait.
//!
//! ```
//! use authstar_registry::Registry;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("authstar-registry-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let registry = Registry::open(&dir.join("clients.db")).await.unwrap();
//! let client = registry.create_client(Some("svc"), None, &["read".to_owned()]).await.unwrap();
//! let key = registry.create_key("svc", &[]).await.unwrap();
//! assert!(registry.authenticate_key(&key.key).await.unwrap().is_some());
//! assert!(registry.authenticate_client("svc", &client.client_secret).await.unwrap().is_some());
//! registry.revoke_client("svc").await.unwrap();
//! assert!(registry.authenticate_key(&key.key).await.unwrap().is_none());
//! # drop(registry);
//! # let _ = std::fs::remove_dir_all(dir);
//! # });
//! ```
//!
//! Several instances share one PostgreSQL database (and one secrets file, which holds the
//! pepper and must not live in the database):
//!
//! ```no_run
//! use authstar_registry::Registry;
//!
//! # async fn run() -> Result<(), authstar_registry::RegistryError> {
//! let registry = Registry::builder("postgres://authstar@db.internal/authstar")
//!     .secrets("/etc/authstar/secrets.json")
//!     .open()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Secrets are shown once and stored only as hashes:
//! * generated client secrets and API keys (256 random bits) as HMAC-SHA256 under a server-side
//!   pepper. A slow password hash buys nothing for a random 256-bit secret (nobody can guess it),
//!   and HMAC keeps verification cheap on the hot path; the pepper, kept outside the database,
//!   makes a stolen database useless for offline checks.
//! * secrets a user imports (`--secret`) may be low-entropy, so they get argon2id, on tokio's
//!   blocking threads, a bounded number at a time.
//!
//! Comparisons are constant-time (`hmac`'s `verify_slice`, argon2's verifier). API keys carry the
//! prefix `ask_` so secret scanners can find leaked ones: `ask_<key id>_<secret>`.
//!
//! **Revocation reaches every instance within the poll interval** (default 250 ms): each
//! revocation bumps a revision in the database, in the same transaction; every registry polls
//! it and drops its caches when it moves. While the database is unreachable, cached answers
//! keep working until their TTL runs out and everything else fails as
//! [`RegistryError::Store`] (the demo answers 503): never an open door.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod audit;
mod auth;
mod client_certificates;
mod client_keys;
mod clients;
mod database;
mod error;
mod key_changes;
mod key_format;
mod keys;
mod limits;
mod password;
mod registry;
mod revocations;
mod secrets;
pub mod store;
mod sync;
mod usage;

#[cfg(test)]
mod attacker_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

pub use audit::{LIBRARY_ACTOR, MAX_PAGE};
pub use auth::{ApiKeys, ClientSecrets, RegistryTokens};
pub use client_certificates::RegistryCertificates;
pub use client_keys::{MAX_CLIENT_KEYS, MAX_JWKS_LEN, client_jwks};
pub use clients::{ClientRecord, CreatedClient};
pub use database::{Database, RegistryBuilder};
pub use error::RegistryError;
pub use key_format::{api_key_id, is_well_formed_api_key};
pub use keys::{CreatedKey, KeyEnd, KeyOptions, KeyRecord, MAX_KEY_LIFETIME, MAX_KEY_NAME};
pub use password::MIN_IMPORTED_SECRET_LEN;
pub use registry::Registry;
pub use secrets::{ServerSecrets, secrets_path};

/// The longest cache TTL accepted: a revocation must take effect within a day at worst.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// How often a registry asks the database whether anything was revoked, unless told otherwise.
pub const DEFAULT_REVOCATION_POLL: Duration = Duration::from_millis(250);

/// The least a registry waits, without news from its database, before it calls what it knows
/// of revocations out of date ([`Registry::revocations_current`]).
pub const MIN_REVOCATION_STALENESS: Duration = Duration::from_secs(2);

/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "ask_";

/// Random bytes from the system.
pub fn random<const N: usize>() -> Result<[u8; N], RegistryError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RegistryError::Random)?;
    Ok(bytes)
}

pub(crate) use authstar_jwt::unix_now as now;

pub(crate) fn split_scopes(scopes: &str) -> Vec<String> {
    scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn check_scopes(scopes: &[String]) -> Result<(), RegistryError> {
    match scopes
        .iter()
        .find(|scope| !authstar_oauth2::is_scope_token(scope))
    {
        Some(scope) => Err(RegistryError::InvalidScope(scope.clone())),
        None => Ok(()),
    }
}

pub(crate) fn bounded_cache<K, V>(ttl: Duration) -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(ttl)
        .build()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

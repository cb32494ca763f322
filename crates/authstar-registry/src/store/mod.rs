//! Where the registry's rows live: the [`Store`] trait and its two engines, embedded SQLite
//! ([`SqliteStore`]) and PostgreSQL ([`PostgresStore`]).
//!
//! A store keeps rows only. Hashing, caching, the pepper and the rules (who may hold which
//! scope, what a revoked client's keys do) stay in [`Registry`](crate::Registry), so an engine is
//! a page of SQL and every engine passes the same contract tests.

mod migrations;
mod postgres;
mod sql;
mod sqlite;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub(crate) use migrations::{MIGRATIONS, SCHEMA_VERSION};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// How long one store call may take before it fails with [`StoreError::Timeout`], unless the
/// store is built with another.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// A store call in flight.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A boxed error from an engine's driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A row with that id exists already.
    #[error("a row with that id exists already")]
    Conflict,
    /// The call took longer than the store's call timeout.
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    /// The engine failed (unreachable, refused the query, a broken connection).
    #[error("database error")]
    Engine(#[source] BoxError),
    /// The database was migrated by a newer authstar: this one does not know its schema.
    #[error(
        "the database's schema is version {found}, newer than the {known} this authstar knows: \
         upgrade authstar"
    )]
    NewerSchema {
        /// The database's version.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
}

impl StoreError {
    pub(crate) fn engine(error: impl Into<BoxError>) -> Self {
        Self::Engine(error.into())
    }
}

/// A client's row. `scopes` is space-separated, as in OAuth2.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientRow {
    /// The client id.
    pub client_id: String,
    /// The secret's hash (`hmac-sha256$...` or an argon2 PHC string), never the secret.
    pub secret_hash: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// The last successful authentication, seconds since the epoch.
    pub last_used_at: Option<u64>,
    /// When it was revoked, seconds since the epoch.
    pub revoked_at: Option<u64>,
    /// How it authenticates: `client_secret_basic` (a secret, Basic or in the body),
    /// `private_key_jwt` (an assertion signed by a key in `jwks`), `tls_client_auth` or
    /// `self_signed_tls_client_auth` (a TLS client certificate as `certificate` says).
    pub auth_method: String,
    /// The public keys of a `private_key_jwt` client: a JWKS document.
    pub jwks: Option<String>,
    /// What the certificate of a `tls_client_auth` or `self_signed_tls_client_auth` client
    /// must be: an [`authstar_oauth2::mtls::CertificateRule`] as JSON.
    pub certificate: Option<String>,
    /// Its own request budget, `{"burst": N, "period_ms": M}` (none: the service's default).
    pub rate_limit: Option<String>,
}

impl ClientRow {
    /// A new, never used, active client with a secret.
    pub fn new(client_id: String, secret_hash: String, scopes: String, created_at: u64) -> Self {
        Self {
            client_id,
            secret_hash,
            scopes,
            created_at,
            last_used_at: None,
            revoked_at: None,
            auth_method: SECRET_METHOD.to_owned(),
            jwks: None,
            certificate: None,
            rate_limit: None,
        }
    }

    /// A new, never used, active `private_key_jwt` client with the public keys `jwks` (a
    /// JWKS document) and no secret.
    pub fn with_keys(client_id: String, jwks: String, scopes: String, created_at: u64) -> Self {
        Self {
            auth_method: KEY_METHOD.to_owned(),
            jwks: Some(jwks),
            ..Self::new(client_id, String::new(), scopes, created_at)
        }
    }

    /// A new, never used, active client that authenticates with a TLS certificate as `rule`
    /// (an [`authstar_oauth2::mtls::CertificateRule`] as JSON) says, by `method`
    /// (`tls_client_auth` or `self_signed_tls_client_auth`), and has no secret.
    pub fn with_certificate(
        client_id: String,
        method: &str,
        rule: String,
        scopes: String,
        created_at: u64,
    ) -> Self {
        Self {
            auth_method: method.to_owned(),
            certificate: Some(rule),
            ..Self::new(client_id, String::new(), scopes, created_at)
        }
    }

    /// Whether it authenticates with a secret (and a secret is all it may use).
    pub fn uses_secret(&self) -> bool {
        self.auth_method == SECRET_METHOD
    }
}

impl fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRow")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("revoked_at", &self.revoked_at)
            .field("auth_method", &self.auth_method)
            .finish_non_exhaustive()
    }
}

/// One entry of the audit log: who changed what, when. Never a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRow {
    /// Its number: entries are numbered in the order they were written (the cursor of a page).
    pub seq: u64,
    /// Seconds since the epoch.
    pub at: u64,
    /// Who: `cli`, `admin:<client id>`, `client:<client id>` (a client revoking its token), or
    /// what the library's caller named.
    pub actor: String,
    /// What: `client.create`, `client.revoke`, `client.scopes`, `key.create`, `key.rotate`, ...
    pub action: String,
    /// The client concerned, if any.
    pub client_id: Option<String>,
    /// The client, key or token id the action was on.
    pub target: String,
    /// What changed, as JSON (scopes, expiry, the key a rotation replaced); never a secret.
    pub detail: String,
}

/// Where a page of the audit log starts, and whose entries it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Entries at or after this time (seconds since the epoch).
    pub since: u64,
    /// After this entry (the `seq` of the last one of the previous page).
    pub after: Option<u64>,
    /// Only this client's entries.
    pub client_id: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// Seconds since the epoch, for the change log of an engine's own writes.
pub(crate) fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `auth_method` of a client with a secret (sent with Basic or in the body).
pub const SECRET_METHOD: &str = "client_secret_basic";
/// `auth_method` of a client that signs assertions (RFC 7523 §2.2).
pub const KEY_METHOD: &str = "private_key_jwt";

/// An API key's row (the key itself is never stored).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRow {
    /// The key id, the public part of the key.
    pub key_id: String,
    /// The owning client.
    pub client_id: String,
    /// The key's hash.
    pub key_hash: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// The last successful authentication.
    pub last_used_at: Option<u64>,
    /// When it was revoked.
    pub revoked_at: Option<u64>,
    /// When it stops working, seconds since the epoch (`None`: never, until revoked).
    pub expires_at: Option<u64>,
    /// The operator's name for it (never a secret).
    pub name: Option<String>,
    /// The key it was rotated from, if it was.
    pub replaces: Option<String>,
    /// Its own rate limit, where it has one (JSON: `burst`, `period_ms`).
    pub rate_limit: Option<String>,
    /// Its client's scopes, when read with the client ([`Store::active_key`]): a key never
    /// grants more than its client has now.
    pub client_scopes: Option<String>,
}

impl KeyRow {
    /// A new, never used, active key.
    pub fn new(
        key_id: String,
        client_id: String,
        key_hash: String,
        scopes: String,
        created_at: u64,
    ) -> Self {
        Self {
            key_id,
            client_id,
            key_hash,
            scopes,
            created_at,
            last_used_at: None,
            revoked_at: None,
            expires_at: None,
            name: None,
            replaces: None,
            rate_limit: None,
            client_scopes: None,
        }
    }
}

impl fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRow")
            .field("key_id", &self.key_id)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A change to one setting of an existing API key ([`Store::update_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyUpdate<'a> {
    /// Its own rate limit (JSON: `burst`, `period_ms`), or none.
    RateLimit(Option<&'a str>),
    /// When it stops working (seconds since the epoch), or never.
    Expiry(Option<u64>),
}

impl KeyUpdate<'_> {
    /// The statement (`$1` the value, `$2` the key id) and the change-log entry it makes.
    pub(crate) fn statement(self) -> (&'static str, ChangeKind) {
        match self {
            Self::RateLimit(_) => (sql::SET_KEY_RATE_LIMIT, ChangeKind::KeyLimits),
            Self::Expiry(_) => (sql::CHANGE_KEY_EXPIRY, ChangeKind::Key),
        }
    }
}

/// A rate limit as stored: a client's, or (with `key_id`) one of its keys'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitRow {
    /// The client, or the key's client.
    pub client_id: String,
    /// The key, for a key's own limit.
    pub key_id: Option<String>,
    /// The budget (JSON: `burst`, `period_ms`).
    pub limit: String,
}

/// What a revocation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked by this call.
    Now,
    /// Revoked before.
    Already,
    /// No such row.
    Unknown,
}

/// A use to record in `last_used_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Usage {
    /// A client authenticated with its secret.
    Client {
        /// The client.
        client_id: String,
        /// When, seconds since the epoch.
        at: u64,
    },
    /// An API key authenticated.
    Key {
        /// The key.
        key_id: String,
        /// When.
        at: u64,
    },
}

/// A revoked access token, kept until it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Its `exp`: past it the row may go, the token is refused anyway.
    pub expires_at: u64,
}

impl RevokedToken {
    /// A revoked token.
    pub fn new(jti: String, client_id: String, expires_at: u64) -> Self {
        Self {
            jti,
            client_id,
            expires_at,
        }
    }
}

/// What a change-log entry revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// An access token, by its `jti`.
    Token,
    /// An API key, by its key id.
    Key,
    /// A client (its keys and tokens with it), by its id.
    Client,
    /// A client's scopes changed (its id): every cached check goes, as its keys' are cached by
    /// key id.
    Scopes,
    /// A client's rate limit changed (its id): read again.
    Limits,
    /// An API key's rate limit changed (its key id): read again.
    KeyLimits,
    /// A change this authstar does not know (a newer one logged it, during a rolling
    /// upgrade): it cannot be applied alone, so the registry reloads everything.
    Unknown,
}

impl ChangeKind {
    /// The word stored in the log.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Key => "key",
            Self::Client => "client",
            Self::Scopes => "scopes",
            Self::Limits => "limits",
            Self::KeyLimits => "key-limits",
            Self::Unknown => "unknown",
        }
    }

    pub(crate) fn parse(word: &str) -> Self {
        match word {
            "token" => Self::Token,
            "key" => Self::Key,
            "client" => Self::Client,
            "scopes" => Self::Scopes,
            "limits" => Self::Limits,
            "key-limits" => Self::KeyLimits,
            _ => Self::Unknown,
        }
    }
}

/// One revocation, as every instance learns it: the revision it made, what, and (for a token)
/// its `exp`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The revision this revocation moved the registry to.
    pub revision: u64,
    /// What was revoked.
    pub kind: ChangeKind,
    /// Its id: a `jti`, a key id, a client id.
    pub id: String,
    /// A token's `exp`.
    pub expires_at: Option<u64>,
}

/// How long after its `exp` a revoked token is still remembered (and refused): the longest
/// leeway a verifier takes ([`authstar_jwt::MAX_LEEWAY`]), which accepts a token that long past
/// its `exp`. Forgetting it at `exp` let a revoked token in again for the leeway after an
/// instance reloaded its revocations.
pub const REVOKED_KEPT_PAST_EXP: u64 = authstar_jwt::MAX_LEEWAY.as_secs();

/// How long the change log keeps an entry. An instance that has not caught up for longer
/// reloads everything revoked instead.
pub const CHANGE_LOG_RETENTION: u64 = 24 * 3600;

/// Everything revoked that a token verifier must know, read in one call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationList {
    /// Revoked tokens not yet expired: `(jti, exp)`.
    pub tokens: Vec<(String, u64)>,
    /// Revoked clients.
    pub clients: Vec<String>,
}

/// The rows of a registry. Every call is bounded by the store's call timeout; none holds a
/// process-wide lock while it waits for the engine.
///
/// Revocations bump a counter, the *revision*, and log what they revoked under it, in the same
/// transaction: every process polls the revision (one tiny query per interval) and, when it
/// moves, reads the changes since the one it saw and applies exactly those (a token refused, a
/// key's or client's cache entries dropped): a revocation made anywhere reaches every instance
/// within the poll interval, and costs each instance what it concerns, not a reload.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Brings the schema to the newest version this build knows; returns that version.
    /// Safe to run from several processes at once.
    fn migrate(&self) -> StoreFuture<'_, u32>;

    /// Stores `value` under `name` unless a value is stored already; returns the stored one.
    fn init_meta<'a>(&'a self, name: &'a str, value: &'a str) -> StoreFuture<'a, String>;

    /// How many clients there are (revoked ones too).
    fn count_clients(&self) -> StoreFuture<'_, u64>;

    /// Adds a client; [`StoreError::Conflict`] when the id is taken.
    fn insert_client<'a>(&'a self, row: &'a ClientRow) -> StoreFuture<'a, ()>;

    /// One client, revoked or not.
    fn client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<ClientRow>>;

    /// Every client, oldest first.
    fn clients(&self) -> StoreFuture<'_, Vec<ClientRow>>;

    /// Replaces the public keys of an active `private_key_jwt` client; `false` when there is
    /// no such client.
    fn set_client_jwks<'a>(&'a self, client_id: &'a str, jwks: &'a str) -> StoreFuture<'a, bool>;

    /// Replaces the certificate rule of an active certificate client; `false` when there is
    /// none by that id.
    fn set_client_certificate<'a>(
        &'a self,
        client_id: &'a str,
        rule: &'a str,
    ) -> StoreFuture<'a, bool>;

    /// Revokes a client (its keys stop working with it) and bumps the revision.
    fn revoke_client<'a>(&'a self, client_id: &'a str, at: u64) -> StoreFuture<'a, Revoked>;

    /// Adds an API key; [`StoreError::Conflict`] when the key id is taken.
    fn insert_key<'a>(&'a self, row: &'a KeyRow) -> StoreFuture<'a, ()>;

    /// A key that is active and whose client is active, or `None`.
    fn active_key<'a>(&'a self, key_id: &'a str) -> StoreFuture<'a, Option<KeyRow>>;

    /// Every key, oldest first.
    fn keys(&self) -> StoreFuture<'_, Vec<KeyRow>>;

    /// At most `limit` keys by key id, after `after` (`""` for the first page).
    fn keys_page<'a>(&'a self, after: &'a str, limit: u32) -> StoreFuture<'a, Vec<KeyRow>>;

    /// Rotates a key, in one transaction: inserts `new`, brings the expiry of the active key
    /// `old` forward to `until` (never later), and logs the change so every instance drops the
    /// old key's cached checks; the new key takes the old one's rate limit, read in the same
    /// transaction (when there is one, a change-log entry tells every instance to read it);
    /// `false` (and nothing written) when `old` is no active key.
    fn rotate_key<'a>(
        &'a self,
        new: &'a KeyRow,
        old: &'a str,
        until: u64,
        at: u64,
    ) -> StoreFuture<'a, bool>;

    /// At most `limit` clients by id, after `after` (`""` for the first page).
    fn clients_page<'a>(&'a self, after: &'a str, limit: u32) -> StoreFuture<'a, Vec<ClientRow>>;

    /// Replaces an active client's scopes and logs the change (every instance drops its cached
    /// checks); `false` when there is no such client.
    fn set_client_scopes<'a>(
        &'a self,
        client_id: &'a str,
        scopes: &'a str,
    ) -> StoreFuture<'a, bool>;

    /// Replaces (or, with `None`, drops) an active client's rate limit and logs the change;
    /// `false` when there is no such client.
    fn set_client_rate_limit<'a>(
        &'a self,
        client_id: &'a str,
        limit: Option<&'a str>,
    ) -> StoreFuture<'a, bool>;

    /// Changes one setting of an active key of an active client and logs the change (every
    /// instance drops the key's cached checks, or reads its rate limit again); `false` when
    /// there is no such key.
    fn update_key<'a>(&'a self, key_id: &'a str, update: KeyUpdate<'a>) -> StoreFuture<'a, bool>;

    /// Every active client's and key's own rate limit.
    fn rate_limits(&self) -> StoreFuture<'_, Vec<LimitRow>>;

    /// Appends to the audit log, numbering the entry (`row.seq` is ignored): entries are
    /// numbered in the order they commit. Returns the number.
    fn append_audit<'a>(&'a self, row: &'a AuditRow) -> StoreFuture<'a, u64>;

    /// A page of the audit log, oldest first.
    fn audit_page<'a>(&'a self, query: &'a AuditQuery) -> StoreFuture<'a, Vec<AuditRow>>;

    /// Revokes a key and bumps the revision.
    fn revoke_key<'a>(&'a self, key_id: &'a str, at: u64) -> StoreFuture<'a, Revoked>;

    /// Records uses in `last_used_at` (a batch, written off the request path).
    fn record_usage<'a>(&'a self, uses: &'a [Usage]) -> StoreFuture<'a, ()>;

    /// The revision: it changes whenever anything is revoked.
    fn revision(&self) -> StoreFuture<'_, u64>;

    /// Records a revoked token (idempotent: [`Revoked::Already`] the second time), bumps the
    /// revision and logs the change, and deletes the rows of tokens expired more than
    /// [`REVOKED_KEPT_PAST_EXP`] before `at`.
    fn revoke_token<'a>(&'a self, token: &'a RevokedToken, at: u64) -> StoreFuture<'a, Revoked>;

    /// Revoked tokens expiring at or after `since`, and every revoked client.
    fn revocations(&self, since: u64) -> StoreFuture<'_, RevocationList>;

    /// The changes after `revision`, oldest first, at most `limit` of them. The log keeps
    /// [`CHANGE_LOG_RETENTION`]: a caller further behind finds its next revision missing and
    /// reloads [`revocations`](Self::revocations) instead.
    fn changes_since(&self, revision: u64, limit: u32) -> StoreFuture<'_, Vec<Change>>;
}

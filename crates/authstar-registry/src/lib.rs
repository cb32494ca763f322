//! # authstar-registry
//!
//! OAuth2 clients and API keys for authstar: create, list, revoke and verify them, on embedded
//! SQLite (the default) or on PostgreSQL shared by several instances. Async; the engines sit
//! behind the [`Store`] trait.
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

mod password;
mod revocations;
mod secrets;
pub mod store;
mod sync;
mod usage;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authstar::AuthstarClient;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use password::MIN_IMPORTED_SECRET_LEN;
use password::Passwords;
use revocations::RevocationSet;
pub use secrets::{ServerSecrets, secrets_path};
use store::{
    ClientRow, DEFAULT_CALL_TIMEOUT, KeyRow, PostgresStore, Revoked, RevokedToken, SqliteStore,
    Store, StoreError, Usage,
};
use usage::UsageRecorder;

/// The longest cache TTL accepted: a revocation must take effect within a day at worst.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// How often a registry asks the database whether anything was revoked, unless told otherwise.
pub const DEFAULT_REVOCATION_POLL: Duration = Duration::from_millis(250);

/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "ask_";

/// Registry errors; messages say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The database failed or did not answer in time.
    #[error("registry database: {0}")]
    Store(#[from] StoreError),
    /// The secrets file could not be read or written.
    #[error("secrets file {path}: {message}")]
    Secrets {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A PostgreSQL registry was opened without a secrets file.
    #[error(
        "a PostgreSQL registry needs a secrets file shared by every instance (--secrets FILE): \
         the pepper must not live in the database"
    )]
    SecretsPathRequired,
    /// No such client.
    #[error("no client {0:?}: see `authstar clients list`")]
    UnknownClient(String),
    /// No such key.
    #[error("no API key {0:?}: see `authstar keys list`")]
    UnknownKey(String),
    /// The client id is taken.
    #[error("client {0:?} already exists: choose another --id")]
    ClientExists(String),
    /// A client id with characters other than letters, digits, `-`, `_`, `.`, or too long.
    #[error("invalid client id {0:?}: use letters, digits, '-', '_' or '.' (at most 128)")]
    InvalidClientId(String),
    /// A scope outside RFC 6749 §3.3's grammar.
    #[error(
        "invalid scope {0:?}: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)"
    )]
    InvalidScope(String),
    /// A key asked for a scope its client does not hold.
    #[error("scope {scope:?} is not granted to client {client_id:?}")]
    ScopeNotGranted {
        /// The scope.
        scope: String,
        /// The client.
        client_id: String,
    },
    /// A key was asked for a revoked client.
    #[error("client {0:?} is revoked")]
    ClientRevoked(String),
    /// A cache TTL over [`MAX_CACHE_TTL`].
    #[error("cache TTL {} s is longer than the {} s allowed", .0.as_secs(), MAX_CACHE_TTL.as_secs())]
    CacheTtlTooLong(Duration),
    /// No randomness.
    #[error("the system random generator failed")]
    Random,
    /// An imported secret is too short or holds control characters.
    #[error(
        "an imported secret needs at least {MIN_IMPORTED_SECRET_LEN} characters and no control \
         characters (or omit --secret to have a 256-bit one generated)"
    )]
    WeakSecret,
    /// argon2 refused its parameters or input.
    #[error("password hashing failed: {0}")]
    PasswordHash(argon2::password_hash::Error),
    /// Too many password hashes are running or waiting: try again shortly.
    #[error("too many password checks at once; try again shortly")]
    Busy,
    /// A blocking task (a password hash) panicked or was cancelled.
    #[error("a password check did not finish")]
    Interrupted(#[source] tokio::task::JoinError),
}

/// A client as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientRecord {
    /// Id.
    pub client_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// Last successful authentication, seconds since the epoch.
    pub last_used_at: Option<u64>,
    /// Whether revoked.
    pub revoked: bool,
}

/// An API key as listed (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyRecord {
    /// Key id (the public part of the key).
    pub key_id: String,
    /// Owner.
    pub client_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// Last use.
    pub last_used_at: Option<u64>,
    /// Whether revoked.
    pub revoked: bool,
}

/// Random bytes from the system.
pub fn random<const N: usize>() -> Result<[u8; N], RegistryError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RegistryError::Random)?;
    Ok(bytes)
}

use authstar_jwt::unix_now as now;

fn split_scopes(scopes: &str) -> Vec<String> {
    scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn check_scopes(scopes: &[String]) -> Result<(), RegistryError> {
    match scopes
        .iter()
        .find(|scope| !authstar_oauth2::is_scope_token(scope))
    {
        Some(scope) => Err(RegistryError::InvalidScope(scope.clone())),
        None => Ok(()),
    }
}

fn bounded_cache<K, V>(ttl: Duration) -> moka::sync::Cache<K, V>
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

/// Where a registry keeps its rows: a SQLite file or a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created on first use.
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://user:password@host:port/name`.
    Postgres(String),
}

impl Database {
    /// `postgres://` and `postgresql://` URLs name PostgreSQL; anything else is a SQLite path.
    pub fn parse(value: &str) -> Self {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Self::Postgres(value.to_owned())
        } else {
            Self::Sqlite(PathBuf::from(value))
        }
    }
}

impl Database {
    /// The engine's [`Store`] for this database, with `call_timeout` on every call; not yet
    /// migrated (see [`Store::migrate`], or `authstar migrate`).
    pub fn connect(&self, call_timeout: Duration) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Self::Sqlite(path) => Arc::new(SqliteStore::open_with_timeout(path, call_timeout)?),
            Self::Postgres(url) => {
                Arc::new(PostgresStore::connect_with_timeout(url, call_timeout)?)
            }
        })
    }

    /// The default secrets file: beside a SQLite file; none for PostgreSQL.
    pub fn default_secrets(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite(path) => Some(secrets_path(path)),
            Self::Postgres(_) => None,
        }
    }
}

impl From<&str> for Database {
    fn from(value: &str) -> Self {
        Self::parse(value)
    }
}

impl From<&Path> for Database {
    fn from(path: &Path) -> Self {
        Self::Sqlite(path.to_owned())
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Self {
        Self::Sqlite(path)
    }
}

impl fmt::Display for Database {
    /// The path, or the URL with its password replaced by `***`, wherever the URL carries one
    /// (`user:password@`, or a `password=` parameter).
    ///
    /// ```
    /// use authstar_registry::Database;
    /// let url = Database::parse("postgres://app:s3cret@db/authstar?sslmode=disable&password=s3cret");
    /// assert_eq!(url.to_string(), "postgres://app:***@db/authstar?sslmode=disable&password=***");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                let (rest, query) = match rest.split_once('?') {
                    Some((rest, query)) => (rest, Some(query)),
                    None => (rest, None),
                };
                match rest.split_once('@') {
                    Some((user, host)) => {
                        let user = user.split_once(':').map_or(user, |(name, _)| name);
                        write!(f, "{scheme}://{user}:***@{host}")?;
                    }
                    None => write!(f, "{scheme}://{rest}")?,
                }
                if let Some(query) = query {
                    let masked: Vec<String> = query
                        .split('&')
                        .map(|pair| match pair.split_once('=') {
                            Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                                format!("{name}=***")
                            }
                            _ => pair.to_owned(),
                        })
                        .collect();
                    write!(f, "?{}", masked.join("&"))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
}

/// Opens a [`Registry`]; from [`Registry::builder`].
#[derive(Debug)]
#[must_use]
pub struct RegistryBuilder {
    database: Database,
    store: Option<Arc<dyn Store>>,
    secrets: Option<PathBuf>,
    cache_ttl: Duration,
    poll: Duration,
    call_timeout: Duration,
}

/// The least a registry waits, without news from its database, before it calls what it knows
/// of revocations out of date ([`Registry::revocations_current`]).
pub const MIN_REVOCATION_STALENESS: Duration = Duration::from_secs(2);

impl RegistryBuilder {
    /// The secrets file (the pepper, the cookie and signing keys). Default for SQLite:
    /// [`secrets_path`] of the database file; required for PostgreSQL, and the same file for
    /// every instance.
    pub fn secrets(mut self, path: impl Into<PathBuf>) -> Self {
        self.secrets = Some(path.into());
        self
    }

    /// How long successful authentications are cached (default 30 s, at most
    /// [`MAX_CACHE_TTL`], `0` for no cache). A revocation drops the caches of every instance
    /// within the poll interval; the TTL bounds how long an answer outlives an unreachable
    /// database.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How often to ask the database whether anything was revoked (default
    /// [`DEFAULT_REVOCATION_POLL`], at least 10 ms). `Duration::ZERO` turns the poll off, for
    /// one-shot tools (such as the `authstar clients` commands) that exit before another
    /// process's revocation could matter to them; a server must keep it.
    pub fn revocation_poll(mut self, interval: Duration) -> Self {
        self.poll = match interval {
            Duration::ZERO => Duration::ZERO,
            interval => interval.max(Duration::from_millis(10)),
        };
        self
    }

    /// How long one database call may take (default [`DEFAULT_CALL_TIMEOUT`]).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Your own [`Store`] instead of the built-in engines (a secrets file is then required).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Connects, migrates the schema, loads (or, for an empty database, creates) the secrets
    /// file, and starts the revocation poll. Must run inside a tokio runtime.
    ///
    /// Refuses to start, rather than lock everyone out, when the secrets file is missing while
    /// the database has clients, or belongs to another database (its pepper's fingerprint
    /// differs from the one recorded). New files are created readable by their owner only.
    pub async fn open(self) -> Result<Registry, RegistryError> {
        if self.cache_ttl > MAX_CACHE_TTL {
            return Err(RegistryError::CacheTtlTooLong(self.cache_ttl));
        }
        let secrets_file = self
            .secrets
            .or_else(|| match self.store {
                Some(_) => None,
                None => self.database.default_secrets(),
            })
            .ok_or(RegistryError::SecretsPathRequired)?;
        let store = match self.store {
            Some(store) => store,
            None => self.database.connect(self.call_timeout)?,
        };
        store.migrate().await?;
        let (secrets, new) = match secrets::load(&secrets_file)? {
            Some(secrets) => (secrets, false),
            None if store.count_clients().await? > 0 => return Err(missing(&secrets_file)),
            None => (secrets::generate(&secrets_file)?, true),
        };
        let pepper: Arc<[u8]> = URL_SAFE_NO_PAD
            .decode(&secrets.pepper)
            .map_err(|_| secrets::secrets_error(&secrets_file, "invalid pepper".into()))?
            .into();
        let fingerprint = secrets::fingerprint(&pepper);
        // The first registry to open an empty database records its pepper; every later one
        // must bring the same. New secrets are written only once the database took them.
        let recorded = store.init_meta("pepper_fingerprint", &fingerprint).await?;
        match (recorded == fingerprint, new) {
            (true, true) => secrets::write(&secrets_file, &secrets)?,
            (true, false) => {}
            (false, true) => return Err(missing(&secrets_file)),
            (false, false) => {
                return Err(secrets::secrets_error(
                    &secrets_file,
                    "belongs to another database (its pepper does not match the one this \
                     database was created with): restore the right file"
                        .into(),
                ));
            }
        }
        let revision = store.revision().await?;
        let revoked = RevocationSet::default();
        revoked.replace(store.revocations(sync::kept_since(now())).await?);
        let permits = std::thread::available_parallelism().map_or(1, usize::from);
        let shared = Arc::new(Shared {
            usage: UsageRecorder::start(Arc::clone(&store)),
            store,
            secrets,
            mac: <Hmac<Sha256> as Mac>::new_from_slice(&pepper)
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length")),
            passwords: Passwords::new(pepper, permits)?,
            cache: bounded_cache(self.cache_ttl),
            active: bounded_cache(self.cache_ttl),
            active_keys: bounded_cache(self.cache_ttl),
            generation: AtomicU64::new(0),
            revoked,
            // A registry that does not poll (a one-shot command) answers from what it loaded;
            // a server's knowledge ages from its last successful poll.
            // One poll is two calls of up to the call timeout each: a slow but healthy poll
            // must not make the view stale.
            sync: sync::SyncState::new((!self.poll.is_zero()).then(|| {
                self.cache_ttl.max(MIN_REVOCATION_STALENESS).max(
                    self.poll
                        .saturating_add(self.call_timeout.saturating_mul(2)),
                )
            })),
        });
        if !self.poll.is_zero() {
            tokio::spawn(sync::watch_revisions(
                Arc::downgrade(&shared),
                self.poll,
                revision,
            ));
        }
        Ok(Registry { shared })
    }
}

fn missing(path: &Path) -> RegistryError {
    secrets::secrets_error(
        path,
        "missing, but the database holds secrets hashed with its pepper: restore the file \
         from your backup (a new pepper would make every secret fail)"
            .into(),
    )
}

/// The registry: a [`Store`], its secrets file, and caches in front. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    store: Arc<dyn Store>,
    secrets: ServerSecrets,
    /// HMAC-SHA256 keyed with the pepper, its key blocks hashed once: each use clones it
    /// (two of a short message's five SHA-256 blocks saved on every credential check).
    mac: Hmac<Sha256>,
    passwords: Passwords,
    usage: UsageRecorder,
    /// Successful checks, one entry per client or key id: the tag (a keyed hash of the secret
    /// that was checked) and the client. Keyed by id so that revoking a key or a client drops
    /// exactly its entry.
    cache: moka::sync::Cache<CacheKey, (Tag, AuthstarClient)>,
    /// Whether a client is active, for sessions: cached like successful checks.
    active: moka::sync::Cache<String, bool>,
    /// Whether an API key is active (its owner, when it is), for sessions minted with a key.
    active_keys: moka::sync::Cache<Box<str>, Option<Box<str>>>,
    /// Moves whenever cache entries are dropped: an answer read from the database before a
    /// drop is not cached after it.
    generation: AtomicU64,
    /// Revoked tokens and clients, for token verifiers.
    pub(crate) revoked: RevocationSet,
    /// How current that is.
    pub(crate) sync: sync::SyncState,
}

/// A cache entry's key: what kind of secret, and whose.
type CacheKey = (u8, Box<str>);

/// A keyed hash of a checked secret: a cache hit must present the same one.
type Tag = [u8; 32];

impl Shared {
    /// Drops every cache entry (a full reload of what is revoked).
    pub(crate) fn drop_caches(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
        self.active.invalidate_all();
        self.active_keys.invalidate_all();
    }

    /// Drops an API key's cache entry.
    pub(crate) fn drop_key(&self, key_id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(&(Secret::Key as u8, key_id.into()));
        self.active_keys.invalidate(key_id);
    }

    /// Drops a revoked client's entries and records it as revoked. Its keys' entries go with
    /// it: a key's cache hit is refused while its owner is revoked.
    pub(crate) fn revoke_client_here(&self, client_id: &str) {
        self.revoked.add_client(client_id);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache
            .invalidate(&(Secret::Client as u8, client_id.into()));
        self.active.invalidate(client_id);
    }

    /// Applies one change of the log.
    pub(crate) fn apply(&self, change: &store::Change) {
        match change.kind {
            store::ChangeKind::Token => self
                .revoked
                .add_token(&change.id, change.expires_at.unwrap_or(u64::MAX)),
            store::ChangeKind::Key => self.drop_key(&change.id),
            store::ChangeKind::Client => self.revoke_client_here(&change.id),
        }
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("store", &self.shared.store)
            .finish_non_exhaustive()
    }
}

/// A newly created client: the secret is shown once.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct CreatedClient {
    /// Id.
    pub client_id: String,
    /// The secret, shown only now.
    pub client_secret: String,
    /// Scopes.
    pub scopes: Vec<String>,
}

/// A newly created API key: the key is shown once.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct CreatedKey {
    /// Key id.
    pub key_id: String,
    /// The key, shown only now.
    pub key: String,
    /// Owner.
    pub client_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
}

impl fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedClient")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key_id", &self.key_id)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// What a secret belongs to; its label keys its hashes and cache entries apart.
#[derive(Clone, Copy)]
enum Secret {
    Client = 1,
    Key = 2,
}

impl Secret {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Client => b"client",
            Self::Key => b"key",
        }
    }
}

/// `ask_<key id>_<secret>` into its id and secret.
fn split_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(API_KEY_PREFIX)?.split_once('_')
}

fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Registry {
    /// A builder for a registry on `database` (a SQLite path or a `postgres://` URL).
    pub fn builder(database: impl Into<Database>) -> RegistryBuilder {
        RegistryBuilder {
            database: database.into(),
            store: None,
            secrets: None,
            cache_ttl: Duration::from_secs(30),
            poll: DEFAULT_REVOCATION_POLL,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Opens (creating on first use) the SQLite database at `db` and its secrets file, with
    /// the defaults of [`builder`](Self::builder).
    pub async fn open(db: &Path) -> Result<Self, RegistryError> {
        Self::builder(db).open().await
    }

    /// The server secrets.
    pub fn secrets(&self) -> &ServerSecrets {
        &self.shared.secrets
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = self.shared.mac.clone();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    fn keyed_hash(&self, parts: &[&[u8]]) -> String {
        format!(
            "hmac-sha256${}",
            URL_SAFE_NO_PAD.encode(self.mac(parts).finalize().into_bytes())
        )
    }

    /// Runs a password hash or check on a blocking thread.
    async fn with_passwords<T, F>(&self, work: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(&Passwords) -> Result<T, RegistryError> + Send + 'static,
    {
        let passwords = self.shared.passwords.clone();
        tokio::task::spawn_blocking(move || work(&passwords))
            .await
            .map_err(RegistryError::Interrupted)?
    }

    /// Checks a secret against its stored hash: HMAC for generated secrets (at once), argon2
    /// for imported ones (`Err(Busy)` when too many run).
    async fn verify_hash(
        &self,
        stored: String,
        parts: &[&[u8]],
        secret: &str,
    ) -> Result<bool, RegistryError> {
        if let Some(encoded) = stored.strip_prefix("hmac-sha256$") {
            return Ok(URL_SAFE_NO_PAD
                .decode(encoded)
                .is_ok_and(|expected| self.mac(parts).verify_slice(&expected).is_ok()));
        }
        if Passwords::is_password_hash(&stored) {
            let secret = secret.to_owned();
            return self
                .with_passwords(move |passwords| passwords.verify(&stored, &secret))
                .await;
        }
        Ok(false)
    }

    /// Creates a client. Without `secret`, a 256-bit secret is generated (HMAC-hashed); an
    /// imported secret is hashed with argon2id.
    pub async fn create_client(
        &self,
        id: Option<&str>,
        secret: Option<&str>,
        scopes: &[String],
    ) -> Result<CreatedClient, RegistryError> {
        check_scopes(scopes)?;
        let client_id = match id {
            Some(id) if valid_client_id(id) => id.to_owned(),
            Some(id) => return Err(RegistryError::InvalidClientId(id.to_owned())),
            None => format!("client-{}", hex(&random::<6>()?)),
        };
        let (client_secret, hash) = match secret {
            Some(secret) => {
                Passwords::check_importable(secret)?;
                let owned = secret.to_owned();
                let hash = self
                    .with_passwords(move |passwords| passwords.hash(&owned))
                    .await?;
                (secret.to_owned(), hash)
            }
            None => {
                let secret = URL_SAFE_NO_PAD.encode(random::<32>()?);
                let hash = self.keyed_hash(&[
                    Secret::Client.label(),
                    client_id.as_bytes(),
                    secret.as_bytes(),
                ]);
                (secret, hash)
            }
        };
        let row = ClientRow::new(client_id, hash, scopes.join(" "), now());
        match self.shared.store.insert_client(&row).await {
            Ok(()) => Ok(CreatedClient {
                client_id: row.client_id,
                client_secret,
                scopes: scopes.to_vec(),
            }),
            Err(StoreError::Conflict) => Err(RegistryError::ClientExists(row.client_id)),
            Err(error) => Err(error.into()),
        }
    }

    /// Every client.
    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>, RegistryError> {
        let rows = self.shared.store.clients().await?;
        Ok(rows
            .into_iter()
            .map(|row| ClientRecord {
                scopes: split_scopes(&row.scopes),
                client_id: row.client_id,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                revoked: row.revoked_at.is_some(),
            })
            .collect())
    }

    /// Revokes a client and, with it, its keys: at once here, within the poll interval on
    /// every other instance.
    /// Its access tokens are refused from then on too, by every verifier that consults this
    /// registry's [`Revocations`](authstar_jwt::Revocations).
    pub async fn revoke_client(&self, client_id: &str) -> Result<(), RegistryError> {
        match self.shared.store.revoke_client(client_id, now()).await? {
            Revoked::Unknown => Err(RegistryError::UnknownClient(client_id.to_owned())),
            Revoked::Now | Revoked::Already => {
                self.shared.revoke_client_here(client_id);
                Ok(())
            }
        }
    }

    /// Revokes an access token by its `jti` until its `exp` (RFC 7009): at once here, within
    /// the poll interval on every other instance. Revoking twice is not an error.
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: u64,
    ) -> Result<(), RegistryError> {
        let token = RevokedToken::new(jti.to_owned(), client_id.to_owned(), expires_at);
        self.shared.store.revoke_token(&token, now()).await?;
        self.shared.revoked.add_token(jti, expires_at);
        Ok(())
    }

    /// Creates an API key for a client; its scopes default to the client's and may not exceed
    /// them.
    pub async fn create_key(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<CreatedKey, RegistryError> {
        check_scopes(scopes)?;
        let Some(client) = self.shared.store.client(client_id).await? else {
            return Err(RegistryError::UnknownClient(client_id.to_owned()));
        };
        if client.revoked_at.is_some() {
            return Err(RegistryError::ClientRevoked(client_id.to_owned()));
        }
        let client_scopes = split_scopes(&client.scopes);
        let scopes = if scopes.is_empty() {
            client_scopes.clone()
        } else {
            scopes.to_vec()
        };
        if let Some(extra) = scopes.iter().find(|s| !client_scopes.contains(s)) {
            return Err(RegistryError::ScopeNotGranted {
                scope: extra.clone(),
                client_id: client_id.to_owned(),
            });
        }
        let key_id = hex(&random::<6>()?);
        let secret = URL_SAFE_NO_PAD.encode(random::<32>()?);
        let key = format!("{API_KEY_PREFIX}{key_id}_{secret}");
        let hash = self.keyed_hash(&[Secret::Key.label(), key_id.as_bytes(), secret.as_bytes()]);
        let row = KeyRow::new(key_id, client_id.to_owned(), hash, scopes.join(" "), now());
        self.shared.store.insert_key(&row).await?;
        Ok(CreatedKey {
            key_id: row.key_id,
            key,
            client_id: row.client_id,
            scopes,
        })
    }

    /// Every API key (never the keys themselves).
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, RegistryError> {
        let rows = self.shared.store.keys().await?;
        Ok(rows
            .into_iter()
            .map(|row| KeyRecord {
                scopes: split_scopes(&row.scopes),
                key_id: row.key_id,
                client_id: row.client_id,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                revoked: row.revoked_at.is_some(),
            })
            .collect())
    }

    /// Revokes an API key: at once here, within the poll interval on every other instance.
    pub async fn revoke_key(&self, key_id: &str) -> Result<(), RegistryError> {
        let revoked = self.shared.store.revoke_key(key_id, now()).await?;
        self.shared.drop_key(key_id);
        match revoked {
            Revoked::Unknown => Err(RegistryError::UnknownKey(key_id.to_owned())),
            Revoked::Now | Revoked::Already => Ok(()),
        }
    }

    /// The tag a cache hit for `secret` must match.
    fn cache_tag(&self, kind: Secret, id: &str, secret: &str) -> Tag {
        self.mac(&[b"cache", kind.label(), id.as_bytes(), secret.as_bytes()])
            .finalize()
            .into_bytes()
            .into()
    }

    /// Caches an answer read from the database, unless the caches were dropped since the read
    /// began (a revocation seen meanwhile). Checked again after the insert: a drop that lands
    /// between the check and the insert takes the entry back out.
    fn remember<K, V>(&self, cache: &moka::sync::Cache<K, V>, generation: u64, key: K, value: V)
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let unchanged = || self.shared.generation.load(Ordering::Acquire) == generation;
        if unchanged() {
            cache.insert(key.clone(), value);
            if !unchanged() {
                cache.invalidate(&key);
            }
        }
    }

    /// The client a verified secret stands for: checks `secret` against the stored hash, then
    /// notes the use and caches the answer (see [`remember`](Self::remember)).
    async fn admit(
        &self,
        generation: u64,
        kind: Secret,
        id: &str,
        secret: &str,
        stored_hash: String,
        client: AuthstarClient,
    ) -> Result<Option<AuthstarClient>, RegistryError> {
        let parts: [&[u8]; 3] = [kind.label(), id.as_bytes(), secret.as_bytes()];
        if !self.verify_hash(stored_hash, &parts, secret).await? {
            return Ok(None);
        }
        Ok(Some(self.admitted(generation, kind, id, secret, client)))
    }

    /// Notes the use of a verified secret and caches the answer.
    fn admitted(
        &self,
        generation: u64,
        kind: Secret,
        id: &str,
        secret: &str,
        client: AuthstarClient,
    ) -> AuthstarClient {
        let (id_owned, at) = (id.to_owned(), now());
        self.shared.usage.note(match kind {
            Secret::Client => Usage::Client {
                client_id: id_owned,
                at,
            },
            Secret::Key => Usage::Key {
                key_id: id_owned,
                at,
            },
        });
        let entry = (self.cache_tag(kind, id, secret), client.clone());
        self.remember(
            &self.shared.cache,
            generation,
            (kind as u8, id.into()),
            entry,
        );
        client
    }

    /// A cached answer for `secret`, if one was found within the cache TTL (and, for a key,
    /// its client is not revoked since).
    fn cached(&self, kind: Secret, id: &str, secret: &str) -> Option<AuthstarClient> {
        let (tag, client) = self.shared.cache.get(&(kind as u8, id.into()))?;
        let presented = self.cache_tag(kind, id, secret);
        let same = tag
            .iter()
            .zip(presented.iter())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0;
        let owner_revoked = matches!(kind, Secret::Key)
            && self.shared.revoked.is_client_revoked(client.client_id());
        (same && !owner_revoked).then_some(client)
    }

    /// A cached answer for a client's id and secret, if one was found within the cache TTL.
    /// Synchronous: what an authenticator answers with at once.
    pub fn cached_client(&self, client_id: &str, secret: &str) -> Option<AuthstarClient> {
        self.cached(Secret::Client, client_id, secret)
    }

    /// Authenticates a client by id and secret: `None` for unknown, revoked or wrong;
    /// `Err(Busy)` when too many password checks run. An unknown or revoked id costs a
    /// password check too, so the time of the answer does not tell which ids exist.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<AuthstarClient>, RegistryError> {
        match self.cached_client(client_id, secret) {
            Some(client) => Ok(Some(client)),
            None => self.check_client(client_id, secret).await,
        }
    }

    /// [`authenticate_client`](Self::authenticate_client) without the cache lookup, for a
    /// caller that has just missed it.
    pub async fn check_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<AuthstarClient>, RegistryError> {
        self.check_client_any(client_id, &[secret]).await
    }

    /// Checks a client's id against each of `secrets` (the readings of one presented secret:
    /// as sent, and decoded as RFC 6749 §2.3.1 has OAuth 2.0 clients encode it), without the
    /// cache lookup.
    ///
    /// **Every refusal costs the same**, whatever its reason: an unknown id, a revoked client,
    /// a wrong imported (argon2) secret and a wrong generated (HMAC) secret each take one
    /// password-hash check per reading. Refusing a generated secret at HMAC speed (0.7 ms
    /// against ~18 ms) told an attacker which ids exist and were generated. Refusals therefore
    /// pass the password gate like argon2 checks do (`Busy` beyond it); the failure throttle
    /// bounds how many a guesser gets.
    pub async fn check_client_any(
        &self,
        client_id: &str,
        secrets: &[&str],
    ) -> Result<Option<AuthstarClient>, RegistryError> {
        let generation = self.shared.generation.load(Ordering::Acquire);
        let row = match self.shared.store.client(client_id).await? {
            Some(row) if row.revoked_at.is_none() => row,
            _ => return self.refused(secrets).await,
        };
        let client = AuthstarClient::new(client_id, split_scopes(&row.scopes));
        for secret in secrets {
            let parts: [&[u8]; 3] = [
                Secret::Client.label(),
                client_id.as_bytes(),
                secret.as_bytes(),
            ];
            if self
                .verify_hash(row.secret_hash.clone(), &parts, secret)
                .await?
            {
                return Ok(Some(self.admitted(
                    generation,
                    Secret::Client,
                    client_id,
                    secret,
                    client,
                )));
            }
        }
        // An argon2 secret cost its checks above; an HMAC one was refused at once.
        if !Passwords::is_password_hash(&row.secret_hash) {
            return self.refused(secrets).await;
        }
        Ok(None)
    }

    /// `Ok(None)` after one dummy password check per secret: what a refusal costs.
    async fn refused(&self, secrets: &[&str]) -> Result<Option<AuthstarClient>, RegistryError> {
        let secrets: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
        self.with_passwords(move |passwords| {
            secrets
                .iter()
                .try_for_each(|secret| passwords.verify_dummy(secret))
        })
        .await?;
        Ok(None)
    }

    /// A cached answer for an API key, if one was found within the cache TTL.
    pub fn cached_key(&self, key: &str) -> Option<AuthstarClient> {
        let (key_id, secret) = split_key(key)?;
        self.cached(Secret::Key, key_id, secret)
    }

    /// Authenticates an API key: `None` for malformed, unknown, revoked (key or client) or
    /// wrong.
    pub async fn authenticate_key(
        &self,
        key: &str,
    ) -> Result<Option<AuthstarClient>, RegistryError> {
        match self.cached_key(key) {
            Some(client) => Ok(Some(client)),
            None => self.check_key(key).await,
        }
    }

    /// [`authenticate_key`](Self::authenticate_key) without the cache lookup, for a caller
    /// that has just missed it.
    pub async fn check_key(&self, key: &str) -> Result<Option<AuthstarClient>, RegistryError> {
        let Some((key_id, secret)) = split_key(key) else {
            return Ok(None);
        };
        let generation = self.shared.generation.load(Ordering::Acquire);
        let Some(row) = self.shared.store.active_key(key_id).await? else {
            return Ok(None);
        };
        let client = AuthstarClient::new(row.client_id, split_scopes(&row.scopes))
            .with_credential(key_id, None);
        self.admit(
            generation,
            Secret::Key,
            key_id,
            secret,
            row.key_hash,
            client,
        )
        .await
    }

    /// [`is_active`](Self::is_active) through the cache: what a session is checked with.
    pub async fn is_active_cached(&self, client_id: &str) -> Result<bool, RegistryError> {
        if let Some(active) = self.shared.active.get(client_id) {
            return Ok(active);
        }
        let generation = self.shared.generation.load(Ordering::Acquire);
        let active = self.is_active(client_id).await?;
        self.remember(
            &self.shared.active,
            generation,
            client_id.to_owned(),
            active,
        );
        Ok(active)
    }

    /// Whether an API key is active (it, and its client), through the cache: what a session
    /// minted with the key is checked with.
    pub async fn is_key_active_cached(&self, key_id: &str) -> Result<bool, RegistryError> {
        if let Some(active) = self.cached_key_active(key_id) {
            return Ok(active);
        }
        let generation = self.shared.generation.load(Ordering::Acquire);
        let owner = self
            .shared
            .store
            .active_key(key_id)
            .await?
            .map(|row| row.client_id.into_boxed_str());
        let active = owner.is_some();
        self.remember(&self.shared.active_keys, generation, key_id.into(), owner);
        Ok(active)
    }

    /// A cached answer of [`is_key_active_cached`](Self::is_key_active_cached), if there is one
    /// (a key whose client was revoked since is not active).
    pub fn cached_key_active(&self, key_id: &str) -> Option<bool> {
        let owner = self.shared.active_keys.get(key_id)?;
        Some(owner.is_some_and(|owner| !self.shared.revoked.is_client_revoked(&owner)))
    }

    /// A cached answer of [`is_active_cached`](Self::is_active_cached), if there is one.
    pub fn cached_active(&self, client_id: &str) -> Option<bool> {
        self.shared.active.get(client_id)
    }

    /// Whether a client exists and is not revoked (checked before issuing a token).
    pub async fn is_active(&self, client_id: &str) -> Result<bool, RegistryError> {
        Ok(self
            .shared
            .store
            .client(client_id)
            .await?
            .is_some_and(|row| row.revoked_at.is_none()))
    }

    /// Whether `client_id` is revoked, from memory: at once for a revocation made through this
    /// registry, within the poll interval for one made anywhere else (the moment this
    /// registry's caches drop that client's cached checks too). For a request whose credentials
    /// were just checked (cached or not), this is the revocation check that needs no database
    /// read.
    pub fn is_revoked_client(&self, client_id: &str) -> bool {
        self.shared.revoked.is_client_revoked(client_id)
    }

    /// Whether what this registry knows of revocations is current: it heard from its database
    /// within its cache TTL (at least [`MIN_REVOCATION_STALENESS`], and at least one poll
    /// interval plus two call timeouts: what one slow poll may take). While the database is
    /// unreachable, cached client and key checks keep working until their TTL; a token
    /// verifier consulting this registry must not accept tokens longer than that either (a
    /// client revoked on another instance would keep its tokens), so
    /// [`Revocations::is_current`](authstar_jwt::Revocations::is_current) answers this, and
    /// the verifier answers 503 rather than vouch for a token it cannot check.
    pub fn revocations_current(&self) -> bool {
        self.shared.sync.is_current()
    }

    /// Whether the registry has no client yet.
    pub async fn is_empty(&self) -> Result<bool, RegistryError> {
        Ok(self.shared.store.count_clients().await? == 0)
    }
}

/// Tokens revoked through [`Registry::revoke_token`] and the tokens of revoked clients, from
/// memory (reloaded when the revision moves): hand a registry to
/// [`JwtVerifier::revocations`](authstar_jwt::JwtVerifier::revocations).
impl authstar_jwt::Revocations for Registry {
    fn is_revoked(&self, token: &authstar_jwt::TokenStamp<'_>) -> bool {
        self.shared.revoked.is_revoked(token)
    }

    fn is_current(&self) -> bool {
        self.revocations_current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `condition` holds within two seconds.
    async fn eventually<F, Fut>(condition: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            if condition().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// The stored hash of the only client, read with a connection of the test's own.
    fn stored_hash(db: &Path) -> String {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("SELECT secret_hash FROM clients", [], |r| r.get(0))
            .unwrap()
    }

    async fn registry() -> (Registry, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "authstar-registry-{}-{}",
            std::process::id(),
            hex(&random::<4>().unwrap())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("test.db");
        (Registry::open(&db).await.unwrap(), dir)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn generated_secrets_authenticate_and_are_stored_only_as_keyed_hashes() {
        let (registry, dir) = registry().await;
        let created = registry
            .create_client(Some("svc"), None, &["read".into()])
            .await
            .unwrap();
        assert!(
            URL_SAFE_NO_PAD
                .decode(&created.client_secret)
                .unwrap()
                .len()
                >= 16,
            "≥128 bits"
        );
        let client = registry
            .authenticate_client("svc", &created.client_secret)
            .await
            .unwrap()
            .unwrap();
        assert!(
            eventually(|| async {
                registry.list_clients().await.unwrap()[0]
                    .last_used_at
                    .is_some()
            })
            .await,
            "a successful check records its use, off the request path"
        );
        assert!(registry.list_clients().await.unwrap()[0].created_at > 0);
        assert_eq!(client.scopes(), ["read"]);
        assert!(
            registry
                .authenticate_client("svc", "wrong")
                .await
                .unwrap()
                .is_none()
        );
        let stored = stored_hash(&dir.join("test.db"));
        assert!(stored.starts_with("hmac-sha256$") && !stored.contains(&created.client_secret));
        let file = std::fs::read(dir.join("test.db")).unwrap();
        assert!(!String::from_utf8_lossy(&file).contains(&created.client_secret));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn imported_secrets_use_argon2() {
        let (registry, dir) = registry().await;
        registry
            .create_client(Some("imp"), Some("correct horse battery"), &[])
            .await
            .unwrap();
        let stored = stored_hash(&dir.join("test.db"));
        assert!(stored.starts_with("argon2-peppered$$argon2id$"), "{stored}");
        assert!(
            registry
                .authenticate_client("imp", "correct horse battery")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            registry
                .authenticate_client("imp", "correct horse batterx")
                .await
                .unwrap()
                .is_none()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn api_keys_carry_a_prefix_and_stop_working_when_revoked() {
        let (registry, dir) = registry().await;
        registry
            .create_client(Some("svc"), None, &["a".into(), "b".into()])
            .await
            .unwrap();
        let key = registry.create_key("svc", &["a".into()]).await.unwrap();
        assert!(key.key.starts_with("ask_"));
        assert!(
            registry.list_keys().await.unwrap()[0]
                .last_used_at
                .is_none()
        );
        assert_eq!(
            registry
                .authenticate_key(&key.key)
                .await
                .unwrap()
                .unwrap()
                .scopes(),
            ["a"]
        );
        assert!(
            eventually(|| async {
                registry.list_keys().await.unwrap()[0]
                    .last_used_at
                    .is_some()
            })
            .await
        );
        assert!(
            registry
                .authenticate_key(&format!("{}x", key.key))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            registry.create_key("svc", &["c".into()]).await.is_err(),
            "scopes beyond the client's"
        );
        registry.revoke_key(&key.key_id).await.unwrap();
        assert!(registry.authenticate_key(&key.key).await.unwrap().is_none());
        let second = registry.create_key("svc", &[]).await.unwrap();
        registry.revoke_client("svc").await.unwrap();
        assert!(
            registry
                .authenticate_key(&second.key)
                .await
                .unwrap()
                .is_none(),
            "a revoked client's keys stop"
        );
        assert!(matches!(
            registry.revoke_client("nobody").await,
            Err(RegistryError::UnknownClient(_))
        ));
        assert!(matches!(
            registry.revoke_key("nokey").await,
            Err(RegistryError::UnknownKey(_))
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod attacker_tests {
    //! What a lost file, a busy database or a guesser does to the registry.

    use super::*;

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
        assert!(
            (0.8..1.25).contains(&ratio),
            "unknown {unknown:?} vs known {known:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

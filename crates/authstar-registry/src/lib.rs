//! # authstar-registry
//!
//! OAuth2 clients and API keys for authstar, on embedded SQLite: create, list, revoke, and
//! verify them (blocking calls; run them off the async runtime's workers, as the `authstar demo`
//! authenticators do with `spawn_blocking`).
//!
//! ```
//! use authstar_registry::Registry;
//!
//! let dir = std::env::temp_dir().join(format!("authstar-registry-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let registry = Registry::open(&dir.join("clients.db")).unwrap();
//! let client = registry.create_client(Some("svc"), None, &["read".to_owned()]).unwrap();
//! let key = registry.create_key("svc", &[]).unwrap();
//! assert!(registry.authenticate_key(&key.key).unwrap().is_some());
//! assert!(registry.authenticate_client("svc", &client.client_secret).unwrap().is_some());
//! registry.revoke_client("svc").unwrap();
//! assert!(registry.authenticate_key(&key.key).unwrap().is_none());
//! # drop(registry);
//! # let _ = std::fs::remove_dir_all(dir);
//! ```
//!
//! Secrets are shown once and stored only as hashes:
//! * generated client secrets and API keys (256 random bits) as HMAC-SHA256 under a server-side
//!   pepper. A slow password hash buys nothing for a random 256-bit secret (nobody can guess it),
//!   and HMAC keeps verification cheap on the hot path; the pepper, kept outside the database,
//!   makes a stolen database useless for offline checks.
//! * secrets a user imports (`--secret`) may be low-entropy, so they get argon2id.
//!
//! Comparisons are constant-time (`hmac`'s `verify_slice`, argon2's verifier). API keys carry the
//! prefix `ask_` so secret scanners can find leaked ones: `ask_<key id>_<secret>`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod password;
mod secrets;
mod usage;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstar::AuthstarClient;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use password::MIN_IMPORTED_SECRET_LEN;
use password::Passwords;
pub use secrets::{ServerSecrets, secrets_path};
use usage::{UsageRecorder, Used};

/// The longest cache TTL accepted: a revocation must take effect within a day at worst.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "ask_";

/// Registry errors; messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The secrets file could not be read or written.
    #[error("secrets file {path}: {message}")]
    Secrets {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// No such client.
    #[error("no client {0:?}: see `authstar clients list`")]
    UnknownClient(String),
    /// No such key.
    #[error("no API key {0:?}: see `authstar keys list`")]
    UnknownKey(String),
    /// The client id is taken.
    #[error("client {0:?} already exists: choose another --id")]
    ClientExists(String),
    /// Invalid input.
    #[error("{0}")]
    Invalid(String),
    /// No randomness.
    #[error("the system random generator failed")]
    Random,
    /// An imported secret is too short or holds control characters.
    #[error(
        "an imported secret needs at least {MIN_IMPORTED_SECRET_LEN} characters and no control \
         characters (or omit --secret to have a 256-bit one generated)"
    )]
    WeakSecret,
    /// Too many password hashes are running or waiting: try again shortly.
    #[error("too many password checks at once; try again shortly")]
    Busy,
}

/// A client as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    for scope in scopes {
        if !authstar::oauth2::is_scope_token(scope) {
            return Err(RegistryError::Invalid(format!(
                "invalid scope {scope:?}: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)"
            )));
        }
    }
    Ok(())
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

/// The registry: a SQLite file plus its secrets file.
#[derive(Clone)]
pub struct Registry {
    connection: Arc<Mutex<Connection>>,
    secrets: ServerSecrets,
    pepper: Arc<[u8]>,
    passwords: Passwords,
    usage: UsageRecorder,
    cache: moka::sync::Cache<Vec<u8>, AuthstarClient>,
    /// Whether a client is active, for sessions: cached like successful checks.
    active: moka::sync::Cache<String, bool>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clients (
    client_id    TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id       TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(client_id),
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
";

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A newly created client: the secret is shown once.
#[derive(Clone, Serialize)]
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

impl std::fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedClient")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key_id", &self.key_id)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Opens (creating on first use) the database at `db` and its secrets file, with a 30 s
    /// cache of successful authentications in front.
    pub fn open(db: &Path) -> Result<Self, RegistryError> {
        Self::open_with_cache(db, Duration::from_secs(30))
    }

    /// Like [`open`](Self::open), caching successful authentications for `ttl` (at most
    /// [`MAX_CACHE_TTL`]). A client or key revoked by another process (the CLI) keeps working
    /// here for at most `ttl`; `0` disables the cache.
    ///
    /// Refuses to start, rather than lock everyone out, when the secrets file is missing while
    /// the database has clients, or belongs to another database (its pepper's fingerprint
    /// differs from the one recorded). New files are created readable by their owner only.
    pub fn open_with_cache(db: &Path, ttl: Duration) -> Result<Self, RegistryError> {
        if ttl > MAX_CACHE_TTL {
            return Err(RegistryError::Invalid(format!(
                "cache TTL {} s is longer than the {} s allowed",
                ttl.as_secs(),
                MAX_CACHE_TTL.as_secs()
            )));
        }
        // SQLite gives the -wal and -shm files the database file's permissions.
        match secrets::create_private(db) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(RegistryError::Secrets {
                    path: db.to_owned(),
                    message: format!("cannot create the database: {error}"),
                });
            }
        }
        let connection = Connection::open(db)?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )?;
        connection.execute_batch(SCHEMA)?;
        let path = secrets_path(db);
        let recorded: Option<String> = connection
            .query_row(
                "SELECT value FROM meta WHERE name = 'pepper_fingerprint'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        let clients: i64 =
            connection.query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0))?;
        let secrets = match secrets::load(&path)? {
            Some(secrets) => secrets,
            None if clients > 0 || recorded.is_some() => {
                return Err(secrets::secrets_error(
                    &path,
                    "missing, but the database holds secrets hashed with its pepper: restore \
                     the file from your backup (a new pepper would make every secret fail)"
                        .into(),
                ));
            }
            None => secrets::create(&path)?,
        };
        let pepper: Arc<[u8]> = URL_SAFE_NO_PAD
            .decode(&secrets.pepper)
            .map_err(|_| secrets::secrets_error(&path, "invalid pepper".into()))?
            .into();
        let fingerprint = secrets::fingerprint(&pepper);
        match recorded {
            Some(recorded) if recorded != fingerprint => {
                return Err(secrets::secrets_error(
                    &path,
                    "belongs to another database (its pepper does not match the one this \
                     database was created with): restore the right file"
                        .into(),
                ));
            }
            Some(_) => {}
            None => {
                connection.execute(
                    "INSERT INTO meta (name, value) VALUES ('pepper_fingerprint', ?1)",
                    [&fingerprint],
                )?;
            }
        }
        let permits = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            secrets,
            passwords: Passwords::new(pepper.clone(), permits)?,
            pepper,
            usage: UsageRecorder::start(db)?,
            cache: bounded_cache(ttl),
            active: bounded_cache(ttl),
        })
    }

    /// The server secrets.
    pub fn secrets(&self) -> &ServerSecrets {
        &self.secrets
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.pepper)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
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

    /// Checks a secret against its stored hash: HMAC for generated secrets, argon2 for
    /// imported ones (`Err(Busy)` when too many run).
    fn verify_hash(
        &self,
        stored: &str,
        parts: &[&[u8]],
        secret: &str,
    ) -> Result<bool, RegistryError> {
        if let Some(encoded) = stored.strip_prefix("hmac-sha256$") {
            return Ok(URL_SAFE_NO_PAD
                .decode(encoded)
                .is_ok_and(|expected| self.mac(parts).verify_slice(&expected).is_ok()));
        }
        if Passwords::is_password_hash(stored) {
            return self.passwords.verify(stored, secret);
        }
        Ok(false)
    }

    /// Creates a client. Without `secret`, a 256-bit secret is generated (HMAC-hashed); an
    /// imported secret is hashed with argon2id.
    pub fn create_client(
        &self,
        id: Option<&str>,
        secret: Option<&str>,
        scopes: &[String],
    ) -> Result<CreatedClient, RegistryError> {
        check_scopes(scopes)?;
        let client_id = match id {
            Some(id) => {
                let valid = !id.is_empty()
                    && id.len() <= 128
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                if !valid {
                    return Err(RegistryError::Invalid(format!(
                        "invalid client id {id:?}: use letters, digits, '-', '_' or '.' (at most 128)"
                    )));
                }
                id.to_owned()
            }
            None => format!("client-{}", hex(&random::<6>()?)),
        };
        let (client_secret, hash) = match secret {
            Some(secret) => {
                Passwords::check_importable(secret)?;
                (secret.to_owned(), self.passwords.hash(secret)?)
            }
            None => {
                let secret = URL_SAFE_NO_PAD.encode(random::<32>()?);
                let hash = self.keyed_hash(&[b"client", client_id.as_bytes(), secret.as_bytes()]);
                (secret, hash)
            }
        };
        let inserted = self.db().execute(
            "INSERT INTO clients (client_id, secret_hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![client_id, hash, scopes.join(" "), now()],
        );
        match inserted {
            Ok(_) => Ok(CreatedClient {
                client_id,
                client_secret,
                scopes: scopes.to_vec(),
            }),
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(RegistryError::ClientExists(client_id))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Every client.
    pub fn list_clients(&self) -> Result<Vec<ClientRecord>, RegistryError> {
        let db = self.db();
        let mut statement = db.prepare(
            "SELECT client_id, scopes, created_at, last_used_at, revoked_at FROM clients ORDER BY created_at, client_id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(ClientRecord {
                client_id: row.get(0)?,
                scopes: split_scopes(&row.get::<_, String>(1)?),
                created_at: row.get(2)?,
                last_used_at: row.get(3)?,
                revoked: row.get::<_, Option<u64>>(4)?.is_some(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes a client and, with it, its keys.
    pub fn revoke_client(&self, client_id: &str) -> Result<(), RegistryError> {
        let changed = self.db().execute(
            "UPDATE clients SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
            params![client_id, now()],
        )?;
        if changed == 0 && !self.client_exists(client_id)? {
            return Err(RegistryError::UnknownClient(client_id.to_owned()));
        }
        self.cache.invalidate_all();
        self.active.invalidate_all();
        Ok(())
    }

    fn client_exists(&self, client_id: &str) -> Result<bool, RegistryError> {
        Ok(self
            .db()
            .query_row(
                "SELECT 1 FROM clients WHERE client_id = ?1",
                [client_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Creates an API key for a client; its scopes default to the client's and may not exceed
    /// them.
    pub fn create_key(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<CreatedKey, RegistryError> {
        check_scopes(scopes)?;
        let client: Option<(String, Option<u64>)> = self
            .db()
            .query_row(
                "SELECT scopes, revoked_at FROM clients WHERE client_id = ?1",
                [client_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((client_scopes, revoked)) = client else {
            return Err(RegistryError::UnknownClient(client_id.to_owned()));
        };
        if revoked.is_some() {
            return Err(RegistryError::Invalid(format!(
                "client {client_id:?} is revoked"
            )));
        }
        let client_scopes = split_scopes(&client_scopes);
        let scopes = if scopes.is_empty() {
            client_scopes.clone()
        } else {
            scopes.to_vec()
        };
        if let Some(extra) = scopes.iter().find(|s| !client_scopes.contains(s)) {
            return Err(RegistryError::Invalid(format!(
                "scope {extra:?} is not granted to client {client_id:?}"
            )));
        }
        let key_id = hex(&random::<6>()?);
        let secret = URL_SAFE_NO_PAD.encode(random::<32>()?);
        let key = format!("{API_KEY_PREFIX}{key_id}_{secret}");
        let hash = self.keyed_hash(&[b"key", key_id.as_bytes(), secret.as_bytes()]);
        self.db().execute(
            "INSERT INTO api_keys (key_id, client_id, key_hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key_id, client_id, hash, scopes.join(" "), now()],
        )?;
        Ok(CreatedKey {
            key_id,
            key,
            client_id: client_id.to_owned(),
            scopes,
        })
    }

    /// Every API key (never the keys themselves).
    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, RegistryError> {
        let db = self.db();
        let mut statement = db.prepare(
            "SELECT key_id, client_id, scopes, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, key_id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(KeyRecord {
                key_id: row.get(0)?,
                client_id: row.get(1)?,
                scopes: split_scopes(&row.get::<_, String>(2)?),
                created_at: row.get(3)?,
                last_used_at: row.get(4)?,
                revoked: row.get::<_, Option<u64>>(5)?.is_some(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes an API key.
    pub fn revoke_key(&self, key_id: &str) -> Result<(), RegistryError> {
        let changed = self.db().execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
            params![key_id, now()],
        )?;
        let exists = self
            .db()
            .query_row("SELECT 1 FROM api_keys WHERE key_id = ?1", [key_id], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if changed == 0 && !exists {
            return Err(RegistryError::UnknownKey(key_id.to_owned()));
        }
        self.cache.invalidate_all();
        Ok(())
    }

    fn cache_key(&self, kind: &[u8], id: &str, secret: &str) -> Vec<u8> {
        self.mac(&[b"cache", kind, id.as_bytes(), secret.as_bytes()])
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// A cached answer for a client or key, if one was found within the last 30 seconds.
    pub fn cached(&self, kind: &str, id: &str, secret: &str) -> Option<AuthstarClient> {
        self.cache.get(&self.cache_key(kind.as_bytes(), id, secret))
    }

    /// Authenticates a client by id and secret: `None` for unknown, revoked or wrong;
    /// `Err(Busy)` when too many password checks run. Blocking: call it off the async
    /// runtime's worker threads. An unknown or revoked id costs a password check too, so the
    /// time of the answer does not tell which ids exist.
    pub fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<AuthstarClient>, RegistryError> {
        match self.cached("client", client_id, secret) {
            Some(client) => Ok(Some(client)),
            None => self.check_client(client_id, secret),
        }
    }

    /// [`authenticate_client`](Self::authenticate_client) without the cache lookup, for a
    /// caller that has just missed it. Blocking.
    pub fn check_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<AuthstarClient>, RegistryError> {
        let row: Option<(String, String, Option<u64>)> = self
            .db()
            .query_row(
                "SELECT secret_hash, scopes, revoked_at FROM clients WHERE client_id = ?1",
                [client_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((hash, scopes, None)) = row else {
            self.passwords.verify_dummy(secret)?;
            return Ok(None);
        };
        let parts: [&[u8]; 3] = [b"client", client_id.as_bytes(), secret.as_bytes()];
        if !self.verify_hash(&hash, &parts, secret)? {
            return Ok(None);
        }
        self.usage.note(Used::Client, client_id, now());
        let client = AuthstarClient::new(client_id, split_scopes(&scopes));
        self.cache
            .insert(self.cache_key(b"client", client_id, secret), client.clone());
        Ok(Some(client))
    }

    /// A cached answer for an API key, if one was found within the last 30 seconds.
    pub fn cached_key(&self, key: &str) -> Option<AuthstarClient> {
        let (key_id, secret) = key.strip_prefix(API_KEY_PREFIX)?.split_once('_')?;
        self.cached("key", key_id, secret)
    }

    /// Authenticates an API key: `None` for malformed, unknown, revoked (key or client) or wrong.
    /// Blocking.
    pub fn authenticate_key(&self, key: &str) -> Result<Option<AuthstarClient>, RegistryError> {
        match self.cached_key(key) {
            Some(client) => Ok(Some(client)),
            None => self.check_key(key),
        }
    }

    /// [`authenticate_key`](Self::authenticate_key) without the cache lookup, for a caller that
    /// has just missed it. Blocking.
    pub fn check_key(&self, key: &str) -> Result<Option<AuthstarClient>, RegistryError> {
        let Some((key_id, secret)) = key
            .strip_prefix(API_KEY_PREFIX)
            .and_then(|rest| rest.split_once('_'))
        else {
            return Ok(None);
        };
        let row: Option<(String, String, String)> = self
            .db()
            .query_row(
                "SELECT k.key_hash, k.scopes, k.client_id FROM api_keys k JOIN clients c ON c.client_id = k.client_id
                 WHERE k.key_id = ?1 AND k.revoked_at IS NULL AND c.revoked_at IS NULL",
                [key_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((hash, scopes, client_id)) = row else {
            return Ok(None);
        };
        let parts: [&[u8]; 3] = [b"key", key_id.as_bytes(), secret.as_bytes()];
        if !self.verify_hash(&hash, &parts, secret)? {
            return Ok(None);
        }
        self.usage.note(Used::Key, key_id, now());
        let client = AuthstarClient::new(client_id, split_scopes(&scopes));
        self.cache
            .insert(self.cache_key(b"key", key_id, secret), client.clone());
        Ok(Some(client))
    }

    /// [`is_active`](Self::is_active) through the cache (within the cache TTL of a revocation
    /// by another process; at once for one by this process): what a session is checked with.
    pub fn is_active_cached(&self, client_id: &str) -> Result<bool, RegistryError> {
        if let Some(active) = self.active.get(client_id) {
            return Ok(active);
        }
        let active = self.is_active(client_id)?;
        self.active.insert(client_id.to_owned(), active);
        Ok(active)
    }

    /// A cached answer of [`is_active_cached`](Self::is_active_cached), if there is one.
    pub fn cached_active(&self, client_id: &str) -> Option<bool> {
        self.active.get(client_id)
    }

    /// Whether a client exists and is not revoked (checked before issuing a token).
    pub fn is_active(&self, client_id: &str) -> Result<bool, RegistryError> {
        Ok(self
            .db()
            .query_row(
                "SELECT 1 FROM clients WHERE client_id = ?1 AND revoked_at IS NULL",
                [client_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Whether the registry has no client yet.
    pub fn is_empty(&self) -> Result<bool, RegistryError> {
        Ok(self
            .db()
            .query_row("SELECT COUNT(*) FROM clients", [], |row| {
                row.get::<_, i64>(0)
            })?
            == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `condition` holds within two seconds.
    fn eventually(condition: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn registry() -> (Registry, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "authstar-registry-{}-{}",
            std::process::id(),
            hex(&random::<4>().unwrap())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("test.db");
        (Registry::open(&db).unwrap(), dir)
    }

    #[test]
    fn generated_secrets_authenticate_and_are_stored_only_as_keyed_hashes() {
        let (registry, dir) = registry();
        let created = registry
            .create_client(Some("svc"), None, &["read".into()])
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
            .unwrap()
            .unwrap();
        assert!(
            eventually(|| registry.list_clients().unwrap()[0].last_used_at.is_some()),
            "a successful check records its use, off the request path"
        );
        assert!(registry.list_clients().unwrap()[0].created_at > 0);
        assert_eq!(client.scopes(), ["read"]);
        assert!(
            registry
                .authenticate_client("svc", "wrong")
                .unwrap()
                .is_none()
        );
        let stored: String = registry
            .db()
            .query_row("SELECT secret_hash FROM clients", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("hmac-sha256$") && !stored.contains(&created.client_secret));
        let file = std::fs::read(dir.join("test.db")).unwrap();
        assert!(!String::from_utf8_lossy(&file).contains(&created.client_secret));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn imported_secrets_use_argon2() {
        let (registry, dir) = registry();
        registry
            .create_client(Some("imp"), Some("correct horse battery"), &[])
            .unwrap();
        let stored: String = registry
            .db()
            .query_row("SELECT secret_hash FROM clients", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("argon2-peppered$$argon2id$"), "{stored}");
        assert!(
            registry
                .authenticate_client("imp", "correct horse battery")
                .unwrap()
                .is_some()
        );
        assert!(
            registry
                .authenticate_client("imp", "correct horse batterx")
                .unwrap()
                .is_none()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn api_keys_carry_a_prefix_and_stop_working_when_revoked() {
        let (registry, dir) = registry();
        registry
            .create_client(Some("svc"), None, &["a".into(), "b".into()])
            .unwrap();
        let key = registry.create_key("svc", &["a".into()]).unwrap();
        assert!(key.key.starts_with("ask_"));
        assert!(registry.list_keys().unwrap()[0].last_used_at.is_none());
        assert_eq!(
            registry
                .authenticate_key(&key.key)
                .unwrap()
                .unwrap()
                .scopes(),
            ["a"]
        );
        assert!(eventually(|| registry.list_keys().unwrap()[0]
            .last_used_at
            .is_some()));
        assert!(
            registry
                .authenticate_key(&format!("{}x", key.key))
                .unwrap()
                .is_none()
        );
        assert!(
            registry.create_key("svc", &["c".into()]).is_err(),
            "scopes beyond the client's"
        );
        registry.revoke_key(&key.key_id).unwrap();
        assert!(registry.authenticate_key(&key.key).unwrap().is_none());
        let second = registry.create_key("svc", &[]).unwrap();
        registry.revoke_client("svc").unwrap();
        assert!(
            registry.authenticate_key(&second.key).unwrap().is_none(),
            "a revoked client's keys stop"
        );
        assert!(matches!(
            registry.revoke_client("nobody"),
            Err(RegistryError::UnknownClient(_))
        ));
        assert!(matches!(
            registry.revoke_key("nokey"),
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

    #[test]
    fn a_lost_secrets_file_is_refused_never_replaced() {
        let dir = fresh_dir("lost");
        let db = dir.join("r.db");
        let registry = Registry::open(&db).unwrap();
        let created = registry.create_client(Some("svc"), None, &[]).unwrap();
        drop(registry);
        let secrets = secrets_path(&db);
        let saved = std::fs::read(&secrets).unwrap();
        std::fs::remove_file(&secrets).unwrap();
        let error = Registry::open(&db).unwrap_err().to_string();
        assert!(
            error.contains("missing") && error.contains("restore"),
            "{error}"
        );
        assert!(!secrets.exists(), "no new pepper was written");
        // Another database's secrets file is refused too.
        let other = dir.join("other.db");
        Registry::open(&other).unwrap();
        std::fs::copy(secrets_path(&other), &secrets).unwrap();
        let error = Registry::open(&db).unwrap_err().to_string();
        assert!(error.contains("another database"), "{error}");
        // The right file back: everything works again.
        std::fs::write(&secrets, saved).unwrap();
        let registry = Registry::open(&db).unwrap();
        assert!(
            registry
                .authenticate_client("svc", &created.client_secret)
                .unwrap()
                .is_some()
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[cfg(unix)]
    #[test]
    fn database_and_secrets_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = fresh_dir("modes");
        let db = dir.join("r.db");
        let registry = Registry::open(&db).unwrap();
        registry.create_client(Some("svc"), None, &[]).unwrap();
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

    #[test]
    fn a_cache_ttl_out_of_range_is_refused_before_any_file_is_made() {
        let dir = fresh_dir("ttl");
        let db = dir.join("r.db");
        let error = Registry::open_with_cache(&db, Duration::from_secs(99_999_999_999));
        assert!(matches!(error, Err(RegistryError::Invalid(_))));
        assert!(!db.exists() && !secrets_path(&db).exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn imported_secrets_must_be_long_enough() {
        let dir = fresh_dir("weak");
        let registry = Registry::open(&dir.join("r.db")).unwrap();
        assert!(matches!(
            registry.create_client(Some("svc"), Some("hunter2"), &[]),
            Err(RegistryError::WeakSecret)
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_writer_holding_the_database_does_not_fail_valid_credentials() {
        let dir = fresh_dir("locked");
        let db = dir.join("r.db");
        let registry = Registry::open_with_cache(&db, Duration::ZERO).unwrap();
        let created = registry.create_client(Some("svc"), None, &[]).unwrap();
        let key = registry.create_key("svc", &[]).unwrap();
        let writer = Connection::open(&db).unwrap();
        writer
            .execute_batch("BEGIN IMMEDIATE; UPDATE clients SET scopes = scopes;")
            .unwrap();
        let started = std::time::Instant::now();
        for _ in 0..3 {
            assert!(
                registry
                    .authenticate_client("svc", &created.client_secret)
                    .unwrap()
                    .is_some()
            );
            assert!(registry.authenticate_key(&key.key).unwrap().is_some());
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no wait for the writer's lock"
        );
        writer.execute_batch("COMMIT;").unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unknown_ids_cost_as_much_as_a_wrong_imported_secret() {
        let dir = fresh_dir("timing");
        let registry = Registry::open_with_cache(&dir.join("r.db"), Duration::ZERO).unwrap();
        registry
            .create_client(Some("imported"), Some("a long imported secret"), &[])
            .unwrap();
        let time = |id: &str| {
            let started = std::time::Instant::now();
            assert!(
                registry
                    .authenticate_client(id, "a wrong guess!!!")
                    .unwrap()
                    .is_none()
            );
            started.elapsed()
        };
        // Interleaved, after a warm-up, so both see the same machine.
        time("imported");
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for _ in 0..11 {
            known.push(time("imported"));
            unknown.push(time("nobody"));
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

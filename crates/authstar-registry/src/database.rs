//! Where a registry keeps its rows ([`Database`]: SQLite or PostgreSQL), and opening one
//! ([`RegistryBuilder`]): connection, migrations, the secrets file and its pepper's
//! fingerprint, the revocation poll.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::password::Passwords;
use crate::registry::{Registry, Shared};
use crate::revocations::RevocationSet;
use crate::store::{PostgresStore, SqliteStore, Store, StoreError};
use crate::usage::UsageRecorder;
use crate::{
    MAX_CACHE_TTL, MIN_REVOCATION_STALENESS, RegistryError, bounded_cache, now, secrets, sync,
};

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
            Self::Sqlite(path) => Some(secrets::secrets_path(path)),
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
    /// let url = Database::parse("postgres://app:p@ss@db/authstar");
    /// assert_eq!(url.to_string(), "postgres://app:***@db/authstar");
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
                // The last `@`: a password may hold one (`app:p@ss@db`).
                match rest.rsplit_once('@') {
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
    pub(crate) database: Database,
    pub(crate) store: Option<Arc<dyn Store>>,
    pub(crate) secrets: Option<PathBuf>,
    pub(crate) cache_ttl: Duration,
    pub(crate) poll: Duration,
    pub(crate) call_timeout: Duration,
}

impl RegistryBuilder {
    /// The secrets file (the pepper, the cookie and signing keys). Default for SQLite:
    /// [`secrets_path`](crate::secrets_path) of the database file; required for PostgreSQL, and the same file for
    /// every instance.
    pub fn secrets(mut self, path: impl Into<PathBuf>) -> Self {
        self.secrets = Some(path.into());
        self
    }

    /// How long successful authentications are cached (default 30 s, at most
    /// [`MAX_CACHE_TTL`](crate::MAX_CACHE_TTL), `0` for no cache). A revocation drops the caches of every instance
    /// within the poll interval; the TTL bounds how long an answer outlives an unreachable
    /// database.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How often to ask the database whether anything was revoked (default
    /// [`DEFAULT_REVOCATION_POLL`](crate::DEFAULT_REVOCATION_POLL), at least 10 ms). `Duration::ZERO` turns the poll off, for
    /// one-shot tools (such as the `authstar clients` commands) that exit before another
    /// process's revocation could matter to them; a server must keep it.
    pub fn revocation_poll(mut self, interval: Duration) -> Self {
        self.poll = match interval {
            Duration::ZERO => Duration::ZERO,
            interval => interval.max(Duration::from_millis(10)),
        };
        self
    }

    /// How long one database call may take (default [`DEFAULT_CALL_TIMEOUT`](crate::store::DEFAULT_CALL_TIMEOUT)).
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
        let limits = crate::limits::Limits::default();
        limits.replace(store.rate_limits().await?);
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
            limits,
            // A registry that does not poll (a one-shot command) answers from what it loaded;
            // a server's knowledge ages from its last successful poll.
            // One poll is two calls of up to the call timeout each: a slow but healthy poll
            // must not make the view stale.
            sync: crate::registry::SyncState::new((!self.poll.is_zero()).then(|| {
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
        Ok(Registry {
            shared,
            actor: Arc::from(crate::audit::LIBRARY_ACTOR),
        })
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

//! [`Registry`]: a [`Store`], its secrets file, and caches in front; what every concern
//! (clients, keys, revocations) shares.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authstar::AuthstarClient;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::password::Passwords;
use crate::revocations::RevocationSet;
use crate::store::{self, DEFAULT_CALL_TIMEOUT, Store, Usage};
use crate::usage::UsageRecorder;
use crate::{
    DEFAULT_REVOCATION_POLL, Database, RegistryBuilder, RegistryError, ServerSecrets, now,
};

/// The registry: a [`Store`], its secrets file, and caches in front. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    pub(crate) shared: Arc<Shared>,
    /// Who the changes made through this handle are recorded as
    /// ([`acting_as`](Registry::acting_as)).
    pub(crate) actor: Arc<str>,
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) secrets: ServerSecrets,
    /// HMAC-SHA256 keyed with the pepper, its key blocks hashed once: each use clones it
    /// (two of a short message's five SHA-256 blocks saved on every credential check).
    pub(crate) mac: Hmac<Sha256>,
    pub(crate) passwords: Passwords,
    pub(crate) usage: UsageRecorder,
    /// Successful checks, one entry per client or key id: the tag (a keyed hash of the secret
    /// that was checked) and the client. Keyed by id so that revoking a key or a client drops
    /// exactly its entry.
    pub(crate) cache: moka::sync::Cache<CacheKey, (Tag, AuthstarClient)>,
    /// Whether a client is active, for sessions: cached like successful checks.
    pub(crate) active: moka::sync::Cache<String, bool>,
    /// Whether an API key is active (its owner, when it is), for sessions minted with a key.
    /// A key id → its owner and expiry, while active.
    pub(crate) active_keys: moka::sync::Cache<Box<str>, ActiveKey>,
    /// Moves whenever cache entries are dropped: an answer read from the database before a
    /// drop is not cached after it.
    pub(crate) generation: AtomicU64,
    /// Revoked tokens and clients, for token verifiers.
    pub(crate) revoked: RevocationSet,
    /// Each client's own rate limit.
    pub(crate) limits: crate::limits::Limits,
    /// How current that is.
    pub(crate) sync: SyncState,
}

/// A cache entry's key: what kind of secret, and whose.
pub(crate) type CacheKey = (u8, Box<str>);

/// An API key's owner and expiry while it is active; `None` when it is not.
pub(crate) type ActiveKey = Option<(Box<str>, Option<u64>)>;

/// A keyed hash of a checked secret: a cache hit must present the same one.
pub(crate) type Tag = [u8; 32];

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
        self.limits.forget_client(client_id);
    }

    /// Applies one change of the log.
    pub(crate) fn apply(&self, change: &store::Change) {
        match change.kind {
            store::ChangeKind::Token => self
                .revoked
                .add_token(&change.id, change.expires_at.unwrap_or(u64::MAX)),
            store::ChangeKind::Key => self.drop_key(&change.id),
            store::ChangeKind::Client => self.revoke_client_here(&change.id),
            store::ChangeKind::Scopes => self.drop_caches(),
            // Read again by the poll, which can wait for the store (`sync::catch_up`).
            store::ChangeKind::Limits
            | store::ChangeKind::KeyLimits
            | store::ChangeKind::Unknown => {}
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

/// What a secret belongs to; its label keys its hashes and cache entries apart.
#[derive(Clone, Copy)]
pub(crate) enum Secret {
    Client = 1,
    Key = 2,
}

impl Secret {
    pub(crate) fn label(self) -> &'static [u8] {
        match self {
            Self::Client => b"client",
            Self::Key => b"key",
        }
    }
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

    pub(crate) fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = self.shared.mac.clone();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    pub(crate) fn keyed_hash(&self, parts: &[&[u8]]) -> String {
        format!(
            "hmac-sha256${}",
            URL_SAFE_NO_PAD.encode(self.mac(parts).finalize().into_bytes())
        )
    }

    /// Runs a password hash or check on a blocking thread.
    pub(crate) async fn with_passwords<T, F>(&self, work: F) -> Result<T, RegistryError>
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
    pub(crate) async fn verify_hash(
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

    /// The tag a cache hit for `secret` must match.
    pub(crate) fn cache_tag(&self, kind: Secret, id: &str, secret: &str) -> Tag {
        self.mac(&[b"cache", kind.label(), id.as_bytes(), secret.as_bytes()])
            .finalize()
            .into_bytes()
            .into()
    }

    /// Caches an answer read from the database, unless the caches were dropped since the read
    /// began (a revocation seen meanwhile). Checked again after the insert: a drop that lands
    /// between the check and the insert takes the entry back out.
    pub(crate) fn remember<K, V>(
        &self,
        cache: &moka::sync::Cache<K, V>,
        generation: u64,
        key: K,
        value: V,
    ) where
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
    pub(crate) async fn admit(
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
    pub(crate) fn admitted(
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
    pub(crate) fn cached(&self, kind: Secret, id: &str, secret: &str) -> Option<AuthstarClient> {
        let (tag, client) = self.shared.cache.get(&(kind as u8, id.into()))?;
        let presented = self.cache_tag(kind, id, secret);
        let same = tag
            .iter()
            .zip(presented.iter())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0;
        let owner_revoked = matches!(kind, Secret::Key)
            && self.shared.revoked.is_client_revoked(client.client_id());
        // A key that expired since it was cached is no longer one.
        let expired = client
            .credential_expiry()
            .is_some_and(|at| at <= crate::now());
        (same && !owner_revoked && !expired).then_some(client)
    }

    /// Whether the registry has no client yet.
    pub async fn is_empty(&self) -> Result<bool, RegistryError> {
        Ok(self.shared.store.count_clients().await? == 0)
    }
}

/// When this process last heard from its database.
pub(crate) struct SyncState {
    epoch: Instant,
    /// Milliseconds since `epoch` at the last successful poll.
    synced_ms: AtomicU64,
    /// How old the view may be; `None` for a registry that does not poll.
    max_staleness: Option<Duration>,
}

impl SyncState {
    pub(crate) fn new(max_staleness: Option<Duration>) -> Self {
        Self {
            epoch: Instant::now(),
            synced_ms: AtomicU64::new(0),
            max_staleness,
        }
    }

    pub(crate) fn synced(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.synced_ms.store(ms, Ordering::Release);
    }

    /// Whether what this process knows of revocations is recent enough to answer from.
    pub(crate) fn is_current(&self) -> bool {
        let Some(limit) = self.max_staleness else {
            return true;
        };
        let synced = Duration::from_millis(self.synced_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(synced) <= limit
    }
}

//! API keys `ask_<key id>_<secret><checksum>`: create (scopes within the client's, an optional
//! expiry and name), list (paged), rotate (a new key, the old one valid for an overlap), revoke,
//! and check them; a key stops working with its client, when it expires, or when revoked.
//! The key's format and checksum are in `key_format`.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use authstar::AuthstarClient;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::key_format::{checksum_of, split_key};
use crate::registry::Secret;
use crate::store::{KeyRow, Revoked};
use crate::{
    API_KEY_PREFIX, Registry, RegistryError, check_scopes, hex, now, random, split_scopes,
};

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
    /// When it stops working, seconds since the epoch (`None`: until revoked).
    pub expires_at: Option<u64>,
    /// Whether it has expired.
    pub expired: bool,
    /// The operator's name for it.
    pub name: Option<String>,
    /// The key it was rotated from.
    pub replaces: Option<String>,
    /// Its own rate limit, when it has one: `{"burst": N, "period_ms": M}`.
    pub rate_limit: Option<serde_json::Value>,
}

impl KeyRecord {
    fn of(row: KeyRow) -> Self {
        let expired = row.expires_at.is_some_and(|at| at <= now());
        Self {
            scopes: split_scopes(&row.scopes),
            key_id: row.key_id,
            client_id: row.client_id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked: row.revoked_at.is_some(),
            expires_at: row.expires_at,
            expired,
            name: row.name,
            replaces: row.replaces,
            rate_limit: row
                .rate_limit
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok()),
        }
    }
}

/// What a new key is: its scopes (default: its client's), when it expires, its name.
///
/// ```
/// use std::time::Duration;
/// use authstar_registry::KeyOptions;
/// let options = KeyOptions::default()
///     .scopes(["reports:read"])
///     .expires_in(Duration::from_secs(30 * 86_400))
///     .name("nightly export");
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyOptions {
    /// Scopes, within the client's; empty for the client's own.
    pub scopes: Vec<String>,
    /// When it stops working (`None`: when revoked).
    pub expires: Option<KeyEnd>,
    /// A name (at most 100 printable characters; never a secret).
    pub name: Option<String>,
}

impl KeyOptions {
    /// With `scopes`.
    #[must_use]
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Working for `lifetime` from its creation.
    #[must_use]
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expires = Some(KeyEnd::After(lifetime));
        self
    }

    /// Working until `unix_time` (seconds, as a JWT's `exp`), exactly.
    #[must_use]
    pub fn expires_at(mut self, unix_time: u64) -> Self {
        self.expires = Some(KeyEnd::At(unix_time));
        self
    }

    /// Named `name`.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Unicode format characters (bidirectional overrides and the like), which would make a
/// listed name read as another.
fn is_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// When a key stops working: a lifetime from when it is written, or a Unix time. Either must
/// fall after that moment and within [`MAX_KEY_LIFETIME`] of it, else
/// [`RegistryError::InvalidKeyLifetime`].
///
/// ```
/// use std::time::Duration;
/// use authstar_registry::KeyEnd;
/// assert_eq!(KeyEnd::from(Duration::from_secs(60)), KeyEnd::After(Duration::from_secs(60)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEnd {
    /// This long after the key is made (or the change is written).
    After(Duration),
    /// At this Unix time, in seconds: stored as given.
    At(u64),
}

impl From<Duration> for KeyEnd {
    fn from(lifetime: Duration) -> Self {
        Self::After(lifetime)
    }
}

impl KeyEnd {
    /// The Unix time it names when written at `now`.
    pub(crate) fn at(self, now: u64) -> Result<u64, RegistryError> {
        let lifetime = match self {
            Self::After(lifetime) => lifetime.as_secs(),
            Self::At(unix_time) => unix_time.saturating_sub(now),
        };
        if lifetime == 0 || lifetime > MAX_KEY_LIFETIME.as_secs() {
            return Err(RegistryError::InvalidKeyLifetime);
        }
        Ok(now.saturating_add(lifetime))
    }
}

/// The longest a key may live, and a rotation's longest overlap: ten years.
pub const MAX_KEY_LIFETIME: Duration = Duration::from_secs(10 * 366 * 86_400);

/// What a rotation carries over from the old key.
struct Rotation<'a> {
    old: &'a str,
    scopes: Vec<String>,
    expires_at: Option<u64>,
    until: u64,
}

/// The longest key name.
pub const MAX_KEY_NAME: usize = 100;

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
    /// When it stops working, seconds since the epoch.
    pub expires_at: Option<u64>,
    /// The key it replaces (a rotation), which works until `replaced_until`.
    pub replaces: Option<String>,
    /// When the replaced key stops working.
    pub replaced_until: Option<u64>,
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

impl Registry {
    /// Creates an API key for a client; its scopes default to the client's and may not exceed
    /// them.
    pub async fn create_key(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<CreatedKey, RegistryError> {
        self.create_key_with(
            client_id,
            KeyOptions::default().scopes(scopes.iter().cloned()),
        )
        .await
    }

    /// Creates an API key for a client as `options` say.
    pub async fn create_key_with(
        &self,
        client_id: &str,
        options: KeyOptions,
    ) -> Result<CreatedKey, RegistryError> {
        self.new_key(client_id, options, None).await
    }

    async fn new_key(
        &self,
        client_id: &str,
        options: KeyOptions,
        rotation: Option<Rotation<'_>>,
    ) -> Result<CreatedKey, RegistryError> {
        let KeyOptions {
            scopes,
            expires,
            name,
        } = options;
        check_scopes(&scopes)?;
        if let Some(name) = &name
            && (name.is_empty()
                || name.chars().count() > MAX_KEY_NAME
                || name.chars().any(|c| c.is_control() || is_format(c)))
        {
            return Err(RegistryError::InvalidKeyName);
        }
        if let Some(end) = expires {
            end.at(now())?;
        }
        let Some(client) = self.shared.store.client(client_id).await? else {
            return Err(RegistryError::UnknownClient(client_id.to_owned()));
        };
        if client.revoked_at.is_some() {
            return Err(RegistryError::ClientRevoked(client_id.to_owned()));
        }
        if !client.uses_secret() {
            return Err(RegistryError::KeyClient(client_id.to_owned()));
        }
        let client_scopes = split_scopes(&client.scopes);
        let scopes = match (&rotation, scopes.is_empty()) {
            // A rotated key keeps what the old one grants now: its scopes within the client's,
            // exactly (an empty set stays empty, never "the client's").
            (Some(rotation), _) => rotation
                .scopes
                .iter()
                .filter(|scope| client_scopes.contains(scope))
                .cloned()
                .collect(),
            (None, true) => client_scopes.clone(),
            (None, false) => scopes,
        };
        if let Some(extra) = scopes.iter().find(|s| !client_scopes.contains(s)) {
            return Err(RegistryError::ScopeNotGranted {
                scope: extra.clone(),
                client_id: client_id.to_owned(),
            });
        }
        let created_at = now();
        let expires_at = match (expires, &rotation) {
            (Some(end), _) => Some(end.at(created_at)?),
            // A rotation keeps the old key's end unless told otherwise.
            (None, Some(rotation)) => rotation.expires_at,
            (None, None) => None,
        };
        let key_id = hex(&random::<6>()?);
        let body = format!(
            "{API_KEY_PREFIX}{key_id}_{}",
            URL_SAFE_NO_PAD.encode(random::<32>()?)
        );
        let mut key = body;
        key.extend(checksum_of(&key).map(char::from));
        let Some((_, secret)) = split_key(&key) else {
            return Err(RegistryError::InvalidKeyName);
        };
        let hash = self.keyed_hash(&[Secret::Key.label(), key_id.as_bytes(), secret.as_bytes()]);
        let mut row = KeyRow::new(
            key_id,
            client_id.to_owned(),
            hash,
            scopes.join(" "),
            created_at,
        );
        row.expires_at = expires_at;
        row.name = name;
        let replaced_until = match &rotation {
            None => {
                self.shared.store.insert_key(&row).await?;
                None
            }
            Some(rotation) => {
                row.replaces = Some(rotation.old.to_owned());
                // What the old key's end really is: the overlap's, or its own if sooner.
                let until = rotation
                    .expires_at
                    .map_or(rotation.until, |own| own.min(rotation.until));
                if !self
                    .shared
                    .store
                    .rotate_key(&row, rotation.old, until, created_at)
                    .await?
                {
                    return Err(RegistryError::UnknownKey(rotation.old.to_owned()));
                }
                self.shared.drop_key(rotation.old);
                // The old key's rate limit, which the store gave the new one: here at once (the
                // poll reads it too).
                if let Err(error) = self.shared.reload_key_limit(&row.key_id).await {
                    tracing::warn!(%error, "authstar registry: a rotated key's rate limit not read yet");
                }
                Some(until)
            }
        };
        let action = if rotation.is_some() {
            "key.rotate"
        } else {
            "key.create"
        };
        self.audit(
            action,
            Some(client_id),
            &row.key_id,
            serde_json::json!({
                "scopes": scopes,
                "expires_at": expires_at,
                "name": row.name,
                "replaces": row.replaces,
                "replaced_until": replaced_until,
            }),
        )
        .await;
        Ok(CreatedKey {
            key_id: row.key_id,
            key,
            client_id: row.client_id,
            scopes,
            expires_at,
            replaces: row.replaces,
            replaced_until,
        })
    }

    /// Rotates an API key: a new key for the same client and name, granting what the old one
    /// grants now (its scopes within the client's), working until the old key's end (or until
    /// `expires`, if given); the old key works only `overlap` longer (or until its own end,
    /// if sooner), so its users switch with no outage. One transaction; every instance drops
    /// the old key's cached checks at its next poll. An expired, revoked or unknown key is
    /// [`RegistryError::UnknownKey`].
    ///
    /// ```no_run
    /// # async fn run(registry: authstar_registry::Registry) -> Result<(), authstar_registry::RegistryError> {
    /// use std::time::Duration;
    /// let created = registry.rotate_key("0a1b2c3d4e5f", Duration::from_secs(86_400), None).await?;
    /// println!("new key {} (the old one works until {:?})", created.key, created.replaced_until);
    /// # Ok(()) }
    /// ```
    pub async fn rotate_key(
        &self,
        key_id: &str,
        overlap: Duration,
        expires: Option<KeyEnd>,
    ) -> Result<CreatedKey, RegistryError> {
        if overlap > MAX_KEY_LIFETIME {
            return Err(RegistryError::InvalidKeyLifetime);
        }
        let Some(old) = self.shared.store.active_key(key_id).await? else {
            return Err(RegistryError::UnknownKey(key_id.to_owned()));
        };
        if old.expires_at.is_some_and(|at| at <= now()) {
            return Err(RegistryError::UnknownKey(key_id.to_owned()));
        }
        let options = KeyOptions {
            scopes: Vec::new(),
            expires,
            name: old.name.clone(),
        };
        let rotation = Rotation {
            old: key_id,
            scopes: split_scopes(&old.scopes),
            expires_at: old.expires_at,
            until: now().saturating_add(overlap.as_secs()),
        };
        self.new_key(&old.client_id, options, Some(rotation)).await
    }

    /// Every API key (never the keys themselves), oldest first. Reads every row: for a large
    /// registry, page with [`key_page`](Self::key_page).
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, RegistryError> {
        let rows = self.shared.store.keys().await?;
        Ok(rows.into_iter().map(KeyRecord::of).collect())
    }

    /// At most `limit` keys (capped at [`MAX_PAGE`](crate::MAX_PAGE)) by key id, after `after`
    /// (the last key id of the previous page; `None` for the first).
    pub async fn key_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KeyRecord>, RegistryError> {
        let limit = limit.clamp(1, crate::MAX_PAGE);
        let rows = self
            .shared
            .store
            .keys_page(after.unwrap_or(""), limit)
            .await?;
        Ok(rows.into_iter().map(KeyRecord::of).collect())
    }

    /// Revokes an API key: at once here, within the poll interval on every other instance.
    pub async fn revoke_key(&self, key_id: &str) -> Result<(), RegistryError> {
        // Its client, for the audit trail (none when the key or its client is gone already).
        let owner = self
            .shared
            .store
            .active_key(key_id)
            .await
            .ok()
            .flatten()
            .map(|row| row.client_id);
        let revoked = self.shared.store.revoke_key(key_id, now()).await?;
        self.shared.drop_key(key_id);
        match revoked {
            Revoked::Unknown => Err(RegistryError::UnknownKey(key_id.to_owned())),
            Revoked::Already => Ok(()),
            Revoked::Now => {
                self.audit(
                    "key.revoke",
                    owner.as_deref(),
                    key_id,
                    serde_json::json!({}),
                )
                .await;
                Ok(())
            }
        }
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
        if row.expires_at.is_some_and(|at| at <= now()) {
            return Ok(None);
        }
        // Never more than the client holds now (it may have been re-scoped since).
        // Unknown (a read that did not bring them, a store that does not fill them): none.
        let held = row
            .client_scopes
            .as_deref()
            .map(split_scopes)
            .unwrap_or_default();
        let scopes = split_scopes(&row.scopes)
            .into_iter()
            .filter(|scope| held.contains(scope));
        let client =
            AuthstarClient::new(row.client_id, scopes).with_credential(key_id, row.expires_at);
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
            .filter(|row| row.expires_at.is_none_or(|at| at > now()))
            .map(|row| (row.client_id.into_boxed_str(), row.expires_at));
        let active = owner.is_some();
        self.remember(&self.shared.active_keys, generation, key_id.into(), owner);
        Ok(active)
    }

    /// A cached answer of [`is_key_active_cached`](Self::is_key_active_cached), if there is one
    /// (a key whose client was revoked since, or that expired since, is not active).
    pub fn cached_key_active(&self, key_id: &str) -> Option<bool> {
        let owner = self.shared.active_keys.get(key_id)?;
        Some(owner.is_some_and(|(owner, expires_at)| {
            !self.shared.revoked.is_client_revoked(&owner) && expires_at.is_none_or(|at| at > now())
        }))
    }
}

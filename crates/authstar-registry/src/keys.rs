//! API keys `ask_<key id>_<secret>`: create (scopes within the client's), list, revoke, and
//! check them; a key stops working with its client.

use std::fmt;
use std::sync::atomic::Ordering;

use authstar::AuthstarClient;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

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

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key_id", &self.key_id)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// `ask_<key id>_<secret>` into its id and secret.
pub(crate) fn split_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(API_KEY_PREFIX)?.split_once('_')
}

/// The public id of an API key `ask_<id>_<secret>` (never its secret): what the failure
/// throttle counts a key's failures against
/// ([`HeaderAuth::identity`](authstar::HeaderAuth::identity)).
///
/// ```
/// assert_eq!(authstar_registry::api_key_id("ask_0a1b2c_secretpart"), Some("0a1b2c"));
/// assert_eq!(authstar_registry::api_key_id("another-key"), None);
/// ```
pub fn api_key_id(key: &str) -> Option<&str> {
    split_key(key).map(|(id, _)| id)
}

impl Registry {
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
        if !client.uses_secret() {
            return Err(RegistryError::KeyClient(client_id.to_owned()));
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
}

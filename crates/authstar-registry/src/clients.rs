//! OAuth 2.0 clients: create, list, revoke, and check their secrets (generated: HMAC under
//! the pepper; imported: argon2id), every refusal at the cost of a password check.

use std::fmt;
use std::sync::atomic::Ordering;

use authstar::AuthstarClient;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::password::Passwords;
use crate::registry::Secret;
use crate::store::{ClientRow, Revoked, StoreError};
use crate::{Registry, RegistryError, check_scopes, hex, now, random, split_scopes};

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
    /// How it authenticates: `client_secret_basic` (a secret, Basic or in the body),
    /// `private_key_jwt`, `tls_client_auth` or `self_signed_tls_client_auth`.
    pub auth_method: String,
    /// Its own rate limit, when it has one: `{"burst": N, "period_ms": M}`.
    pub rate_limit: Option<serde_json::Value>,
}

impl ClientRecord {
    pub(crate) fn of(row: ClientRow) -> Self {
        Self {
            scopes: split_scopes(&row.scopes),
            client_id: row.client_id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked: row.revoked_at.is_some(),
            auth_method: row.auth_method,
            rate_limit: row
                .rate_limit
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok()),
        }
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

impl fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedClient")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

pub(crate) fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Registry {
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
            Ok(()) => {
                self.audit_created(&row).await;
                Ok(CreatedClient {
                    client_id: row.client_id,
                    client_secret,
                    scopes: scopes.to_vec(),
                })
            }
            Err(StoreError::Conflict) => Err(RegistryError::ClientExists(row.client_id)),
            Err(error) => Err(error.into()),
        }
    }

    /// Records a client's creation (its method and scopes; never its secret or keys).
    pub(crate) async fn audit_created(&self, row: &ClientRow) {
        let detail = serde_json::json!({
            "auth_method": row.auth_method,
            "scopes": split_scopes(&row.scopes),
        });
        self.audit(
            "client.create",
            Some(&row.client_id),
            &row.client_id,
            detail,
        )
        .await;
    }

    /// Every client, oldest first. Reads every row: for a large registry, page with
    /// [`client_page`](Self::client_page).
    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>, RegistryError> {
        let rows = self.shared.store.clients().await?;
        Ok(rows.into_iter().map(ClientRecord::of).collect())
    }

    /// At most `limit` clients (capped at [`MAX_PAGE`](crate::MAX_PAGE)) by id, after `after`
    /// (the last id of the previous page; `None` for the first).
    pub async fn client_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ClientRecord>, RegistryError> {
        let limit = limit.clamp(1, crate::MAX_PAGE);
        let rows = self
            .shared
            .store
            .clients_page(after.unwrap_or(""), limit)
            .await?;
        Ok(rows.into_iter().map(ClientRecord::of).collect())
    }

    /// Replaces an active client's scopes (a re-scope). Its API keys keep their own scopes but
    /// never grant more than the client's (a key is checked with the intersection); cached
    /// checks are dropped here and, on other instances, within their cache TTL. Tokens already issued keep their scopes until they
    /// expire (revoke them to end them sooner).
    pub async fn set_client_scopes(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<(), RegistryError> {
        check_scopes(scopes)?;
        if !self
            .shared
            .store
            .set_client_scopes(client_id, &scopes.join(" "))
            .await?
        {
            return Err(RegistryError::UnknownClient(client_id.to_owned()));
        }
        // Rare, and a client's keys are cached by key id: every entry goes.
        self.shared.drop_caches();
        let detail = serde_json::json!({ "scopes": scopes });
        self.audit("client.scopes", Some(client_id), client_id, detail)
            .await;
        Ok(())
    }

    /// Revokes a client and, with it, its keys: at once here, within the poll interval on
    /// every other instance.
    /// Its access tokens are refused from then on too, by every verifier that consults this
    /// registry's [`Revocations`](authstar_jwt::Revocations).
    pub async fn revoke_client(&self, client_id: &str) -> Result<(), RegistryError> {
        match self.shared.store.revoke_client(client_id, now()).await? {
            Revoked::Unknown => Err(RegistryError::UnknownClient(client_id.to_owned())),
            Revoked::Already => {
                self.shared.revoke_client_here(client_id);
                Ok(())
            }
            Revoked::Now => {
                self.shared.revoke_client_here(client_id);
                self.audit(
                    "client.revoke",
                    Some(client_id),
                    client_id,
                    serde_json::json!({}),
                )
                .await;
                Ok(())
            }
        }
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
        // A `private_key_jwt` client has no secret: refused like an unknown one.
        let row = match self.shared.store.client(client_id).await? {
            Some(row) if row.revoked_at.is_none() && row.uses_secret() => row,
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
}

//! `private_key_jwt` clients (RFC 7523 §2.2): registered with the public keys they sign
//! assertions with, and no secret. The registry is the [`ClientKeys`] of an authstar-jwt
//! [`ClientAssertionVerifier`].

use authstar::AuthstarClient;
use authstar_jwt::{ClientAssertionVerifier, ClientKeys, JwkSet, VerificationKey};
use authstar_oauth2::BoxError;

use crate::store::{ClientRow, KEY_METHOD, StoreError};
use crate::{ClientRecord, Registry, RegistryError, check_scopes, now, split_scopes};

/// The largest JWKS document a client may register.
pub const MAX_JWKS_LEN: usize = 64 * 1024;
/// The most keys a client may register (two or three during a rotation).
pub const MAX_CLIENT_KEYS: usize = 10;

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// Reads a client's JWKS document: at most [`MAX_CLIENT_KEYS`] public signature keys
/// (EC P-256/P-384, Ed25519 or RSA), none of them private or symmetric, each usable.
///
/// ```
/// use authstar_jwt::{SigningKey, jwks};
/// let key = SigningKey::generate_es256("svc-1").unwrap();
/// let document = serde_json::to_string(&jwks(&[key])).unwrap();
/// assert!(authstar_registry::client_jwks(&document).is_ok());
/// // A private key is refused: the client's secret would then live here.
/// let private = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}"#;
/// assert!(authstar_registry::client_jwks(private).is_err());
/// ```
pub fn client_jwks(document: &str) -> Result<JwkSet, RegistryError> {
    let invalid = |why: &str| RegistryError::InvalidJwks(why.to_owned());
    if document.len() > MAX_JWKS_LEN {
        return Err(invalid("the document is larger than 64 KiB"));
    }
    let raw: serde_json::Value =
        serde_json::from_str(document).map_err(|_| invalid("not a JSON document"))?;
    let members = raw["keys"]
        .as_array()
        .ok_or_else(|| invalid("no \"keys\" array"))?;
    if members.is_empty() || members.len() > MAX_CLIENT_KEYS {
        return Err(invalid("give between 1 and 10 keys"));
    }
    // Several keys: each named, and an assertion names the one it was signed with.
    if members.len() > 1 && members.iter().any(|key| !key["kid"].is_string()) {
        return Err(invalid("with several keys, give each a \"kid\""));
    }
    if members.iter().any(|key| {
        PRIVATE_MEMBERS
            .iter()
            .any(|member| key.get(member).is_some())
    }) {
        return Err(invalid(
            "a key holds private material: register only the public keys",
        ));
    }
    for key in members {
        if key["kty"] == "RSA" {
            // Without `alg`, an RSA key reads as RS256 only, and a PS256 assertion (FAPI 2.0's
            // RSA algorithm) would be refused without a word.
            if !matches!(key["alg"].as_str(), Some("RS256" | "PS256")) {
                return Err(invalid("an RSA key needs \"alg\": \"PS256\" or \"RS256\""));
            }
            let modulus = key["n"].as_str().unwrap_or_default();
            // base64url: 4 characters per 3 bytes; 2048 bits are 256 bytes.
            if modulus.trim_start_matches('A').len() * 3 / 4 < 256 {
                return Err(invalid("an RSA key needs at least 2048 bits"));
            }
        }
    }
    let jwks: JwkSet =
        serde_json::from_value(raw).map_err(|_| invalid("a key is not a valid JWK"))?;
    for jwk in &jwks.keys {
        VerificationKey::from_jwk(jwk)
            .map_err(|error| RegistryError::InvalidJwks(error.to_string()))?;
    }
    Ok(jwks)
}

impl Registry {
    /// Creates a `private_key_jwt` client with the public keys of `jwks` (a JWKS document,
    /// checked by [`client_jwks`]) and no secret: it can never authenticate with one.
    pub async fn create_key_client(
        &self,
        id: &str,
        jwks: &str,
        scopes: &[String],
    ) -> Result<ClientRecord, RegistryError> {
        check_scopes(scopes)?;
        if !crate::clients::valid_client_id(id) {
            return Err(RegistryError::InvalidClientId(id.to_owned()));
        }
        let document = stored(&client_jwks(jwks)?)?;
        let row = ClientRow::with_keys(id.to_owned(), document, scopes.join(" "), now());
        match self.shared.store.insert_client(&row).await {
            Ok(()) => {
                self.audit_created(&row).await;
                Ok(ClientRecord::of(row))
            }
            Err(StoreError::Conflict) => Err(RegistryError::ClientExists(row.client_id)),
            Err(error) => Err(error.into()),
        }
    }

    /// Replaces the public keys of the `private_key_jwt` client `id` (a rotation: register the
    /// new key beside the old, then drop the old; or, after a compromise, only the new). Every
    /// instance reads keys from the database, so the change holds at once, everywhere.
    pub async fn set_client_jwks(&self, id: &str, jwks: &str) -> Result<(), RegistryError> {
        let document = stored(&client_jwks(jwks)?)?;
        match self.shared.store.set_client_jwks(id, &document).await? {
            true => {
                let kids: Vec<_> = client_jwks(jwks)?
                    .keys
                    .iter()
                    .map(|key| key.common.key_id.clone())
                    .collect();
                self.audit(
                    "client.jwks",
                    Some(id),
                    id,
                    serde_json::json!({ "kids": kids }),
                )
                .await;
                Ok(())
            }
            false => Err(RegistryError::UnknownClient(id.to_owned())),
        }
    }

    /// The verifier of `private_key_jwt` assertions made for the authorization server
    /// `issuer`, its clients and keys from this registry (revoked clients and clients with a
    /// secret have none).
    pub fn client_assertions(&self, issuer: &str) -> ClientAssertionVerifier<Registry> {
        ClientAssertionVerifier::new(self.clone(), issuer)
    }
}

/// A checked key set as stored (members this crate does not read are dropped).
fn stored(keys: &JwkSet) -> Result<String, RegistryError> {
    serde_json::to_string(keys)
        .map_err(|_| RegistryError::InvalidJwks("the keys could not be written back".to_owned()))
}

impl ClientKeys<AuthstarClient> for Registry {
    async fn client_keys(
        &self,
        client_id: &str,
    ) -> Result<Option<(AuthstarClient, JwkSet)>, BoxError> {
        let Some(row) = self.shared.store.client(client_id).await? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() || row.auth_method != KEY_METHOD {
            return Ok(None);
        }
        let Some(document) = &row.jwks else {
            return Ok(None);
        };
        // Checked when registered (client_jwks); read here as a key set only: the verifier
        // reads each key again (`VerificationKey::from_jwk`) and skips any it cannot use, so a
        // row edited by hand since can add no power, only lose keys.
        let Ok(keys) = serde_json::from_str::<JwkSet>(document) else {
            tracing::warn!(
                client_id,
                "authstar-registry: the client's stored JWKS is invalid"
            );
            return Ok(None);
        };
        let client = AuthstarClient::new(client_id, split_scopes(&row.scopes));
        Ok(Some((client, keys)))
    }
}

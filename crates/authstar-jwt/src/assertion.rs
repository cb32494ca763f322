//! `private_key_jwt` (RFC 7523 §2.2, with RFC 7521 §4.2): the client signs a short-lived JWT
//! with a private key and the server checks it with the public keys the client registered.
//! [`ClientAssertionVerifier`] is authstar-oauth2's [`ClientAssertions`] for the token,
//! revocation and introspection endpoints.
//!
//! The checks, in order: one compact JWS whose `alg` is on the allow-list (asymmetric only:
//! never `none`, never HMAC, which would make the client's *public* key a shared secret); the
//! client's registered keys (a `kid` picks one); the signature; `iss` and `sub` both the client;
//! `aud` the issuer identifier and nothing else (FAPI 2.0 §5.3.2.1, and the RFC 7523 revision:
//! an assertion made for another server, or for several, is refused); `exp` present, not past,
//! and at most [`max_lifetime`](ClientAssertionVerifier::max_lifetime) ahead; `iat` and `nbf`,
//! when present, not ahead beyond the leeway; a `jti` used once. Every refusal is the same
//! `invalid_client` for the client; the reason is logged at debug level, never the assertion.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authstar::Verdict;
use authstar_oauth2::{BoxError, ClientAssertions};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::claims::unverified_claims;
use crate::dpop::replay::{ReplayMemory, one_time_id};
use crate::dpop::{HearsReplays, OneTimeKind, ProofId, ReplayShare};
use crate::{VerificationKey, unix_now};

/// The algorithms FAPI 2.0 allows (§5.4.1): PS256, ES256 and EdDSA.
pub const FAPI2_ALGORITHMS: [Algorithm; 3] = [Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA];

/// The longest `jti` read (the memory keeps a digest, whatever its length).
const MAX_JTI_LEN: usize = 512;

/// The longest lifetime [`ClientAssertionVerifier::max_lifetime`] takes: an assertion is made
/// for one request, and its `jti` is remembered until it expires.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// Where a [`ClientAssertionVerifier`] finds a client and the public keys it registered for
/// `private_key_jwt` (authstar-registry's `Registry::client_keys`).
pub trait ClientKeys<C>: Send + Sync + 'static {
    /// The client `client_id` and its keys; `None` for an unknown or revoked client, or one
    /// that authenticates otherwise (with a secret). An error is a backend failure: the client
    /// is told to retry, not refused.
    fn client_keys<'a>(
        &'a self,
        client_id: &'a str,
    ) -> impl Future<Output = Result<Option<(C, JwkSet)>, BoxError>> + Send + 'a;
}

/// Verifies `private_key_jwt` client assertions for one authorization server: an asymmetric
/// `alg` from the allow-list, the client's registered keys (a `kid` picks one), `iss` = `sub` =
/// the client, `aud` the issuer identifier alone, `exp` present and at most
/// [`max_lifetime`](Self::max_lifetime) ahead, `iat`/`nbf` not ahead, a `jti` used once. Cheap to
/// clone: the replay memory is shared.
///
/// ```
/// use authstar::AuthstarClient;
/// use authstar_jwt::{ClientAssertionVerifier, ClientKeys, JwkSet, SigningKey, jwks};
/// use authstar_oauth2::BoxError;
///
/// /// One client, `svc`, and the public half of its key.
/// struct Registered(JwkSet);
/// impl ClientKeys<AuthstarClient> for Registered {
///     async fn client_keys(&self, id: &str) -> Result<Option<(AuthstarClient, JwkSet)>, BoxError> {
///         Ok((id == "svc").then(|| (AuthstarClient::new("svc", ["read"]), self.0.clone())))
///     }
/// }
///
/// let client_key = SigningKey::generate_es256("svc-1").unwrap(); // held by the client
/// let public: JwkSet = jwks(std::slice::from_ref(&client_key));
/// let verifier = ClientAssertionVerifier::new(Registered(public), "https://as.example");
/// // authstar_oauth2::token_endpoint(&layer, issue).client_assertions(verifier)
/// # let _ = verifier;
/// ```
pub struct ClientAssertionVerifier<K> {
    keys: Arc<K>,
    audience: String,
    algorithms: Vec<Algorithm>,
    max_lifetime: Duration,
    leeway: Duration,
    seen: ReplayMemory,
    share: Option<Arc<dyn ReplayShare>>,
}

impl<K> Clone for ClientAssertionVerifier<K> {
    fn clone(&self) -> Self {
        Self {
            keys: Arc::clone(&self.keys),
            audience: self.audience.clone(),
            algorithms: self.algorithms.clone(),
            max_lifetime: self.max_lifetime,
            leeway: self.leeway,
            seen: self.seen.clone(),
            share: self.share.clone(),
        }
    }
}

impl<K> fmt::Debug for ClientAssertionVerifier<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertionVerifier")
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("max_lifetime", &self.max_lifetime)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

/// Why an assertion was refused (logged at debug level; the client only hears
/// `invalid_client`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// Not a compact JWS, or its claims are missing or mistyped.
    #[error("malformed assertion")]
    Malformed,
    /// `alg` is not on the allow-list.
    #[error("algorithm not accepted")]
    Algorithm,
    /// The client is unknown, revoked, or has no key that verifies the signature.
    #[error("no registered key verifies the assertion")]
    Key,
    /// `iss` or `sub` is not the client.
    #[error("iss and sub must both be the client id")]
    Subject,
    /// `aud` is not exactly the issuer identifier.
    #[error("aud must be the issuer identifier alone")]
    Audience,
    /// `exp` has passed, is too far ahead, or `iat`/`nbf` are ahead.
    #[error("the assertion is expired, not yet valid, or lives too long")]
    Time,
    /// The `jti` was used before (or the memory could not tell).
    #[error("the assertion was used before")]
    Replayed,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    exp: u64,
    jti: String,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
}

impl<K> ClientAssertionVerifier<K> {
    /// Assertions for the authorization server `issuer` (its RFC 8414 `issuer`, the only
    /// `aud` accepted), clients and keys from `keys`. Defaults: the asymmetric algorithms
    /// DPoP accepts ([`dpop::DEFAULT_ALGORITHMS`](crate::dpop::DEFAULT_ALGORITHMS)), `exp` at
    /// most 5 minutes ahead, 10 s of clock skew (FAPI 2.0 §5.3.2.1), 100 000 `jti`s remembered.
    pub fn new(keys: K, issuer: impl Into<String>) -> Self {
        Self {
            keys: Arc::new(keys),
            audience: issuer.into().trim_end_matches('/').to_owned(),
            algorithms: crate::dpop::DEFAULT_ALGORITHMS.to_vec(),
            max_lifetime: Duration::from_secs(300),
            leeway: Duration::from_secs(10),
            seen: ReplayMemory::new(100_000),
            share: None,
        }
    }

    /// The accepted algorithms; symmetric ones (HMAC) are dropped: a client's registered
    /// keys are public.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms
            .into_iter()
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        self
    }

    /// How far ahead `exp` may be (default 5 minutes, at most [`MAX_ASSERTION_LIFETIME`]): an
    /// assertion is made for one request.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime.min(MAX_ASSERTION_LIFETIME);
        self
    }

    /// The clock skew tolerated on `exp`, `iat` and `nbf` (default 10 s, at most
    /// [`MAX_LEEWAY`](crate::MAX_LEEWAY)).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(crate::MAX_LEEWAY);
        self
    }

    /// How many used `jti`s are remembered (default 100 000): size it above the assertions
    /// accepted per [`max_lifetime`](Self::max_lifetime). The memory is its own (DPoP proofs
    /// have theirs), so a flood of one never shortens the other's window.
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.seen = ReplayMemory::new(capacity);
        self
    }

    /// Announces accepted assertions to other instances (authstar-redis's `RedisProofReplays`,
    /// which also hands theirs to this verifier: `replays.listen(&verifier)`).
    pub fn share_replays(mut self, share: impl ReplayShare) -> Self {
        self.share = Some(Arc::new(share));
        self
    }

    /// The `alg` names accepted.
    pub fn algorithm_names(&self) -> Vec<String> {
        self.algorithms.iter().map(|a| format!("{a:?}")).collect()
    }

    /// Checks what can be checked without the client's keys, then its claims once a key
    /// verified it; the client's keys are `jwks`.
    fn check(&self, assertion: &str, client_id: &str, jwks: &JwkSet) -> Result<(), AssertionError> {
        let header =
            jsonwebtoken::decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AssertionError::Algorithm);
        }
        // With several keys, the assertion names its own: a signature is checked once.
        if header.kid.is_none() && jwks.keys.len() > 1 {
            return Err(AssertionError::Key);
        }
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        // The crate's one reading of a JWK: signature keys only, the algorithm fixed by the key
        // (never by the assertion's header), which must then agree with the header.
        let candidates = jwks
            .keys
            .iter()
            .filter(|jwk| match (&header.kid, &jwk.common.key_id) {
                (Some(wanted), Some(kid)) => wanted == kid,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .filter_map(|jwk| VerificationKey::from_jwk(jwk).ok())
            .filter(|key| key.alg == header.alg);
        let mut claims = None;
        for key in candidates {
            if let Ok(data) = jsonwebtoken::decode::<Claims>(assertion, &key.decoding, &validation)
            {
                claims = Some(data.claims);
                break;
            }
        }
        let claims = claims.ok_or(AssertionError::Key)?;
        if claims.iss != client_id || claims.sub != client_id {
            return Err(AssertionError::Subject);
        }
        let audience_ok = match &claims.aud {
            serde_json::Value::String(aud) => *aud == self.audience,
            serde_json::Value::Array(auds) => {
                matches!(auds.as_slice(), [serde_json::Value::String(aud)] if *aud == self.audience)
            }
            _ => false,
        };
        if !audience_ok {
            return Err(AssertionError::Audience);
        }
        let now = unix_now();
        let leeway = self.leeway.as_secs();
        // A client chooses `exp`, `iat` and `nbf`, up to u64::MAX: no plain sum with them.
        let latest = now
            .saturating_add(self.max_lifetime.as_secs())
            .saturating_add(leeway);
        let ahead = |at: Option<u64>| at.is_some_and(|at| at > now.saturating_add(leeway));
        if claims.exp > latest
            || claims.exp.saturating_add(leeway) < now
            || ahead(claims.iat)
            || ahead(claims.nbf)
        {
            return Err(AssertionError::Time);
        }
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
            return Err(AssertionError::Malformed);
        }
        // Used once: remembered until it expires (with the leeway), as DPoP proofs are.
        let id = one_time_id("private_key_jwt", client_id, &claims.jti);
        let until = claims.exp.saturating_add(leeway);
        self.seen
            .first_use(&id, until, now)
            .map_err(|_| AssertionError::Replayed)?;
        if let Some(share) = &self.share {
            share.accepted(OneTimeKind::ClientAssertion, &id, until);
        }
        Ok(())
    }
}

impl<K: Send + Sync + 'static> HearsReplays for ClientAssertionVerifier<K> {
    const KIND: OneTimeKind = OneTimeKind::ClientAssertion;

    fn heard(&self, id: &ProofId, until: u64) {
        self.seen.remember(id, until);
    }
}

#[derive(Deserialize)]
struct Claimed {
    sub: String,
}

impl<C, K> ClientAssertions<C> for ClientAssertionVerifier<K>
where
    C: Send + 'static,
    K: ClientKeys<C>,
{
    fn claimed_client(&self, assertion: &str) -> Option<String> {
        unverified_claims::<Claimed>(assertion).map(|claimed| claimed.sub)
    }

    async fn verify(&self, assertion: &str, client_id: &str) -> Verdict<C> {
        let (client, jwks) = match self.keys.client_keys(client_id).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                // As long as a refusal by a registered client (one signature check), so the
                // answer's time does not tell which ids are registered key clients.
                decoy_check(assertion);
                tracing::debug!(reason = %AssertionError::Key, "authstar-jwt: client assertion refused");
                return Verdict::Rejected;
            }
            Err(error) => return Verdict::Unavailable(error),
        };
        match self.check(assertion, client_id, &jwks) {
            Ok(()) => Verdict::Authenticated(client),
            Err(reason) => {
                tracing::debug!(%reason, "authstar-jwt: client assertion refused");
                Verdict::Rejected
            }
        }
    }

    fn algorithms(&self) -> Vec<String> {
        self.algorithm_names()
    }
}

/// One signature check against a key no client holds, in place of an unknown client's keys
/// (an ES256 key, made once per process: the algorithm FAPI clients use most).
fn decoy_check(assertion: &str) {
    static DECOY: std::sync::OnceLock<Option<VerificationKey>> = std::sync::OnceLock::new();
    let decoy = DECOY.get_or_init(|| {
        crate::SigningKey::generate_es256("decoy")
            .ok()
            .map(|key| key.verification_key())
    });
    if let Some(decoy) = decoy {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let _ = jsonwebtoken::decode::<serde_json::Value>(assertion, &decoy.decoding, &validation);
    }
}

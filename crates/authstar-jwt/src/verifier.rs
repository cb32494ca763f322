//! Verifying RFC 9068 access tokens: a bearer authenticator.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use authstar::credentials::dpop::DpopToken;
use authstar::{Authenticator, AuthstarClient, BearerToken, Client, Started, Verdict};
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::{KeySet, VerificationKey};
use crate::profile::{AudienceRule, TokenProfile};

/// The claims of an RFC 9068 access token (§2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: for `client_credentials`, the client.
    pub sub: String,
    /// Audience: one value or several.
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Not before, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-delimited scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Confirmation (RFC 7800): present on a sender-constrained token (`jkt` for DPoP, RFC
    /// 9449; `x5t#S256` for mTLS, RFC 8705), which must not be accepted as a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The `aud` claim: a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// Why a token was refused (the causes behind RFC 6750's `invalid_token`); logged at debug
/// level, never sent to the client in detail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not a JWT, or its header names an algorithm this library does not know (including `none`).
    Malformed,
    /// The `typ` header is not `at+jwt` (RFC 9068 §4).
    WrongType,
    /// No key with the token's `kid`.
    UnknownKey,
    /// The header's `alg` is not the key's algorithm (algorithm confusion).
    WrongAlgorithm,
    /// Signature, `exp`, `nbf`, `iss` or `aud` failed: the reason from the JOSE library.
    Invalid(String),
    /// The claims map to no client.
    NoClient,
    /// The header has a `crit` member: it names extensions this library does not understand
    /// (RFC 7515 §4.1.11).
    CriticalExtension,
    /// Revoked: the token itself, or its client (see [`JwtVerifier::revocations`]).
    Revoked,
    /// A sender-constrained token (a `cnf` claim: DPoP or mTLS-bound) presented as a bearer
    /// token: whoever holds it without the key must not use it (RFC 9449 §7.2).
    SenderConstrained,
    /// A DPoP proof came with a token that is not bound to its key (`cnf.jkt` is another key's
    /// thumbprint, or the token is not DPoP-bound).
    KeyMismatch,
    /// Not a verdict on the token: the revocations the verifier consults are out of date
    /// ([`Revocations::is_current`]), so no token is vouched for. As an authenticator the
    /// verifier answers this as a backend error (`Verdict::Unavailable`: 503), never a 401.
    RevocationsUnknown,
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("not a JWT with a supported algorithm"),
            Self::WrongType => f.write_str("typ is not at+jwt"),
            Self::UnknownKey => f.write_str("no key for this kid"),
            Self::WrongAlgorithm => f.write_str("alg does not match the key"),
            Self::Invalid(reason) => write!(f, "invalid: {reason}"),
            Self::NoClient => f.write_str("the claims name no client"),
            Self::CriticalExtension => f.write_str("crit names an extension not understood"),
            Self::Revoked => f.write_str("revoked"),
            Self::SenderConstrained => {
                f.write_str("a sender-constrained token used as a bearer token")
            }
            Self::KeyMismatch => f.write_str("the token is not bound to the DPoP proof's key"),
            Self::RevocationsUnknown => f.write_str("the revocation list is out of date"),
        }
    }
}

type ClaimsMapper<C> = Arc<dyn Fn(AccessTokenClaims) -> Option<C> + Send + Sync>;

/// The claims as they came, for a mapping to your own type.
pub type RawClaims = serde_json::Map<String, serde_json::Value>;

type RawMapper<C> = Arc<dyn Fn(&RawClaims) -> Option<C> + Send + Sync>;

/// What a revocation check is asked about a verified token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenStamp<'a> {
    /// The token's `jti`.
    pub jti: &'a str,
    /// The client it was issued to (`client_id`, else `sub`).
    pub client_id: &'a str,
    /// When it was issued (`iat`).
    pub iat: u64,
}

/// Revoked tokens and clients, consulted by a [`JwtVerifier`] on every token it accepts,
/// including tokens answered from its cache: answer from memory (a set kept current in the
/// background), never with a network round trip. Implemented for every
/// `Fn(&TokenStamp) -> bool`; `authstar-registry`'s `Registry` implements it from its database.
///
/// ```
/// use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey, TokenStamp};
///
/// let key = SigningKey::generate_ed25519("k").unwrap();
/// let verifier = JwtVerifier::new([key.verification_key()], "https://as", "api")
///     .cache(1000)
///     .revocations(|token: &TokenStamp| token.client_id == "fired");
/// let issuer = JwtIssuer::new(key, "https://as", "api");
/// assert!(verifier.verify(&issuer.issue("kept", &[]).unwrap()).is_ok());
/// assert!(verifier.verify(&issuer.issue("fired", &[]).unwrap()).is_err());
/// ```
pub trait Revocations: Send + Sync + 'static {
    /// Whether `token` is revoked.
    fn is_revoked(&self, token: &TokenStamp<'_>) -> bool;

    /// Whether the answers of [`is_revoked`](Self::is_revoked) are current. A set kept in step
    /// with a database answers `false` once it has not heard from it for too long (a
    /// partitioned instance): the verifier then refuses to vouch for any token, as a backend
    /// error (`503`), rather than accept tokens revoked elsewhere meanwhile. `true` unless you
    /// say otherwise.
    fn is_current(&self) -> bool {
        true
    }
}

impl<F> Revocations for F
where
    F: Fn(&TokenStamp<'_>) -> bool + Send + Sync + 'static,
{
    fn is_revoked(&self, token: &TokenStamp<'_>) -> bool {
        self(token)
    }
}

/// What a cached token keeps for its revocation check.
struct Stamp {
    jti: Box<str>,
    client_id: Box<str>,
    iat: u64,
}

impl Stamp {
    fn as_stamp(&self) -> TokenStamp<'_> {
        TokenStamp {
            jti: &self.jti,
            client_id: &self.client_id,
            iat: self.iat,
        }
    }
}

/// Where the verifier finds keys.
#[derive(Clone)]
pub(crate) enum KeySource {
    Local(Arc<KeySet>),
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteJwks),
}

/// Verifies JWT access tokens: RFC 9068 by default, an identity provider's layout with a
/// [`TokenProfile`]; usable directly as `on_auth_bearer`.
///
/// Checks, in order: no `crit` header (RFC 7515 §4.1.11); the header parses and names a
/// supported algorithm (never `none`); `typ` is one the profile accepts (RFC 9068: `at+jwt` or
/// `application/at+jwt`); a key exists for the `kid`; the header's `alg` is the
/// key's own algorithm (no HMAC-with-a-public-key confusion); the signature; `exp` and `nbf`
/// with leeway (default 30 s); `iss`; `aud`. The validation settings are built once, when the
/// verifier is made. Verification is synchronous (`Authenticator::start` answers at once);
/// only a remote JWKS refresh for an unknown `kid` waits.
pub struct JwtVerifier<C = AuthstarClient> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    source: KeySource,
    validations: Vec<(Algorithm, Validation)>,
    profile: Arc<TokenProfile>,
    /// RFC 9068 read into its typed claims (no `serde_json::Value` in between): the strict
    /// profile with no raw mapping.
    typed: bool,
    map: ClaimsMapper<C>,
    raw: Option<RawMapper<C>>,
    cache: Option<Arc<TokenCache<C>>>,
    revocations: Option<Arc<dyn Revocations>>,
}

impl<C> Inner<C> {
    /// A copy with the same settings (and no cache when `keep_cache` is false).
    fn copy(&self, keep_cache: bool) -> Self {
        Self {
            source: self.source.clone(),
            validations: self.validations.clone(),
            profile: Arc::clone(&self.profile),
            typed: self.typed,
            map: Arc::clone(&self.map),
            raw: self.raw.clone(),
            cache: self.cache.clone().filter(|_| keep_cache),
            revocations: self.revocations.clone(),
        }
    }
}

/// A verified token: its claims in the normalized shape, and as they came when a raw mapping
/// needs them.
struct Decoded {
    claims: AccessTokenClaims,
    raw: Option<RawClaims>,
}

/// A cached verification: the client, the token's `exp`, and what a hit must check again.
type Cached<C> = (C, u64, Option<Arc<Kept>>);

/// What a hit checks: the stamp when revocations are consulted, the key the token is bound to,
/// the `kid` it was verified with when keys come from a remote set. Absent for a bearer token on
/// a verifier with local keys and without revocations, which a hit only clones.
struct Kept {
    stamp: Option<Stamp>,
    binding: Binding,
    /// For a remote key set: the key that verified the token. A hit is honoured only while the
    /// set still holds it: a key the provider withdrew (rotated out after a compromise) stops
    /// verifying the tokens it signed at the next refresh, not at their `exp`.
    key: Option<KeyRef>,
}

/// A key of a remote set, as a cached verification remembers it.
enum KeyRef {
    /// By its `kid`.
    Kid(Box<str>),
    /// A set's only key, for tokens without a `kid`: that very key (a weak reference keeps its
    /// allocation, so a later key can never be mistaken for it). Every refresh makes new keys,
    /// so such tokens are verified again after one.
    Only(std::sync::Weak<jsonwebtoken::DecodingKey>),
}

impl KeyRef {
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    fn for_token(keys: &KeySet, token: &str) -> Option<Self> {
        match jsonwebtoken::decode_header(token).ok()?.kid {
            Some(kid) => Some(Self::Kid(kid.into_boxed_str())),
            None => Some(Self::Only(Arc::downgrade(&keys.only()?.decoding))),
        }
    }

    fn held_by(&self, keys: &KeySet) -> bool {
        match self {
            Self::Kid(kid) => keys.find(Some(kid)).is_some(),
            Self::Only(key) => keys
                .only()
                .is_some_and(|only| std::sync::Weak::ptr_eq(key, &Arc::downgrade(&only.decoding))),
        }
    }
}

/// What a token is bound to (its `cnf`, RFC 7800).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Binding {
    /// Nothing: a bearer token.
    Bearer,
    /// A DPoP key, by its RFC 7638 thumbprint (`cnf.jkt`).
    Key(Box<str>),
    /// Something this library cannot check (an mTLS certificate, `cnf.x5t#S256`).
    Unsupported,
}

impl Binding {
    fn of(claims: &AccessTokenClaims) -> Self {
        match &claims.cnf {
            None => Self::Bearer,
            Some(cnf) => match cnf.get("jkt").and_then(serde_json::Value::as_str) {
                Some(jkt) => Self::Key(jkt.into()),
                None => Self::Unsupported,
            },
        }
    }

    /// Whether a token bound to this may be used by a request whose DPoP proof was made with
    /// the key `proven` (`None`: no proof, a bearer request).
    #[inline]
    fn admits(&self, proven: Option<&str>) -> Result<(), InvalidToken> {
        match (self, proven) {
            (Self::Bearer, None) => Ok(()),
            (Self::Key(jkt), Some(proven)) if **jkt == *proven => Ok(()),
            (_, Some(_)) => Err(InvalidToken::KeyMismatch),
            (Self::Key(_) | Self::Unsupported, None) => Err(InvalidToken::SenderConstrained),
        }
    }
}

/// Verified tokens and their clients with each token's `exp`, bounded by count. A hit is
/// honoured only before its `exp` (and dropped after), so nothing is served past it.
type TokenCache<C> = quick_cache::sync::Cache<
    Box<str>,
    Cached<C>,
    quick_cache::UnitWeighter,
    foldhash::fast::RandomState,
    quick_cache::sync::DefaultLifecycle<Box<str>, Cached<C>>,
>;

/// The longest clock leeway a verifier takes ([`JwtVerifier::leeway`]): 5 minutes, what a
/// revocation store keeps a revoked token past its `exp` (`authstar-registry` does).
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Seconds since the Unix epoch: an RFC 7519 `NumericDate` for now (0 if the clock is before
/// 1970). The one clock helper of the authstar crates.
///
/// ```
/// assert!(authstar_jwt::unix_now() > 1_700_000_000);
/// ```
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<C> Clone for JwtVerifier<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for JwtVerifier<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.inner.source {
            KeySource::Local(keys) => format!("{} local keys", keys.len()),
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => format!("remote {}", remote.url()),
        };
        f.debug_struct("JwtVerifier")
            .field("keys", &source)
            .finish_non_exhaustive()
    }
}

const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::HS256,
];

/// The default mapping: `client_id` (or `sub`) and the `scope` claim; the token itself as the
/// client's [`Credential`](authstar::Credential) (its `jti` and `exp`), so that what outlives
/// the request (a session, a websocket) ends with the token.
pub(crate) fn default_client(claims: AccessTokenClaims) -> Option<AuthstarClient> {
    let client_id = if claims.client_id.is_empty() {
        claims.sub
    } else {
        claims.client_id
    };
    let scopes = claims.scope.unwrap_or_default();
    Some(
        AuthstarClient::new(client_id, scopes.split(' ').filter(|s| !s.is_empty()))
            .with_credential(claims.jti, Some(claims.exp)),
    )
}

impl JwtVerifier<AuthstarClient> {
    /// Verifies with local `keys`, requiring `iss == issuer` and `audience` in `aud`.
    pub fn new(
        keys: impl IntoIterator<Item = VerificationKey>,
        issuer: &str,
        audience: &str,
    ) -> Self {
        Self::with_profile(keys, issuer, TokenProfile::rfc9068(audience))
    }

    /// Verifies with local `keys` tokens of `issuer` laid out as `profile` says (an identity
    /// provider's preset, or your own).
    ///
    /// ```
    /// use authstar_jwt::{JwtVerifier, SigningKey, TokenProfile};
    /// let key = SigningKey::generate_es256("k").unwrap();
    /// let verifier = JwtVerifier::with_profile(
    ///     [key.verification_key()],
    ///     "https://login.example/realms/main",
    ///     TokenProfile::keycloak("reports-api"),
    /// );
    /// # let _ = verifier;
    /// ```
    pub fn with_profile(
        keys: impl IntoIterator<Item = VerificationKey>,
        issuer: &str,
        profile: TokenProfile,
    ) -> Self {
        Self::with_source(
            KeySource::Local(Arc::new(KeySet::new(keys))),
            issuer,
            profile,
            Duration::from_secs(30),
            Arc::new(default_client),
        )
    }

    /// Verifies RFC 9068 tokens against a remote JWKS.
    #[cfg(feature = "remote")]
    pub fn remote(jwks: crate::remote::RemoteJwks, issuer: &str, audience: &str) -> Self {
        Self::remote_with_profile(jwks, issuer, TokenProfile::rfc9068(audience))
    }

    /// Verifies an identity provider's tokens against its JWKS, laid out as `profile` says.
    /// [`Discovery`](crate::Discovery) finds the JWKS from the issuer URL.
    #[cfg(feature = "remote")]
    pub fn remote_with_profile(
        jwks: crate::remote::RemoteJwks,
        issuer: &str,
        profile: TokenProfile,
    ) -> Self {
        Self::with_source(
            KeySource::Remote(jwks),
            issuer,
            profile,
            Duration::from_secs(30),
            Arc::new(default_client),
        )
    }
}

impl<C> JwtVerifier<C> {
    fn with_source(
        source: KeySource,
        issuer: &str,
        profile: TokenProfile,
        leeway: Duration,
        map: ClaimsMapper<C>,
    ) -> Self {
        let validations = ALGORITHMS
            .iter()
            .map(|&alg| {
                let mut validation = Validation::new(alg);
                validation.leeway = leeway.as_secs();
                validation.validate_nbf = true;
                validation.set_issuer(&[issuer]);
                match &profile.audience {
                    AudienceRule::OneOf(audiences) => {
                        // An empty list accepts no audience at all: fail closed.
                        validation.set_audience(audiences);
                        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                    }
                    AudienceRule::ClientIdOneOf(_) => {
                        validation.validate_aud = false;
                        validation.set_required_spec_claims(&["exp", "iss"]);
                    }
                }
                (alg, validation)
            })
            .collect();
        // Adjusted RFC 9068 profiles (another scope claim, say) take the general path.
        let typed = profile.is_plain_rfc9068();
        Self {
            inner: Arc::new(Inner {
                source,
                validations,
                profile: Arc::new(profile),
                typed,
                map,
                raw: None,
                cache: None,
                revocations: None,
            }),
        }
    }

    /// Maps claims to your own client type (`None` refuses the token).
    ///
    /// ```
    /// # use authstar_jwt::{JwtVerifier, SigningKey};
    /// #[derive(Clone)]
    /// struct Service { name: String }
    /// impl authstar::Client for Service {
    ///     fn client_id(&self) -> &str { &self.name }
    ///     fn scopes(&self) -> impl Iterator<Item = &str> { std::iter::empty() }
    /// }
    /// let key = SigningKey::generate_es256("k").unwrap();
    /// let verifier = JwtVerifier::new([key.verification_key()], "https://as", "api")
    ///     .map_claims(|claims| Some(Service { name: claims.client_id }));
    /// # let _ = verifier;
    /// ```
    pub fn map_claims<D, F>(self, map: F) -> JwtVerifier<D>
    where
        F: Fn(AccessTokenClaims) -> Option<D> + Send + Sync + 'static,
    {
        JwtVerifier {
            inner: Arc::new(Inner {
                source: self.inner.source.clone(),
                validations: self.inner.validations.clone(),
                profile: Arc::clone(&self.inner.profile),
                typed: self.inner.typed,
                map: Arc::new(map),
                raw: None,
                cache: None,
                revocations: self.inner.revocations.clone(),
            }),
        }
    }

    /// Maps the claims as they came (a JSON object) to your own client type: deserialize
    /// them into your own claims type with serde, read a claim no profile knows. The profile's
    /// checks still run first. Set it before [`cache`](JwtVerifier::cache).
    ///
    /// ```
    /// # use authstar_jwt::{JwtVerifier, SigningKey, TokenProfile};
    /// #[derive(Clone, serde::Deserialize)]
    /// struct Tenant { azp: String, tid: String }
    /// impl authstar::Client for Tenant {
    ///     fn client_id(&self) -> &str { &self.azp }
    ///     fn scopes(&self) -> impl Iterator<Item = &str> { std::iter::empty() }
    /// }
    /// let key = SigningKey::generate_es256("k").unwrap();
    /// let verifier = JwtVerifier::with_profile([key.verification_key()], "https://idp", TokenProfile::entra_id(["api"]))
    ///     .map_raw_claims(|claims| serde_json::from_value::<Tenant>(claims.clone().into()).ok());
    /// # let _ = verifier;
    /// ```
    pub fn map_raw_claims<D, F>(self, map: F) -> JwtVerifier<D>
    where
        F: Fn(&RawClaims) -> Option<D> + Send + Sync + 'static,
    {
        JwtVerifier {
            inner: Arc::new(Inner {
                source: self.inner.source.clone(),
                validations: self.inner.validations.clone(),
                profile: Arc::clone(&self.inner.profile),
                typed: false,
                map: Arc::new(|_| None),
                raw: Some(Arc::new(map)),
                cache: None,
                revocations: self.inner.revocations.clone(),
            }),
        }
    }

    /// Consults `revocations` for every token accepted, cached ones included: a revoked token
    /// (or a token of a revoked client) is refused from the next request on, whatever the
    /// cache remembers.
    pub fn revocations(self, revocations: impl Revocations) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| shared.copy(true));
        inner.revocations = Some(Arc::new(revocations));
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Sets the clock leeway for `exp` and `nbf` (default 30 s, at most [`MAX_LEEWAY`]: a
    /// revocation is remembered that long past a token's `exp`, so a longer leeway would let a
    /// revoked token back in).
    pub fn leeway(self, leeway: Duration) -> Self {
        if leeway > MAX_LEEWAY {
            tracing::warn!(
                asked = leeway.as_secs(),
                taken = MAX_LEEWAY.as_secs(),
                "authstar-jwt: a leeway beyond MAX_LEEWAY would let revoked tokens back in; capped"
            );
        }
        let leeway = leeway.min(MAX_LEEWAY);
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| shared.copy(true));
        for (_, validation) in &mut inner.validations {
            validation.leeway = leeway.as_secs();
        }
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl<C: Clone + Send + Sync + 'static> JwtVerifier<C> {
    /// Remembers up to `capacity` verified tokens, each until its own `exp` (never past it), so
    /// a token presented again costs a cache lookup instead of a signature check. Entries are
    /// keyed by the whole token (an exact match, not a hash that could collide). Set it after
    /// [`map_claims`](Self::map_claims).
    ///
    /// ```
    /// # use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
    /// let key = SigningKey::generate_ed25519("k").unwrap();
    /// let verifier = JwtVerifier::new([key.verification_key()], "https://as", "api").cache(10_000);
    /// let token = JwtIssuer::new(key, "https://as", "api").issue("svc", &[]).unwrap();
    /// assert!(verifier.verify(&token).is_ok()); // verified, then cached
    /// assert!(verifier.verify(&token).is_ok()); // from the cache
    /// ```
    pub fn cache(self, capacity: u64) -> Self {
        // Room for the first thousand tokens up front; the tables grow towards `capacity`.
        let estimate = usize::try_from(capacity.clamp(1, 1024)).unwrap_or(1024);
        let cache = TokenCache::with(
            estimate,
            capacity.max(1),
            quick_cache::UnitWeighter,
            // A token is hundreds of bytes: SipHash over it would cost more than the lookup.
            foldhash::fast::RandomState::default(),
            quick_cache::sync::DefaultLifecycle::default(),
        );
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| shared.copy(false));
        inner.cache = Some(Arc::new(cache));
        Self {
            inner: Arc::new(inner),
        }
    }

    /// `Err` when the verifier consults revocations that are out of date: no token is vouched
    /// for then (a backend error, not a refusal).
    #[inline]
    fn revocations_current(&self) -> Result<(), InvalidToken> {
        match &self.inner.revocations {
            Some(revocations) if !revocations.is_current() => Err(InvalidToken::RevocationsUnknown),
            _ => Ok(()),
        }
    }

    /// Verifies `token` against `keys`, through the cache; `proven` is the key thumbprint of
    /// the request's DPoP proof (`None` for a bearer request).
    pub(crate) fn verify_with(
        &self,
        keys: &KeySet,
        token: &str,
        proven: Option<&str>,
    ) -> Result<C, InvalidToken> {
        if let Some(cache) = &self.inner.cache
            && let Some((client, exp, kept)) = cache.get(token)
        {
            if exp > unix_now() {
                crate::metrics::count(crate::metrics::Event::JwtCacheHit);
                self.revocations_current()?;
                let Some(kept) = kept else {
                    return Binding::Bearer.admits(proven).map(|()| client);
                };
                kept.binding.admits(proven)?;
                if let Some(key) = &kept.key
                    && !key.held_by(keys)
                {
                    cache.remove(token);
                    return Err(InvalidToken::UnknownKey);
                }
                if let (Some(revocations), Some(stamp)) = (&self.inner.revocations, &kept.stamp)
                    && revocations.is_revoked(&stamp.as_stamp())
                {
                    cache.remove(token);
                    return Err(InvalidToken::Revoked);
                }
                return Ok(client);
            }
            cache.remove(token);
        }
        if self.inner.cache.is_some() {
            crate::metrics::count(crate::metrics::Event::JwtCacheMiss);
        }
        let Decoded { claims, raw } = self.decode(keys, token)?;
        let binding = Binding::of(&claims);
        binding.admits(proven)?;
        let exp = claims.exp;
        let kept = match (&self.inner.cache, &self.inner.revocations) {
            (None, _) => None,
            (Some(_), revocations) => {
                let stamp = revocations.as_ref().map(|_| Stamp {
                    jti: claims.jti.as_str().into(),
                    client_id: client_of(&claims).into(),
                    iat: claims.iat,
                });
                let key = match &self.inner.source {
                    KeySource::Local(_) => None,
                    #[cfg(feature = "remote")]
                    KeySource::Remote(_) => KeyRef::for_token(keys, token),
                };
                (stamp.is_some() || binding != Binding::Bearer || key.is_some()).then(|| {
                    Arc::new(Kept {
                        stamp,
                        binding,
                        key,
                    })
                })
            }
        };
        let client = match (&self.inner.raw, raw) {
            (Some(map), Some(raw)) => map(&raw),
            _ => (self.inner.map)(claims),
        }
        .ok_or(InvalidToken::NoClient)?;
        if let Some(cache) = &self.inner.cache {
            cache.insert(token.into(), (client.clone(), exp, kept));
        }
        Ok(client)
    }

    /// Verifies `token` against `keys` and returns its claims: `crit`, header, signature, time,
    /// issuer, audience, the profile's rules, then the revocation check. No cache.
    fn decode(&self, keys: &KeySet, token: &str) -> Result<Decoded, InvalidToken> {
        check_crit(token)?;
        let profile = &self.inner.profile;
        // One local key: decode at once and check the header it returns (one header parse, not
        // two). Several keys, or a remote set whose unknown kids must trigger a refresh: read
        // the header first to pick the key.
        let single = match &self.inner.source {
            KeySource::Local(_) => keys.only(),
            #[cfg(feature = "remote")]
            KeySource::Remote(_) => None,
        };
        let key = match single {
            Some(key) => key,
            None => {
                let header =
                    jsonwebtoken::decode_header(token).map_err(|_| InvalidToken::Malformed)?;
                profile.check_typ(header.typ.as_deref())?;
                let key = keys
                    .find(header.kid.as_deref())
                    .ok_or(InvalidToken::UnknownKey)?;
                if header.alg != key.alg {
                    return Err(InvalidToken::WrongAlgorithm);
                }
                key
            }
        };
        let validation = self
            .inner
            .validations
            .iter()
            .find(|(alg, _)| *alg == key.alg)
            .map(|(_, validation)| validation)
            .ok_or(InvalidToken::WrongAlgorithm)?;
        // `validation` allows the key's own algorithm only: a header naming another (HS256 with
        // an EC key, `none`) fails here.
        let (header, decoded) = if self.inner.typed {
            let data = jsonwebtoken::decode::<AccessTokenClaims>(token, &key.decoding, validation)
                .map_err(rejection)?;
            let decoded = Decoded {
                claims: data.claims,
                raw: None,
            };
            (data.header, decoded)
        } else {
            let data = jsonwebtoken::decode::<RawClaims>(token, &key.decoding, validation)
                .map_err(rejection)?;
            let claims = profile.normalize(&data.claims)?;
            let raw = self.inner.raw.as_ref().map(|_| data.claims);
            (data.header, Decoded { claims, raw })
        };
        if single.is_some() {
            profile.check_typ(header.typ.as_deref())?;
            if let (Some(named), Some(ours)) = (header.kid.as_deref(), key.kid.as_deref())
                && named != ours
            {
                return Err(InvalidToken::UnknownKey);
            }
        }
        let claims = &decoded.claims;
        self.revocations_current()?;
        if let Some(revocations) = &self.inner.revocations {
            let stamp = TokenStamp {
                jti: &claims.jti,
                client_id: client_of(claims),
                iat: claims.iat,
            };
            if revocations.is_revoked(&stamp) {
                return Err(InvalidToken::Revoked);
            }
        }
        Ok(decoded)
    }

    /// Verifies `token` as [`verify`](Self::verify) does (revocations included, the cache
    /// not consulted) and returns its claims, sender-constrained or not: what an introspection
    /// or revocation endpoint needs. Against a remote JWKS, only the keys already fetched are used.
    ///
    /// ```
    /// # use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
    /// let key = SigningKey::generate_ed25519("k").unwrap();
    /// let verifier = JwtVerifier::new([key.verification_key()], "https://as", "api");
    /// let token = JwtIssuer::new(key, "https://as", "api").issue("svc", &["read".into()]).unwrap();
    /// let claims = verifier.claims(&token).unwrap();
    /// assert_eq!((claims.client_id.as_str(), claims.scope.as_deref()), ("svc", Some("read")));
    /// ```
    pub fn claims(&self, token: &str) -> Result<AccessTokenClaims, InvalidToken> {
        let decoded = match &self.inner.source {
            KeySource::Local(keys) => self.decode(keys, token),
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => self.decode(&remote.current(), token),
        };
        decoded.map(|decoded| decoded.claims)
    }

    /// The RFC 7662 answer for `token`: its claims when it verifies (signature, time, issuer,
    /// audience, not revoked), `{"active": false}` otherwise.
    ///
    /// ```
    /// # use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
    /// let key = SigningKey::generate_ed25519("k").unwrap();
    /// let verifier = JwtVerifier::new([key.verification_key()], "https://as", "api");
    /// let token = JwtIssuer::new(key, "https://as", "api").issue("svc", &[]).unwrap();
    /// assert!(verifier.introspect(&token).active);
    /// assert!(!verifier.introspect("not-a-token").active);
    /// ```
    pub fn introspect(&self, token: &str) -> authstar_oauth2::TokenIntrospection {
        match self.claims(token) {
            Ok(claims) => introspection(claims),
            Err(reason) => {
                tracing::debug!(%reason, "authstar-jwt: introspected token is inactive");
                authstar_oauth2::TokenIntrospection::inactive()
            }
        }
    }

    /// Verifies a bearer token against local keys (or the remote JWKS's current keys). A
    /// sender-constrained token (with `cnf`) is refused: it needs its proof
    /// ([`verify_dpop`](Self::verify_dpop)).
    pub fn verify(&self, token: &str) -> Result<C, InvalidToken> {
        self.verify_current(token, None)
    }

    /// Verifies a DPoP-bound token presented with a proof (already checked) made by the key
    /// whose RFC 7638 thumbprint is `jkt`: the token's `cnf.jkt` must be `jkt`.
    ///
    /// ```
    /// # use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
    /// let key = SigningKey::generate_ed25519("k").unwrap();
    /// let verifier = JwtVerifier::new([key.verification_key()], "https://as", "api");
    /// let issuer = JwtIssuer::new(key, "https://as", "api");
    /// let bound = issuer.issue_bound("svc", &[], "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").unwrap();
    /// assert!(verifier.verify_dpop(&bound, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").is_ok());
    /// assert!(verifier.verify_dpop(&bound, "another-key").is_err());
    /// assert!(verifier.verify(&bound).is_err()); // not as a bearer token
    /// ```
    pub fn verify_dpop(&self, token: &str, jkt: &str) -> Result<C, InvalidToken> {
        self.verify_current(token, Some(jkt))
    }

    fn verify_current(&self, token: &str, proven: Option<&str>) -> Result<C, InvalidToken> {
        match &self.inner.source {
            KeySource::Local(keys) => self.verify_with(keys, token, proven),
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => self.verify_with(&remote.current(), token, proven),
        }
    }
}

/// The client a token was issued to: `client_id`, else `sub`.
fn client_of(claims: &AccessTokenClaims) -> &str {
    if claims.client_id.is_empty() {
        &claims.sub
    } else {
        &claims.client_id
    }
}

/// An active token's RFC 7662 answer.
fn introspection(claims: AccessTokenClaims) -> authstar_oauth2::TokenIntrospection {
    let mut answer = authstar_oauth2::TokenIntrospection::active(client_of(&claims));
    // A DPoP-bound token says so, with its key (RFC 9449 §6.2).
    let bound = match Binding::of(&claims) {
        Binding::Key(jkt) => Some(authstar_oauth2::Confirmation { jkt: jkt.into() }),
        Binding::Bearer | Binding::Unsupported => None,
    };
    answer.token_type = Some(if bound.is_some() { "DPoP" } else { "Bearer" }.to_owned());
    answer.cnf = bound;
    answer.scope = claims.scope;
    answer.exp = Some(claims.exp);
    answer.iat = Some(claims.iat);
    answer.nbf = claims.nbf;
    answer.sub = Some(claims.sub);
    answer.aud = match claims.aud {
        Audience::One(one) => vec![one],
        Audience::Many(many) => many,
    };
    answer.iss = Some(claims.iss);
    answer.jti = Some(claims.jti);
    answer
}

/// RFC 7515 §4.1.11: a `crit` header member names extensions that must be understood; this
/// library understands none, so any `crit` refuses the token. The header is decoded on the
/// stack and searched first: only a header holding `"crit"` or a backslash (a member name can
/// be written with escapes, `"\u0063rit"`) is parsed as JSON.
fn check_crit(token: &str) -> Result<(), InvalidToken> {
    use base64::Engine as _;
    let encoded = token.split('.').next().unwrap_or_default();
    let mut buffer = [0u8; 768];
    let header =
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(encoded, &mut buffer) {
            Ok(length) => &buffer[..length],
            // Too long for the buffer (or not base64): the slow path decides.
            Err(_) => return check_crit_slowly(encoded),
        };
    static CRIT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"crit\""));
    if CRIT.find(header).is_none() && memchr::memchr(b'\\', header).is_none() {
        return Ok(());
    }
    parsed_crit(header)
}

fn check_crit_slowly(encoded: &str) -> Result<(), InvalidToken> {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| InvalidToken::Malformed)?;
    parsed_crit(&header)
}

fn parsed_crit(header: &[u8]) -> Result<(), InvalidToken> {
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|_| InvalidToken::Malformed)?;
    if parsed.contains_key("crit") {
        Err(InvalidToken::CriticalExtension)
    } else {
        Ok(())
    }
}

fn rejection(error: jsonwebtoken::errors::Error) -> InvalidToken {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => InvalidToken::Malformed,
        ErrorKind::InvalidAlgorithm => InvalidToken::WrongAlgorithm,
        _ => InvalidToken::Invalid(error.to_string()),
    }
}

fn verdict<C>(result: Result<C, InvalidToken>) -> Verdict<C> {
    match result {
        Ok(client) => Verdict::Authenticated(client),
        Err(InvalidToken::RevocationsUnknown) => {
            Verdict::Unavailable(InvalidToken::RevocationsUnknown.to_string().into())
        }
        Err(rejection) => {
            tracing::debug!(reason = %rejection, "authstar-jwt: token refused");
            Verdict::Rejected
        }
    }
}

/// The future of a verification that waits for a JWKS refresh.
pub(crate) type VerifyFuture<C> = Pin<Box<dyn Future<Output = Verdict<C>> + Send>>;

impl<C: Client> JwtVerifier<C> {
    /// Verifies `token` (proven by the key `jkt`, if any), waiting for a JWKS refresh.
    fn verify_async(&self, token: Box<str>, jkt: Option<Box<str>>) -> VerifyFuture<C> {
        let verifier = self.clone();
        Box::pin(async move {
            match &verifier.inner.source {
                KeySource::Local(keys) => {
                    verdict(verifier.verify_with(keys, &token, jkt.as_deref()))
                }
                #[cfg(feature = "remote")]
                KeySource::Remote(remote) => {
                    let keys = remote.keys_for(&token).await;
                    verdict(verifier.verify_with(&keys, &token, jkt.as_deref()))
                }
            }
        })
    }

    /// Verifies at once when the keys are at hand; waits only for a remote set's refresh.
    fn start_verify(&self, token: &str, jkt: Option<&str>) -> Started<VerifyFuture<C>, C> {
        match &self.inner.source {
            KeySource::Local(keys) => Started::Done(verdict(self.verify_with(keys, token, jkt))),
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => {
                let keys = remote.current();
                match self.verify_with(&keys, token, jkt) {
                    // An unknown kid may be a rotated key: wait for a (rate-limited) refresh.
                    Err(InvalidToken::UnknownKey) if remote.may_refresh() => {
                        Started::Running(self.verify_async(token.into(), jkt.map(Into::into)))
                    }
                    result => Started::Done(verdict(result)),
                }
            }
        }
    }
}

impl<C: Client> Authenticator<BearerToken> for JwtVerifier<C> {
    type Client = C;
    type Future = VerifyFuture<C>;

    fn authenticate(&self, token: BearerToken) -> Self::Future {
        self.verify_async(token.as_str().into(), None)
    }

    #[inline]
    fn start(&self, token: BearerToken) -> Started<Self::Future, C> {
        self.start_verify(token.as_str(), None)
    }
}

/// DPoP-bound tokens (with `AuthstarLayerBuilder::on_auth_dpop`): the token's `cnf.jkt` must be
/// the thumbprint of the key that signed the request's proof.
impl<C: Client> Authenticator<DpopToken> for JwtVerifier<C> {
    type Client = C;
    type Future = VerifyFuture<C>;

    fn authenticate(&self, token: DpopToken) -> Self::Future {
        self.verify_async(token.as_str().into(), Some(token.jkt().into()))
    }

    fn start(&self, token: DpopToken) -> Started<Self::Future, C> {
        self.start_verify(token.as_str(), Some(token.jkt()))
    }
}

//! [`JwtVerifierBuilder`]: every setting of a [`JwtVerifier`], in any order; [`build`] is the
//! one place its decoders and its cache are made, so no setting can drop another.
//!
//! [`build`]: JwtVerifierBuilder::build

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authstar::AuthstarClient;
use jsonwebtoken::{Algorithm, Validation};

use super::cache::TokenCache;
use super::{Inner, JwtVerifier, KeySource, Mapper, Revocations, default_client};
use crate::claims::{AccessTokenClaims, MAX_LEEWAY, RawClaims};
use crate::keys::{KeySet, VerificationKey};
use crate::profile::{AudienceRule, TokenProfile};

/// The algorithms a verifier has decoders for; a key of any other cannot verify.
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

/// Builds a [`JwtVerifier`]; start with [`JwtVerifier::builder`] (local keys) or
/// [`JwtVerifier::remote_builder`] (a JWKS URL).
///
/// ```
/// use std::time::Duration;
/// use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey, TokenStamp};
///
/// let key = SigningKey::generate_ed25519("k").unwrap();
/// let verifier = JwtVerifier::builder([key.verification_key()], "https://as", "api")
///     .cache(10_000)
///     .leeway(Duration::from_secs(10))
///     .revocations(|token: &TokenStamp| token.client_id == "fired")
///     .build();
/// let issuer = JwtIssuer::new(key, "https://as", "api");
/// assert!(verifier.verify(&issuer.issue("kept", &[]).unwrap()).is_ok());
/// assert!(verifier.verify(&issuer.issue("fired", &[]).unwrap()).is_err());
/// ```
#[must_use]
pub struct JwtVerifierBuilder<C = AuthstarClient> {
    source: KeySource,
    issuer: String,
    profile: TokenProfile,
    leeway: Duration,
    mapper: Mapper<C>,
    cache: Option<u64>,
    revocations: Option<Arc<dyn Revocations>>,
    constrained_only: bool,
}

impl<C> fmt::Debug for JwtVerifierBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifierBuilder")
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .field("cache", &self.cache)
            .field("revocations", &self.revocations.is_some())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier<AuthstarClient> {
    /// A verifier with local `keys` for tokens of `issuer` laid out as `profile` says: an
    /// audience (`"api"`: RFC 9068 tokens for that audience), or an identity provider's
    /// [`TokenProfile`]. Defaults: 30 s leeway, no cache, no revocations, the default client
    /// mapping.
    ///
    /// ```
    /// use authstar_jwt::{JwtVerifier, SigningKey, TokenProfile};
    /// let key = SigningKey::generate_es256("k").unwrap();
    /// let ours = JwtVerifier::new([key.verification_key()], "https://as", "api");
    /// let keycloak = JwtVerifier::new(
    ///     [key.verification_key()],
    ///     "https://login.example/realms/main",
    ///     TokenProfile::keycloak("reports-api"),
    /// );
    /// # let _ = (ours, keycloak);
    /// ```
    pub fn new(
        keys: impl IntoIterator<Item = VerificationKey>,
        issuer: &str,
        profile: impl Into<TokenProfile>,
    ) -> Self {
        Self::builder(keys, issuer, profile).build()
    }

    /// [`new`](Self::new), with settings to add before [`build`](JwtVerifierBuilder::build).
    pub fn builder(
        keys: impl IntoIterator<Item = VerificationKey>,
        issuer: &str,
        profile: impl Into<TokenProfile>,
    ) -> JwtVerifierBuilder<AuthstarClient> {
        JwtVerifierBuilder::with_source(
            KeySource::Local(Arc::new(KeySet::new(keys))),
            issuer,
            profile.into(),
        )
    }

    /// A verifier of `issuer`'s tokens against its remote JWKS, laid out as `profile` says;
    /// [`Discovery`](crate::Discovery) finds the JWKS from the issuer URL.
    #[cfg(feature = "remote")]
    pub fn remote(
        jwks: crate::remote::RemoteJwks,
        issuer: &str,
        profile: impl Into<TokenProfile>,
    ) -> Self {
        Self::remote_builder(jwks, issuer, profile).build()
    }

    /// [`remote`](Self::remote), with settings to add before
    /// [`build`](JwtVerifierBuilder::build).
    #[cfg(feature = "remote")]
    pub fn remote_builder(
        jwks: crate::remote::RemoteJwks,
        issuer: &str,
        profile: impl Into<TokenProfile>,
    ) -> JwtVerifierBuilder<AuthstarClient> {
        JwtVerifierBuilder::with_source(KeySource::Remote(jwks), issuer, profile.into())
    }
}

impl JwtVerifierBuilder<AuthstarClient> {
    fn with_source(source: KeySource, issuer: &str, profile: TokenProfile) -> Self {
        Self {
            source,
            issuer: issuer.to_owned(),
            profile,
            leeway: Duration::from_secs(30),
            mapper: Mapper::Claims(Arc::new(default_client)),
            cache: None,
            revocations: None,
            constrained_only: false,
        }
    }
}

impl<C: Clone + Send + Sync + 'static> JwtVerifierBuilder<C> {
    fn mapped<D>(self, mapper: Mapper<D>) -> JwtVerifierBuilder<D> {
        JwtVerifierBuilder {
            source: self.source,
            issuer: self.issuer,
            profile: self.profile,
            leeway: self.leeway,
            mapper,
            cache: self.cache,
            revocations: self.revocations,
            constrained_only: self.constrained_only,
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
    /// let verifier = JwtVerifier::builder([key.verification_key()], "https://as", "api")
    ///     .map_claims(|claims| Some(Service { name: claims.client_id }))
    ///     .build();
    /// # let _ = verifier;
    /// ```
    pub fn map_claims<D, F>(self, map: F) -> JwtVerifierBuilder<D>
    where
        F: Fn(AccessTokenClaims) -> Option<D> + Send + Sync + 'static,
    {
        self.mapped(Mapper::Claims(Arc::new(map)))
    }

    /// Maps the claims as they came (a JSON object) to your own client type: deserialize
    /// them into your own claims type with serde, read a claim no profile knows. The profile's
    /// checks still run first.
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
    /// let verifier = JwtVerifier::builder([key.verification_key()], "https://idp", TokenProfile::entra_id(["api"]))
    ///     .map_raw_claims(|claims| serde_json::from_value::<Tenant>(claims.clone().into()).ok())
    ///     .build();
    /// # let _ = verifier;
    /// ```
    pub fn map_raw_claims<D, F>(self, map: F) -> JwtVerifierBuilder<D>
    where
        F: Fn(&RawClaims) -> Option<D> + Send + Sync + 'static,
    {
        self.mapped(Mapper::Raw(Arc::new(map)))
    }

    /// Accepts only sender-constrained tokens (bound to a DPoP key or a client certificate),
    /// as FAPI 2.0 requires of a resource server (§5.3.4): a token bound to nothing is refused
    /// ([`InvalidToken::Unconstrained`](crate::InvalidToken::Unconstrained)), however it is
    /// presented.
    ///
    /// ```
    /// # use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey, InvalidToken};
    /// let key = SigningKey::generate_ed25519("k").unwrap();
    /// let verifier = JwtVerifier::builder([key.verification_key()], "https://as", "api")
    ///     .sender_constrained_only()
    ///     .build();
    /// let issuer = JwtIssuer::new(key, "https://as", "api");
    /// let plain = issuer.issue("svc", &[]).unwrap();
    /// assert_eq!(verifier.verify(&plain).unwrap_err(), InvalidToken::Unconstrained);
    /// let bound = issuer.issue_certificate_bound("svc", &[], "x5t").unwrap();
    /// assert!(verifier.verify_mtls(&bound, "x5t").is_ok());
    /// ```
    pub fn sender_constrained_only(mut self) -> Self {
        self.constrained_only = true;
        self
    }

    /// Consults `revocations` for every token accepted, cached ones included: a revoked token
    /// (or a token of a revoked client) is refused from the next request on, whatever the
    /// cache remembers.
    pub fn revocations(mut self, revocations: impl Revocations) -> Self {
        self.revocations = Some(Arc::new(revocations));
        self
    }

    /// The clock leeway for `exp` and `nbf` (default 30 s, at most [`MAX_LEEWAY`]: a
    /// revocation is remembered that long past a token's `exp`, so a longer leeway would let a
    /// revoked token back in).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        if leeway > MAX_LEEWAY {
            tracing::warn!(
                asked = leeway.as_secs(),
                taken = MAX_LEEWAY.as_secs(),
                "authstar-jwt: a leeway beyond MAX_LEEWAY would let revoked tokens back in; capped"
            );
        }
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Remembers up to `capacity` verified tokens, each until its own `exp` (never past it), so
    /// a token presented again costs a cache lookup instead of a signature check. Entries are
    /// keyed by the whole token (an exact match, not a hash that could collide).
    pub fn cache(mut self, capacity: u64) -> Self {
        self.cache = Some(capacity);
        self
    }

    /// The verifier: its decoders (one per algorithm, with the issuer, the audience and the
    /// leeway) and its cache are made here, and nowhere else.
    pub fn build(self) -> JwtVerifier<C> {
        let validations = ALGORITHMS
            .iter()
            .map(|&alg| {
                let mut validation = Validation::new(alg);
                validation.leeway = self.leeway.as_secs();
                validation.validate_nbf = true;
                validation.set_issuer(&[&self.issuer]);
                match &self.profile.audience {
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
        // RFC 9068 read straight into its typed claims: the strict profile, no raw mapping
        // (adjusted profiles, another scope claim say, take the general path).
        let typed = self.profile.is_plain_rfc9068() && matches!(self.mapper, Mapper::Claims(_));
        let cache = self.cache.map(|capacity| {
            // Room for the first thousand tokens up front; the tables grow towards `capacity`.
            let estimate = usize::try_from(capacity.clamp(1, 1024)).unwrap_or(1024);
            TokenCache::with(
                estimate,
                capacity.max(1),
                quick_cache::UnitWeighter,
                // A token is hundreds of bytes: SipHash over it would cost more than the
                // lookup.
                foldhash::fast::RandomState::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            )
        });
        JwtVerifier {
            inner: Arc::new(Inner {
                source: self.source,
                issuer: self.issuer,
                validations,
                profile: self.profile,
                typed,
                mapper: self.mapper,
                cache,
                revocations: self.revocations,
                constrained_only: self.constrained_only,
            }),
        }
    }
}

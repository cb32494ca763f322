//! Verifying JWT access tokens ([`JwtVerifier`], made by [`JwtVerifierBuilder`]): a bearer
//! (and DPoP) authenticator.

mod authenticate;
mod builder;
mod cache;
mod header;
mod issuers;

use std::fmt;
use std::sync::Arc;

use authstar::AuthstarClient;
use jsonwebtoken::{Algorithm, Validation};

pub(crate) use authenticate::{VerifyFuture, bearer_proves, dpop_proves, verdict};
pub use builder::JwtVerifierBuilder;
#[cfg(feature = "remote")]
use cache::KeyRef;
use cache::{Binding, Kept, Proven, Stamp, TokenCache};
use header::{check_crit, rejection};
pub use issuers::Issuers;

use crate::claims::{
    AccessTokenClaims, Audience, InvalidToken, RawClaims, TokenStamp, client_of, unix_now,
};
use crate::keys::KeySet;
use crate::profile::TokenProfile;

type ClaimsMapper<C> = Arc<dyn Fn(AccessTokenClaims) -> Option<C> + Send + Sync>;
type RawMapper<C> = Arc<dyn Fn(&RawClaims) -> Option<C> + Send + Sync>;

/// How verified claims become a client.
enum Mapper<C> {
    /// From the normalized claims.
    Claims(ClaimsMapper<C>),
    /// From the claims as they came.
    Raw(RawMapper<C>),
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
/// let verifier = JwtVerifier::builder([key.verification_key()], "https://as", "api")
///     .cache(1000)
///     .revocations(|token: &TokenStamp| token.client_id == "fired")
///     .build();
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
/// with leeway (default 30 s); `iss`; `aud`. The validation settings are built once, by
/// [`JwtVerifierBuilder::build`]. Verification is synchronous (`Authenticator::start` answers at once);
/// only a remote JWKS refresh for an unknown `kid` waits.
pub struct JwtVerifier<C = AuthstarClient> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    source: KeySource,
    /// The `iss` its tokens carry.
    issuer: String,
    validations: Vec<(Algorithm, Validation)>,
    profile: TokenProfile,
    /// RFC 9068 read into its typed claims (no `serde_json::Value` in between): the strict
    /// profile with no raw mapping.
    typed: bool,
    mapper: Mapper<C>,
    cache: Option<TokenCache<C>>,
    revocations: Option<Arc<dyn Revocations>>,
    /// Whether a token bound to nothing is refused (FAPI 2.0).
    constrained_only: bool,
}

/// A verified token: its claims in the normalized shape, and as they came when a raw mapping
/// needs them.
struct Decoded {
    claims: AccessTokenClaims,
    raw: Option<RawClaims>,
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

/// The default mapping: `client_id` (or `sub`) and the `scope` claim; the token itself as the
/// client's credential (its `jti` and `exp`, [`AuthstarClient::with_credential`]), so that what
/// outlives the request (a session, a websocket) ends with the token.
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

impl<C> JwtVerifier<C> {
    /// The issuer whose tokens it verifies (their `iss`).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }
}

impl<C: Clone + Send + Sync + 'static> JwtVerifier<C> {
    /// `Err` when the verifier consults revocations that are out of date: no token is vouched
    /// for then (a backend error, not a refusal).
    #[inline]
    fn revocations_current(&self) -> Result<(), InvalidToken> {
        match &self.inner.revocations {
            Some(revocations) if !revocations.is_current() => Err(InvalidToken::RevocationsUnknown),
            _ => Ok(()),
        }
    }

    /// The cached answer for `token`, if it is cached and unexpired: the client, or why the
    /// token no longer passes (its key withdrawn, the token or its client revoked since).
    #[inline]
    fn cache_hit(
        &self,
        keys: &KeySet,
        token: &str,
        proven: Proven<'_>,
    ) -> Option<Result<C, InvalidToken>> {
        let cache = self.inner.cache.as_ref()?;
        let (client, exp, kept) = cache.get(token)?;
        if exp <= unix_now() {
            cache.remove(token);
            return None;
        }
        crate::metrics::count(crate::metrics::Event::JwtCacheHit);
        Some((|| {
            self.revocations_current()?;
            let Some(kept) = kept else {
                return self.admits(&Binding::Bearer, proven).map(|()| client);
            };
            self.admits(&kept.binding, proven)?;
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
            Ok(client)
        })())
    }

    /// Whether a token bound to `binding` may be used by a request that proves `proven`.
    #[inline]
    fn admits(&self, binding: &Binding, proven: Proven<'_>) -> Result<(), InvalidToken> {
        if self.inner.constrained_only && *binding == Binding::Bearer {
            return Err(InvalidToken::Unconstrained);
        }
        binding.admits(proven)
    }

    /// The cached answer for `token` against the keys at hand, if it is cached.
    pub(crate) fn cached(
        &self,
        token: &str,
        proven: Proven<'_>,
    ) -> Option<Result<C, InvalidToken>> {
        match &self.inner.source {
            KeySource::Local(keys) => self.cache_hit(keys, token, proven),
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => self.cache_hit(&remote.current(), token, proven),
        }
    }

    /// Verifies `token` against `keys`, through the cache; `proven` is the key thumbprint of
    /// the request's DPoP proof (`None` for a bearer request).
    pub(crate) fn verify_with(
        &self,
        keys: &KeySet,
        token: &str,
        proven: Proven<'_>,
    ) -> Result<C, InvalidToken> {
        if let Some(hit) = self.cache_hit(keys, token, proven) {
            return hit;
        }
        if self.inner.cache.is_some() {
            crate::metrics::count(crate::metrics::Event::JwtCacheMiss);
        }
        let Decoded { claims, raw } = self.decode(keys, token)?;
        let binding = Binding::of(&claims);
        self.admits(&binding, proven)?;
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
        let client = match (&self.inner.mapper, raw) {
            (Mapper::Raw(map), Some(raw)) => map(&raw),
            (Mapper::Claims(map), _) => map(claims),
            (Mapper::Raw(_), None) => None,
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
            let raw = matches!(self.inner.mapper, Mapper::Raw(_)).then_some(data.claims);
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
        self.verify_current(token, Proven::default())
    }

    /// Verifies a token presented over mutual TLS with the client certificate whose
    /// `x5t#S256` thumbprint is `certificate`: a bearer token, or a token bound to that
    /// certificate (RFC 8705 §3), is accepted; a token bound to another certificate is not.
    ///
    /// ```
    /// # use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
    /// let key = SigningKey::generate_ed25519("k").unwrap();
    /// let verifier = JwtVerifier::new([key.verification_key()], "https://as", "api");
    /// let issuer = JwtIssuer::new(key, "https://as", "api");
    /// let bound = issuer.issue_certificate_bound("svc", &[], "x5t-of-the-cert").unwrap();
    /// assert!(verifier.verify_mtls(&bound, "x5t-of-the-cert").is_ok());
    /// assert!(verifier.verify_mtls(&bound, "another-cert").is_err());
    /// assert!(verifier.verify(&bound).is_err()); // not without the certificate
    /// ```
    pub fn verify_mtls(&self, token: &str, certificate: &str) -> Result<C, InvalidToken> {
        self.verify_current(
            token,
            Proven {
                dpop: None,
                certificate: Some(certificate),
            },
        )
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
        self.verify_current(
            token,
            Proven {
                dpop: Some(jkt),
                certificate: None,
            },
        )
    }

    fn verify_current(&self, token: &str, proven: Proven<'_>) -> Result<C, InvalidToken> {
        match &self.inner.source {
            KeySource::Local(keys) => self.verify_with(keys, token, proven),
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => self.verify_with(&remote.current(), token, proven),
        }
    }
}

/// An active token's RFC 7662 answer.
fn introspection(claims: AccessTokenClaims) -> authstar_oauth2::TokenIntrospection {
    let mut answer = authstar_oauth2::TokenIntrospection::active(client_of(&claims));
    // A DPoP-bound token says so, with its key (RFC 9449 §6.2).
    // A sender-constrained token says so, with its key (RFC 9449 §6.2) or its certificate
    // (RFC 8705 §3.2); a certificate-bound token is still of type Bearer.
    let (bound, token_type) = match Binding::of(&claims) {
        Binding::Key(jkt) => (Some(authstar_oauth2::Confirmation::dpop(jkt)), "DPoP"),
        Binding::Certificate(x5t) => (
            Some(authstar_oauth2::Confirmation::certificate(x5t)),
            "Bearer",
        ),
        Binding::Bearer | Binding::Unsupported => (None, "Bearer"),
    };
    answer.token_type = Some(token_type.to_owned());
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

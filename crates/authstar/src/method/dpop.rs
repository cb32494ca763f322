//! `Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449 §7): the proof checked by
//! a [`ProofVerifier`], then the token by its authenticator with the proven key's thumbprint.
//! See [`credentials::dpop`](crate::credentials::dpop) for the flow.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use super::{ChallengeSpec, Description, ErrorCodes, Method, Presented, Presenting, private};
use crate::authenticator::Authenticator;
use crate::credentials::authorization::Scheme;
use crate::credentials::dpop::{DpopToken, ProofError, ProofVerifier, proof_of, request_origin};
use crate::network::Addresses;
use crate::{Attempt, AuthMethod, BearerToken, ConfigError, Failure, RequestHead};

/// A per-request part of the `htu` (its origin, or its path).
type PartFn = Arc<dyn Fn(&RequestHead<'_>) -> Option<String> + Send + Sync>;

/// Where the scheme and host of a proof's `htu` come from.
#[derive(Clone)]
enum Origin {
    /// The request's URI, else `http://` and `Host`.
    Request,
    /// A configured origin (`https://api.example.com`), or why it is not one.
    Fixed(Result<String, String>),
    /// The user's function.
    Custom(PartFn),
}

/// The `DPoP` method: a [`ProofVerifier`] for the proofs and an authenticator for the tokens,
/// given to [`AuthstarLayerBuilder::on_auth_dpop`](crate::AuthstarLayerBuilder::on_auth_dpop).
/// See [`credentials::dpop`](crate::credentials::dpop) for the flow.
#[derive(Clone)]
pub struct DpopAuth<P, A> {
    pub(crate) proofs: P,
    pub(crate) authenticator: A,
    origin: Origin,
    /// The path the client sent, when the request's own is not it (a nested router).
    path: Option<PartFn>,
}

impl<P, A> fmt::Debug for DpopAuth<P, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match &self.origin {
            Origin::Request => "from the request",
            Origin::Fixed(Ok(origin)) => origin,
            Origin::Fixed(Err(invalid)) => invalid,
            Origin::Custom(_) => "custom",
        };
        f.debug_struct("DpopAuth")
            .field("origin", &origin)
            .field(
                "path",
                &if self.path.is_some() {
                    "custom"
                } else {
                    "the request's"
                },
            )
            .finish_non_exhaustive()
    }
}

impl<P: ProofVerifier, A> DpopAuth<P, A> {
    /// Proofs checked by `proofs`, tokens by `authenticator` (an async closure taking a
    /// [`DpopToken`], or an [`Authenticator<DpopToken>`](crate::Authenticator) such as
    /// authstar-jwt's `JwtVerifier`).
    pub fn new(proofs: P, authenticator: A) -> Self {
        Self {
            proofs,
            authenticator,
            origin: Origin::Request,
            path: None,
        }
    }

    /// The public origin clients address (`https://api.example.com`, with a port if not the
    /// default): the `htu` a proof must name is this and the request's path. Use it behind a
    /// proxy or TLS terminator. Checked by `build` ([`ConfigError::InvalidOrigin`](crate::ConfigError::InvalidOrigin)).
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Origin::Fixed(parse_origin(origin).ok_or_else(|| origin.to_owned()));
        self
    }

    /// The origin computed per request by `origin` (`None` refuses the proof): for example
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` when the peer is a trusted proxy.
    pub fn origin_from<F>(mut self, origin: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    {
        self.origin = Origin::Custom(Arc::new(origin));
        self
    }

    /// The path computed per request by `path` (`None` refuses the proof), instead of the
    /// request's own. Needed where a router hands services a shortened path: under axum's
    /// `Router::nest("/api", ...)` a layer sees `/me` for the client's `/api/me`, and every
    /// proof (which names `/api/me`) would be refused; authstar-axum's `original_path` reads
    /// the path axum kept (`OriginalUri`).
    pub fn path_from<F>(mut self, path: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    {
        self.path = Some(Arc::new(path));
        self
    }

    /// The configured origin if it is not one (for `build`).
    pub(crate) fn invalid_origin(&self) -> Option<&str> {
        match &self.origin {
            Origin::Fixed(Err(invalid)) => Some(invalid),
            _ => None,
        }
    }

    /// The `htu` of `head`: origin and path, no query. `None` when no origin can be found.
    /// Without an origin of its own, the one a trusted proxy reports (the layer's
    /// [`trusted_proxies`](crate::AuthstarLayerBuilder::trusted_proxies)), else the request's.
    pub(crate) fn url(&self, head: &RequestHead<'_>, addresses: &Addresses) -> Option<String> {
        let custom;
        let path = match &self.path {
            Some(path) => {
                custom = path(head)?;
                custom.as_str()
            }
            None => head.uri.path(),
        };
        let origin = match &self.origin {
            Origin::Fixed(Ok(origin)) => return Some(format!("{origin}{path}")),
            Origin::Fixed(Err(_)) => return None,
            Origin::Custom(origin) => origin(head)?,
            Origin::Request => addresses
                .forwarded_origin(head.extensions, head.headers)
                .or_else(|| request_origin(head))?,
        };
        Some(format!("{}{path}", origin.trim_end_matches('/')))
    }

    /// Checks the request's proof for `token`; the thumbprint, or why not.
    fn check(&self, request: &Presenting<'_>, token: &str) -> Result<String, ProofError> {
        let head = &request.head;
        let proof = proof_of(head.headers, request.max_len)?;
        let url = self
            .url(head, request.addresses)
            .ok_or(ProofError::UnknownUrl)?;
        self.proofs
            .verify_proof(proof, head.method, &url, Some(token))
    }
}

/// `scheme://host[:port]` from an origin written with or without a trailing `/`; `None` for
/// anything else (a path, a query, user info, another scheme).
fn parse_origin(origin: &str) -> Option<String> {
    let trimmed = origin.trim_end_matches('/');
    let uri: http::Uri = trimmed.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    let plain = matches!(uri.path(), "" | "/") && uri.query().is_none();
    ((scheme == "https" || scheme == "http") && plain && !authority.as_str().contains('@'))
        .then(|| format!("{scheme}://{authority}"))
}

impl<P, A> private::Sealed for DpopAuth<P, A> {}

impl<C, P, A> Method<C> for DpopAuth<P, A>
where
    C: 'static,
    P: ProofVerifier,
    A: Authenticator<DpopToken, Client = C>,
{
    type Future = A::Future;
    const SCHEME: Option<Scheme> = Some(Scheme::Dpop);
    const MAY_ADD_HEADERS: bool = true;

    #[inline]
    fn owns(&self, method: &AuthMethod) -> bool {
        *method == AuthMethod::Dpop
    }

    fn start(&self, request: &Presenting<'_>) -> Presented<Self::Future, C> {
        let (value, start) = match request.authorization_for(Scheme::Dpop) {
            None => return Presented::Nothing,
            Some(Err(reason)) => return Presented::malformed(AuthMethod::Dpop, reason),
            Some(Ok(found)) => found,
        };
        let token = BearerToken::at(value, start);
        match self.check(request, token.as_str()) {
            Ok(jkt) => Presented::started(
                AuthMethod::Dpop,
                self.authenticator.start(DpopToken::new(token, jkt)),
            ),
            // A refused proof cost a signature check, so it counts against the throttle as a
            // refused token does, except one lacking the server's nonce: that is the
            // protocol's handshake (RFC 9449 §8), which every client meets once per nonce
            // lifetime, and a fleet behind one address must not be throttled for following it.
            Err(reason) => Presented::Failed {
                attempt: Attempt {
                    method: AuthMethod::Dpop,
                    failure: Failure::InvalidProof(reason),
                },
                charged: reason != ProofError::UseNonce,
            },
        }
    }

    fn identity<'s, 'r>(
        &'s self,
        request: &Presenting<'r>,
    ) -> Option<(&'s str, Option<Cow<'r, str>>)> {
        // A token claims no identity, and the proof's key is the client's own to make up.
        request
            .authorization_for(Scheme::Dpop)
            .map(|_| ("dpop", None))
    }

    fn describe(&self) -> Description {
        // RFC 9449 §7.1: the accepted proof algorithms in `algs`.
        let algs = self.proofs.algorithms().join(" ");
        Description {
            method: AuthMethod::Dpop,
            challenge: Some(ChallengeSpec {
                scheme: "DPoP",
                params: Some(format!("algs=\"{algs}\"")),
                errors: Some(ErrorCodes {
                    codes: &["invalid_token", "invalid_dpop_proof", "use_dpop_nonce"],
                    of: error_code,
                }),
            }),
            invalid: self
                .invalid_origin()
                .map(|origin| ConfigError::InvalidOrigin(origin.to_owned())),
        }
    }

    /// RFC 9449 §8.2: a fresh nonce with every response to a request it let through, so a
    /// client moves to the next nonce before its own expires.
    fn success_header(&self) -> Option<(HeaderName, HeaderValue)> {
        self.proofs.nonce_header()
    }

    /// RFC 9449 §9: a proof without the server's nonce is answered with one.
    fn refusal_header(&self, failure: &Failure) -> Option<(HeaderName, HeaderValue)> {
        match failure {
            Failure::InvalidProof(ProofError::UseNonce) => self.proofs.nonce_header(),
            _ => None,
        }
    }
}

/// RFC 9449 §7.1: a proof refused for lacking the server's nonce is `use_dpop_nonce`, any other
/// refused proof `invalid_dpop_proof`, and a token presented with a good proof and refused (or
/// unreadable) `invalid_token`.
fn error_code(failure: &Failure) -> Option<&'static str> {
    match failure {
        Failure::InvalidProof(ProofError::UseNonce) => Some("use_dpop_nonce"),
        Failure::InvalidProof(_) => Some("invalid_dpop_proof"),
        Failure::Denied | Failure::Malformed(_) => Some("invalid_token"),
        Failure::Unavailable => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_authority_only() {
        assert_eq!(
            parse_origin("https://api.example.com/").as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        for bad in [
            "api.example.com",
            "https://api.example.com/v1",
            "https://u:p@api.example.com",
            "ftp://x",
            "https://x?q=1",
            "",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }
}

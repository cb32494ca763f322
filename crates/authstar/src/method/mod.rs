//! The methods a layer accepts, and their precedence.
//!
//! Every way a request can present a credential is a [`Method`]: `Authorization: Bearer`
//! (`bearer.rs`), `Authorization: Basic` (`basic.rs`), `Authorization: DPoP` with its proof
//! (`dpop.rs`), a named header such as `X-API-Key` (`header.rs`), and the request itself, a
//! session (`request.rs`). A method knows, in one module, where its credential is, the identity
//! it claims (what the failure throttle counts), its challenge and the error codes it carries,
//! and the headers it adds to responses (a DPoP nonce). The layer keeps them in an ordered list,
//! whose order is the precedence; the throttle, the challenges and the response headers all ask
//! the same list, so they cannot disagree with the layer about which credential decides.
//!
//! Precedence (pinned by tests): `Authorization` schemes (one header, so at most one applies) →
//! the named headers in the order they were added → the request authenticator, whatever the
//! order of the builder's calls. The first credential *presented* decides: a rejected or
//! malformed credential never falls back to a later method, so a bad token cannot be masked by
//! a session cookie. An `Authorization` header with a scheme the layer does not accept (Digest,
//! or Basic when only Bearer is configured) is not a presented credential, and the next method
//! is tried.
//!
//! The list lives in the *type* of the layer, so a method that is not configured costs nothing
//! at run time and the middleware's future is a concrete enum of the configured authenticators'
//! futures: no boxing, no dynamic dispatch ([`BoxAuthstarLayer`](crate::BoxAuthstarLayer) erases
//! it when a type must be named).

pub(crate) mod basic;
pub(crate) mod bearer;
pub(crate) mod boxed;
pub(crate) mod dpop;
pub(crate) mod header;
mod list;
pub(crate) mod request;

use std::borrow::Cow;
use std::future::Future;

use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderName, HeaderValue};

use crate::authenticator::{Started, Verdict};
use crate::credentials::authorization::{self, Scheme};
use crate::network::Addresses;
use crate::{Attempt, AuthMethod, BasicCredentials, Failure, Malformed, RequestHead, credentials};

pub use boxed::BoxMethods;
pub use list::{Cons, Either, Methods, Nil, Push};

/// The method-set traits are sealed: only this crate's types implement them (axum's pattern), so
/// they can change without breaking anyone.
pub(crate) mod private {
    pub trait Sealed {}
}

/// How the search for a credential ended.
#[doc(hidden)]
pub enum Presented<F, C> {
    /// No credential was presented.
    Nothing,
    /// A credential was presented and refused before any authenticator ran (unreadable, or a
    /// DPoP proof that failed); `charged` when the failure counts against the throttle (a
    /// refused proof cost a signature check; an unreadable credential cost nothing).
    Failed { attempt: Attempt, charged: bool },
    /// A credential was authenticated at once.
    Done(AuthMethod, Verdict<C>),
    /// A credential is being authenticated by this future.
    Running(AuthMethod, F),
}

impl<F, C> std::fmt::Debug for Presented<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nothing => f.write_str("Nothing"),
            Self::Failed { attempt, .. } => f.debug_tuple("Failed").field(attempt).finish(),
            Self::Done(method, _) => f.debug_tuple("Done").field(method).finish_non_exhaustive(),
            Self::Running(method, _) => f
                .debug_tuple("Running")
                .field(method)
                .finish_non_exhaustive(),
        }
    }
}

impl<F, C> Presented<F, C> {
    #[inline]
    pub(crate) fn started(method: AuthMethod, started: Started<F, C>) -> Self {
        match started {
            Started::Done(verdict) => Self::Done(method, verdict),
            Started::Running(future) => Self::Running(method, future),
        }
    }

    /// A credential of `method` that could not be read.
    #[inline]
    pub(crate) fn malformed(method: AuthMethod, reason: Malformed) -> Self {
        Self::Failed {
            attempt: Attempt {
                method,
                failure: Failure::Malformed(reason),
            },
            charged: false,
        }
    }

    /// Whether no credential was presented.
    #[inline(always)]
    pub(crate) fn is_nothing(&self) -> bool {
        matches!(self, Self::Nothing)
    }

    #[inline]
    pub(crate) fn map_future<G>(self, wrap: impl FnOnce(F) -> G) -> Presented<G, C> {
        match self {
            Self::Nothing => Presented::Nothing,
            Self::Failed { attempt, charged } => Presented::Failed { attempt, charged },
            Self::Done(method, verdict) => Presented::Done(method, verdict),
            Self::Running(method, future) => Presented::Running(method, wrap(future)),
        }
    }
}

/// The `Authorization` header of a request, read once for every method that looks at it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Located<'a> {
    /// No `Authorization` header.
    Absent,
    /// A scheme this library does not read, or no credential at all: not a presented credential.
    Other,
    /// A `token68` credential of `scheme` starting at `start` in `value`.
    Found {
        scheme: Scheme,
        value: &'a HeaderValue,
        start: usize,
    },
    /// A credential of `scheme` that cannot be read.
    Malformed(Scheme, Malformed),
    /// The header was sent more than once; `first` is the scheme its first value names.
    Repeated { first: Option<Scheme> },
}

/// A request as methods look at it: its head, and its `Authorization` header located once.
#[derive(Clone, Copy, Debug)]
pub struct Presenting<'a> {
    pub(crate) head: RequestHead<'a>,
    pub(crate) authorization: Located<'a>,
    pub(crate) max_len: usize,
    /// Where the client is, for a method that needs the origin it addressed (DPoP).
    pub(crate) addresses: &'a Addresses,
}

impl<'a> Presenting<'a> {
    /// `head`, its `Authorization` header located when `set` reads it. A repeated header is put
    /// to the method of the scheme its first value names, or to the set's first `Authorization`
    /// method when it names none the set accepts: a refusal either way, never a fallback.
    #[inline(always)]
    pub(crate) fn new<C, S: MethodSet<C>>(
        head: RequestHead<'a>,
        set: &S,
        max_len: usize,
        addresses: &'a Addresses,
    ) -> Self {
        let authorization = match set.first_scheme() {
            None => Located::Absent,
            Some(first_method) => match locate(head.headers) {
                Located::Repeated { first } => {
                    let claimant = first
                        .filter(|&scheme| set.accepts(scheme))
                        .unwrap_or(first_method);
                    Located::Malformed(claimant, Malformed::Repeated)
                }
                located => located,
            },
        };
        Self {
            head,
            authorization,
            max_len,
            addresses,
        }
    }

    /// The request's head.
    pub fn head(&self) -> &RequestHead<'a> {
        &self.head
    }

    /// What the `Authorization` header holds for a method of `scheme`: its credential's value and
    /// start, or why it cannot be read; `None` when it presents no credential of `scheme`.
    #[inline]
    pub(crate) fn authorization_for(
        &self,
        scheme: Scheme,
    ) -> Option<Result<(&'a HeaderValue, usize), Malformed>> {
        match self.authorization {
            Located::Found {
                scheme: found,
                value,
                start,
            } if found == scheme => {
                if value.len() > self.max_len {
                    return Some(Err(Malformed::TooLong));
                }
                Some(Ok((value, start)))
            }
            Located::Malformed(found, reason) if found == scheme => Some(Err(reason)),
            _ => None,
        }
    }
}

/// Locates the `Authorization` header's credential.
#[inline(always)]
fn locate(headers: &http::HeaderMap) -> Located<'_> {
    let value = match credentials::single(headers, &AUTHORIZATION) {
        Ok(Some(value)) => value,
        Ok(None) => return Located::Absent,
        Err(_) => {
            let first = headers.get(AUTHORIZATION).and_then(|v| {
                match authorization::locate(v.as_bytes()) {
                    Ok(Some((scheme, _))) | Err((scheme, _)) => Some(scheme),
                    Ok(None) => None,
                }
            });
            return Located::Repeated { first };
        }
    };
    match authorization::locate(value.as_bytes()) {
        Ok(None) => Located::Other,
        Ok(Some((scheme, start))) => Located::Found {
            scheme,
            value,
            start,
        },
        Err((scheme, reason)) => Located::Malformed(scheme, reason),
    }
}

/// What a method is, for challenges, validation and `Debug`.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct Description {
    /// The method, as outcomes name it.
    pub(crate) method: AuthMethod,
    /// Its challenge; `None` for a method without one (a session).
    pub(crate) challenge: Option<ChallengeSpec>,
    /// A configuration mistake found when describing (an invalid header name or origin).
    pub(crate) invalid: Option<crate::ConfigError>,
}

/// A method's `WWW-Authenticate` challenge: `<scheme> realm="…"[, error="…"][, <params>]`.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct ChallengeSpec {
    /// The scheme word (`Bearer`, `DPoP`, `Basic`, `ApiKey`).
    pub(crate) scheme: &'static str,
    /// Parameters after the realm and the error code, already formatted
    /// (`charset="UTF-8"`, `algs="ES256"`, `header="x-api-key"`).
    pub(crate) params: Option<String>,
    /// The error codes the scheme carries (RFC 6750 §3.1, RFC 9449 §7.1), and which one a
    /// failure is; schemes without (Basic, API keys) get neither `error="…"` nor
    /// `insufficient_scope`.
    pub(crate) errors: Option<ErrorCodes>,
}

/// A scheme's error codes: every code it may send, and the code of a failure.
#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub struct ErrorCodes {
    pub(crate) codes: &'static [&'static str],
    pub(crate) of: fn(&Failure) -> Option<&'static str>,
}

/// One way a request can present a credential; see the [module](self). Sealed: the methods are
/// this crate's (a new one is a module here); a credential of your own kind goes to the request
/// authenticator.
#[doc(hidden)]
pub trait Method<C>: private::Sealed + Send + Sync + 'static {
    /// The future of its authenticator.
    type Future: Future<Output = Verdict<C>> + Send + 'static;

    /// The `Authorization` scheme the method reads, if it reads that header.
    const SCHEME: Option<Scheme> = None;

    /// Whether the method must take the request apart (the request authenticator reads
    /// `Parts`): it is asked only when no other method found a credential.
    const READS_PARTS: bool = false;

    /// Whether the method may add headers to responses (DPoP nonces): the layer looks for them
    /// only when some method may.
    const MAY_ADD_HEADERS: bool = false;

    /// Whether an outcome's `method` is this method's.
    fn owns(&self, method: &AuthMethod) -> bool;

    /// Starts authenticating the credential `request` presents to this method: `Nothing` when it
    /// presents none.
    fn start(&self, request: &Presenting<'_>) -> Presented<Self::Future, C>;

    /// Starts the request authenticator (only for a method that [reads parts](Self::READS_PARTS)).
    fn start_parts(&self, parts: &Parts) -> Presented<Self::Future, C> {
        let _ = parts;
        Presented::Nothing
    }

    /// The identity the credential `request` presents to this method claims, which the failure
    /// throttle counts under the method's label (a Basic user name, an API key's id): `None`
    /// when the method finds no credential, `Some((label, None))` when it finds one that claims
    /// no identity (a bearer token).
    fn identity<'s, 'r>(&'s self, request: &Presenting<'r>) -> Option<Identity<'s, 'r>>;

    /// What the method is, for challenges, validation and `Debug`.
    #[doc(hidden)]
    fn describe(&self) -> Description;

    /// Checks Basic credentials presented somewhere else than this request's `Authorization`
    /// header (an OAuth 2.0 token endpoint's `client_secret_post`): only the Basic method does.
    fn basic(&self, credentials: BasicCredentials) -> Option<Started<Self::Future, C>> {
        let _ = credentials;
        None
    }

    /// The header a response to a request this method authenticated carries (RFC 9449 §8.2: the
    /// next DPoP nonce).
    fn success_header(&self) -> Option<(HeaderName, HeaderValue)> {
        None
    }

    /// The header a refusal of this method's credential carries (RFC 9449 §8: a fresh nonce for
    /// `use_dpop_nonce`).
    fn refusal_header(&self, failure: &Failure) -> Option<(HeaderName, HeaderValue)> {
        let _ = failure;
        None
    }
}

/// The label a method counts failures under, and the identity a credential claims (if any).
#[doc(hidden)]
pub type Identity<'s, 'r> = (&'s str, Option<Cow<'r, str>>);

/// The configured methods in their precedence: what the middleware runs. Sealed: you name it
/// (`impl MethodSet<C>` in a return type) but never implement it; to store a layer without
/// naming its methods, use [`BoxAuthstarLayer`](crate::BoxAuthstarLayer).
pub trait MethodSet<C>: private::Sealed + Send + Sync + 'static {
    /// The future of whichever authenticator runs.
    #[doc(hidden)]
    type Future: Future<Output = Verdict<C>> + Send + 'static;
    /// Whether a method takes the request apart (a request authenticator).
    #[doc(hidden)]
    const READS_PARTS: bool;
    /// Whether a method may add headers to responses.
    #[doc(hidden)]
    const MAY_ADD_HEADERS: bool;

    /// The `Authorization` scheme of the first method that reads that header, if any does.
    #[doc(hidden)]
    fn first_scheme(&self) -> Option<Scheme>;
    /// Whether a method reads the `Authorization` header with `scheme`.
    #[doc(hidden)]
    fn accepts(&self, scheme: Scheme) -> bool;
    /// Finds the first credential presented, in precedence order, and starts its authenticator,
    /// its future given to `wrap`: the answer is built once, in its final type, instead of being
    /// moved into a wider type at every level of the lists.
    #[doc(hidden)]
    fn start_with<W>(
        &self,
        request: &Presenting<'_>,
        wrap: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C>;
    /// Starts the request authenticator, when no credential header was presented.
    #[doc(hidden)]
    fn start_parts_with<W>(
        &self,
        parts: &Parts,
        wrap: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C>;
    /// The label and identity of the credential that decides (the first presented).
    #[doc(hidden)]
    fn identity<'s, 'r>(&'s self, request: &Presenting<'r>) -> Option<Identity<'s, 'r>>;
    /// Every method's description, in precedence order.
    #[doc(hidden)]
    fn describe(&self, into: &mut Vec<Description>);
    /// Checks Basic credentials with the Basic method's authenticator, if there is one.
    #[doc(hidden)]
    fn basic(&self, credentials: BasicCredentials) -> Option<Started<Self::Future, C>>;
    /// The success header of `method`, if it adds one.
    #[doc(hidden)]
    fn success_header(&self, method: &AuthMethod) -> Option<(HeaderName, HeaderValue)>;
    /// The refusal header of `attempt`'s method, if it adds one.
    #[doc(hidden)]
    fn refusal_header(&self, attempt: &Attempt) -> Option<(HeaderName, HeaderValue)>;
}

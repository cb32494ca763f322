//! What the middleware concluded for a request, stored in its extensions.
//!
//! Guards and handlers read the [`Outcome`] instead of parsing headers again, so a guard can
//! answer with the exact challenge: a bare `WWW-Authenticate` when nothing was sent,
//! `error="invalid_token"` when a bearer token was presented and refused (RFC 6750 §3.1).
//!
//! A request that presented no credential carries **no** outcome: inserting one would cost a heap
//! allocation on every anonymous request. Absence therefore reads as "anonymous, nothing
//! attempted". (`authstar-axum` tells that apart from "the layer was never installed" by asking
//! the layer it was built from.)

use std::fmt;

use http::{Extensions, HeaderName};

/// Which authentication method produced an outcome.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1).
    Bearer,
    /// `Authorization: Basic <base64(user:password)>` (RFC 7617).
    Basic,
    /// `Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449 §7.1).
    Dpop,
    /// A named header such as `X-API-Key`.
    Header(HeaderName),
    /// The request authenticator (a session, a client certificate, ...).
    Request,
}

impl AuthMethod {
    /// A short label for logs and error messages: `bearer`, `basic`, `dpop`, the header's name,
    /// `request`.
    ///
    /// ```
    /// assert_eq!(authstar::AuthMethod::Bearer.label(), "bearer");
    /// ```
    pub fn label(&self) -> &str {
        match self {
            Self::Bearer => "bearer",
            Self::Basic => "basic",
            Self::Dpop => "dpop",
            Self::Header(name) => name.as_str(),
            Self::Request => "request",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a presented credential could not be read. Such credentials never reach an authenticator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// The scheme was given without a credential (`Authorization: Bearer`), or a named header was
    /// empty.
    Empty,
    /// The credential is not `token68` (RFC 9110 §11.2) / `b64token` (RFC 6750 §2.1), or a named
    /// header holds bytes other than visible ASCII.
    Syntax,
    /// Basic credentials that are not strict, padded base64 (RFC 7617 §2, RFC 4648 §4).
    Base64,
    /// Basic credentials that do not decode to UTF-8 (authstar announces `charset="UTF-8"`,
    /// RFC 7617 §2.1, and has no other fallback).
    Utf8,
    /// Basic credentials without the `:` separating user-id and password (RFC 7617 §2).
    MissingColon,
    /// Basic credentials with an empty user-id.
    EmptyUserId,
    /// Basic credentials containing control characters, which RFC 7617 §2 forbids.
    ControlCharacter,
    /// The credential is longer than the layer's limit
    /// ([`AuthstarLayerBuilder::max_credential_len`](crate::AuthstarLayerBuilder::max_credential_len)).
    TooLong,
    /// The header carrying the credential was sent more than once; authstar does not guess which
    /// one the client meant.
    Repeated,
}

impl Malformed {
    /// A short, fixed description, safe to show to the client (it never echoes the credential).
    ///
    /// ```
    /// assert_eq!(authstar::Malformed::Base64.description(), "credentials are not valid base64");
    /// ```
    pub fn description(self) -> &'static str {
        match self {
            Self::Empty => "credentials are empty",
            Self::Syntax => "credentials have invalid syntax",
            Self::Base64 => "credentials are not valid base64",
            Self::Utf8 => "credentials are not valid UTF-8",
            Self::MissingColon => "basic credentials lack the ':' separator",
            Self::EmptyUserId => "basic credentials have an empty user-id",
            Self::ControlCharacter => "credentials contain control characters",
            Self::TooLong => "credentials are too long",
            Self::Repeated => "the credential header was sent more than once",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// Why a presented credential did not authenticate the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Failure {
    /// The credential could not be read; the authenticator was not called.
    Malformed(Malformed),
    /// The authenticator answered that the credential is not valid.
    Denied,
    /// The authenticator failed (its database is down): not the client's fault.
    Unavailable,
    /// The `DPoP` proof sent with a DPoP-bound token is missing, repeated or invalid (RFC 9449
    /// §4.3). The token's authenticator was not called.
    InvalidProof(crate::credentials::dpop::ProofError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(reason) => reason.fmt(f),
            Self::Denied => f.write_str("the authenticator denied the credentials"),
            Self::Unavailable => f.write_str("the authenticator is unavailable"),
            Self::InvalidProof(reason) => reason.fmt(f),
        }
    }
}

/// A credential that was presented and failed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Attempt {
    /// The method the credential was presented with.
    pub method: AuthMethod,
    /// Why it failed.
    pub failure: Failure,
}

impl Attempt {
    /// An attempt with `method` that ended in `failure` (for tests and adapters; the layer
    /// records its own).
    pub fn new(method: AuthMethod, failure: Failure) -> Self {
        Self { method, failure }
    }

    /// Whether this was a bearer token that was presented and is not acceptable: the case where
    /// RFC 6750 §3.1 asks for `error="invalid_token"`.
    ///
    /// ```
    /// use authstar::{Attempt, AuthMethod, Failure};
    /// let attempt = Attempt::new(AuthMethod::Bearer, Failure::Denied);
    /// assert!(attempt.is_invalid_bearer_token());
    /// ```
    pub fn is_invalid_bearer_token(&self) -> bool {
        self.method == AuthMethod::Bearer
            && matches!(self.failure, Failure::Denied | Failure::Malformed(_))
    }

    /// Whether this was a DPoP-bound token that was presented with an acceptable proof and is not
    /// acceptable itself (RFC 9449 §7.1 `error="invalid_token"`, with the `DPoP` scheme).
    ///
    /// ```
    /// use authstar::{Attempt, AuthMethod, Failure};
    /// assert!(Attempt::new(AuthMethod::Dpop, Failure::Denied).is_invalid_dpop_token());
    /// let replayed = authstar::credentials::dpop::ProofError::Replayed;
    /// let proof = Attempt::new(AuthMethod::Dpop, Failure::InvalidProof(replayed));
    /// assert!(!proof.is_invalid_dpop_token());
    /// ```
    pub fn is_invalid_dpop_token(&self) -> bool {
        self.method == AuthMethod::Dpop
            && matches!(self.failure, Failure::Denied | Failure::Malformed(_))
    }

    /// Whether this was a DPoP proof that is missing, repeated or invalid (RFC 9449 §7.1
    /// `error="invalid_dpop_proof"`).
    pub fn is_invalid_dpop_proof(&self) -> bool {
        matches!(self.failure, Failure::InvalidProof(_))
    }
}

/// Which layer stored an [`Outcome`]: every built layer has its own
/// ([`LayerInfo::id`](crate::LayerInfo::id)), and guards built from a layer accept only a client
/// that layer authenticated. Two layers with the same client type (a public router's Bearer
/// layer around a nested router's admin-key layer) share one extension slot; the stamp keeps the
/// inner router's guards from admitting the outer layer's client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LayerId(u64);

impl LayerId {
    /// A fresh id, different from every other in the process.
    pub(crate) fn next() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// The middleware's conclusion for one request, stored in the request extensions under
/// `Outcome<C>` (so two layers with different client types never collide; two layers with the
/// same client type are told apart by the [`LayerId`] of an authenticated outcome).
///
/// ```
/// use authstar::{AuthMethod, AuthstarClient, AuthstarLayer, Outcome};
///
/// # let layer = AuthstarLayer::builder()
/// #     .on_auth_bearer(|_: authstar::BearerToken| async { None::<AuthstarClient> })
/// #     .build().unwrap();
/// let mut extensions = http::Extensions::new();
/// assert!(Outcome::<AuthstarClient>::get(&extensions).is_none()); // nothing presented
///
/// extensions.insert(Outcome::Authenticated {
///     client: AuthstarClient::new("svc", ["read"]),
///     method: AuthMethod::Bearer,
///     layer: layer.info().id(),
/// });
/// let client = Outcome::<AuthstarClient>::get(&extensions).and_then(Outcome::client);
/// assert_eq!(client.map(|c| c.client_id()), Some("svc"));
/// ```
#[derive(Clone, Debug)]
pub enum Outcome<C> {
    /// A credential was accepted.
    Authenticated {
        /// The client the authenticator returned.
        client: C,
        /// How it authenticated.
        method: AuthMethod,
        /// The layer that authenticated it.
        layer: LayerId,
    },
    /// A credential was presented and failed; the request continues anonymously.
    Failed {
        /// The method and why it failed.
        attempt: Attempt,
        /// The layer that refused it.
        layer: LayerId,
    },
}

impl<C: Send + Sync + 'static> Outcome<C> {
    /// The outcome stored in `extensions`, or `None` when nothing was presented.
    pub fn get(extensions: &Extensions) -> Option<&Self> {
        extensions.get::<Self>()
    }
}

impl<C: crate::Client> Outcome<C> {
    /// The authenticated client stored in `extensions`, if any: what a tonic method or a
    /// plain tower service reads after the layer (the Python package's
    /// `scope["authstar.client"]`). With several layers of one client type around a service, it
    /// is the client of whichever layer stored the last outcome; a guard that must accept only
    /// one layer's clients reads [`LayerInfo::outcome`](crate::LayerInfo::outcome).
    ///
    /// ```
    /// use authstar::{AuthstarClient, Outcome};
    /// let extensions = http::Extensions::new();
    /// assert!(Outcome::<AuthstarClient>::client_in(&extensions).is_none());
    /// ```
    pub fn client_in(extensions: &Extensions) -> Option<&C> {
        Outcome::<C>::get(extensions).and_then(Outcome::client)
    }

    /// The authenticated client, if any. A client value that says it is not authenticated
    /// ([`AuthstarClient::anonymous`](crate::AuthstarClient::anonymous), a placeholder) is no
    /// client: the layer never stores one as authenticated, and this never hands one out.
    pub fn client(&self) -> Option<&C> {
        match self {
            Self::Authenticated { client, .. } if client.is_authenticated() => Some(client),
            _ => None,
        }
    }
}

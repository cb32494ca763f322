//! A credential in a named header, such as `X-API-Key: <key>` (the Python package's `HeaderAuth`).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use http::HeaderName;

use super::{ChallengeSpec, Description, Method, Presented, Presenting, private};
use crate::authenticator::Authenticator;
use crate::{AuthMethod, ConfigError, HeaderCredential, Malformed, credentials};

/// How a header's value names the identity it claims (an API key's public id): never return
/// the secret part.
type IdentityFn = fn(&str) -> Option<&str>;

/// The named-header method: an authenticator bound to a header name; pass it to
/// [`AuthstarLayerBuilder::on_auth_header`](crate::AuthstarLayerBuilder::on_auth_header).
///
/// ```
/// use authstar::{AuthstarClient, HeaderAuth, HeaderCredential};
///
/// let api_key = HeaderAuth::x_api_key(|key: HeaderCredential| async move {
///     (key.as_str() == "ask_k1_abc").then(|| AuthstarClient::new("reporting", ["reports:read"]))
/// })
/// // The throttle counts failures of `ask_<id>_<secret>` keys against their id.
/// .identity(|key| key.strip_prefix("ask_")?.split('_').next());
/// assert_eq!(api_key.name().map(|n| n.as_str()), Some("x-api-key"));
///
/// // An invalid name is reported when the layer is built, not here.
/// let bad = HeaderAuth::new("not a header", |_: HeaderCredential| async { None::<AuthstarClient> });
/// assert!(bad.name().is_none());
/// ```
pub struct HeaderAuth<A> {
    pub(crate) name: Result<HeaderName, String>,
    pub(crate) authenticator: A,
    identity: Option<IdentityFn>,
}

impl<F> HeaderAuth<F> {
    /// Authenticates with the value of the header `name`, by an async closure (its argument's
    /// type is inferred). An invalid header name makes
    /// [`AuthstarLayerBuilder::build`](crate::AuthstarLayerBuilder::build) fail.
    pub fn new<Fut>(name: &str, authenticate: F) -> Self
    where
        F: Fn(HeaderCredential) -> Fut,
        Fut: Future,
    {
        Self::with(name, authenticate)
    }

    /// Authenticates with the `X-API-Key` header, by an async closure.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, HeaderAuth};
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_header(HeaderAuth::x_api_key(|key| async move {
    ///         (key.as_str() == "k1").then(|| AuthstarClient::new("svc", ["read"]))
    ///     }))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn x_api_key<Fut>(authenticate: F) -> Self
    where
        F: Fn(HeaderCredential) -> Fut,
        Fut: Future,
    {
        Self::x_api_key_with(authenticate)
    }
}

impl<A> HeaderAuth<A> {
    /// [`new`](HeaderAuth::new) with any [`Authenticator`] of [`HeaderCredential`]s (a type of
    /// yours, a [`sync_fn`](crate::sync_fn)).
    pub fn with(name: &str, authenticator: A) -> Self {
        Self {
            name: HeaderName::try_from(name).map_err(|_| name.to_owned()),
            authenticator,
            identity: None,
        }
    }

    /// [`x_api_key`](HeaderAuth::x_api_key) with any [`Authenticator`].
    pub fn x_api_key_with(authenticator: A) -> Self {
        Self {
            name: Ok(HeaderName::from_static("x-api-key")),
            authenticator,
            identity: None,
        }
    }

    /// The identity a value claims, which the failure throttle counts (under the header's
    /// name) beside the client's address: for an API key, its public id. Never return the
    /// secret part. Without it only the address is counted.
    pub fn identity(mut self, identity: IdentityFn) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The header's name, `None` if the name given was not a valid header name.
    pub fn name(&self) -> Option<&HeaderName> {
        self.name.as_ref().ok()
    }

    /// The same header and identity, its credentials checked by `wrap(authenticator)`: to put
    /// something around an authenticator someone else configured (a library's API keys).
    ///
    /// ```
    /// use authstar::{Authenticator, AuthstarClient, HeaderAuth, HeaderCredential};
    /// let keys = HeaderAuth::x_api_key(|_: HeaderCredential| async { None::<AuthstarClient> })
    ///     .identity(|key| key.split('_').nth(1));
    /// let fallback = |_: HeaderCredential| async { None::<AuthstarClient> };
    /// let both = keys.map_authenticator(|keys| keys.or(fallback));
    /// assert_eq!(both.name().map(|n| n.as_str()), Some("x-api-key"));
    /// ```
    pub fn map_authenticator<B>(self, wrap: impl FnOnce(A) -> B) -> HeaderAuth<B> {
        HeaderAuth {
            name: self.name,
            authenticator: wrap(self.authenticator),
            identity: self.identity,
        }
    }
}

impl<A> fmt::Debug for HeaderAuth<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match &self.name {
            Ok(name) => name.as_str(),
            Err(invalid) => invalid.as_str(),
        };
        f.debug_tuple("HeaderAuth").field(&name).finish()
    }
}

impl<A> private::Sealed for HeaderAuth<A> {}

impl<A> HeaderAuth<A> {
    /// A credential header was found (or was repeated): its credential checked and started.
    #[inline(never)]
    fn present<C>(
        &self,
        name: &HeaderName,
        found: Result<Option<&http::HeaderValue>, Malformed>,
        max_len: usize,
    ) -> Presented<A::Future, C>
    where
        A: Authenticator<HeaderCredential, Client = C>,
    {
        let failed = |reason| Presented::malformed(AuthMethod::Header(name.clone()), reason);
        let value = match found {
            Ok(Some(value)) => value,
            Ok(None) => return Presented::Nothing,
            Err(reason) => return failed(reason),
        };
        if value.len() > max_len {
            return failed(Malformed::TooLong);
        }
        match HeaderCredential::read(name, value) {
            Ok(credential) => Presented::started(
                AuthMethod::Header(name.clone()),
                self.authenticator.start(credential),
            ),
            Err(reason) => failed(reason),
        }
    }
}

impl<C, A> Method<C> for HeaderAuth<A>
where
    C: 'static,
    A: Authenticator<HeaderCredential, Client = C>,
{
    type Future = A::Future;

    #[inline]
    fn owns(&self, method: &AuthMethod) -> bool {
        matches!((method, &self.name), (AuthMethod::Header(named), Ok(name)) if named == name)
    }

    /// The lookup is inlined (an absent header, every anonymous request, costs the caller a
    /// map lookup and nothing else); reading what was found is not.
    #[inline(always)]
    fn start(&self, request: &Presenting<'_>) -> Presented<Self::Future, C> {
        // Validated by `build`; an invalid name can never be present in a request.
        let Ok(name) = &self.name else {
            return Presented::Nothing;
        };
        match credentials::single(request.head.headers, name) {
            Ok(None) => Presented::Nothing,
            found => self.present(name, found, request.max_len),
        }
    }

    fn identity<'s, 'r>(
        &'s self,
        request: &Presenting<'r>,
    ) -> Option<(&'s str, Option<Cow<'r, str>>)> {
        let name = self.name.as_ref().ok()?;
        let value = request.head.headers.get(name)?;
        let identity = self.identity.and_then(|identity| {
            let text = value.to_str().ok()?;
            identity(text).map(Cow::Borrowed)
        });
        Some((name.as_str(), identity))
    }

    fn describe(&self) -> Description {
        let (method, params, invalid) = match &self.name {
            Ok(name) => (
                AuthMethod::Header(name.clone()),
                format!("header=\"{}\"", name.as_str()),
                (name == http::header::AUTHORIZATION).then_some(ConfigError::AuthorizationHeader),
            ),
            Err(invalid) => (
                AuthMethod::Header(HeaderName::from_static("invalid")),
                String::new(),
                Some(ConfigError::InvalidHeaderName(invalid.clone())),
            ),
        };
        Description {
            method,
            // A named header has no registered scheme; every 401 must still name how to
            // authenticate (RFC 9110 §15.5.2), and clients ignore schemes they do not know.
            challenge: Some(ChallengeSpec {
                scheme: "ApiKey",
                params: Some(params),
                errors: None,
            }),
            invalid,
        }
    }
}

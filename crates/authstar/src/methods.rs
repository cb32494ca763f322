//! The set of configured authentication methods and their precedence.
//!
//! The builder records each method in the *type* of the layer ([`Methods`]), so a disabled method
//! costs nothing at run time and the middleware's future is a concrete enum of the configured
//! authenticators' futures: no boxing, no dynamic dispatch.
//!
//! Precedence (pinned by tests): `Authorization` (Bearer, Basic or DPoP; one header, so at most one
//! applies) → the named headers in the order they were added → the request authenticator. The
//! first credential *presented* decides: a rejected or malformed credential never falls back to a
//! later method, so a bad token cannot be masked by a session cookie. An `Authorization` header
//! with a scheme that is not enabled (Digest, or Basic when only Bearer is configured) is not a
//! presented credential and the next method is tried.

use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, header::AUTHORIZATION};
use pin_project_lite::pin_project;

use crate::authenticator::{Authenticator, RequestAuthenticator, Started, Verdict};

/// The method-set traits are sealed: only this crate's types implement them (axum's pattern), so
/// they can change without breaking anyone.
mod private {
    pub trait Sealed {}
    impl Sealed for super::Disabled {}
    impl<A> Sealed for super::Enabled<A> {}
    impl<A> Sealed for crate::HeaderAuth<A> {}
    impl<F, N> Sealed for super::Chain<F, N> {}
    impl<Be, Ba, H, R, D> Sealed for super::Methods<Be, Ba, H, R, D> {}
    impl<P, A> Sealed for crate::credentials::dpop::DpopAuth<P, A> {}
    impl<C> Sealed for super::BoxMethods<C> {}
}
use crate::credentials::authorization::{self, Authorization, Scheme};
use crate::credentials::dpop::{DpopAuth, DpopToken, ProofVerifier};
use crate::credentials::{basic::BasicCredentials, bearer::BearerToken, header::HeaderCredential};
use crate::{Attempt, AuthMethod, Failure, HeaderAuth, Malformed, RequestHead, credentials};

/// A method slot that is not configured.
#[derive(Clone, Copy, Debug, Default)]
#[doc(hidden)]
pub struct Disabled;

/// A configured method slot holding its authenticator.
#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub struct Enabled<A>(pub(crate) A);

/// Two or more header authenticators, tried in the order they were added.
#[derive(Debug)]
#[doc(hidden)]
pub struct Chain<First, Next>(pub(crate) First, pub(crate) Next);

/// The configured methods: Bearer, Basic, the named headers, the request authenticator, DPoP.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Methods<Be = Disabled, Ba = Disabled, H = Disabled, R = Disabled, D = Disabled> {
    pub(crate) bearer: Be,
    pub(crate) basic: Ba,
    pub(crate) headers: H,
    pub(crate) request: R,
    pub(crate) dpop: D,
}

/// How the search for a credential ended.
#[doc(hidden)]
pub enum Presented<F, C> {
    /// No credential was presented.
    Nothing,
    /// A credential was presented but could not be read.
    Failed(Attempt),
    /// A credential was authenticated at once.
    Done(AuthMethod, Verdict<C>),
    /// A credential is being authenticated by this future.
    Running(AuthMethod, F),
}

impl<F, C> std::fmt::Debug for Presented<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nothing => f.write_str("Nothing"),
            Self::Failed(attempt) => f.debug_tuple("Failed").field(attempt).finish(),
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
    fn started(method: AuthMethod, started: Started<F, C>) -> Self {
        match started {
            Started::Done(verdict) => Self::Done(method, verdict),
            Started::Running(future) => Self::Running(method, future),
        }
    }

    #[inline]
    fn map_future<G>(self, wrap: impl FnOnce(F) -> G) -> Presented<G, C> {
        match self {
            Self::Nothing => Presented::Nothing,
            Self::Failed(attempt) => Presented::Failed(attempt),
            Self::Done(method, verdict) => Presented::Done(method, verdict),
            Self::Running(method, future) => Presented::Running(method, wrap(future)),
        }
    }
}

/// A Bearer or Basic slot. Implemented by [`Disabled`] and [`Enabled`].
#[doc(hidden)]
pub trait CredentialSlot<Credential, C>: private::Sealed + Send + Sync + 'static {
    /// The authentication future.
    type Future: Future<Output = Verdict<C>> + Send + 'static;
    /// Whether the slot holds an authenticator.
    const ENABLED: bool;
    /// Starts authenticating; only called when enabled.
    fn start(&self, credential: Credential) -> Started<Self::Future, C>;
}

impl<Credential, C: Send + 'static> CredentialSlot<Credential, C> for Disabled {
    type Future = Ready<Verdict<C>>;
    const ENABLED: bool = false;
    fn start(&self, _: Credential) -> Started<Self::Future, C> {
        Started::Done(Verdict::Rejected)
    }
}

impl<Credential, C, A> CredentialSlot<Credential, C> for Enabled<A>
where
    A: Authenticator<Credential, Client = C>,
{
    type Future = A::Future;
    const ENABLED: bool = true;
    #[inline(always)]
    fn start(&self, credential: Credential) -> Started<Self::Future, C> {
        self.0.start(credential)
    }
}

/// The request authenticator slot. Implemented by [`Disabled`] and [`Enabled`].
#[doc(hidden)]
pub trait RequestSlot<C>: private::Sealed + Send + Sync + 'static {
    /// The authentication future.
    type Future: Future<Output = Verdict<C>> + Send + 'static;
    /// Whether the slot holds an authenticator.
    const ENABLED: bool;
    /// Starts authenticating; only called when enabled.
    fn start(&self, parts: &Parts) -> Started<Self::Future, C>;
}

impl<C: Send + 'static> RequestSlot<C> for Disabled {
    type Future = Ready<Verdict<C>>;
    const ENABLED: bool = false;
    fn start(&self, _: &Parts) -> Started<Self::Future, C> {
        Started::Done(Verdict::Rejected)
    }
}

impl<C, A: RequestAuthenticator<Client = C>> RequestSlot<C> for Enabled<A> {
    type Future = A::Future;
    const ENABLED: bool = true;
    fn start(&self, parts: &Parts) -> Started<Self::Future, C> {
        self.0.start(parts)
    }
}

/// The DPoP slot. Implemented by [`Disabled`] and [`DpopAuth`].
#[doc(hidden)]
pub trait DpopSlot<C>: private::Sealed + Send + Sync + 'static {
    /// The authentication future.
    type Future: Future<Output = Verdict<C>> + Send + 'static;
    /// Whether the slot holds an authenticator.
    const ENABLED: bool;
    /// Checks the request's proof, then starts authenticating `token`; only called when enabled.
    fn start(
        &self,
        head: &RequestHead<'_>,
        token: BearerToken,
        max_len: usize,
    ) -> Presented<Self::Future, C>;
    /// The accepted proof algorithms, space-separated, when enabled.
    fn algorithms(&self) -> Option<String>;
    /// A configured origin that is not one.
    fn invalid_origin(&self) -> Option<&str>;
    /// A fresh server nonce, when the proofs need one.
    fn nonce(&self) -> Option<HeaderValue>;
}

impl<C: Send + 'static> DpopSlot<C> for Disabled {
    type Future = Ready<Verdict<C>>;
    const ENABLED: bool = false;
    fn start(&self, _: &RequestHead<'_>, _: BearerToken, _: usize) -> Presented<Self::Future, C> {
        Presented::Nothing
    }
    fn algorithms(&self) -> Option<String> {
        None
    }
    fn invalid_origin(&self) -> Option<&str> {
        None
    }
    fn nonce(&self) -> Option<HeaderValue> {
        None
    }
}

impl<C, P, A> DpopSlot<C> for DpopAuth<P, A>
where
    P: ProofVerifier,
    A: Authenticator<DpopToken, Client = C>,
{
    type Future = A::Future;
    const ENABLED: bool = true;

    fn start(
        &self,
        head: &RequestHead<'_>,
        token: BearerToken,
        max_len: usize,
    ) -> Presented<Self::Future, C> {
        match self.check(head, token.as_str(), max_len) {
            Ok(jkt) => Presented::started(
                AuthMethod::Dpop,
                self.authenticator.start(DpopToken::new(token, jkt)),
            ),
            Err(reason) => Presented::Failed(Attempt {
                method: AuthMethod::Dpop,
                failure: Failure::InvalidProof(reason),
            }),
        }
    }

    fn algorithms(&self) -> Option<String> {
        Some(self.proofs.algorithms().join(" "))
    }

    fn invalid_origin(&self) -> Option<&str> {
        DpopAuth::invalid_origin(self)
    }

    fn nonce(&self) -> Option<HeaderValue> {
        HeaderValue::try_from(self.proofs.nonce()?).ok()
    }
}

/// The named-header slots: [`Disabled`], one [`HeaderAuth`], or a [`Chain`] of them.
#[doc(hidden)]
pub trait HeaderSlots<C>: private::Sealed + Send + Sync + 'static {
    /// The authentication future.
    type Future: Future<Output = Verdict<C>> + Send + 'static;
    /// Looks for the headers in order and starts the first one present.
    fn start(&self, headers: &HeaderMap, max_len: usize) -> Presented<Self::Future, C>;
    /// The header names, in order; an invalid name is an `Err` with the name as given.
    fn names(&self) -> Vec<Result<&HeaderName, &str>>;
}

impl<C: Send + 'static> HeaderSlots<C> for Disabled {
    type Future = Ready<Verdict<C>>;
    fn start(&self, _: &HeaderMap, _: usize) -> Presented<Self::Future, C> {
        Presented::Nothing
    }
    fn names(&self) -> Vec<Result<&HeaderName, &str>> {
        Vec::new()
    }
}

impl<C, A> HeaderSlots<C> for HeaderAuth<A>
where
    A: Authenticator<HeaderCredential, Client = C>,
{
    type Future = A::Future;

    #[inline]
    fn start(&self, headers: &HeaderMap, max_len: usize) -> Presented<Self::Future, C> {
        // Validated by `build`; an invalid name can never be present in a request.
        let Ok(name) = &self.name else {
            return Presented::Nothing;
        };
        let failed = |reason| {
            Presented::Failed(Attempt {
                method: AuthMethod::Header(name.clone()),
                failure: Failure::Malformed(reason),
            })
        };
        let value = match credentials::single(headers, name) {
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

    fn names(&self) -> Vec<Result<&HeaderName, &str>> {
        vec![self.name.as_ref().map_err(String::as_str)]
    }
}

impl<C, First, A> HeaderSlots<C> for Chain<First, HeaderAuth<A>>
where
    First: HeaderSlots<C>,
    HeaderAuth<A>: HeaderSlots<C>,
{
    type Future = Either<First::Future, <HeaderAuth<A> as HeaderSlots<C>>::Future>;

    #[inline]
    fn start(&self, headers: &HeaderMap, max_len: usize) -> Presented<Self::Future, C> {
        match self.0.start(headers, max_len) {
            Presented::Nothing => self.1.start(headers, max_len).map_future(|future| Either {
                kind: EitherKind::Right { future },
            }),
            other => other.map_future(|future| Either {
                kind: EitherKind::Left { future },
            }),
        }
    }

    fn names(&self) -> Vec<Result<&HeaderName, &str>> {
        let mut names = self.0.names();
        names.extend(self.1.names());
        names
    }
}

/// Type-level append of a header authenticator, used by
/// [`AuthstarLayerBuilder::on_auth_header`](crate::AuthstarLayerBuilder::on_auth_header).
#[doc(hidden)]
pub trait PushHeader<A>: private::Sealed {
    /// The slots with `A` appended.
    type Output;
    /// Appends.
    fn push(self, header: HeaderAuth<A>) -> Self::Output;
}

impl<A> PushHeader<A> for Disabled {
    type Output = HeaderAuth<A>;
    fn push(self, header: HeaderAuth<A>) -> Self::Output {
        header
    }
}

impl<A, B> PushHeader<A> for HeaderAuth<B> {
    type Output = Chain<HeaderAuth<B>, HeaderAuth<A>>;
    fn push(self, header: HeaderAuth<A>) -> Self::Output {
        Chain(self, header)
    }
}

impl<A, First, Next> PushHeader<A> for Chain<First, Next> {
    type Output = Chain<Chain<First, Next>, HeaderAuth<A>>;
    fn push(self, header: HeaderAuth<A>) -> Self::Output {
        Chain(self, header)
    }
}

/// A complete set of methods for client type `C`: what the middleware runs. Sealed: you name it
/// (`impl MethodSet<C>` in a return type) but never implement it; to store a layer without
/// naming its methods, use [`BoxAuthstarLayer`](crate::BoxAuthstarLayer).
pub trait MethodSet<C>: private::Sealed + Send + Sync + 'static {
    /// The future of whichever authenticator runs.
    type Future: Future<Output = Verdict<C>> + Send + 'static;
    /// Whether a request authenticator is configured.
    const REQUEST: bool;
    /// Finds the first presented credential among `Authorization` and the named headers.
    fn start_headers(&self, head: &RequestHead<'_>, max_len: usize) -> Presented<Self::Future, C>;
    /// Starts the request authenticator.
    fn start_request(&self, parts: &Parts) -> Presented<Self::Future, C>;
    /// What is enabled, for `Debug`, challenges and validation.
    fn summary(&self) -> Summary;
    /// A fresh DPoP server nonce, when the DPoP proofs need one.
    fn dpop_nonce(&self) -> Option<HeaderValue>;
}

/// Which methods are enabled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// `Authorization: Bearer`.
    pub bearer: bool,
    /// `Authorization: Basic`.
    pub basic: bool,
    /// `Authorization: DPoP`: the accepted proof algorithms, space-separated.
    pub dpop: Option<String>,
    /// A DPoP origin that is not one (refused by `build`).
    pub(crate) invalid_dpop_origin: Option<String>,
    /// The named headers, in order (as given, valid or not).
    pub headers: Vec<String>,
    /// Invalid header names among them (refused by `build`).
    pub(crate) invalid_headers: Vec<String>,
    /// The request authenticator.
    pub request: bool,
}

impl Summary {
    /// Whether any method is enabled.
    pub fn any(&self) -> bool {
        self.bearer || self.basic || self.dpop.is_some() || !self.headers.is_empty() || self.request
    }
}

impl<C, Be, Ba, H, R, D> MethodSet<C> for Methods<Be, Ba, H, R, D>
where
    C: 'static,
    Be: CredentialSlot<BearerToken, C>,
    Ba: CredentialSlot<BasicCredentials, C>,
    H: HeaderSlots<C>,
    R: RequestSlot<C>,
    D: DpopSlot<C>,
{
    type Future = AuthFuture<Be::Future, Ba::Future, H::Future, R::Future, D::Future>;
    const REQUEST: bool = R::ENABLED;

    #[inline(always)]
    fn start_headers(&self, head: &RequestHead<'_>, max_len: usize) -> Presented<Self::Future, C> {
        if Be::ENABLED || Ba::ENABLED || D::ENABLED {
            match self.start_authorization(head, max_len) {
                Presented::Nothing => {}
                other => return other,
            }
        }
        self.headers
            .start(head.headers, max_len)
            .map_future(AuthFuture::header)
    }

    fn start_request(&self, parts: &Parts) -> Presented<Self::Future, C> {
        Presented::started(AuthMethod::Request, self.request.start(parts))
            .map_future(AuthFuture::request)
    }

    fn summary(&self) -> Summary {
        let mut summary = Summary {
            bearer: Be::ENABLED,
            basic: Ba::ENABLED,
            dpop: self.dpop.algorithms(),
            invalid_dpop_origin: self.dpop.invalid_origin().map(str::to_owned),
            request: R::ENABLED,
            ..Summary::default()
        };
        for name in self.headers.names() {
            match name {
                Ok(name) => summary.headers.push(name.as_str().to_owned()),
                Err(invalid) => {
                    summary.headers.push(invalid.to_owned());
                    summary.invalid_headers.push(invalid.to_owned());
                }
            }
        }
        summary
    }

    fn dpop_nonce(&self) -> Option<HeaderValue> {
        self.dpop.nonce()
    }
}

impl<Be, Ba, H, R, D> Methods<Be, Ba, H, R, D> {
    #[inline(always)]
    fn start_authorization<C>(
        &self,
        head: &RequestHead<'_>,
        max_len: usize,
    ) -> Presented<<Self as MethodSet<C>>::Future, C>
    where
        C: 'static,
        Be: CredentialSlot<BearerToken, C>,
        Ba: CredentialSlot<BasicCredentials, C>,
        H: HeaderSlots<C>,
        R: RequestSlot<C>,
        D: DpopSlot<C>,
    {
        let headers = head.headers;
        let failed = |scheme, reason| {
            Presented::Failed(Attempt {
                method: match scheme {
                    Scheme::Bearer => AuthMethod::Bearer,
                    Scheme::Basic => AuthMethod::Basic,
                    Scheme::Dpop => AuthMethod::Dpop,
                },
                failure: Failure::Malformed(reason),
            })
        };
        let value = match credentials::single(headers, &AUTHORIZATION) {
            Ok(Some(value)) => value,
            Ok(None) => return Presented::Nothing,
            Err(reason) => {
                // Report against the scheme of the first value when it names one of ours.
                let first = headers.get(AUTHORIZATION).map(|v| v.as_bytes());
                let scheme = match first.map(authorization::parse) {
                    Some(Ok(Authorization::Basic(_)) | Err((Scheme::Basic, _))) if Ba::ENABLED => {
                        Scheme::Basic
                    }
                    Some(Ok(Authorization::Dpop(_)) | Err((Scheme::Dpop, _))) if D::ENABLED => {
                        Scheme::Dpop
                    }
                    _ if Be::ENABLED => Scheme::Bearer,
                    _ if Ba::ENABLED => Scheme::Basic,
                    _ => Scheme::Dpop,
                };
                return failed(scheme, reason);
            }
        };
        let located = authorization::locate(value.as_bytes());
        let scheme = match &located {
            Ok(None) => return Presented::Nothing, // another scheme: not ours
            Ok(Some((scheme, _))) | Err((scheme, _)) => *scheme,
        };
        let enabled = match scheme {
            Scheme::Bearer => Be::ENABLED,
            Scheme::Basic => Ba::ENABLED,
            Scheme::Dpop => D::ENABLED,
        };
        if !enabled {
            return Presented::Nothing;
        }
        if value.len() > max_len {
            return failed(scheme, Malformed::TooLong);
        }
        match located {
            Err((scheme, reason)) => failed(scheme, reason),
            Ok(None) => Presented::Nothing,
            Ok(Some((Scheme::Bearer, start))) => Presented::started(
                AuthMethod::Bearer,
                self.bearer.start(BearerToken::at(value, start)),
            )
            .map_future(AuthFuture::bearer),
            Ok(Some((Scheme::Basic, start))) => {
                match BasicCredentials::decode_bytes(&value.as_bytes()[start..]) {
                    Ok(credentials) => {
                        Presented::started(AuthMethod::Basic, self.basic.start(credentials))
                            .map_future(AuthFuture::basic)
                    }
                    Err(reason) => failed(Scheme::Basic, reason),
                }
            }
            Ok(Some((Scheme::Dpop, start))) => self
                .dpop
                .start(head, BearerToken::at(value, start), max_len)
                .map_future(AuthFuture::dpop),
        }
    }
}

pin_project! {
    /// The future of whichever authenticator the middleware started.
    #[doc(hidden)]
    pub struct AuthFuture<Be, Ba, H, R, D> {
        #[pin]
        kind: AuthFutureKind<Be, Ba, H, R, D>,
    }
}

pin_project! {
    #[project = AuthFutureProj]
    enum AuthFutureKind<Be, Ba, H, R, D> {
        Bearer { #[pin] future: Be },
        Basic { #[pin] future: Ba },
        Header { #[pin] future: H },
        Request { #[pin] future: R },
        Dpop { #[pin] future: D },
    }
}

impl<Be, Ba, H, R, D> AuthFuture<Be, Ba, H, R, D> {
    fn bearer(future: Be) -> Self {
        Self {
            kind: AuthFutureKind::Bearer { future },
        }
    }
    fn basic(future: Ba) -> Self {
        Self {
            kind: AuthFutureKind::Basic { future },
        }
    }
    fn header(future: H) -> Self {
        Self {
            kind: AuthFutureKind::Header { future },
        }
    }
    fn request(future: R) -> Self {
        Self {
            kind: AuthFutureKind::Request { future },
        }
    }
    fn dpop(future: D) -> Self {
        Self {
            kind: AuthFutureKind::Dpop { future },
        }
    }
}

impl<C, Be, Ba, H, R, D> Future for AuthFuture<Be, Ba, H, R, D>
where
    Be: Future<Output = Verdict<C>>,
    Ba: Future<Output = Verdict<C>>,
    H: Future<Output = Verdict<C>>,
    R: Future<Output = Verdict<C>>,
    D: Future<Output = Verdict<C>>,
{
    type Output = Verdict<C>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Verdict<C>> {
        match self.project().kind.project() {
            AuthFutureProj::Bearer { future } => future.poll(cx),
            AuthFutureProj::Basic { future } => future.poll(cx),
            AuthFutureProj::Header { future } => future.poll(cx),
            AuthFutureProj::Request { future } => future.poll(cx),
            AuthFutureProj::Dpop { future } => future.poll(cx),
        }
    }
}

pin_project! {
    /// One of two header authenticators' futures.
    #[doc(hidden)]
    pub struct Either<L, R> {
        #[pin]
        kind: EitherKind<L, R>,
    }
}

pin_project! {
    #[project = EitherProj]
    enum EitherKind<L, R> {
        Left { #[pin] future: L },
        Right { #[pin] future: R },
    }
}

impl<T, L: Future<Output = T>, R: Future<Output = T>> Future for Either<L, R> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.project().kind.project() {
            EitherProj::Left { future } => future.poll(cx),
            EitherProj::Right { future } => future.poll(cx),
        }
    }
}

/// A type-erased method set: the authenticators behind one pointer, their futures boxed. What
/// [`BoxAuthstarLayer`](crate::BoxAuthstarLayer) runs.
#[doc(hidden)]
pub struct BoxMethods<C> {
    inner: std::sync::Arc<dyn ErasedMethods<C>>,
    request: bool,
}

impl<C: 'static> std::fmt::Debug for BoxMethods<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxMethods")
            .field("summary", &self.inner.summary())
            .finish()
    }
}

/// A boxed authentication future.
type BoxVerdictFuture<C> = Pin<Box<dyn Future<Output = Verdict<C>> + Send + 'static>>;

/// [`MethodSet`] made object-safe.
trait ErasedMethods<C>: Send + Sync + 'static {
    fn start_headers(
        &self,
        head: &RequestHead<'_>,
        max_len: usize,
    ) -> Presented<BoxVerdictFuture<C>, C>;
    fn start_request(&self, parts: &Parts) -> Presented<BoxVerdictFuture<C>, C>;
    fn summary(&self) -> Summary;
    fn dpop_nonce(&self) -> Option<HeaderValue>;
}

impl<C: 'static, M: MethodSet<C>> ErasedMethods<C> for M {
    fn start_headers(
        &self,
        head: &RequestHead<'_>,
        max_len: usize,
    ) -> Presented<BoxVerdictFuture<C>, C> {
        MethodSet::start_headers(self, head, max_len)
            .map_future(|future| Box::pin(future) as BoxVerdictFuture<C>)
    }

    fn start_request(&self, parts: &Parts) -> Presented<BoxVerdictFuture<C>, C> {
        MethodSet::start_request(self, parts)
            .map_future(|future| Box::pin(future) as BoxVerdictFuture<C>)
    }

    fn summary(&self) -> Summary {
        MethodSet::summary(self)
    }

    fn dpop_nonce(&self) -> Option<HeaderValue> {
        MethodSet::dpop_nonce(self)
    }
}

impl<C: 'static> BoxMethods<C> {
    pub(crate) fn new<M: MethodSet<C>>(methods: M) -> Self {
        Self {
            request: M::REQUEST,
            inner: std::sync::Arc::new(methods),
        }
    }
}

impl<C: Send + 'static> MethodSet<C> for BoxMethods<C> {
    type Future = BoxVerdictFuture<C>;
    // Decided at run time: `start_request` answers `Nothing` when none is configured.
    const REQUEST: bool = true;

    fn start_headers(&self, head: &RequestHead<'_>, max_len: usize) -> Presented<Self::Future, C> {
        self.inner.start_headers(head, max_len)
    }

    fn start_request(&self, parts: &Parts) -> Presented<Self::Future, C> {
        if !self.request {
            return Presented::Nothing;
        }
        self.inner.start_request(parts)
    }

    fn summary(&self) -> Summary {
        self.inner.summary()
    }

    fn dpop_nonce(&self) -> Option<HeaderValue> {
        self.inner.dpop_nonce()
    }
}

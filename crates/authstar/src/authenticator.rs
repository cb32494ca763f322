//! Authenticators: async functions from a credential to a client.
//!
//! The Python package's callbacks answer `Client | None`. Here an authenticator answers one of three things
//! ([`Verdict`]): *authenticated* with a client, *rejected*, or a *backend error*, so a database
//! outage is never mistaken for bad credentials. An async closure may return any of
//!
//! * `Option<C>`: `Some(client)` or `None` (rejected), when it cannot fail;
//! * `Result<Option<C>, E>` with `E: Into<BoxError>`: `Err` is a backend error;
//! * [`Verdict<C>`] itself.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Arc;
//! use authstar::{AuthstarClient, BearerToken};
//!
//! let tokens: Arc<HashMap<String, AuthstarClient>> = Arc::default();
//! let on_auth_bearer = move |token: BearerToken| {
//!     let tokens = tokens.clone();
//!     async move { tokens.get(token.as_str()).cloned() }
//! };
//! # let _ = authstar::AuthstarLayer::builder().on_auth_bearer(on_auth_bearer).build();
//! ```
//!
//! Types that are not closures (a JWT verifier, a cached store) implement [`Authenticator`] or
//! [`RequestAuthenticator`] directly.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use pin_project_lite::pin_project;

/// The boxed error type backend errors are converted into (the tower convention).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What an authenticator concluded about one credential.
#[derive(Debug)]
pub enum Verdict<C> {
    /// The credential is valid and belongs to this client.
    Authenticated(C),
    /// The credential is not valid.
    Rejected,
    /// The authenticator could not decide (its backend failed).
    Unavailable(BoxError),
}

/// Conversion of an authenticator's output into a [`Verdict`].
///
/// ```
/// use authstar::{IntoVerdict, Verdict};
/// assert!(matches!(Some(1).into_verdict(), Verdict::Authenticated(1)));
/// assert!(matches!(None::<u8>.into_verdict(), Verdict::Rejected));
/// assert!(matches!(Err::<Option<u8>, _>("db down").into_verdict(), Verdict::Unavailable(_)));
/// ```
pub trait IntoVerdict {
    /// The client type.
    type Client;
    /// Converts.
    fn into_verdict(self) -> Verdict<Self::Client>;
}

impl<C> IntoVerdict for Verdict<C> {
    type Client = C;
    fn into_verdict(self) -> Verdict<C> {
        self
    }
}

impl<C> IntoVerdict for Option<C> {
    type Client = C;
    fn into_verdict(self) -> Verdict<C> {
        match self {
            Some(client) => Verdict::Authenticated(client),
            None => Verdict::Rejected,
        }
    }
}

impl<C, E: Into<BoxError>> IntoVerdict for Result<Option<C>, E> {
    type Client = C;
    fn into_verdict(self) -> Verdict<C> {
        match self {
            Ok(found) => found.into_verdict(),
            Err(error) => Verdict::Unavailable(error.into()),
        }
    }
}

/// An authenticator for an owned credential: [`BearerToken`](crate::BearerToken),
/// [`BasicCredentials`](crate::BasicCredentials) or [`HeaderCredential`](crate::HeaderCredential).
///
/// Implemented for every `Fn(Credential) -> impl Future<Output: IntoVerdict>`; implement it by
/// hand for a type with state and a named future.
///
/// ```
/// use std::future::{ready, Ready};
/// use authstar::{Authenticator, AuthstarClient, BearerToken, Verdict};
///
/// struct StaticToken(&'static str);
///
/// impl Authenticator<BearerToken> for StaticToken {
///     type Client = AuthstarClient;
///     type Future = Ready<Verdict<AuthstarClient>>;
///
///     fn authenticate(&self, token: BearerToken) -> Self::Future {
///         ready(if token.as_str() == self.0 {
///             Verdict::Authenticated(AuthstarClient::new("static", ["read"]))
///         } else {
///             Verdict::Rejected
///         })
///     }
/// }
/// # let _ = authstar::AuthstarLayer::builder().on_auth_bearer_with(StaticToken("t")).build();
/// ```
pub trait Authenticator<Credential>: Send + Sync + 'static {
    /// The client type it returns.
    type Client;
    /// The future of one authentication.
    type Future: Future<Output = Verdict<Self::Client>> + Send + 'static;
    /// Authenticates one credential.
    fn authenticate(&self, credential: Credential) -> Self::Future;

    /// Starts authenticating, answering at once when the answer needs no waiting (an in-memory
    /// table, a cache hit). The middleware then continues synchronously: no future to drive and
    /// no clone of the inner service. The default always returns [`Started::Running`].
    #[inline]
    fn start(&self, credential: Credential) -> Started<Self::Future, Self::Client> {
        Started::Running(self.authenticate(credential))
    }

    /// This authenticator, then `next` for a credential this one does not accept: your own
    /// tokens and an identity provider's behind one `on_auth_bearer_with`, tried in order.
    /// The first client found wins (a placeholder such as [`AuthstarClient::anonymous`] is no
    /// client: the next one is asked); when none is, a backend error of either is the answer
    /// (the credential might have been good), else the credential is rejected.
    ///
    /// [`AuthstarClient::anonymous`]: crate::AuthstarClient::anonymous
    ///
    /// ```
    /// use authstar::{Authenticator, AuthstarClient, AuthstarLayer, BearerToken};
    ///
    /// let ours = |token: BearerToken| async move {
    ///     (token.as_str() == "ours").then(|| AuthstarClient::new("svc", ["read"]))
    /// };
    /// let sso = |token: BearerToken| async move {
    ///     (token.as_str() == "sso").then(|| AuthstarClient::new("alice", ["read"]))
    /// };
    /// let layer = AuthstarLayer::builder().on_auth_bearer_with(ours.or(sso)).build();
    /// assert!(layer.is_ok());
    /// ```
    fn or<B>(self, next: B) -> impl Authenticator<Credential, Client = Self::Client>
    where
        Self: Sized,
        Credential: Send + Clone + 'static,
        Self::Client: crate::Client,
        B: Authenticator<Credential, Client = Self::Client>,
    {
        Or {
            first: self,
            next: Arc::new(next),
        }
    }
}

/// Two authenticators tried in order ([`Authenticator::or`]).
#[derive(Debug)]
pub(crate) struct Or<A, B> {
    first: A,
    /// Shared with a running authentication that may still need it.
    next: Arc<B>,
}

impl<A: Clone, B> Clone for Or<A, B> {
    fn clone(&self) -> Self {
        Self {
            first: self.first.clone(),
            next: Arc::clone(&self.next),
        }
    }
}

/// Whether `verdict` names a client (not a placeholder): the end of an [`Or`].
fn found<C: crate::Client>(verdict: &Verdict<C>) -> bool {
    matches!(verdict, Verdict::Authenticated(client) if client.is_authenticated())
}

/// The better of two verdicts, the first no client: the next one's client, else a backend
/// error over a rejection.
fn either<C: crate::Client>(first: Verdict<C>, next: Verdict<C>) -> Verdict<C> {
    match (first, next) {
        (_, next) if found(&next) => next,
        (Verdict::Unavailable(error), _) | (_, Verdict::Unavailable(error)) => {
            Verdict::Unavailable(error)
        }
        _ => Verdict::Rejected,
    }
}

impl<Credential, A, B> Authenticator<Credential> for Or<A, B>
where
    Credential: Send + Clone + 'static,
    A: Authenticator<Credential>,
    B: Authenticator<Credential, Client = A::Client>,
    A::Client: crate::Client,
{
    type Client = A::Client;
    type Future = OrFuture<Credential, A, B>;

    fn authenticate(&self, credential: Credential) -> Self::Future {
        match self.start(credential) {
            Started::Done(verdict) => OrFuture {
                state: OrState::Done {
                    verdict: Some(verdict),
                },
            },
            Started::Running(future) => future,
        }
    }

    #[inline]
    fn start(&self, credential: Credential) -> Started<Self::Future, Self::Client> {
        match self.first.start(credential.clone()) {
            Started::Done(verdict) if found(&verdict) => Started::Done(verdict),
            Started::Done(first) => match self.next.start(credential) {
                Started::Done(next) => Started::Done(either(first, next)),
                Started::Running(future) => Started::Running(OrFuture {
                    state: OrState::Next {
                        future,
                        first: Some(first),
                    },
                }),
            },
            Started::Running(future) => Started::Running(OrFuture {
                state: OrState::First {
                    future,
                    retry: Some((credential, Arc::clone(&self.next))),
                },
            }),
        }
    }
}

pin_project! {
    /// The future of [`Or`].
    pub(crate) struct OrFuture<Credential, A, B>
    where
        A: Authenticator<Credential>,
        B: Authenticator<Credential>,
    {
        #[pin]
        state: OrState<Credential, A, B>,
    }
}

pin_project! {
    #[project = OrProj]
    enum OrState<Credential, A, B>
    where
        A: Authenticator<Credential>,
        B: Authenticator<Credential>,
    {
        First { #[pin] future: A::Future, retry: Option<(Credential, Arc<B>)> },
        Next { #[pin] future: B::Future, first: Option<Verdict<A::Client>> },
        Done { verdict: Option<Verdict<A::Client>> },
    }
}

impl<Credential, A, B> Future for OrFuture<Credential, A, B>
where
    A: Authenticator<Credential>,
    B: Authenticator<Credential, Client = A::Client>,
    A::Client: crate::Client,
{
    type Output = Verdict<A::Client>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                OrProj::First { future, retry } => {
                    let first = match future.poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(verdict) if found(&verdict) => return Poll::Ready(verdict),
                        Poll::Ready(verdict) => verdict,
                    };
                    let Some((credential, next)) = retry.take() else {
                        return Poll::Ready(first);
                    };
                    let next_state = match next.start(credential) {
                        Started::Done(verdict) => OrState::Done {
                            verdict: Some(either(first, verdict)),
                        },
                        Started::Running(future) => OrState::Next {
                            future,
                            first: Some(first),
                        },
                    };
                    state.set(next_state);
                }
                OrProj::Next { future, first } => {
                    let next = std::task::ready!(future.poll(cx));
                    let first = first.take().unwrap_or(Verdict::Rejected);
                    return Poll::Ready(either(first, next));
                }
                OrProj::Done { verdict } => {
                    return Poll::Ready(verdict.take().unwrap_or(Verdict::Rejected));
                }
            }
        }
    }
}

/// An authentication that finished at once, or is still running.
#[derive(Debug)]
pub enum Started<F, C> {
    /// The answer is known.
    Done(Verdict<C>),
    /// The answer will come from this future.
    Running(F),
}

impl<F, C> Started<F, C> {
    /// The same authentication, its future wrapped by `wrap`.
    pub fn map<G>(self, wrap: impl FnOnce(F) -> G) -> Started<G, C> {
        match self {
            Self::Done(verdict) => Started::Done(verdict),
            Self::Running(future) => Started::Running(wrap(future)),
        }
    }

    /// The verdict, waiting for it if it is not known yet.
    pub async fn finish(self) -> Verdict<C>
    where
        F: Future<Output = Verdict<C>>,
    {
        match self {
            Self::Done(verdict) => verdict,
            Self::Running(future) => future.await,
        }
    }
}

impl<F, Fut, Credential> Authenticator<Credential> for F
where
    F: Fn(Credential) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoVerdict,
{
    type Client = <Fut::Output as IntoVerdict>::Client;
    type Future = VerdictFuture<Fut>;

    fn authenticate(&self, credential: Credential) -> Self::Future {
        VerdictFuture {
            inner: self(credential),
        }
    }
}

/// An authenticator that sees the request head (the Python package's `on_auth_scope`): method, URI,
/// headers and extensions, e.g. a session inserted by an outer layer. The returned future must
/// not borrow the head, so copy what you need before the `async` block.
///
/// ```
/// use authstar::AuthstarClient;
/// use http::request::Parts;
///
/// #[derive(Clone)]
/// struct Session { user: String }
///
/// let on_auth_request = |parts: &Parts| {
///     let session = parts.extensions.get::<Session>().cloned();
///     async move { session.map(|s| AuthstarClient::new(s.user, ["web"])) }
/// };
/// # let _ = authstar::AuthstarLayer::builder().on_auth_request(on_auth_request).build();
/// ```
pub trait RequestAuthenticator: Send + Sync + 'static {
    /// The client type it returns.
    type Client;
    /// The future of one authentication.
    type Future: Future<Output = Verdict<Self::Client>> + Send + 'static;
    /// Authenticates a request from its head. [`Verdict::Rejected`] here means "nothing to
    /// authenticate with" (no session): the request stays anonymous with no failed attempt.
    fn authenticate(&self, parts: &Parts) -> Self::Future;

    /// Starts authenticating, answering at once when it can; see [`Authenticator::start`].
    fn start(&self, parts: &Parts) -> Started<Self::Future, Self::Client> {
        Started::Running(self.authenticate(parts))
    }
}

impl<F, Fut> RequestAuthenticator for F
where
    F: Fn(&Parts) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoVerdict,
{
    type Client = <Fut::Output as IntoVerdict>::Client;
    type Future = VerdictFuture<Fut>;

    fn authenticate(&self, parts: &Parts) -> Self::Future {
        VerdictFuture { inner: self(parts) }
    }
}

pin_project! {
    /// The future of a closure authenticator, converting its output into a [`Verdict`].
    #[doc(hidden)]
    pub struct VerdictFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Future for VerdictFuture<F>
where
    F: Future,
    F::Output: IntoVerdict,
{
    type Output = Verdict<<F::Output as IntoVerdict>::Client>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(IntoVerdict::into_verdict)
    }
}

/// An authenticator that answers without waiting: wrap a plain (not `async`) closure returning
/// `Option<C>`, `Result<Option<C>, E>` or a [`Verdict`].
///
/// Use it for lookups that never wait (an in-memory table, a verified-token cache, a JWT
/// signature check): the middleware then authenticates inside `call`, drives no future and does
/// not clone the inner service, which is measurably cheaper (see the benchmarks).
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
/// use authstar::{AuthstarClient, AuthstarLayer, BearerToken, sync_fn};
///
/// let tokens: Arc<HashMap<String, AuthstarClient>> = Arc::default();
/// let layer = AuthstarLayer::builder()
///     .on_auth_bearer_with(sync_fn(move |token: BearerToken| tokens.get(token.as_str()).cloned()))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
pub fn sync_fn<F>(f: F) -> SyncFn<F> {
    SyncFn(f)
}

/// See [`sync_fn`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct SyncFn<F>(F);

impl<F, Credential, O> Authenticator<Credential> for SyncFn<F>
where
    F: Fn(Credential) -> O + Send + Sync + 'static,
    O: IntoVerdict,
    O::Client: Send + 'static,
{
    type Client = O::Client;
    type Future = std::future::Ready<Verdict<O::Client>>;

    fn authenticate(&self, credential: Credential) -> Self::Future {
        std::future::ready((self.0)(credential).into_verdict())
    }

    #[inline(always)]
    fn start(&self, credential: Credential) -> Started<Self::Future, Self::Client> {
        Started::Done((self.0)(credential).into_verdict())
    }
}

impl<F, O> RequestAuthenticator for SyncFn<F>
where
    F: Fn(&Parts) -> O + Send + Sync + 'static,
    O: IntoVerdict,
    O::Client: Send + 'static,
{
    type Client = O::Client;
    type Future = std::future::Ready<Verdict<O::Client>>;

    fn authenticate(&self, parts: &Parts) -> Self::Future {
        std::future::ready((self.0)(parts).into_verdict())
    }

    fn start(&self, parts: &Parts) -> Started<Self::Future, Self::Client> {
        Started::Done((self.0)(parts).into_verdict())
    }
}

//! The response future of [`AuthstarMiddleware`](crate::AuthstarMiddleware).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::config::Config;
use crate::grpc;
use crate::method::MethodSet;
use crate::metrics;
use crate::{AuthMethod, Client, Verdict};

pin_project! {
    /// Authenticates (when a credential was presented), then drives the inner service's future.
    /// A concrete type. Only an authenticator that has to wait puts its state in one box: that
    /// keeps this future as small as the inner one on every other path (anonymous, malformed,
    /// answered at once), where moving a large future would cost more than the box costs here.
    pub struct ResponseFuture<S, B, C, M>
    where
        S: Service<Request<B>>,
        M: MethodSet<C>,
    {
        #[pin]
        state: State<S::Future, M::Future, Pending<S, B, C, M>, S::Response>,
    }
}

pin_project! {
    /// The inner service's future, and a header its response will carry: the method that
    /// authenticated the request adds it (RFC 9449 §8.2: the next DPoP nonce, which spares the
    /// client a refusal when the nonce it holds expires). Boxed: only layers with such a
    /// method take this path.
    struct Adding<F> {
        #[pin]
        future: F,
        header: Option<(HeaderName, HeaderValue)>,
    }
}

struct Pending<S, B, C, M> {
    service: S,
    request: Request<B>,
    method: AuthMethod,
    config: Arc<Config<C, M>>,
    /// Set when the authenticator first answers "not ready": one that answers on its first
    /// poll (an in-memory lookup written as `async`) is not timed and pays no clock.
    waiting_since: Option<metrics::Started>,
    /// The layer's authenticator timeout, started with the first "not ready".
    timer: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

pin_project! {
    #[project = StateProj]
    enum State<F, A, P, R> {
        Inner { #[pin] future: F },
        Respond { response: Option<R> },
        Authenticating { waiting: Pin<Box<Waiting<A, P>>> },
        Adding { adding: Pin<Box<Adding<F>>> },
    }
}

pin_project! {
    struct Waiting<A, P> {
        #[pin]
        auth: A,
        pending: Option<P>,
    }
}

impl<S, B, C, M> ResponseFuture<S, B, C, M>
where
    S: Service<Request<B>>,
    M: MethodSet<C>,
{
    #[inline]
    pub(crate) fn inner(future: S::Future) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    #[inline]
    pub(crate) fn respond(response: S::Response) -> Self {
        Self {
            state: State::Respond {
                response: Some(response),
            },
        }
    }

    /// The inner service's future for an authenticated request, whose response carries
    /// `header` if the method that authenticated it adds one.
    #[inline]
    pub(crate) fn proceed(future: S::Future, header: Option<(HeaderName, HeaderValue)>) -> Self {
        match header {
            None => Self::inner(future),
            header => Self {
                state: State::Adding {
                    adding: Box::pin(Adding { future, header }),
                },
            },
        }
    }

    pub(crate) fn authenticating(
        auth: M::Future,
        service: S,
        request: Request<B>,
        method: AuthMethod,
        config: Arc<Config<C, M>>,
    ) -> Self {
        Self {
            state: State::Authenticating {
                waiting: Box::pin(Waiting {
                    auth,
                    pending: Some(Pending {
                        service,
                        request,
                        method,
                        config,
                        waiting_since: None,
                        timer: None,
                    }),
                }),
            },
        }
    }
}

impl<S, B, C, M, ResBody> Future for ResponseFuture<S, B, C, M>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    C: Client,
    M: MethodSet<C>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Adding { adding } => {
                    let adding = adding.as_mut().project();
                    let Poll::Ready(result) = adding.future.poll(cx) else {
                        return Poll::Pending;
                    };
                    return Poll::Ready(result.map(|mut response| {
                        if let Some((name, value)) = adding.header.take() {
                            // A guard's refusal may already carry its own.
                            response.headers_mut().entry(name).or_insert(value);
                        }
                        response
                    }));
                }
                StateProj::Respond { response } => {
                    let response = response
                        .take()
                        .expect("authstar ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
                StateProj::Authenticating { waiting } => {
                    let waiting = waiting.as_mut().project();
                    let verdict = match waiting.auth.poll(cx) {
                        Poll::Ready(verdict) => verdict,
                        Poll::Pending => {
                            let Some(pending) = waiting.pending.as_mut() else {
                                return Poll::Pending;
                            };
                            pending
                                .waiting_since
                                .get_or_insert_with(metrics::Started::now);
                            let Some(deadline) = &pending.config.deadline else {
                                return Poll::Pending;
                            };
                            let timer = pending.timer.get_or_insert_with(|| deadline.start());
                            if timer.as_mut().poll(cx).is_pending() {
                                return Poll::Pending;
                            }
                            Verdict::Unavailable(deadline.expired())
                        }
                    };
                    let pending = waiting.pending;
                    let Pending {
                        mut service,
                        mut request,
                        method,
                        config,
                        waiting_since,
                        ..
                    } = pending
                        .take()
                        .expect("authstar ResponseFuture polled after completion");
                    if let Some(since) = waiting_since {
                        since.finished(&method);
                    }
                    let header = config.success_header(&method, &verdict);
                    match config.conclude(&mut request, method, verdict) {
                        None => {
                            let future = service.call(request);
                            state.set(Self::proceed(future, header).state);
                        }
                        Some(refusal) => {
                            return Poll::Ready(Ok(grpc::early_refusal(&request, refusal)));
                        }
                    }
                }
            }
        }
    }
}

pin_project! {
    /// The response future of a service that either answers a request itself (a refusal: a
    /// guard's, a rate limit's) or hands it to the service it wraps: what authstar-tonic's
    /// method guards, the rate limits and authstar-gateway's policy layer return.
    ///
    /// ```
    /// use std::future::Ready;
    /// let refused = authstar::Refusable::<Ready<Result<u8, ()>>, u8>::refused(7);
    /// assert!(matches!(refused, authstar::Refusable::Refused { response: Some(7) }));
    /// ```
    #[project = RefusableProj]
    #[allow(missing_docs)]
    pub enum Refusable<F, R> {
        /// The wrapped service's own answer.
        Inner { #[pin] future: F },
        /// The refusal, answered at once.
        Refused { response: Option<R> },
    }
}

impl<F, R> Refusable<F, R> {
    /// The wrapped service answers.
    pub fn inner(future: F) -> Self {
        Self::Inner { future }
    }

    /// `response` answers, at once.
    pub fn refused(response: R) -> Self {
        Self::Refused {
            response: Some(response),
        }
    }
}

impl<F, R, E> Future for Refusable<F, R>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RefusableProj::Inner { future } => future.poll(cx),
            // Polled again after it answered: nothing more will come.
            RefusableProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
        }
    }
}

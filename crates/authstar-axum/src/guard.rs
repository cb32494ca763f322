//! Route layers: [`GuardLayer`] and its [`GuardService`].

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use authstar::Client;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::RouteSecurity;
use crate::rejection::AuthRejection;
use authstar::Requirement;

/// A route layer made by [`RouteSecurity`]: apply it with `route_layer` to a route or router,
/// or with `layer` to the whole app. It runs before the handler and before any body is read.
pub struct GuardLayer<C> {
    // One reference count to bump when axum clones the route for a request.
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    security: RouteSecurity<C>,
    requirement: Requirement,
}

impl<C> GuardLayer<C> {
    pub(crate) fn new(security: RouteSecurity<C>, requirement: Requirement) -> Self {
        Self {
            shared: Arc::new(Shared {
                security,
                requirement,
            }),
        }
    }
}

impl<C> Clone for GuardLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> fmt::Debug for GuardLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GuardLayer")
            .field(&self.shared.requirement)
            .finish()
    }
}

impl<S, C> Layer<S> for GuardLayer<C> {
    type Service = GuardService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}

/// The service of a [`GuardLayer`].
pub struct GuardService<S, C> {
    inner: S,
    guard: GuardLayer<C>,
}

impl<S: Clone, C> Clone for GuardService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for GuardService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardService")
            .field("inner", &self.inner)
            .field("guard", &self.guard)
            .finish()
    }
}

impl<C: Client> GuardLayer<C> {
    /// Checks `request` against the requirement.
    pub fn check(&self, request: &Request) -> Result<(), AuthRejection> {
        self.shared.security.require(
            &self.shared.requirement,
            request.extensions(),
            request.headers(),
        )
    }
}

impl<S, C> Service<Request> for GuardService<S, C>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    C: Client,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.guard.check(&request) {
            Ok(()) => GuardFuture::inner(self.inner.call(request)),
            // A gRPC caller gets a gRPC status (trailers-only), an HTTP caller the 401/403.
            Err(rejection) => GuardFuture::refused(authstar::Refusal::shaped_for(
                &request,
                rejection.into_response(),
            )),
        }
    }
}

pin_project! {
    /// The response future of a [`GuardService`].
    pub struct GuardFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F> GuardFuture<F> {
    fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    fn refused(response: Response) -> Self {
        Self {
            state: State::Refused {
                response: Some(response),
            },
        }
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for GuardFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("authstar GuardFuture polled after completion"))),
        }
    }
}

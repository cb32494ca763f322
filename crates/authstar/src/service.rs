//! [`AuthstarMiddleware`]: the tower [`Service`] made by [`AuthstarLayer`](crate::AuthstarLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{Method, Request, Response};
use tower_service::Service;

use crate::authenticator::Verdict;
use crate::challenge::service_unavailable;
use crate::future::ResponseFuture;
use crate::layer::{Config, RequestHead};
use crate::methods::{MethodSet, Start};
use crate::throttle::too_many_requests;
use crate::{Attempt, AuthMethod, Client, Failure, Outcome};

/// Authenticates each request, stores the [`Outcome`] in its extensions, then calls the inner
/// service (or, when enforcing, answers 401 itself). Generic over request and response bodies.
pub struct AuthstarMiddleware<S, C, M> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config<C, M>>,
}

impl<S: Clone, C, M> Clone for AuthstarMiddleware<S, C, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug, C, M> fmt::Debug for AuthstarMiddleware<S, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthstarMiddleware")
            .field("inner", &self.inner)
            .field("layer", &self.config.info)
            .finish()
    }
}

impl<S, C, M, ReqBody, ResBody> Service<Request<ReqBody>> for AuthstarMiddleware<S, C, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    C: Client,
    M: MethodSet<C>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, C, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        if let Some(throttle) = &config.throttle {
            // Before any authenticator runs: a locked-out guesser costs a lookup, not a hash.
            if let Err(wait) = throttle.check(&request) {
                return ResponseFuture::respond(too_many_requests(wait));
            }
        }
        let mut start = config
            .methods
            .start_headers(request.headers(), config.max_credential_len);
        // Only a layer with a request authenticator takes the request apart (a compile-time
        // branch); `request` is reassigned in place, so the common path never moves it.
        if M::REQUEST && matches!(start, Start::Nothing) {
            let (parts, body) = request.into_parts();
            start = config.methods.start_request(&parts);
            request = Request::from_parts(parts, body);
        }
        let refused = match start {
            // The hot path of an anonymous request: nothing stored, nothing allocated.
            Start::Nothing if !config.enforce => None,
            Start::Nothing => config.anonymous(&mut request, None),
            Start::Failed(attempt) => {
                tracing::debug!(method = %attempt.method, reason = %attempt.failure, "authstar: malformed credential");
                config.anonymous(&mut request, Some(attempt))
            }
            // Answered at once (a `sync_fn` authenticator, a cache hit): no future, no clone.
            Start::Done(method, verdict) => config.conclude(&mut request, method, verdict),
            Start::Running(method, auth) => {
                // The tower idiom: the clone that was not driven to readiness stays here.
                let ready = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, ready);
                return ResponseFuture::authenticating(
                    auth,
                    service,
                    request,
                    method,
                    Arc::clone(&self.config),
                );
            }
        };
        match refused {
            None => ResponseFuture::inner(self.inner.call(request)),
            Some(response) => ResponseFuture::respond(response),
        }
    }
}

impl<C: Client, M> Config<C, M> {
    /// Applies an authenticator's verdict: records the outcome in `request`, or returns the
    /// response that refuses it.
    #[inline]
    pub(crate) fn conclude<B, R: Default>(
        &self,
        request: &mut Request<B>,
        method: AuthMethod,
        verdict: Verdict<C>,
    ) -> Option<Response<R>> {
        match verdict {
            Verdict::Authenticated(client) => {
                tracing::debug!(method = %method, client_id = client.client_id(), "authstar: authenticated");
                request
                    .extensions_mut()
                    .insert(Outcome::Authenticated { client, method });
                None
            }
            // The request authenticator found nothing to authenticate with (no session).
            Verdict::Rejected if method == AuthMethod::Request => self.anonymous(request, None),
            Verdict::Rejected => {
                tracing::debug!(method = %method, "authstar: rejected");
                if let Some(throttle) = &self.throttle {
                    throttle.failed(request);
                }
                let attempt = Attempt {
                    method,
                    failure: Failure::Rejected,
                };
                self.anonymous(request, Some(attempt))
            }
            Verdict::Unavailable(error) => {
                tracing::warn!(method = %method, error = %error, "authstar: authenticator failed");
                if let Some(retry_after) = &self.retry_after {
                    return Some(service_unavailable(retry_after));
                }
                let attempt = Attempt {
                    method,
                    failure: Failure::Unavailable,
                };
                self.anonymous(request, Some(attempt))
            }
        }
    }

    /// Continues without a client: records the failed attempt, or answers 401 when enforcing.
    pub(crate) fn anonymous<B, R: Default>(
        &self,
        request: &mut Request<B>,
        attempt: Option<Attempt>,
    ) -> Option<Response<R>> {
        if self.enforce && !self.is_exempt(request) {
            let challenges = self.info.challenges();
            return Some(challenges.unauthorized(attempt.as_ref()));
        }
        if let Some(attempt) = attempt {
            request
                .extensions_mut()
                .insert(Outcome::<C>::Failed(attempt));
        }
        None
    }

    fn is_exempt<B>(&self, request: &Request<B>) -> bool {
        // A CORS preflight (Fetch standard: `OPTIONS` with `Origin` and
        // `Access-Control-Request-Method`) carries no credentials by design. It is let through
        // unauthenticated, so a CORS layer must sit *outside* this one and answer it; without
        // one, the inner service sees an unauthenticated `OPTIONS` (no client in it).
        let headers = request.headers();
        let preflight = request.method() == Method::OPTIONS
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
            && headers.contains_key(ORIGIN);
        preflight
            || self.exemptions.paths.contains(request.uri().path())
            || self
                .exemptions
                .predicate
                .as_ref()
                .is_some_and(|predicate| predicate(&RequestHead::of(request)))
    }
}

//! [`AuthstarMiddleware`]: the tower [`Service`] made by [`AuthstarLayer`](crate::AuthstarLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::config::Config;
use crate::future::ResponseFuture;
use crate::grpc;
use crate::method::{MethodSet, Presented, Presenting};
use crate::metrics;
use crate::throttle::too_many_requests;
use crate::{Client, RequestHead};

/// Authenticates each request, stores the [`Outcome`](crate::Outcome) in its extensions, then calls the inner
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

impl<S, C, M> AuthstarMiddleware<S, C, M> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// use tower_layer::Layer;
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
    ///     .build()
    ///     .unwrap();
    /// let service = layer.layer("inner");
    /// assert_eq!(*service.get_ref(), "inner");
    /// assert_eq!(service.into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
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
        let presenting = Presenting::new(
            RequestHead::of(&request),
            &config.methods,
            config.max_credential_len,
            &config.addresses,
        );
        if let Some(throttle) = &config.throttle
            // Only a request that presents a credential is checked: the methods say which one
            // decides and the identity it claims.
            && let Some((label, id)) = config.methods.identity(&presenting)
        {
            // Before any authenticator runs: a locked-out guesser costs a lookup, not a hash.
            let claimed = id.as_deref().map(|id| (label, id));
            if let Err(wait) = throttle.check(request.extensions(), request.headers(), claimed) {
                metrics::throttled();
                let refusal = too_many_requests(wait);
                return ResponseFuture::respond(grpc::early_refusal(&request, refusal));
            }
        }
        let mut start = config.methods.start_with(&presenting, |future| future);
        // Only a layer with a request authenticator takes the request apart (a compile-time
        // branch); `request` is reassigned in place, so the common path never moves it.
        if M::READS_PARTS && matches!(start, Presented::Nothing) {
            let (parts, body) = request.into_parts();
            start = config.methods.start_parts_with(&parts, |future| future);
            request = Request::from_parts(parts, body);
        }
        let refused = match start {
            // The hot path of an anonymous request: nothing stored, nothing allocated.
            Presented::Nothing if !config.enforce => None,
            Presented::Nothing => config.anonymous(&mut request, None),
            Presented::Failed { attempt, charged } => config.failed(&mut request, attempt, charged),
            // Answered at once (a `sync_fn` authenticator, a cache hit): no future, no clone.
            Presented::Done(method, verdict) => {
                let header = config.success_header(&method, &verdict);
                match config.conclude(&mut request, method, verdict) {
                    None => return ResponseFuture::proceed(self.inner.call(request), header),
                    refused => refused,
                }
            }
            Presented::Running(method, auth) => {
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
            Some(refusal) => ResponseFuture::respond(grpc::early_refusal(&request, refusal)),
        }
    }
}

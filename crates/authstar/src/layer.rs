//! [`AuthstarLayer`]: the tower [`Layer`] made by the builder; each service it wraps shares one
//! [`Config`](crate::config).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;

use crate::AuthMethod;
use crate::config::{Config, LayerInfo};
use crate::method::{BoxMethods, MethodSet, Methods};
use crate::service::AuthstarMiddleware;
use crate::{BasicCredentials, Started, Verdict};

/// An [`AuthstarLayer`] whose methods' types are erased, made by
/// [`build_boxed`](crate::AuthstarLayerBuilder::build_boxed): storable in a struct field and
/// returnable from a function without naming `impl MethodSet<..>`.
pub type BoxAuthstarLayer<C> = AuthstarLayer<C, BoxMethods<C>>;

/// The tower [`Layer`] that authenticates requests (the Python package's `AuthstarMiddleware`).
///
/// Build it with [`AuthstarLayer::builder`], wrap your service with it, and read the result
/// from the request extensions ([`Outcome`](crate::Outcome), [`Outcome::client_in`](crate::Outcome::client_in)).
///
/// ```
/// use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
///
/// let layer = AuthstarLayer::builder()
///     .on_auth_bearer(|token: BearerToken| async move {
///         (token.as_str() == "t").then(|| AuthstarClient::new("svc", ["read"]))
///     })
///     .build()
///     .expect("valid configuration");
/// assert_eq!(
///     format!("{layer:?}"),
///     r#"AuthstarLayer { methods: ["bearer"], realm: "authstar", enforcing: false }"#
/// );
/// ```
pub struct AuthstarLayer<C, M = Methods> {
    pub(crate) config: Arc<Config<C, M>>,
}

impl<C, M> AuthstarLayer<C, M> {
    /// What guards need to know about this layer: its methods, its challenges, and whether it
    /// has been applied to a service.
    pub fn info(&self) -> &LayerInfo {
        &self.config.info
    }
}

impl<C: 'static, M: MethodSet<C>> AuthstarLayer<C, M> {
    /// Checks Basic credentials presented somewhere else than a request's `Authorization`
    /// header with the layer's Basic authenticator: how an OAuth 2.0 token endpoint checks a
    /// `client_secret_post` (and RFC 6749 §2.3.1's form-encoded Basic ids) with the very
    /// authenticator the layer uses, instead of being given it a second time, under the same
    /// [`authenticator_timeout`](crate::AuthstarLayerBuilder::authenticator_timeout) (past it,
    /// [`Verdict::Unavailable`]). `None` when the layer has no Basic method.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, Verdict};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_basic(|c: BasicCredentials| async move {
    ///         (c.password() == "secret").then(|| AuthstarClient::new(c.username(), ["read"]))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let credentials = BasicCredentials::new("svc", "secret").unwrap();
    /// let verdict = layer.check_basic(credentials).unwrap().await;
    /// assert!(matches!(verdict, Verdict::Authenticated(_)));
    /// # }
    /// ```
    pub fn check_basic(&self, credentials: BasicCredentials) -> Option<BasicCheck<C, M>> {
        let state = match self.config.methods.basic(credentials)? {
            Started::Done(verdict) => CheckState::Done {
                verdict: Some(verdict),
            },
            Started::Running(future) => CheckState::Running { future },
        };
        Some(BasicCheck {
            state,
            timer: None,
            config: Arc::clone(&self.config),
        })
    }
}

pin_project! {
    /// The verdict of [`AuthstarLayer::check_basic`]: the layer's Basic authenticator, bounded
    /// by the layer's authenticator timeout.
    pub struct BasicCheck<C, M: MethodSet<C>> {
        #[pin]
        state: CheckState<M::Future, C>,
        timer: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
        config: Arc<Config<C, M>>,
    }
}

pin_project! {
    #[project = CheckProj]
    enum CheckState<F, C> {
        Running { #[pin] future: F },
        Done { verdict: Option<Verdict<C>> },
    }
}

impl<C, M: MethodSet<C>> fmt::Debug for BasicCheck<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCheck").finish_non_exhaustive()
    }
}

impl<C, M: MethodSet<C>> Future for BasicCheck<C, M> {
    type Output = Verdict<C>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Verdict<C>> {
        let this = self.project();
        let future = match this.state.project() {
            CheckProj::Done { verdict } => {
                return Poll::Ready(verdict.take().expect("BasicCheck polled after completion"));
            }
            CheckProj::Running { future } => future,
        };
        if let Poll::Ready(verdict) = future.poll(cx) {
            return Poll::Ready(verdict);
        }
        let Some(deadline) = &this.config.deadline else {
            return Poll::Pending;
        };
        let timer = this.timer.get_or_insert_with(|| deadline.start());
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Verdict::Unavailable(deadline.expired())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<C, M> Clone for AuthstarLayer<C, M> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
        }
    }
}

impl<C, M> fmt::Debug for AuthstarLayer<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.config.info;
        let methods: Vec<_> = info.methods().iter().map(AuthMethod::label).collect();
        f.debug_struct("AuthstarLayer")
            .field("methods", &methods)
            .field("realm", &info.challenges().realm())
            .field("enforcing", &info.is_enforcing())
            .finish()
    }
}

impl<S, C, M> Layer<S> for AuthstarLayer<C, M> {
    type Service = AuthstarMiddleware<S, C, M>;

    fn layer(&self, inner: S) -> Self::Service {
        self.config.info.mark_applied();
        AuthstarMiddleware {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

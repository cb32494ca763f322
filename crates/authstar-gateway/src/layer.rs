//! [`PolicyLayer`]: a route policy as a tower layer, after the `AuthstarLayer`, so that a
//! service linking authstar and the gateway in front of others decide alike.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use authstar::{AuthstarLayer, Client, Guards, Refusal};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::Policy;

/// Applies a [`Policy`] to every request: the first matching route's requirement, decided by
/// the layer's [`Guards`] (the same 401/403 and challenges as authstar-axum's route layers);
/// a request no route matches is refused with 403.
///
/// ```
/// use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
/// use authstar_gateway::{Policy, PolicyLayer};
///
/// let auth = AuthstarLayer::builder()
///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
///     .build()
///     .unwrap();
/// let policy = Policy::from_toml("[[route]]\npath = \"/health\"\nallow = \"public\"\n").unwrap();
/// let routes = PolicyLayer::new(&auth, policy);
/// // tower::ServiceBuilder::new().layer(auth).layer(routes).service(app)
/// # let _ = routes;
/// ```
pub struct PolicyLayer<C> {
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    policy: Policy,
    guards: Guards<C>,
}

impl<C> Clone for PolicyLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> fmt::Debug for PolicyLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyLayer")
            .field("policy", &self.shared.policy)
            .field("guards", &self.shared.guards)
            .finish()
    }
}

impl<C: Client> PolicyLayer<C> {
    /// The policy for the routes behind `layer` (the admin bypass as the policy says).
    pub fn new<M>(layer: &AuthstarLayer<C, M>, policy: Policy) -> Self {
        Self::with_guards(Guards::new(layer), policy)
    }

    /// The policy decided by `guards` (their internal networks, their admin rule; the policy's
    /// `admin_bypass = true` adds [`Client::is_admin`]).
    pub fn with_guards(guards: Guards<C>, policy: Policy) -> Self {
        let guards = match policy.admin_bypass() {
            true => guards.with_admin_bypass(),
            false => guards,
        };
        Self {
            shared: Arc::new(Shared { policy, guards }),
        }
    }

    /// The guards deciding.
    pub fn guards(&self) -> &Guards<C> {
        &self.shared.guards
    }

    /// Whether `request` may pass: its route's requirement met, or the refusal.
    pub fn check<B>(&self, request: &Request<B>) -> Result<(), Refusal> {
        let host = host_of(request);
        let shared = &*self.shared;
        match shared
            .policy
            .requirement(request.method(), host, request.uri().path())
        {
            Some(requirement) => {
                shared
                    .guards
                    .require(requirement, request.extensions(), request.headers())
            }
            None => Err(Refusal::not_listed()),
        }
    }
}

/// The request's host, without port: the URI's, else the `Host` header's.
fn host_of<B>(request: &Request<B>) -> Option<&str> {
    if let Some(host) = request.uri().host() {
        return Some(host);
    }
    let value = request.headers().get(http::header::HOST)?.to_str().ok()?;
    let authority: http::uri::Authority = value.parse().ok()?;
    // `Authority::host` keeps an IPv6 address's brackets; a host name has none.
    let host = authority.host();
    value
        .get(..host.len())
        .filter(|h| h.eq_ignore_ascii_case(host))
}

impl<S, C> Layer<S> for PolicyLayer<C> {
    type Service = PolicyService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        PolicyService {
            inner,
            policy: self.clone(),
        }
    }
}

/// The service of a [`PolicyLayer`].
pub struct PolicyService<S, C> {
    inner: S,
    policy: PolicyLayer<C>,
}

impl<S: Clone, C> Clone for PolicyService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for PolicyService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyService")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S, C, B, R> Service<Request<B>> for PolicyService<S, C>
where
    S: Service<Request<B>, Response = Response<R>>,
    C: Client,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = authstar::Refusable<S::Future, Response<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.policy.check(&request) {
            Ok(()) => authstar::Refusable::inner(self.inner.call(request)),
            Err(refusal) => authstar::Refusable::refused(refusal.into_response()),
        }
    }
}

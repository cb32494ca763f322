//! Rate limits for valid clients: the failure throttle ([`crate::throttle`]) stops guessers;
//! this stops a client that authenticates and sends more than it may. A [`RateLimitLayer`] after
//! the [`AuthstarLayer`] counts each authenticated request against its client's budget (GCRA,
//! a burst then one more request per period), and against its credential's own budget when it
//! has one ([`RateLimitLayer::per_credential`]: an API key's), in a [`ThrottleStore`]: this
//! process's memory, or one every instance shares (authstar-redis's `RedisThrottle`, which
//! counts here and in Redis, and keeps counting here while Redis is unreachable: limits per
//! instance then, never none, unless that store is told to limit nobody meanwhile).
//! Over its budget a client gets 429 with `Retry-After` and the IETF `RateLimit-Policy` and
//! `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers); requests nobody authenticated
//! pass untouched (the failure throttle and the guards deal with those).
//!
//! ```
//! use std::time::Duration;
//! use authstar::ratelimit::RateLimitLayer;
//! use authstar::throttle::Budget;
//! use authstar::{AuthstarClient, AuthstarLayer, BearerToken, Client};
//!
//! let auth = AuthstarLayer::builder()
//!     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
//!     .build()
//!     .unwrap();
//! // 20 at once, then 10 a second; the `batch` client, 100 at once and 50 a second.
//! let limits = RateLimitLayer::new(&auth, Budget::per_period(20, Duration::from_millis(100)))
//!     .per_client(|client: &AuthstarClient| {
//!         (client.client_id() == "batch").then(|| Budget::per_period(100, Duration::from_millis(20)))
//!     });
//! // tower::ServiceBuilder::new().layer(auth).layer(limits).service(app)
//! # let _ = limits;
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::throttle::{Budget, MemoryStore, ThrottleKey, ThrottleStore};
use crate::{AuthstarLayer, Client, LayerInfo, Outcome};

/// The counters' namespaces: never a scheme the failure throttle counts under.
const SCHEME: &str = "rate-limit";
const CREDENTIAL_SCHEME: &str = "rate-limit-credential";

type BudgetFn<C> = Arc<dyn Fn(&C) -> Option<Budget> + Send + Sync>;
type CredentialBudgetFn<C> = Arc<dyn Fn(&C, &str) -> Option<Budget> + Send + Sync>;

/// Counts authenticated requests per client; see the [module](self).
pub struct RateLimitLayer<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    info: LayerInfo,
    /// `None`: a client without a budget of its own is not counted.
    default: Option<Budget>,
    per_client: Option<BudgetFn<C>>,
    per_credential: Option<CredentialBudgetFn<C>>,
    store: Arc<dyn ThrottleStore>,
}

impl<C> Clone for RateLimitLayer<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for RateLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("default", &self.inner.default)
            .field("per_client", &self.inner.per_client.is_some())
            .field("per_credential", &self.inner.per_credential.is_some())
            .finish_non_exhaustive()
    }
}

impl<C: Client> RateLimitLayer<C> {
    /// Limits for the clients `layer` authenticates: `default` for each, counted in this
    /// process's memory (at most 65 536 clients tracked; idle ones are dropped first).
    pub fn new<M>(layer: &AuthstarLayer<C, M>, default: Budget) -> Self {
        Self::with_default(layer, Some(default))
    }

    /// Limits only for the clients [`per_client`](Self::per_client) gives a budget; the others
    /// are not counted.
    pub fn unlimited_by_default<M>(layer: &AuthstarLayer<C, M>) -> Self {
        Self::with_default(layer, None)
    }

    fn with_default<M>(layer: &AuthstarLayer<C, M>, default: Option<Budget>) -> Self {
        Self {
            inner: Arc::new(Inner {
                info: layer.info().clone(),
                default,
                per_client: None,
                per_credential: None,
                store: Arc::new(MemoryStore::new(65_536)),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Inner<C>)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                info: shared.info.clone(),
                default: shared.default,
                per_client: shared.per_client.clone(),
                per_credential: shared.per_credential.clone(),
                store: Arc::clone(&shared.store),
            },
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A client's own budget, where `budget` gives one (the default otherwise): from its
    /// registration, its plan.
    pub fn per_client<F>(self, budget: F) -> Self
    where
        F: Fn(&C) -> Option<Budget> + Send + Sync + 'static,
    {
        self.with(|inner| inner.per_client = Some(Arc::new(budget)))
    }

    /// A credential's own budget (an API key's), counted besides its client's: `budget` is
    /// asked with the client and its [`credential_id`](Client::credential_id), and a request is
    /// refused when either budget is spent. Clients without a credential id, and credentials
    /// `budget` gives nothing, count against their client's budget only.
    ///
    /// ```
    /// use std::time::Duration;
    /// use authstar::ratelimit::RateLimitLayer;
    /// use authstar::throttle::Budget;
    /// use authstar::{AuthstarClient, AuthstarLayer, BearerToken, Client};
    ///
    /// let auth = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
    ///     .build()
    ///     .unwrap();
    /// // The key `k-batch` of client `ci`: 10 at once, then one a second.
    /// let limits = RateLimitLayer::unlimited_by_default(&auth).per_credential(
    ///     |client: &AuthstarClient, key_id: &str| {
    ///         (client.client_id() == "ci" && key_id == "k-batch")
    ///             .then(|| Budget::per_period(10, Duration::from_secs(1)))
    ///     },
    /// );
    /// # let _ = limits;
    /// ```
    pub fn per_credential<F>(self, budget: F) -> Self
    where
        F: Fn(&C, &str) -> Option<Budget> + Send + Sync + 'static,
    {
        self.with(|inner| inner.per_credential = Some(Arc::new(budget)))
    }

    /// Counts in `store` (a `RedisThrottle` shares the counts with every instance).
    pub fn store(self, store: impl ThrottleStore) -> Self {
        self.with(|inner| inner.store = Arc::new(store))
    }

    /// Counts the request whose layer outcome is in `extensions`: `Err` with the 429 to answer
    /// when its client is over its budget; `Ok` otherwise (nobody authenticated included).
    pub fn check<B: Default>(&self, extensions: &http::Extensions) -> Result<(), Response<B>> {
        let Some(client) = self.authenticated(extensions) else {
            return Ok(());
        };
        self.spend(client)
            .map_err(|(name, budget, wait)| limited(name, budget, wait))
    }

    /// Counts a request of `client` that an endpoint authenticated itself (the OAuth 2.0
    /// token endpoint's client authentication: secrets in the body, assertions, certificates),
    /// unless the layer authenticated the request (then it was counted already): `Err(wait)`
    /// when the client is over its budget.
    pub fn check_client(&self, extensions: &http::Extensions, client: &C) -> Result<(), Duration> {
        if self.authenticated(extensions).is_some() {
            return Ok(());
        }
        self.spend(client).map_err(|(_, _, wait)| wait)
    }

    fn authenticated<'a>(&self, extensions: &'a http::Extensions) -> Option<&'a C> {
        match self.inner.info.outcome::<C>(extensions) {
            Some(Outcome::Authenticated { client, .. }) if client.is_authenticated() => {
                Some(client)
            }
            _ => None,
        }
    }

    /// Counts one request of `client` against its budget and its credential's, or names the
    /// budget it is over and how long until it may: a refused request is counted by neither.
    fn spend(&self, client: &C) -> Result<(), (&'static str, Budget, Duration)> {
        let inner = &*self.inner;
        let own = inner
            .per_client
            .as_ref()
            .and_then(|budget| budget(client))
            .or(inner.default)
            .map(|budget| {
                let key = ThrottleKey::Identity {
                    scheme: SCHEME,
                    id: client.client_id(),
                };
                ("default", budget, key)
            });
        // A credential is counted as its client's: the same id presented by another client
        // (a token's `jti` equal to a key's id) is another counter. Length-prefixed, so no two
        // (client, credential) pairs name one counter.
        let credential = inner.per_credential.as_ref().and_then(|budget| {
            let id = client.credential_id()?;
            let budget = budget(client, id)?;
            let owner = client.client_id();
            Some((budget, format!("{}:{owner}{id}", owner.len())))
        });
        let credential = credential.as_ref().map(|(budget, id)| {
            let key = ThrottleKey::Identity {
                scheme: CREDENTIAL_SCHEME,
                id,
            };
            ("credential", *budget, key)
        });
        if own.is_none() && credential.is_none() {
            return Ok(());
        }
        let now = Instant::now();
        for (name, budget, key) in own.iter().chain(&credential) {
            if let Some(wait) = inner.store.locked(key, *budget, now) {
                crate::metrics::rate_limit(true);
                return Err((name, *budget, wait));
            }
        }
        for (_, budget, key) in own.iter().chain(&credential) {
            inner.store.fail(key, *budget, now);
        }
        crate::metrics::rate_limit(false);
        Ok(())
    }
}

/// `RateLimit-Policy` for the budget `name`: its burst (`q`) over the time the burst refills
/// (`w`).
fn policy(name: &str, budget: Budget) -> String {
    let window = budget
        .period()
        .saturating_mul(budget.burst())
        .as_secs()
        .max(1);
    format!("\"{name}\";q={};w={window}", budget.burst())
}

/// 429 with `Retry-After`, `RateLimit-Policy` and `RateLimit` (none left, back in `wait`).
fn limited<B: Default>(name: &str, budget: Budget, wait: Duration) -> Response<B> {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    if let Ok(value) = HeaderValue::from_str(&policy(name, budget)) {
        headers.insert("ratelimit-policy", value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("\"{name}\";r=0;t={seconds}")) {
        headers.insert("ratelimit", value);
    }
    response
}

impl<S, C> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimited<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimited {
            inner,
            limits: self.clone(),
        }
    }
}

/// The service of a [`RateLimitLayer`].
pub struct RateLimited<S, C> {
    inner: S,
    limits: RateLimitLayer<C>,
}

impl<S: Clone, C> Clone for RateLimited<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limits: self.limits.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for RateLimited<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("inner", &self.inner)
            .field("limits", &self.limits)
            .finish()
    }
}

impl<S, C, B, R> Service<Request<B>> for RateLimited<S, C>
where
    S: Service<Request<B>, Response = Response<R>>,
    C: Client,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = RateLimitFuture<S::Future, Response<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.limits.check(request.extensions()) {
            Ok(()) => RateLimitFuture::inner(self.inner.call(request)),
            // As the layer's own refusals: a gRPC status for gRPC, the connection closed when
            // a body would be left unread.
            Err(response) => {
                RateLimitFuture::refused(crate::grpc::early_refusal(&request, response))
            }
        }
    }
}

/// The response future of a [`RateLimited`] service.
pub type RateLimitFuture<F, R> = crate::Refusable<F, R>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthMethod, AuthstarClient, BearerToken};

    fn layer() -> AuthstarLayer<AuthstarClient, impl crate::MethodSet<AuthstarClient>> {
        AuthstarLayer::builder()
            .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
            .build()
            .unwrap()
    }

    fn as_client(layer: &LayerInfo, id: &str) -> http::Extensions {
        with_client(layer, AuthstarClient::new(id, ["read"]))
    }

    fn with_client(layer: &LayerInfo, client: AuthstarClient) -> http::Extensions {
        let mut extensions = http::Extensions::new();
        extensions.insert(Outcome::Authenticated {
            client,
            method: AuthMethod::Bearer,
            layer: layer.id(),
        });
        extensions
    }

    #[test]
    fn a_client_gets_its_burst_then_429_with_the_ietf_fields_and_others_are_unaffected() {
        let auth = layer();
        let limits = RateLimitLayer::new(&auth, Budget::per_period(3, Duration::from_secs(60)))
            .per_client(|client: &AuthstarClient| {
                (client.client_id() == "big")
                    .then(|| Budget::per_period(5, Duration::from_secs(60)))
            });
        let small = as_client(auth.info(), "small");
        for _ in 0..3 {
            assert!(limits.check::<()>(&small).is_ok());
        }
        let refused = limits.check::<()>(&small).unwrap_err();
        assert_eq!(refused.status(), 429);
        let retry: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(
            refused.headers()["ratelimit-policy"],
            "\"default\";q=3;w=180"
        );
        assert_eq!(
            refused.headers()["ratelimit"],
            format!("\"default\";r=0;t={retry}").as_str()
        );
        // Refused requests are not counted: the client is back after its wait, not later.
        let big = as_client(auth.info(), "big");
        for _ in 0..5 {
            assert!(limits.check::<()>(&big).is_ok());
        }
        assert!(limits.check::<()>(&big).is_err());
        // Nobody authenticated: not this layer's business.
        assert!(limits.check::<()>(&http::Extensions::new()).is_ok());
    }

    #[test]
    fn without_a_default_only_clients_with_a_budget_are_counted() {
        let auth = layer();
        let limits =
            RateLimitLayer::unlimited_by_default(&auth).per_client(|client: &AuthstarClient| {
                (client.client_id() == "metered")
                    .then(|| Budget::per_period(1, Duration::from_secs(60)))
            });
        let free = as_client(auth.info(), "free");
        for _ in 0..100 {
            assert!(limits.check::<()>(&free).is_ok());
        }
        let metered = as_client(auth.info(), "metered");
        assert!(limits.check::<()>(&metered).is_ok());
        assert!(limits.check::<()>(&metered).is_err());
    }

    #[test]
    fn a_key_with_a_budget_of_its_own_is_refused_alone_and_its_refusals_cost_its_client_nothing() {
        let auth = layer();
        let limits = RateLimitLayer::new(&auth, Budget::per_period(4, Duration::from_secs(60)))
            .per_credential(|client: &AuthstarClient, key: &str| {
                (client.client_id() == "ci" && key == "k-small")
                    .then(|| Budget::per_period(2, Duration::from_secs(60)))
            });
        let key = |id: &str| {
            with_client(
                auth.info(),
                AuthstarClient::new("ci", ["read"]).with_credential(id, None),
            )
        };
        let (small, other) = (key("k-small"), key("k-other"));
        assert!(limits.check::<()>(&small).is_ok());
        assert!(limits.check::<()>(&small).is_ok());
        let refused = limits.check::<()>(&small).unwrap_err();
        assert_eq!(refused.status(), 429);
        assert_eq!(
            refused.headers()["ratelimit-policy"],
            "\"credential\";q=2;w=120"
        );
        assert!(
            refused.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with("\"credential\";r=0;t=")
        );
        // The refusals above were not counted against the client: its other key has the two
        // requests left of the client's four.
        assert!(limits.check::<()>(&other).is_ok());
        assert!(limits.check::<()>(&other).is_ok());
        let refused = limits.check::<()>(&other).unwrap_err();
        assert_eq!(
            refused.headers()["ratelimit-policy"],
            "\"default\";q=4;w=240"
        );
        // The same key id held by another client is not that key: no budget of its own.
        let stranger = with_client(
            auth.info(),
            AuthstarClient::new("stranger", ["read"]).with_credential("k-small", None),
        );
        for _ in 0..4 {
            assert!(limits.check::<()>(&stranger).is_ok());
        }
    }

    #[test]
    fn a_request_its_client_s_budget_refuses_is_not_charged_to_its_key() {
        let auth = layer();
        let limits = RateLimitLayer::new(&auth, Budget::per_period(1, Duration::from_millis(80)))
            .per_credential(|_: &AuthstarClient, _: &str| {
                Some(Budget::per_period(2, Duration::from_secs(60)))
            });
        let request = with_client(
            auth.info(),
            AuthstarClient::new("ci", ["read"]).with_credential("k", None),
        );
        assert!(limits.check::<()>(&request).is_ok(), "the key's first");
        let refused = limits.check::<()>(&request).unwrap_err();
        assert_eq!(refused.headers()["ratelimit-policy"], "\"default\";q=1;w=1");
        std::thread::sleep(Duration::from_millis(100));
        // Had the refusal cost the key, its second (and last) request would be gone.
        assert!(limits.check::<()>(&request).is_ok(), "the key's second");
        std::thread::sleep(Duration::from_millis(100));
        let refused = limits.check::<()>(&request).unwrap_err();
        assert_eq!(
            refused.headers()["ratelimit-policy"],
            "\"credential\";q=2;w=120"
        );
    }

    #[test]
    fn one_credential_id_under_two_clients_is_two_counters() {
        let auth = layer();
        // A budget for any credential called `k`, whoever holds it.
        let limits = RateLimitLayer::unlimited_by_default(&auth).per_credential(
            |_: &AuthstarClient, id: &str| {
                (id == "k").then(|| Budget::per_period(1, Duration::from_secs(60)))
            },
        );
        let of = |client: &str| {
            with_client(
                auth.info(),
                AuthstarClient::new(client, ["read"]).with_credential("k", None),
            )
        };
        assert!(limits.check::<()>(&of("a")).is_ok());
        assert!(limits.check::<()>(&of("a")).is_err());
        assert!(limits.check::<()>(&of("b")).is_ok(), "b's own counter");
        // Length-prefixed: ("ab", "c") and ("a", "bc") are two counters as well.
        let limits = RateLimitLayer::unlimited_by_default(&auth).per_credential(
            |_: &AuthstarClient, _: &str| Some(Budget::per_period(1, Duration::from_secs(60))),
        );
        let pair = |client: &str, id: &str| {
            with_client(
                auth.info(),
                AuthstarClient::new(client, ["read"]).with_credential(id, None),
            )
        };
        assert!(limits.check::<()>(&pair("ab", "c")).is_ok());
        assert!(limits.check::<()>(&pair("a", "bc")).is_ok());
    }

    #[test]
    fn a_budget_too_large_for_the_clock_saturates_instead_of_panicking() {
        let auth = layer();
        let limits = RateLimitLayer::new(&auth, Budget::per_period(u32::MAX, Duration::MAX));
        let request = as_client(auth.info(), "huge");
        for _ in 0..3 {
            let _ = limits.check::<()>(&request);
        }
    }
}

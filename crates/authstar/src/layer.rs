//! [`AuthstarLayer`] and its builder.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use tower_layer::Layer;

use crate::authenticator::{Authenticator, RequestAuthenticator};
use crate::challenge::Challenges;
use crate::error::ConfigError;
use crate::methods::{Disabled, Enabled, MethodSet, Methods, PushHeader, Summary};
use crate::service::AuthstarMiddleware;
use crate::throttle::{FailureThrottle, Schemes};
use crate::{BasicCredentials, BearerToken, HeaderAuth};

/// The default limit on a credential's length in bytes (8 KiB: room for large JWTs).
pub const DEFAULT_MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// What to do when an authenticator fails (its backend is down). Either way the failure is logged
/// once, without the credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendErrorPolicy {
    /// Continue anonymously, recording [`Failure::Unavailable`](crate::Failure::Unavailable) in
    /// the outcome (the seed's behaviour). Guards then answer 401 without `error=`.
    #[default]
    Anonymous,
    /// Answer `503 Service Unavailable` with `Retry-After` (RFC 9110 §15.6.4, §10.2.3), telling
    /// the client the failure is temporary and not its fault.
    ServiceUnavailable {
        /// The `Retry-After` delay, sent in whole seconds.
        retry_after: Duration,
    },
}

type Predicate = Arc<dyn Fn(&RequestHead<'_>) -> bool + Send + Sync>;

/// A borrowed view of a request's head, for [`AuthstarLayerBuilder::except_when`]. (A view rather
/// than `&Parts`: taking a request apart and back together on every anonymous request costs
/// copies the hot path does not need.)
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a http::Method,
    /// The URI.
    pub uri: &'a http::Uri,
    /// The headers.
    pub headers: &'a http::HeaderMap,
    /// The extensions.
    pub extensions: &'a http::Extensions,
}

impl<'a> RequestHead<'a> {
    /// The head of `request`.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

/// Requests the layer lets through without authentication while enforcing.
#[derive(Clone, Default)]
pub(crate) struct Exemptions {
    pub(crate) paths: HashSet<String>,
    pub(crate) predicate: Option<Predicate>,
}

/// Builds an [`AuthstarLayer`]; start with [`AuthstarLayer::builder`].
///
/// The type parameters record which methods are configured; you never need to write them.
#[must_use]
pub struct AuthstarLayerBuilder<C, M = Methods> {
    methods: M,
    realm: String,
    enforce: bool,
    exemptions: Exemptions,
    backend_error: BackendErrorPolicy,
    max_credential_len: usize,
    throttle: Option<FailureThrottle>,
    _client: PhantomData<fn() -> C>,
}

impl<C, M> fmt::Debug for AuthstarLayerBuilder<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthstarLayerBuilder")
            .field("realm", &self.realm)
            .field("enforce", &self.enforce)
            .field("backend_error", &self.backend_error)
            .field("max_credential_len", &self.max_credential_len)
            .field("throttle", &self.throttle)
            .finish_non_exhaustive()
    }
}

impl<C, Be, Ba, H, R> AuthstarLayerBuilder<C, Methods<Be, Ba, H, R>> {
    fn map_methods<M>(
        self,
        f: impl FnOnce(Methods<Be, Ba, H, R>) -> M,
    ) -> AuthstarLayerBuilder<C, M> {
        AuthstarLayerBuilder {
            methods: f(self.methods),
            realm: self.realm,
            enforce: self.enforce,
            exemptions: self.exemptions,
            backend_error: self.backend_error,
            max_credential_len: self.max_credential_len,
            throttle: self.throttle,
            _client: PhantomData,
        }
    }

    /// Authenticates `Authorization: Bearer <token>` (RFC 6750 §2.1) with `authenticator`.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|token: BearerToken| async move {
    ///         (token.as_str() == "secret-token").then(|| AuthstarClient::new("svc", ["read"]))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert!(layer.info().summary().bearer);
    /// ```
    pub fn on_auth_bearer<A>(
        self,
        authenticator: A,
    ) -> AuthstarLayerBuilder<C, Methods<Enabled<A>, Ba, H, R>>
    where
        A: Authenticator<BearerToken, Client = C>,
    {
        self.map_methods(
            |Methods {
                 basic,
                 headers,
                 request,
                 ..
             }| Methods {
                bearer: Enabled(authenticator),
                basic,
                headers,
                request,
            },
        )
    }

    /// Authenticates `Authorization: Basic <base64(user-id:password)>` (RFC 7617).
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_basic(|credentials: BasicCredentials| async move {
    ///         let ok = credentials.username() == "svc" && credentials.password() == "pw";
    ///         Ok::<_, std::io::Error>(ok.then(|| AuthstarClient::new("svc", ["read"])))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert!(layer.info().summary().basic);
    /// ```
    pub fn on_auth_basic<A>(
        self,
        authenticator: A,
    ) -> AuthstarLayerBuilder<C, Methods<Be, Enabled<A>, H, R>>
    where
        A: Authenticator<BasicCredentials, Client = C>,
    {
        self.map_methods(
            |Methods {
                 bearer,
                 headers,
                 request,
                 ..
             }| Methods {
                bearer,
                basic: Enabled(authenticator),
                headers,
                request,
            },
        )
    }

    /// Authenticates with a named header (the seed's `HeaderAuth`). Call it again to accept
    /// several headers; they are tried in the order added.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, HeaderAuth, HeaderCredential};
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_header(HeaderAuth::x_api_key(|key: HeaderCredential| async move {
    ///         (key.as_str() == "k1").then(|| AuthstarClient::new("svc", ["read"]))
    ///     }))
    ///     .on_auth_header(HeaderAuth::new("x-service-token", |key: HeaderCredential| async move {
    ///         (key.as_str() == "t1").then(|| AuthstarClient::new("internal", ["admin"]))
    ///     }))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.info().summary().headers, ["x-api-key", "x-service-token"]);
    /// ```
    pub fn on_auth_header<A>(
        self,
        header: HeaderAuth<A>,
    ) -> AuthstarLayerBuilder<C, Methods<Be, Ba, <H as PushHeader<A>>::Output, R>>
    where
        A: Authenticator<crate::HeaderCredential, Client = C>,
        H: PushHeader<A>,
    {
        self.map_methods(
            |Methods {
                 bearer,
                 basic,
                 headers,
                 request,
             }| Methods {
                bearer,
                basic,
                headers: headers.push(header),
                request,
            },
        )
    }

    /// Authenticates from the request head when no credential header was presented (the seed's
    /// `on_auth_scope`): a session inserted by an outer layer, a client certificate, ...
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer};
    /// use http::request::Parts;
    ///
    /// #[derive(Clone)]
    /// struct Session { client_id: String }
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_request(|parts: &Parts| {
    ///         let session = parts.extensions.get::<Session>().cloned();
    ///         async move { session.map(|s| AuthstarClient::new(s.client_id, ["web"])) }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert!(layer.info().summary().request);
    /// ```
    pub fn on_auth_request<A>(
        self,
        authenticator: A,
    ) -> AuthstarLayerBuilder<C, Methods<Be, Ba, H, Enabled<A>>>
    where
        A: RequestAuthenticator<Client = C>,
    {
        self.map_methods(
            |Methods {
                 bearer,
                 basic,
                 headers,
                 ..
             }| Methods {
                bearer,
                basic,
                headers,
                request: Enabled(authenticator),
            },
        )
    }
}

impl<C, M> AuthstarLayerBuilder<C, M> {
    /// The realm named in challenges (default `"authstar"`); printable ASCII.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Answers `401 Unauthorized` with a `WWW-Authenticate` challenge for every enabled scheme
    /// to any request that does not authenticate, except CORS preflights and the exemptions
    /// configured with [`except_paths`](Self::except_paths) and
    /// [`except_when`](Self::except_when). For services without per-route guards.
    ///
    /// ```
    /// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
    ///     .require_authentication()
    ///     .except_paths(["/", "/healthz"])
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn require_authentication(mut self) -> Self {
        self.enforce = true;
        self
    }

    /// Paths (exact, as in the request URI) served without authentication when enforcing.
    pub fn except_paths<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exemptions
            .paths
            .extend(paths.into_iter().map(Into::into));
        self
    }

    /// Requests for which `predicate` is true are served without authentication when enforcing.
    ///
    /// ```
    /// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
    ///     .require_authentication()
    ///     .except_when(|head| head.uri.path().starts_with("/public/"))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn except_when<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> bool + Send + Sync + 'static,
    {
        self.exemptions.predicate = Some(Arc::new(predicate));
        self
    }

    /// Throttles failed authentications per client address and claimed identity: over the
    /// budget the layer answers `429 Too Many Requests` with `Retry-After`, without calling the
    /// authenticator. See [`throttle`](crate::throttle).
    pub fn throttle(mut self, throttle: FailureThrottle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// What to do when an authenticator fails; see [`BackendErrorPolicy`].
    ///
    /// ```
    /// # use authstar::{AuthstarClient, AuthstarLayer, BackendErrorPolicy, BearerToken};
    /// # use std::time::Duration;
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { Err::<Option<AuthstarClient>, _>("db down") })
    ///     .on_backend_error(BackendErrorPolicy::ServiceUnavailable {
    ///         retry_after: Duration::from_secs(5),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn on_backend_error(mut self, policy: BackendErrorPolicy) -> Self {
        self.backend_error = policy;
        self
    }

    /// Credentials longer than `bytes` are refused as
    /// [`Malformed::TooLong`](crate::Malformed::TooLong) without reaching an authenticator.
    /// Default [`DEFAULT_MAX_CREDENTIAL_LEN`].
    pub fn max_credential_len(mut self, bytes: usize) -> Self {
        self.max_credential_len = bytes;
        self
    }

    /// Validates the configuration and builds the layer.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, ConfigError, HeaderAuth, HeaderCredential};
    ///
    /// let no_methods = AuthstarLayer::<AuthstarClient>::builder().build();
    /// assert_eq!(no_methods.unwrap_err(), ConfigError::NoAuthenticator);
    ///
    /// let bad_header = AuthstarLayer::builder()
    ///     .on_auth_header(HeaderAuth::new("x api key", |_: HeaderCredential| async {
    ///         None::<AuthstarClient>
    ///     }))
    ///     .build();
    /// assert!(matches!(bad_header, Err(ConfigError::InvalidHeaderName(_))));
    /// ```
    pub fn build(self) -> Result<AuthstarLayer<C, M>, ConfigError>
    where
        M: MethodSet<C>,
    {
        let summary = self.methods.summary();
        if !summary.any() {
            return Err(ConfigError::NoAuthenticator);
        }
        if let Some(invalid) = summary.invalid_headers.first() {
            return Err(ConfigError::InvalidHeaderName(invalid.clone()));
        }
        let mut seen = HashSet::new();
        for name in &summary.headers {
            if name == "authorization" {
                return Err(ConfigError::AuthorizationHeader);
            }
            if !seen.insert(name) {
                return Err(ConfigError::DuplicateHeader(name.clone()));
            }
        }
        if self.max_credential_len == 0 {
            return Err(ConfigError::ZeroMaxCredentialLen);
        }
        let challenges = Challenges::new(&self.realm, &summary)?;
        let retry_after = match self.backend_error {
            BackendErrorPolicy::Anonymous => None,
            BackendErrorPolicy::ServiceUnavailable { retry_after } => {
                Some(HeaderValue::from(retry_after.as_secs()))
            }
        };
        let throttle = self.throttle.map(|throttle| {
            Arc::new(LayerThrottle {
                names: summary
                    .headers
                    .iter()
                    .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
                    .collect(),
                schemes: Schemes {
                    bearer: summary.bearer,
                    basic: summary.basic,
                },
                throttle,
            })
        });
        let info = LayerInfo(Arc::new(Shared {
            summary,
            challenges,
            enforcing: self.enforce,
            applied: AtomicBool::new(false),
            throttle: throttle.clone(),
        }));
        Ok(AuthstarLayer {
            config: Arc::new(Config {
                methods: self.methods,
                info,
                enforce: self.enforce,
                exemptions: self.exemptions,
                retry_after,
                max_credential_len: self.max_credential_len,
                throttle,
                _client: PhantomData,
            }),
        })
    }
}

/// The tower [`Layer`] that authenticates requests (the seed's `AuthstarMiddleware`).
///
/// Build it with [`AuthstarLayer::builder`], wrap your service with it, and read the result
/// from the request extensions ([`Outcome`](crate::Outcome), [`client`](crate::client)).
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
///     "AuthstarLayer { bearer: true, basic: false, headers: [], request: false, \
///      realm: \"authstar\", enforcing: false }"
/// );
/// ```
pub struct AuthstarLayer<C, M = Methods> {
    pub(crate) config: Arc<Config<C, M>>,
}

impl<C> AuthstarLayer<C> {
    /// Starts a builder with no method enabled.
    pub fn builder() -> AuthstarLayerBuilder<C> {
        AuthstarLayerBuilder {
            methods: Methods {
                bearer: Disabled,
                basic: Disabled,
                headers: Disabled,
                request: Disabled,
            },
            realm: "authstar".to_owned(),
            enforce: false,
            exemptions: Exemptions::default(),
            backend_error: BackendErrorPolicy::default(),
            max_credential_len: DEFAULT_MAX_CREDENTIAL_LEN,
            throttle: None,
            _client: PhantomData,
        }
    }
}

impl<C, M> AuthstarLayer<C, M> {
    /// What guards need to know about this layer: its methods, its challenges, and whether it
    /// has been applied to a service.
    pub fn info(&self) -> &LayerInfo {
        &self.config.info
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
        let info = &self.config.info.0;
        f.debug_struct("AuthstarLayer")
            .field("bearer", &info.summary.bearer)
            .field("basic", &info.summary.basic)
            .field("headers", &info.summary.headers)
            .field("request", &info.summary.request)
            .field("realm", &info.challenges.realm())
            .field("enforcing", &info.enforcing)
            .finish()
    }
}

impl<S, C, M> Layer<S> for AuthstarLayer<C, M> {
    type Service = AuthstarMiddleware<S, C, M>;

    fn layer(&self, inner: S) -> Self::Service {
        self.config.info.0.applied.store(true, Ordering::Relaxed);
        AuthstarMiddleware {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The layer's configuration, shared by every service it makes.
pub(crate) struct Config<C, M> {
    pub(crate) methods: M,
    pub(crate) info: LayerInfo,
    pub(crate) enforce: bool,
    pub(crate) exemptions: Exemptions,
    pub(crate) retry_after: Option<HeaderValue>,
    pub(crate) max_credential_len: usize,
    /// The throttle, also here so the request path reads it without a second indirection.
    pub(crate) throttle: Option<Arc<LayerThrottle>>,
    _client: PhantomData<fn() -> C>,
}

struct Shared {
    summary: Summary,
    challenges: Challenges,
    enforcing: bool,
    applied: AtomicBool,
    throttle: Option<Arc<LayerThrottle>>,
}

/// A [`FailureThrottle`] with what the layer knows of its credentials.
pub(crate) struct LayerThrottle {
    throttle: FailureThrottle,
    names: Vec<HeaderName>,
    schemes: Schemes,
}

impl LayerThrottle {
    /// `Err(wait)` when the request presents a credential whose address or identity is locked
    /// out.
    #[inline]
    pub(crate) fn check<B>(&self, request: &http::Request<B>) -> Result<(), Duration> {
        let headers = request.headers();
        if !FailureThrottle::presented(headers, &self.names) {
            return Ok(());
        }
        self.throttle
            .with_identity(headers, self.schemes, &self.names, |identity| {
                self.throttle.check(request.extensions(), headers, identity)
            })
    }

    /// Counts the request's credential as failed.
    pub(crate) fn failed<B>(&self, request: &http::Request<B>) {
        let headers = request.headers();
        self.throttle
            .with_identity(headers, self.schemes, &self.names, |identity| {
                self.throttle
                    .failed(request.extensions(), headers, identity);
            });
    }
}

/// A cheap, cloneable view of a built layer for guards in framework adapters.
///
/// ```
/// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
/// let layer = AuthstarLayer::builder()
///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
///     .build()
///     .unwrap();
/// let info = layer.info().clone();
/// assert!(!info.is_applied());
/// let _service = tower_layer::Layer::layer(&layer, ());
/// assert!(info.is_applied());
/// ```
#[derive(Clone)]
pub struct LayerInfo(Arc<Shared>);

impl LayerInfo {
    /// Which methods are enabled.
    pub fn summary(&self) -> &Summary {
        &self.0.summary
    }

    /// The layer's challenges.
    pub fn challenges(&self) -> &Challenges {
        &self.0.challenges
    }

    /// Whether the layer answers 401 itself.
    pub fn is_enforcing(&self) -> bool {
        self.0.enforcing
    }

    /// Whether the layer has wrapped a service. A guard that finds no outcome on a request while
    /// this is `false` has found a misconfiguration (the layer was never installed), not an
    /// anonymous client.
    pub fn is_applied(&self) -> bool {
        self.0.applied.load(Ordering::Relaxed)
    }

    /// The layer's failed-authentication throttle, for endpoints that authenticate clients
    /// themselves (the token endpoint's `client_secret_post`).
    pub fn throttle(&self) -> Option<&FailureThrottle> {
        self.0.throttle.as_ref().map(|t| &t.throttle)
    }
}

impl fmt::Debug for LayerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerInfo")
            .field("summary", &self.0.summary)
            .field("applied", &self.is_applied())
            .finish()
    }
}

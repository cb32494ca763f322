//! [`AuthstarLayerBuilder`]: collects the methods and settings, validates them once in
//! [`build`](AuthstarLayerBuilder::build) (errors that say what to do), and makes the
//! [`Config`](crate::config) an [`AuthstarLayer`] shares.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::challenge::Challenges;
use crate::config::{Config, Deadline, Exemptions, LayerInfo, RequestHead};
use crate::error::ConfigError;
use crate::layer::{AuthstarLayer, BoxAuthstarLayer};
use crate::method::{BoxMethods, MethodSet, Methods};
use crate::network::{Addresses, TrustedProxies};
use crate::throttle::FailureThrottle;

mod methods;

/// The default limit on a credential's length in bytes (8 KiB: room for large JWTs).
pub(crate) const DEFAULT_MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// Builds an [`AuthstarLayer`]; start with [`AuthstarLayer::builder`].
///
/// The type parameters record which methods are configured; you never need to write them.
#[must_use]
pub struct AuthstarLayerBuilder<C, M = Methods> {
    methods: M,
    realm: String,
    enforce: bool,
    exemptions: Exemptions,
    /// `Retry-After` of the 503 answering a failed authenticator; `None`: anonymous.
    backend_error: Option<Duration>,
    max_credential_len: usize,
    deadline: Option<Deadline>,
    throttle: Option<FailureThrottle>,
    addresses: Addresses,
    _client: PhantomData<fn() -> C>,
}

impl<C, M> fmt::Debug for AuthstarLayerBuilder<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthstarLayerBuilder")
            .field("realm", &self.realm)
            .field("enforce", &self.enforce)
            .field("backend_error", &self.backend_error)
            .field("max_credential_len", &self.max_credential_len)
            .field(
                "authenticator_timeout",
                &self.deadline.as_ref().map(|deadline| deadline.limit),
            )
            .field("throttle", &self.throttle)
            .finish_non_exhaustive()
    }
}

impl<C, M> AuthstarLayerBuilder<C, M> {
    /// The realm named in challenges (default `"authstar"`); printable ASCII.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Answers `401 Unauthorized` with a `WWW-Authenticate` challenge for every enabled scheme
    /// to any request that does not authenticate, except the exemptions configured with
    /// [`except_paths`](Self::except_paths), [`except_when`](Self::except_when) and
    /// [`except_cors_preflight`](Self::except_cors_preflight). For services without per-route
    /// guards.
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

    /// Lets CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
    /// through unauthenticated when enforcing: browsers send them without credentials. Only
    /// with a CORS layer **outside** this one that answers them (`tower_http::cors::CorsLayer`):
    /// without one, an `OPTIONS` request shaped as a preflight would reach your handlers with
    /// no client (a route registered with `any(...)`, a fallback). Off by default; only HTTP/1
    /// requests without a body (a gRPC or gRPC-Web call, whose method is not its meaning, has
    /// one; over HTTP/2 nothing in the head says there is none).
    ///
    /// ```
    /// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
    ///     .require_authentication()
    ///     .except_cors_preflight()
    ///     .build()
    ///     .unwrap();
    /// // Router::new()...layer(layer).layer(tower_http::cors::CorsLayer::permissive())
    /// # let _ = layer;
    /// ```
    pub fn except_cors_preflight(mut self) -> Self {
        self.exemptions.cors_preflight = true;
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

    /// Where the server put a request's peer address (the TCP connection's) in its extensions:
    /// axum's `ConnectInfo` (`authstar_axum::peer_address`), tonic's `TcpConnectInfo`, your own
    /// accept loop's. With it the failure throttle counts addresses, the guards' `internal`
    /// knows who is calling, and the DPoP method believes the origin a
    /// [trusted proxy](Self::trusted_proxies) reports; each reads it from here, once.
    ///
    /// ```
    /// use std::net::{IpAddr, SocketAddr};
    /// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
    ///     .peer_address(|extensions| extensions.get::<SocketAddr>().map(|peer| peer.ip()))
    ///     .build()
    ///     .unwrap();
    /// let mut request = http::Request::new(());
    /// request.extensions_mut().insert(SocketAddr::from(([192, 0, 2, 1], 4000)));
    /// let client = layer.info().client_address(request.extensions(), request.headers());
    /// assert_eq!(client, Some(IpAddr::from([192, 0, 2, 1])));
    /// ```
    pub fn peer_address<F>(mut self, peer: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.addresses.peer = Some(Arc::new(peer));
        self
    }

    /// The proxies whose forwarding headers name the client behind them (default: none). A
    /// request forwarded by a proxy not listed here has an unknown client: never internal, its
    /// failures counted against the proxy. Configured once, here, for the throttle, the guards
    /// and the DPoP method alike.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.addresses.proxies = proxies;
        self
    }

    /// Throttles failed authentications per client address and claimed identity: over the
    /// budget the layer answers `429 Too Many Requests` with `Retry-After`, without calling the
    /// authenticator. See [`throttle`](crate::throttle).
    pub fn throttle(mut self, throttle: FailureThrottle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// When an authenticator fails (its backend is down), answers `503 Service Unavailable`
    /// with `Retry-After: retry_after` (RFC 9110 §15.6.4, §10.2.3), telling the client the
    /// failure is temporary and not its fault. Without it the request continues anonymously,
    /// recording [`Failure::Unavailable`](crate::Failure::Unavailable) in the outcome (the
    /// Python package's behaviour; guards then answer 401 without `error=`). Either way the
    /// failure is logged once, without the credential.
    ///
    /// ```
    /// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// # use std::time::Duration;
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { Err::<Option<AuthstarClient>, _>("db down") })
    ///     .unavailable_on_backend_error(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn unavailable_on_backend_error(mut self, retry_after: Duration) -> Self {
        self.backend_error = Some(retry_after);
        self
    }

    /// Credentials longer than `bytes` are refused as
    /// [`Malformed::TooLong`](crate::Malformed::TooLong) without reaching an authenticator.
    /// Default 8 KiB: room for large JWTs.
    pub fn max_credential_len(mut self, bytes: usize) -> Self {
        self.max_credential_len = bytes;
        self
    }

    /// Gives every authenticator that has to wait (a database, a remote JWKS) at most `limit`
    /// to answer; past it the answer is a backend error (503 with `Retry-After` under
    /// [`unavailable_on_backend_error`](Self::unavailable_on_backend_error), or anonymous), so a hanging backend never holds a request forever. The
    /// core has no async runtime: `sleep` is yours (`tokio::time::sleep`). Authenticators that
    /// answer at once (a cache hit, a `sync_fn`) start no timer.
    ///
    /// ```
    /// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// # use std::time::Duration;
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| std::future::pending::<Option<AuthstarClient>>())
    ///     .authenticator_timeout(Duration::from_secs(2), tokio::time::sleep)
    ///     .unavailable_on_backend_error(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn authenticator_timeout<F, Fut>(mut self, limit: Duration, sleep: F) -> Self
    where
        F: Fn(Duration) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.deadline = Some(Deadline {
            limit,
            sleep: Arc::new(move |limit| Box::pin(sleep(limit))),
        });
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
        self.build_with(|methods| methods)
    }

    /// [`build`](Self::build), with the methods' types erased: a [`BoxAuthstarLayer`] can be a
    /// struct field or a function's return type without naming `impl MethodSet<..>`. A waiting
    /// authenticator's future is boxed (the unboxed layer boxes it once already) and the method
    /// set is reached through a pointer.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, BoxAuthstarLayer, HeaderAuth};
    ///
    /// struct App {
    ///     auth: BoxAuthstarLayer<AuthstarClient>,
    /// }
    ///
    /// fn auth_layer(api_keys: bool) -> BoxAuthstarLayer<AuthstarClient> {
    ///     let bearer = AuthstarLayer::builder().on_auth_bearer(|token| async move {
    ///         (token.as_str() == "t").then(|| AuthstarClient::new("svc", ["read"]))
    ///     });
    ///     if api_keys {
    ///         bearer
    ///             .on_auth_header(HeaderAuth::x_api_key(|key| async move {
    ///                 (key.as_str() == "k").then(|| AuthstarClient::new("cli", ["read"]))
    ///             }))
    ///             .build_boxed()
    ///             .unwrap()
    ///     } else {
    ///         bearer.build_boxed().unwrap()
    ///     }
    /// }
    ///
    /// let app = App { auth: auth_layer(true) };
    /// assert_eq!(app.auth.info().methods().len(), 2);
    /// ```
    pub fn build_boxed(self) -> Result<BoxAuthstarLayer<C>, ConfigError>
    where
        C: Send + 'static,
        M: MethodSet<C>,
    {
        self.build_with(BoxMethods::new)
    }

    /// Validates, then builds the layer around `wrap(methods)`.
    fn build_with<N>(self, wrap: impl FnOnce(M) -> N) -> Result<AuthstarLayer<C, N>, ConfigError>
    where
        M: MethodSet<C>,
    {
        let mut described = Vec::new();
        self.methods.describe(&mut described);
        if described.is_empty() {
            return Err(ConfigError::NoAuthenticator);
        }
        if let Some(invalid) = described.iter().find_map(|d| d.invalid.clone()) {
            return Err(invalid);
        }
        let mut seen = HashSet::new();
        for description in &described {
            if !seen.insert(&description.method) {
                return Err(ConfigError::DuplicateMethod(
                    description.method.label().to_owned(),
                ));
            }
        }
        if self.max_credential_len == 0 {
            return Err(ConfigError::ZeroMaxCredentialLen);
        }
        let challenges = Challenges::new(&self.realm, &described)?;
        let retry_after = self
            .backend_error
            .map(|retry_after| HeaderValue::from(retry_after.as_secs()));
        let methods = described.into_iter().map(|d| d.method).collect();
        // The throttle counts the addresses the layer knows, unless it was told otherwise.
        let throttle = self
            .throttle
            .map(|throttle| throttle.inherit_addresses(&self.addresses));
        if throttle
            .as_ref()
            .is_some_and(FailureThrottle::locks_blindly)
        {
            return Err(ConfigError::ThrottleWithoutAddresses);
        }
        let info = LayerInfo::new(
            methods,
            challenges,
            self.enforce,
            throttle.clone(),
            self.addresses.clone(),
        );
        Ok(AuthstarLayer {
            config: Arc::new(Config {
                methods: wrap(self.methods),
                info,
                enforce: self.enforce,
                exemptions: self.exemptions,
                retry_after,
                max_credential_len: self.max_credential_len,
                deadline: self.deadline,
                throttle,
                addresses: self.addresses,
                _client: PhantomData,
            }),
        })
    }
}

impl<C> AuthstarLayer<C> {
    /// Starts a builder with no method enabled.
    pub fn builder() -> AuthstarLayerBuilder<C> {
        AuthstarLayerBuilder {
            methods: Methods::default(),
            realm: "authstar".to_owned(),
            enforce: false,
            exemptions: Exemptions::default(),
            backend_error: None,
            max_credential_len: DEFAULT_MAX_CREDENTIAL_LEN,
            deadline: None,
            throttle: None,
            addresses: Addresses::default(),
            _client: PhantomData,
        }
    }
}

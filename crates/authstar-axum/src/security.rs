//! [`RouteSecurity`]: the Python package's `RouteSecurity`, as axum route layers and
//! extractors over authstar's one decision core ([`Guards`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use authstar::network::Networks;
use authstar::{AuthMethod, AuthstarLayer, Client, Guards, LayerInfo, Refusal};
use axum::extract::ConnectInfo;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;

use crate::guard::GuardLayer;
use crate::rejection::{AuthRejection, ErrorRenderer};
use authstar::Requirement;

/// How a set of required scopes is matched against a client's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeMatch {
    /// At least one of them (the Python package's `scopes`).
    Any,
    /// Every one of them.
    All,
}

/// Guards for routes behind an [`AuthstarLayer`], built from that layer so that its refusals
/// carry the layer's challenges.
///
/// * route layers (the Python package's `dependencies=[Security(...)]`): [`authenticated`](Self::authenticated),
///   [`scopes_any`](Self::scopes_any), [`scopes_all`](Self::scopes_all),
///   [`internal`](Self::internal), for a route, a router or the whole app;
/// * extractors (the Python package's `Annotated[Client, Security(...)]`):
///   [`Authenticated`](crate::Authenticated), `Option<Authenticated>`,
///   [`Scoped`](crate::Scoped). They find the `RouteSecurity` in the router's state
///   (`with_state(security)`, or `FromRef` from your own state).
///
/// ```
/// use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
/// use authstar_axum::{Authenticated, RouteSecurity};
/// use axum::{Json, Router, routing::get};
///
/// let layer = AuthstarLayer::builder()
///     .on_auth_bearer(|token: BearerToken| async move {
///         (token.as_str() == "t").then(|| AuthstarClient::new("svc", ["reports:read"]))
///     })
///     // Where the client's address is, for `internal()` (serve with
///     // `into_make_service_with_connect_info::<SocketAddr>()`).
///     .peer_address(authstar_axum::peer_address)
///     .build()
///     .unwrap();
/// let security = RouteSecurity::new(&layer);
///
/// async fn me(Authenticated(client): Authenticated<AuthstarClient>) -> Json<AuthstarClient> {
///     Json(client)
/// }
///
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .route(
///         "/reports",
///         get(|| async { "reports" }).route_layer(security.scopes_any(["reports:read", "admin"])),
///     )
///     .route("/healthcheck", get(|| async { "ok" }).route_layer(security.internal()))
///     .with_state(security)
///     .layer(layer);
/// ```
pub struct RouteSecurity<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    guards: Guards<C>,
    renderer: Option<ErrorRenderer>,
}

impl<C> Clone for Inner<C> {
    fn clone(&self) -> Self {
        Self {
            guards: self.guards.clone(),
            renderer: self.renderer.clone(),
        }
    }
}

impl<C> Clone for RouteSecurity<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for RouteSecurity<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteSecurity")
            .field("guards", &self.inner.guards)
            .field("error_body", &self.inner.renderer.is_some())
            .finish()
    }
}

impl<C: Client> RouteSecurity<C> {
    /// Guards for routes behind `layer`, using its challenges and its way of finding the
    /// client's address (`peer_address`, under axum [`peer_address`], and `trusted_proxies`):
    /// the guards, the throttle and DPoP read one address. Internal networks default to
    /// [`Networks::internal`].
    pub fn new<M>(layer: &AuthstarLayer<C, M>) -> Self {
        Self::from_info(layer.info().clone())
    }

    /// Guards from a layer's [`LayerInfo`].
    pub fn from_info(info: LayerInfo) -> Self {
        Self::from_guards(Guards::from_info(info))
    }

    /// Route guards deciding through `guards` (authstar's one decision core, shared with the
    /// gRPC adapter).
    pub fn from_guards(guards: Guards<C>) -> Self {
        Self {
            inner: Arc::new(Inner {
                guards,
                renderer: None,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Inner<C>)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    fn with_guards(self, change: impl FnOnce(Guards<C>) -> Guards<C>) -> Self {
        self.with(|inner| inner.guards = change(inner.guards.clone()))
    }

    /// Waives scope checks for clients for which `is_admin` answers `true` (the Python
    /// package's `is_admin_attribute`). Use `Client::is_admin` with
    /// [`with_admin_bypass`](Self::with_admin_bypass).
    pub fn admin_when<F>(self, is_admin: F) -> Self
    where
        F: Fn(&C) -> bool + Send + Sync + 'static,
    {
        self.with_guards(|guards| guards.admin_when(is_admin))
    }

    /// Waives scope checks for clients whose [`Client::is_admin`] is `true`.
    pub fn with_admin_bypass(self) -> Self {
        self.with_guards(Guards::with_admin_bypass)
    }

    /// The networks [`internal`](Self::internal) admits (default [`Networks::internal`]).
    pub fn internal_networks(self, networks: Networks) -> Self {
        self.with_guards(|guards| guards.internal_networks(networks))
    }

    /// Renders rejection bodies your way (your JSON error format, `application/problem+json`).
    /// The status, the `WWW-Authenticate` challenges and the method's header (a DPoP nonce)
    /// are set after rendering, so they cannot be lost.
    ///
    /// ```
    /// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// use authstar_axum::RouteSecurity;
    /// use axum::response::IntoResponse;
    ///
    /// # let layer = AuthstarLayer::builder()
    /// #     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> }).build().unwrap();
    /// let security = RouteSecurity::new(&layer).error_body(|rejection| {
    ///     let problem = serde_json::json!({
    ///         "type": "about:blank",
    ///         "title": rejection.body().error_description,
    ///         "status": rejection.status().as_u16(),
    ///     });
    ///     ([("content-type", "application/problem+json")], problem.to_string()).into_response()
    /// });
    /// # let _ = security;
    /// ```
    pub fn error_body<F>(self, render: F) -> Self
    where
        F: Fn(&AuthRejection) -> Response + Send + Sync + 'static,
    {
        self.with(|inner| inner.renderer = Some(Arc::new(render)))
    }

    /// The layer these guards belong to.
    pub fn info(&self) -> &LayerInfo {
        self.inner.guards.info()
    }

    /// The decision core these guards ask.
    pub fn guards(&self) -> &Guards<C> {
        &self.inner.guards
    }

    /// A route layer admitting authenticated clients only (401 otherwise).
    pub fn authenticated(&self) -> GuardLayer<C> {
        GuardLayer::new(self.clone(), Requirement::Authenticated)
    }

    /// A route layer admitting clients holding **at least one** of `scopes` (the Python
    /// package's `scopes`): 401 when unauthenticated, 403 otherwise.
    ///
    /// # Panics
    /// When `scopes` is empty: "any of none" admits nobody and "all of none" everybody, and a
    /// list read from configuration that came out empty is a mistake to catch at start-up, as
    /// the [`scopes!`](crate::scopes) macro catches it at compile time.
    pub fn scopes_any<I, S>(&self, scopes: I) -> GuardLayer<C>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = required_scopes("scopes_any", scopes);
        GuardLayer::new(self.clone(), Requirement::ScopesAny(scopes))
    }

    /// A route layer admitting clients holding **all** of `scopes`.
    ///
    /// # Panics
    /// When `scopes` is empty (see [`scopes_any`](Self::scopes_any)).
    pub fn scopes_all<I, S>(&self, scopes: I) -> GuardLayer<C>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = required_scopes("scopes_all", scopes);
        GuardLayer::new(self.clone(), Requirement::ScopesAll(scopes))
    }

    /// A route layer admitting requests from internal networks only, authenticated or not
    /// (403 otherwise). The client's address is the layer's: its `peer_address` (under axum,
    /// [`peer_address`], which reads `ConnectInfo<SocketAddr>` from
    /// `into_make_service_with_connect_info`) and its `trusted_proxies`. A request without a
    /// peer address is a 403, never a 500.
    ///
    /// # Panics
    ///
    /// When the layer was given no `peer_address`: the guard would admit no one.
    pub fn internal(&self) -> GuardLayer<C> {
        assert!(
            self.inner.guards.info().finds_addresses(),
            "RouteSecurity::internal needs the layer to find addresses: build it with \
             .peer_address(authstar_axum::peer_address)"
        );
        GuardLayer::new(self.clone(), Requirement::Internal)
    }

    fn rejection(&self, refusal: Refusal) -> AuthRejection {
        AuthRejection::new(refusal, self.inner.renderer.clone())
    }

    /// The client the layer stored in `extensions` and how it authenticated, or the rejection
    /// (401, or 500 when the layer was never installed). It authenticates nothing itself: the
    /// layer already did.
    #[inline]
    pub fn stored_client<'a>(
        &self,
        extensions: &'a Extensions,
    ) -> Result<(&'a C, &'a AuthMethod), AuthRejection> {
        self.inner
            .guards
            .client(extensions)
            .map_err(|refusal| self.rejection(refusal))
    }

    /// Checks the scopes of an authenticated client: any one of `scopes`, or all of them.
    #[inline]
    pub fn authorize_scopes<S: AsRef<str>>(
        &self,
        client: &C,
        method: &AuthMethod,
        scopes: &[S],
        matching: ScopeMatch,
    ) -> Result<(), AuthRejection> {
        let guards = &self.inner.guards;
        match matching {
            ScopeMatch::Any => guards.scopes_any(client, method, scopes),
            ScopeMatch::All => guards.scopes_all(client, method, scopes),
        }
        .map_err(|refusal| self.rejection(refusal))
    }

    /// Whether the request meets `requirement` (the guards' one decision,
    /// [`Guards::require`](authstar::Guards::require)), refused as this extension renders it.
    #[inline]
    pub fn require(
        &self,
        requirement: &Requirement,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Result<(), AuthRejection> {
        self.inner
            .guards
            .require(requirement, extensions, headers)
            .map_err(|refusal| self.rejection(refusal))
    }

    /// Checks that the request comes from an internal network.
    pub fn check_internal(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Result<(), AuthRejection> {
        self.inner
            .guards
            .internal(extensions, headers)
            .map_err(|refusal| self.rejection(refusal))
    }
}

/// The scopes a guard requires; an empty list is a programming (or configuration) error.
fn required_scopes<I, S>(guard: &str, scopes: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
    assert!(
        !scopes.is_empty(),
        "RouteSecurity::{guard} needs at least one scope: an empty list would admit everyone \
         (all of none) or no one (any of none); use authenticated() for any client"
    );
    scopes
}

/// The TCP peer's address of an axum request: `ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`), or `MockConnectInfo` in tests. For
/// [`AuthstarLayerBuilder::peer_address`](authstar::AuthstarLayerBuilder::peer_address), so the
/// throttle, the guards and the DPoP method know who is calling.
///
/// ```
/// use authstar::network::{Networks, TrustedProxies};
/// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
/// let layer = AuthstarLayer::builder()
///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
///     .peer_address(authstar_axum::peer_address)
///     .trusted_proxies(TrustedProxies::new(Networks::parse(["10.0.0.0/8"]).unwrap()))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
pub fn peer_address(extensions: &Extensions) -> Option<IpAddr> {
    match extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => Some(peer.ip()),
        None => extensions
            .get::<MockConnectInfo<SocketAddr>>()
            .map(|MockConnectInfo(peer)| peer.ip()),
    }
}

/// The path the client sent, before `Router::nest` or `nest_service` took a prefix off
/// (axum's [`OriginalUri`](axum::extract::OriginalUri)), for
/// [`DpopAuth::path_from`](authstar::DpopAuth::path_from): a DPoP layer
/// inside a nested router needs it, as proofs name the whole path. The request's own path
/// where axum kept none.
///
/// ```
/// use authstar::DpopAuth;
/// # use authstar::credentials::dpop::{DpopToken, ProofError, ProofVerifier};
/// # struct Proofs;
/// # impl ProofVerifier for Proofs {
/// #     fn verify_proof(&self, _proof: &str, _method: &axum::http::Method, _url: &str, _access_token: Option<&str>) -> Result<String, ProofError> { Err(ProofError::Signature) }
/// #     fn algorithms(&self) -> Vec<String> { vec![] }
/// # }
/// let dpop = DpopAuth::new(Proofs, |_: DpopToken| async { None::<authstar::AuthstarClient> })
///     .origin("https://api.example.com")
///     .path_from(authstar_axum::original_path);
/// # let _ = dpop;
/// ```
pub fn original_path(head: &authstar::RequestHead<'_>) -> Option<String> {
    let path = match head.extensions.get::<axum::extract::OriginalUri>() {
        Some(original) => original.0.path(),
        None => head.uri.path(),
    };
    Some(path.to_owned())
}

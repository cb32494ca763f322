//! [`RouteSecurity`]: the seed's `RouteSecurity`, as axum route layers and extractors.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use authstar::network::{Networks, TrustedProxies};
use authstar::{AuthMethod, AuthstarLayer, Client, LayerInfo, Outcome, ScopeChallenges};
use axum::extract::ConnectInfo;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;

use crate::guard::{GuardLayer, Requirement};
use crate::rejection::{AuthRejection, ErrorRenderer, RejectionKind};

/// How a set of required scopes is matched against a client's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeMatch {
    /// At least one of them (the seed's `scopes`).
    Any,
    /// Every one of them.
    All,
}

type AdminPredicate<C> = Arc<dyn Fn(&C) -> bool + Send + Sync>;

/// Guards for routes behind an [`AuthstarLayer`], built from that layer so that its refusals
/// carry the layer's challenges.
///
/// * route layers (the seed's `dependencies=[Security(...)]`): [`authenticated`](Self::authenticated),
///   [`scopes_any`](Self::scopes_any), [`scopes_all`](Self::scopes_all),
///   [`internal`](Self::internal), for a route, a router or the whole app;
/// * extractors (the seed's `Annotated[Client, Security(...)]`):
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
    info: LayerInfo,
    renderer: Option<ErrorRenderer>,
    admin: Option<AdminPredicate<C>>,
    internal_networks: Networks,
    trusted_proxies: TrustedProxies,
}

impl<C> Clone for Inner<C> {
    fn clone(&self) -> Self {
        Self {
            info: self.info.clone(),
            renderer: self.renderer.clone(),
            admin: self.admin.clone(),
            internal_networks: self.internal_networks.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
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
            .field("layer", &self.inner.info)
            .field("admin_bypass", &self.inner.admin.is_some())
            .field("internal_networks", &self.inner.internal_networks)
            .field("trusted_proxies", &self.inner.trusted_proxies)
            .finish()
    }
}

impl<C: Client> RouteSecurity<C> {
    /// Guards for routes behind `layer`, using its challenges. Internal networks default to
    /// [`Networks::internal`]; no proxy is trusted.
    pub fn new<M>(layer: &AuthstarLayer<C, M>) -> Self {
        Self::from_info(layer.info().clone())
    }

    /// Guards from a layer's [`LayerInfo`].
    pub fn from_info(info: LayerInfo) -> Self {
        Self {
            inner: Arc::new(Inner {
                info,
                renderer: None,
                admin: None,
                internal_networks: Networks::internal(),
                trusted_proxies: TrustedProxies::none(),
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Inner<C>)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// Waives scope checks for clients for which `is_admin` answers `true` (the seed's
    /// `is_admin_attribute`). Use `Client::is_admin` with
    /// [`with_admin_bypass`](Self::with_admin_bypass).
    pub fn admin_when<F>(self, is_admin: F) -> Self
    where
        F: Fn(&C) -> bool + Send + Sync + 'static,
    {
        self.with(|inner| inner.admin = Some(Arc::new(is_admin)))
    }

    /// Waives scope checks for clients whose [`Client::is_admin`] is `true`.
    pub fn with_admin_bypass(self) -> Self {
        self.admin_when(C::is_admin)
    }

    /// The networks [`internal`](Self::internal) admits (default [`Networks::internal`]).
    pub fn internal_networks(self, networks: Networks) -> Self {
        self.with(|inner| inner.internal_networks = networks)
    }

    /// Proxies whose forwarding header (default `X-Forwarded-For`) is believed when finding the
    /// client's address (default: none).
    pub fn trusted_proxies(self, proxies: TrustedProxies) -> Self {
        self.with(|inner| inner.trusted_proxies = proxies)
    }

    /// Renders rejection bodies your way (your JSON error format, `application/problem+json`).
    /// The status and the `WWW-Authenticate` challenges are set after rendering, so they cannot
    /// be lost.
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
        &self.inner.info
    }

    /// A route layer admitting authenticated clients only (401 otherwise).
    pub fn authenticated(&self) -> GuardLayer<C> {
        GuardLayer::new(self.clone(), Requirement::Authenticated)
    }

    /// A route layer admitting clients holding **at least one** of `scopes` (the seed's
    /// `scopes`): 401 when unauthenticated, 403 otherwise.
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
        GuardLayer::new(
            self.clone(),
            Requirement::scopes(self, scopes, ScopeMatch::Any),
        )
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
        GuardLayer::new(
            self.clone(),
            Requirement::scopes(self, scopes, ScopeMatch::All),
        )
    }

    /// A route layer admitting requests from internal networks only, authenticated or not
    /// (403 otherwise). The peer address comes from axum's `ConnectInfo<SocketAddr>`
    /// (`into_make_service_with_connect_info`); forwarding headers count only from trusted
    /// proxies. A missing peer address is a 403, never a 500.
    pub fn internal(&self) -> GuardLayer<C> {
        GuardLayer::new(self.clone(), Requirement::Internal)
    }

    fn reject(
        &self,
        kind: RejectionKind,
        challenges: Vec<axum::http::HeaderValue>,
    ) -> AuthRejection {
        AuthRejection::new(kind, challenges, self.inner.renderer.clone())
    }

    /// The rejection for a request without a client.
    pub(crate) fn unauthenticated(&self, attempt: Option<&authstar::Attempt>) -> AuthRejection {
        let challenges = self.inner.info.challenges().for_attempt(attempt).to_vec();
        self.reject(
            RejectionKind::Unauthenticated {
                attempt: attempt.cloned(),
            },
            challenges,
        )
    }

    /// The client the layer stored in `extensions` and how it authenticated, or the rejection
    /// (401, or 500 when the layer was never installed). It authenticates nothing itself: the
    /// layer already did.
    #[inline]
    pub fn stored_client<'a>(
        &self,
        extensions: &'a Extensions,
    ) -> Result<(&'a C, &'a AuthMethod), AuthRejection> {
        // Only a client this layer authenticated: another layer with the same client type (an
        // outer router's) is none of these guards' business.
        match self.inner.info.outcome::<C>(extensions) {
            // A client value that says it is not authenticated (`AuthstarClient::anonymous`,
            // returned by an authenticator as a placeholder) is treated as no client at all.
            Some(Outcome::Authenticated { client, method, .. }) if client.is_authenticated() => {
                Ok((client, method))
            }
            other => Err(self.refuse(other, extensions)),
        }
    }

    /// The rejection for a request without an authenticated client (kept out of line: the
    /// authenticated path stays small enough to inline).
    #[cold]
    #[inline(never)]
    fn refuse(&self, outcome: Option<&Outcome<C>>, extensions: &Extensions) -> AuthRejection {
        match outcome {
            Some(Outcome::Failed(attempt)) => {
                // RFC 9449 §9: the nonce the layer handed out for this request.
                let header = extensions
                    .get::<authstar::RefusalHeader>()
                    .map(|header| (header.0.clone(), header.1.clone()));
                self.unauthenticated(Some(attempt)).with_header(header)
            }
            None if !self.inner.info.is_applied() => {
                self.reject(RejectionKind::LayerNotInstalled, Vec::new())
            }
            _ => self.unauthenticated(None),
        }
    }

    /// Checks the scopes of an authenticated client: any one of `scopes`, or all of them.
    pub fn authorize_scopes<S: AsRef<str>>(
        &self,
        client: &C,
        method: &AuthMethod,
        scopes: &[S],
        matching: ScopeMatch,
    ) -> Result<(), AuthRejection> {
        self.check_scopes(client, method, scopes, matching, || {
            self.inner.info.challenges().insufficient_scopes(scopes)
        })
    }

    /// [`authorize_scopes`](Self::authorize_scopes) with the `insufficient_scope` challenges
    /// supplied by the caller (route layers build theirs once, at construction).
    pub(crate) fn check_scopes<S: AsRef<str>>(
        &self,
        client: &C,
        method: &AuthMethod,
        scopes: &[S],
        matching: ScopeMatch,
        challenges: impl FnOnce() -> ScopeChallenges,
    ) -> Result<(), AuthRejection> {
        let held = |scope: &S| client.has_scope(scope.as_ref());
        // No scope at all grants nothing: "all of none" must not admit everyone (the guards
        // refuse an empty list when built; a hand-written `ScopeRequirement` may still have one).
        let granted = !scopes.is_empty()
            && match matching {
                ScopeMatch::All => scopes.iter().all(held),
                ScopeMatch::Any => scopes.iter().any(held),
            };
        if granted
            || self
                .inner
                .admin
                .as_ref()
                .is_some_and(|is_admin| is_admin(client))
        {
            return Ok(());
        }
        self.refuse_scopes(method, scopes, matching, challenges)
    }

    /// The 403 for a client without the scopes (out of line: the granted path stays small
    /// enough for the guard to inline).
    #[cold]
    #[inline(never)]
    fn refuse_scopes<S: AsRef<str>>(
        &self,
        method: &AuthMethod,
        scopes: &[S],
        matching: ScopeMatch,
        challenges: impl FnOnce() -> ScopeChallenges,
    ) -> Result<(), AuthRejection> {
        // RFC 6750 §3.1: a bearer client learns which scopes the resource needs; RFC 9449 §7.1:
        // a DPoP client the same, in the DPoP scheme; other schemes carry no error codes.
        let challenges = challenges()
            .for_method(method)
            .cloned()
            .into_iter()
            .collect();
        let kind = RejectionKind::InsufficientScope {
            scopes: scopes.iter().map(|s| s.as_ref().to_owned()).collect(),
            matching,
        };
        Err(self.reject(kind, challenges))
    }

    /// Checks that the request comes from an internal network.
    pub fn check_internal(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Result<(), AuthRejection> {
        let address = peer(extensions)
            .and_then(|peer| self.inner.trusted_proxies.client_address(peer, headers));
        match address {
            Some(address) if self.inner.internal_networks.contains(address) => Ok(()),
            _ => Err(self.reject(RejectionKind::NotInternal, Vec::new())),
        }
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

/// The TCP peer's address from axum's `ConnectInfo<SocketAddr>` (or `MockConnectInfo`, its
/// stand-in in tests).
fn peer(extensions: &Extensions) -> Option<IpAddr> {
    match extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => Some(peer.ip()),
        None => extensions
            .get::<MockConnectInfo<SocketAddr>>()
            .map(|MockConnectInfo(peer)| peer.ip()),
    }
}

/// Finds the client's address in an axum request: the peer from `ConnectInfo<SocketAddr>`
/// (serve with `into_make_service_with_connect_info::<SocketAddr>()`), or the address `proxies`
/// name when the peer is one of them. When the client cannot be identified (a trusted proxy
/// forwarded no readable address, or a proxy nobody configured forwarded the request: see
/// [`TrustedProxies::client_address`]), its failures count against the peer (the proxy): a
/// guesser must not escape the per-address budget by adding a forwarding header. For
/// [`FailureThrottle::client_address`](authstar::throttle::FailureThrottle::client_address).
///
/// ```
/// use authstar::network::{Networks, TrustedProxies};
/// use authstar::throttle::FailureThrottle;
///
/// let proxies = TrustedProxies::new(Networks::parse(["10.0.0.0/8"]).unwrap());
/// let throttle = FailureThrottle::new().client_address(authstar_axum::client_address(proxies));
/// # let _ = throttle;
/// ```
pub fn client_address(
    proxies: TrustedProxies,
) -> impl Fn(&Extensions, &HeaderMap) -> Option<IpAddr> + Clone + Send + Sync + 'static {
    move |extensions, headers| {
        let peer = peer(extensions)?;
        Some(proxies.client_address(peer, headers).unwrap_or(peer))
    }
}

/// The origin of a DPoP proof's URL in an axum server, for
/// [`DpopAuth::origin_from`](authstar::credentials::dpop::DpopAuth::origin_from): what a trusted
/// proxy reports ([`TrustedProxies::forwarded_origin`], the peer from `ConnectInfo`), else the
/// request's own URI (HTTP/2) or `http://` and its `Host`.
///
/// ```
/// use authstar::credentials::dpop::DpopAuth;
/// use authstar::network::{Networks, TrustedProxies};
/// # use authstar::credentials::dpop::{DpopToken, ProofError, ProofRequest, ProofVerifier};
/// # struct Proofs;
/// # impl ProofVerifier for Proofs {
/// #     fn verify_proof(&self, _: &ProofRequest<'_>) -> Result<String, ProofError> { Err(ProofError::Signature) }
/// #     fn algorithms(&self) -> Vec<String> { vec![] }
/// # }
/// let proxies = TrustedProxies::new(Networks::parse(["10.0.0.0/8"]).unwrap());
/// let dpop = DpopAuth::new(Proofs, |_: DpopToken| async { None::<authstar::AuthstarClient> })
///     .origin_from(authstar_axum::dpop_origin(proxies));
/// # let _ = dpop;
/// ```
pub fn dpop_origin(
    proxies: TrustedProxies,
) -> impl Fn(&authstar::RequestHead<'_>) -> Option<String> + Clone + Send + Sync + 'static {
    move |head| {
        peer(head.extensions)
            .and_then(|peer| proxies.forwarded_origin(peer, head.headers))
            .or_else(|| authstar::credentials::dpop::request_origin(head))
    }
}

/// The path the client sent, before `Router::nest` or `nest_service` took a prefix off
/// (axum's [`OriginalUri`](axum::extract::OriginalUri)), for
/// [`DpopAuth::path_from`](authstar::credentials::dpop::DpopAuth::path_from): a DPoP layer
/// inside a nested router needs it, as proofs name the whole path. The request's own path
/// where axum kept none.
///
/// ```
/// use authstar::credentials::dpop::DpopAuth;
/// # use authstar::credentials::dpop::{DpopToken, ProofError, ProofRequest, ProofVerifier};
/// # struct Proofs;
/// # impl ProofVerifier for Proofs {
/// #     fn verify_proof(&self, _: &ProofRequest<'_>) -> Result<String, ProofError> { Err(ProofError::Signature) }
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

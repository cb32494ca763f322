//! Route guards, decided once for every framework: the Python package's `RouteSecurity`
//! (`authenticated`, `scopes`, `internal`, the admin bypass), over the [`Outcome`] a layer
//! stored. The axum adapter (`authstar_axum::RouteSecurity`: route layers and extractors) and
//! the gRPC one (`authstar_tonic::MethodGuards`) ask [`Guards`] and render its [`Refusal`]
//! their way (a JSON body, a gRPC status); neither decides anything itself, so they cannot
//! disagree.
//!
//! ```
//! use authstar::{AuthMethod, AuthstarClient, AuthstarLayer, BearerToken, Guards, Outcome};
//!
//! let layer = AuthstarLayer::builder()
//!     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
//!     .build()
//!     .unwrap();
//! let guards = Guards::new(&layer).with_admin_bypass();
//!
//! let mut extensions = http::Extensions::new();
//! extensions.insert(Outcome::Authenticated {
//!     client: AuthstarClient::new("svc", ["reports:read"]),
//!     method: AuthMethod::Bearer,
//!     layer: layer.info().id(),
//! });
//! let (client, method) = guards.client(&extensions).unwrap();
//! assert!(guards.scopes_any(client, method, &["reports:read", "admin"]).is_ok());
//! let refusal = guards.scopes_all(client, method, &["reports:read", "admin"]).unwrap_err();
//! assert_eq!(refusal.status(), 403);
//! assert_eq!(
//!     refusal.challenges()[0],
//!     r#"Bearer realm="authstar", error="insufficient_scope", scope="reports:read admin""#
//! );
//! ```

use std::fmt;
use std::sync::Arc;

use http::header::WWW_AUTHENTICATE;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};

use crate::config::RefusalHeader;
use crate::network::Networks;
use crate::{Attempt, AuthMethod, AuthstarLayer, Client, Failure, LayerInfo, Outcome};

type AdminFn<C> = Arc<dyn Fn(&C) -> bool + Send + Sync>;

/// The guards of the routes behind one layer: who may pass, and the refusal (with the layer's
/// exact challenges) for who may not. Cheap to clone.
pub struct Guards<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    info: LayerInfo,
    admin: Option<AdminFn<C>>,
    internal: Networks,
}

impl<C> Clone for Inner<C> {
    fn clone(&self) -> Self {
        Self {
            info: self.info.clone(),
            admin: self.admin.clone(),
            internal: self.internal.clone(),
        }
    }
}

impl<C> Clone for Guards<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for Guards<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guards")
            .field("layer", &self.inner.info)
            .field("admin_bypass", &self.inner.admin.is_some())
            .field("internal_networks", &self.inner.internal)
            .finish()
    }
}

impl<C: Client> Guards<C> {
    /// Guards for the routes behind `layer`. Internal networks default to
    /// [`Networks::internal`]; the client's address is found as the layer finds it
    /// ([`peer_address`](crate::AuthstarLayerBuilder::peer_address) and
    /// [`trusted_proxies`](crate::AuthstarLayerBuilder::trusted_proxies)).
    pub fn new<M>(layer: &AuthstarLayer<C, M>) -> Self {
        Self::from_info(layer.info().clone())
    }

    /// Guards from a layer's [`LayerInfo`].
    pub fn from_info(info: LayerInfo) -> Self {
        Self {
            inner: Arc::new(Inner {
                info,
                admin: None,
                internal: Networks::internal(),
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Inner<C>)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// Waives scope checks for clients for which `is_admin` is true (the Python package's
    /// `is_admin_attribute`).
    pub fn admin_when<F>(self, is_admin: F) -> Self
    where
        F: Fn(&C) -> bool + Send + Sync + 'static,
    {
        self.with(|inner| inner.admin = Some(Arc::new(is_admin)))
    }

    /// Waives scope checks for clients whose [`Client::is_admin`] is true.
    pub fn with_admin_bypass(self) -> Self {
        self.admin_when(C::is_admin)
    }

    /// The networks [`internal`](Self::internal) admits (default [`Networks::internal`]).
    pub fn internal_networks(self, networks: Networks) -> Self {
        self.with(|inner| inner.internal = networks)
    }

    /// The layer these guards belong to.
    pub fn info(&self) -> &LayerInfo {
        &self.inner.info
    }

    /// The client the layer authenticated, and how; or the refusal: 401 with the layer's
    /// challenges (`error="invalid_token"` for a refused token, a DPoP nonce when one is due),
    /// or 500 when the layer was never applied (a misconfiguration, not an anonymous client).
    /// A client another layer with the same client type authenticated is not this layer's.
    #[inline]
    pub fn client<'a>(
        &self,
        extensions: &'a Extensions,
    ) -> Result<(&'a C, &'a AuthMethod), Refusal> {
        match self.inner.info.outcome::<C>(extensions) {
            // A placeholder (`AuthstarClient::anonymous`) is no client.
            Some(Outcome::Authenticated { client, method, .. }) if client.is_authenticated() => {
                Ok((client, method))
            }
            other => Err(self.unauthenticated(other, extensions)),
        }
    }

    /// Out of line: the authenticated path stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn unauthenticated(&self, outcome: Option<&Outcome<C>>, extensions: &Extensions) -> Refusal {
        let attempt = match outcome {
            Some(Outcome::Failed { attempt, .. }) => Some(attempt),
            None if !self.inner.info.is_applied() => {
                return Refusal::new(Reason::LayerNotInstalled, Vec::new(), "server_error");
            }
            _ => None,
        };
        let challenges = self.inner.info.challenges();
        let error = match attempt {
            None => "unauthenticated",
            Some(attempt) => match (challenges.error_code(attempt), attempt.failure) {
                (Some(code), _) => code,
                (None, Failure::Malformed(_)) => "invalid_request",
                (None, _) => "unauthenticated",
            },
        };
        let mut refusal = Refusal::new(
            Reason::Unauthenticated(attempt.cloned()),
            challenges.for_attempt(attempt).to_vec(),
            error,
        );
        // The header the method added to its refusal (RFC 9449 §9: the nonce to use).
        if let Some(RefusalHeader(name, value)) = extensions.get::<RefusalHeader>() {
            refusal.header = Some(Box::new((name.clone(), value.clone())));
        }
        refusal
    }

    /// Admits `client` (authenticated with `method`) if it holds **at least one** of `scopes`
    /// (the Python package's `scopes`), or is an admin under the bypass; otherwise 403 with
    /// `error="insufficient_scope"` in the client's scheme when it has error codes (RFC 6750
    /// §3.1, RFC 9449 §7.1). No scope at all admits nobody.
    #[inline]
    pub fn scopes_any<S: AsRef<str>>(
        &self,
        client: &C,
        method: &AuthMethod,
        scopes: &[S],
    ) -> Result<(), Refusal> {
        let granted = scopes.iter().any(|scope| client.has_scope(scope.as_ref()));
        self.granted_or_refused(granted, client, method, scopes, false)
    }

    /// Admits `client` if it holds **every one** of `scopes`, or is an admin under the bypass.
    /// No scope at all admits nobody: "all of none" must not admit everyone.
    #[inline]
    pub fn scopes_all<S: AsRef<str>>(
        &self,
        client: &C,
        method: &AuthMethod,
        scopes: &[S],
    ) -> Result<(), Refusal> {
        let granted =
            !scopes.is_empty() && scopes.iter().all(|scope| client.has_scope(scope.as_ref()));
        self.granted_or_refused(granted, client, method, scopes, true)
    }

    #[inline]
    fn granted_or_refused<S: AsRef<str>>(
        &self,
        granted: bool,
        client: &C,
        method: &AuthMethod,
        scopes: &[S],
        all: bool,
    ) -> Result<(), Refusal> {
        if granted || self.inner.admin.as_ref().is_some_and(|admin| admin(client)) {
            return Ok(());
        }
        Err(self.insufficient_scope(method, scopes, all))
    }

    #[cold]
    #[inline(never)]
    fn insufficient_scope<S: AsRef<str>>(
        &self,
        method: &AuthMethod,
        scopes: &[S],
        all: bool,
    ) -> Refusal {
        let challenge = self
            .inner
            .info
            .challenges()
            .insufficient_scope(method, scopes);
        let scopes = scopes.iter().map(|s| s.as_ref().to_owned()).collect();
        Refusal::new(
            Reason::InsufficientScope { scopes, all },
            challenge.into_iter().collect(),
            "insufficient_scope",
        )
    }

    /// Admits a request from an internal network, authenticated or not; otherwise 403. The
    /// client's address is the layer's ([`LayerInfo::client_address`]): a request forwarded by
    /// a proxy that is not trusted has an unknown client, never an internal one.
    pub fn internal(&self, extensions: &Extensions, headers: &HeaderMap) -> Result<(), Refusal> {
        let address = self.inner.info.client_address(extensions, headers);
        match address {
            Some(address) if self.inner.internal.contains(address) => Ok(()),
            _ => Err(Refusal::new(Reason::NotInternal, Vec::new(), "forbidden")),
        }
    }
}

/// What a route needs from its caller: the one decision the axum routes, the gRPC methods
/// (`authstar_tonic::MethodGuards`) and a gateway's route policy (`authstar-gateway`) all ask
/// [`Guards::require`] for.
///
/// ```
/// use authstar::Requirement;
/// let needs = Requirement::ScopesAny(vec!["reports:read".into()]);
/// assert_ne!(needs, Requirement::Public);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// Anyone, authenticated or not.
    Public,
    /// An authenticated client.
    Authenticated,
    /// An authenticated client with at least one of the scopes (none admits nobody).
    ScopesAny(Vec<String>),
    /// An authenticated client with every one of the scopes (none admits nobody).
    ScopesAll(Vec<String>),
    /// A caller on an internal network, authenticated or not.
    Internal,
}

impl<C: Client> Guards<C> {
    /// Whether the request (its `extensions`, where the layer left its outcome, and its
    /// `headers`, for the client's address) meets `requirement`.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, BearerToken, Guards, Requirement};
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
    ///     .build()
    ///     .unwrap();
    /// let guards = Guards::new(&layer);
    /// let (extensions, headers) = (http::Extensions::new(), http::HeaderMap::new());
    /// assert!(guards.require(&Requirement::Public, &extensions, &headers).is_ok());
    /// // The layer never saw this request: a misconfiguration, answered 500.
    /// let refusal = guards.require(&Requirement::Authenticated, &extensions, &headers);
    /// assert_eq!(refusal.unwrap_err().status(), 500);
    /// ```
    pub fn require(
        &self,
        requirement: &Requirement,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Result<(), Refusal> {
        match requirement {
            Requirement::Public => Ok(()),
            Requirement::Internal => self.internal(extensions, headers),
            Requirement::Authenticated => self.client(extensions).map(|_| ()),
            Requirement::ScopesAny(scopes) => {
                let (client, method) = self.client(extensions)?;
                self.scopes_any(client, method, scopes)
            }
            Requirement::ScopesAll(scopes) => {
                let (client, method) = self.client(extensions)?;
                self.scopes_all(client, method, scopes)
            }
        }
    }
}

/// Why a guard refused a request, and what the answer carries: the status, the
/// `WWW-Authenticate` challenges, an error code and a description safe to show. Adapters
/// render it ([`into_response`](Self::into_response) is the bodiless HTTP answer).
#[derive(Clone)]
pub struct Refusal {
    reason: Reason,
    challenges: Vec<HeaderValue>,
    /// A header the refused method adds (a DPoP nonce); boxed, as it is rare and a refusal
    /// travels in every guard's `Result`.
    header: Option<Box<(HeaderName, HeaderValue)>>,
    error: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Reason {
    Unauthenticated(Option<Attempt>),
    InsufficientScope { scopes: Vec<String>, all: bool },
    NotInternal,
    NotListed,
    LayerNotInstalled,
}

impl Refusal {
    fn new(reason: Reason, challenges: Vec<HeaderValue>, error: &'static str) -> Self {
        Self {
            reason,
            challenges,
            header: None,
            error,
        }
    }

    /// The refusal of a route that is not listed where everything unlisted is closed (a gRPC
    /// method under `deny_unlisted`): 403.
    ///
    /// ```
    /// assert_eq!(authstar::Refusal::not_listed().status(), 403);
    /// ```
    pub fn not_listed() -> Self {
        Self::new(Reason::NotListed, Vec::new(), "forbidden")
    }

    /// 401 without a client, 403 without the scopes or from outside the internal networks, 500
    /// when the layer was never applied.
    pub fn status(&self) -> StatusCode {
        match self.reason {
            Reason::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Reason::InsufficientScope { .. } | Reason::NotInternal | Reason::NotListed => {
                StatusCode::FORBIDDEN
            }
            Reason::LayerNotInstalled => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `WWW-Authenticate` values: one per scheme the layer accepts on a 401, the
    /// `insufficient_scope` challenge on a 403 for scopes.
    pub fn challenges(&self) -> &[HeaderValue] {
        &self.challenges
    }

    /// A header the refused method adds (RFC 9449 §9: `DPoP-Nonce`).
    pub fn header(&self) -> Option<(&HeaderName, &HeaderValue)> {
        self.header.as_deref().map(|(name, value)| (name, value))
    }

    /// A short machine-readable code: `invalid_token` (a bearer or DPoP-bound token was
    /// refused, RFC 6750 §3.1, RFC 9449 §7.1), `invalid_dpop_proof`, `use_dpop_nonce`,
    /// `invalid_request` (a malformed credential), `unauthenticated`, `insufficient_scope`,
    /// `forbidden`, `server_error`.
    pub fn error(&self) -> &'static str {
        self.error
    }

    /// A description safe to show the client (it never echoes a credential).
    pub fn description(&self) -> String {
        match &self.reason {
            Reason::Unauthenticated(None) => "authentication is required".to_owned(),
            Reason::Unauthenticated(Some(attempt)) => match attempt.failure {
                Failure::Unavailable => "authentication is temporarily unavailable".to_owned(),
                failure => format!("{} credentials: {failure}", attempt.method),
            },
            Reason::InsufficientScope { scopes, all } => format!(
                "requires {} of the scopes: {}",
                if *all { "all" } else { "one" },
                scopes.join(" ")
            ),
            Reason::NotInternal => {
                "only clients on internal networks may use this route".to_owned()
            }
            Reason::NotListed => "this method is not open to any client".to_owned(),
            Reason::LayerNotInstalled => {
                "authentication is not configured on this server".to_owned()
            }
        }
    }

    /// The credential that was presented and failed, for a 401 that followed one.
    pub fn attempt(&self) -> Option<&Attempt> {
        match &self.reason {
            Reason::Unauthenticated(attempt) => attempt.as_ref(),
            _ => None,
        }
    }

    /// Whether the request was anonymous: nothing was presented, or the authenticator could
    /// not decide (its backend failed). Where anonymous callers are welcome (an optional
    /// client), such a request passes; a credential that was refused never does.
    pub fn is_anonymous(&self) -> bool {
        match &self.reason {
            Reason::Unauthenticated(None) => true,
            Reason::Unauthenticated(Some(attempt)) => attempt.failure == Failure::Unavailable,
            _ => false,
        }
    }

    /// Whether a guard ran where no layer was ever applied: a server misconfiguration.
    pub fn is_misconfiguration(&self) -> bool {
        self.reason == Reason::LayerNotInstalled
    }

    /// The scopes a refused route requires, and whether it requires all of them.
    pub fn required_scopes(&self) -> Option<(&[String], bool)> {
        match &self.reason {
            Reason::InsufficientScope { scopes, all } => Some((scopes, *all)),
            _ => None,
        }
    }

    /// The bodiless answer: the status, the challenges and the method's header.
    pub fn into_response<B: Default>(self) -> Response<B> {
        let mut response = Response::new(B::default());
        self.apply(&mut response);
        response
    }

    /// Sets the status, the challenges and the method's header on `response` (a body a
    /// framework rendered): they are the refusal's, whatever the renderer did.
    pub fn apply<B>(self, response: &mut Response<B>) {
        if self.is_misconfiguration() {
            tracing::error!(
                "authstar: a guard ran but the AuthstarLayer was never applied; add the layer \
                 outside the guarded routes"
            );
        }
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.remove(WWW_AUTHENTICATE);
        for challenge in self.challenges {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
        if let Some(header) = self.header {
            let (name, value) = *header;
            headers.insert(name, value);
        }
    }

    /// `response` (a refusal) as `request`'s caller understands it: unchanged for HTTP; for a
    /// gRPC call, a trailers-only answer with the gRPC status of its HTTP status, the
    /// challenges kept as metadata, no body.
    pub fn shaped_for<B, R: Default>(request: &Request<B>, response: Response<R>) -> Response<R> {
        crate::grpc::early_refusal(request, response)
    }
}

impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refusal")
            .field("status", &self.status())
            .field("error", &self.error)
            .field("reason", &self.reason)
            .finish()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.description())
    }
}

impl std::error::Error for Refusal {}

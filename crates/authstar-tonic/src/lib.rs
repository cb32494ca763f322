//! # authstar-tonic
//!
//! The gRPC adapter of [`authstar`]: per-method guards for a tonic server (or any tower
//! service speaking gRPC), deciding through the same [`Guards`] as authstar-axum's route
//! guards (authenticated, scopes any or all, the admin bypass) and answering in gRPC statuses.
//!
//! The [`AuthstarLayer`] itself needs no adapter: it runs in front of
//! a tonic server as it does in front of axum (`Server::builder().layer(layer)`), reads
//! credentials from the metadata (`authorization`, `x-api-key`), and answers a gRPC caller with
//! a trailers-only status: `UNAUTHENTICATED` (16) for a 401, `PERMISSION_DENIED` (7) for a 403,
//! `RESOURCE_EXHAUSTED` (8) for a 429, `UNAVAILABLE` (14) for a 503, the challenges kept as
//! metadata. A handler reads the client with [`Outcome::client_in`](authstar::Outcome::client_in).
//!
//! ```
//! use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
//! use authstar_tonic::MethodGuards;
//!
//! let layer = AuthstarLayer::builder()
//!     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
//!     .build()
//!     .unwrap();
//! let guards = MethodGuards::<AuthstarClient>::new(&layer)
//!     .authenticated("/reports.Reports/List")
//!     .scopes_any("/reports.Reports/Export", ["reports:export", "admin"])
//!     .scopes_all("/reports.Reports/Purge", ["admin", "reports:write"])
//!     .public("/grpc.health.v1.Health/Check")
//!     .deny_unlisted();
//! // tonic::transport::Server::builder().layer(layer).layer(guards).add_service(...)
//! # let _ = guards;
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use authstar::{AuthstarLayer, Client, Guards, Refusal, Requirement};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// Per-method guards for a gRPC server: a tower [`Layer`] after the
/// [`AuthstarLayer`], keyed by the method's path (`/package.Service/Method`). A listed method
/// refuses a request without an authenticated client (`UNAUTHENTICATED`, with the layer's
/// challenges and, for a DPoP proof without the server's nonce, `dpop-nonce`) or without the
/// scopes (`PERMISSION_DENIED`, with RFC 6750's `insufficient_scope` challenge), unless the
/// client is an admin under [`with_admin_bypass`](Self::with_admin_bypass). Methods not listed
/// pass untouched, unless [`deny_unlisted`](Self::deny_unlisted) closes them. HTTP callers of
/// the same server get 401/403.
///
/// Paths are checked when listed: `/package.Service/Method` (the package optional), one
/// service and one method segment; anything else panics at start-up, as it could never match
/// a call and would leave the method it meant open.
pub struct MethodGuards<C> {
    rules: Arc<HashMap<String, Requirement>>,
    guards: Guards<C>,
    deny_unlisted: bool,
}

impl<C> Clone for MethodGuards<C> {
    fn clone(&self) -> Self {
        Self {
            rules: Arc::clone(&self.rules),
            guards: self.guards.clone(),
            deny_unlisted: self.deny_unlisted,
        }
    }
}

impl<C> fmt::Debug for MethodGuards<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodGuards")
            .field("rules", &self.rules)
            .field("guards", &self.guards)
            .field("deny_unlisted", &self.deny_unlisted)
            .finish()
    }
}

/// Whether `path` is a gRPC method path: `/`, a service name (dotted package prefix allowed),
/// `/`, a method name; identifiers of letters, digits and `_` (protobuf's rules).
fn is_method_path(path: &str) -> bool {
    let identifier = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    match rest.split_once('/') {
        Some((service, method)) => service.split('.').all(identifier) && identifier(method),
        None => false,
    }
}

impl<C: Client> MethodGuards<C> {
    /// Guards for the methods behind `layer` (the one in front of them).
    pub fn new<M>(layer: &AuthstarLayer<C, M>) -> Self {
        Self::with_guards(Guards::new(layer))
    }

    /// Guards deciding through `guards` (with its admin bypass, its internal networks).
    pub fn with_guards(guards: Guards<C>) -> Self {
        Self {
            rules: Arc::default(),
            guards,
            deny_unlisted: false,
        }
    }

    /// Waives scope checks for clients whose [`Client::is_admin`] is true, as
    /// `RouteSecurity::with_admin_bypass` does for axum routes.
    pub fn with_admin_bypass(mut self) -> Self {
        self.guards = self.guards.with_admin_bypass();
        self
    }

    fn rule(mut self, method: &str, need: Requirement) -> Self {
        assert!(
            is_method_path(method),
            "MethodGuards: {method:?} is not a gRPC method path: write /package.Service/Method"
        );
        if let Requirement::ScopesAny(scopes) | Requirement::ScopesAll(scopes) = &need {
            assert!(
                !scopes.is_empty(),
                "MethodGuards: {method:?} needs at least one scope: an empty list would admit \
                 everyone (all of none) or no one (any of none)"
            );
        }
        Arc::make_mut(&mut self.rules).insert(method.to_owned(), need);
        self
    }

    /// `method` needs an authenticated client.
    ///
    /// # Panics
    /// When `method` is not a `/package.Service/Method` path.
    pub fn authenticated(self, method: &str) -> Self {
        self.rule(method, Requirement::Authenticated)
    }

    /// `method` needs a client with at least one of `scopes`.
    ///
    /// # Panics
    /// When `method` is not a `/package.Service/Method` path, or `scopes` is empty.
    pub fn scopes_any<I, S>(self, method: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = scopes.into_iter().map(Into::into).collect();
        self.rule(method, Requirement::ScopesAny(scopes))
    }

    /// `method` needs a client with every one of `scopes`.
    ///
    /// # Panics
    /// When `method` is not a `/package.Service/Method` path, or `scopes` is empty.
    pub fn scopes_all<I, S>(self, method: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = scopes.into_iter().map(Into::into).collect();
        self.rule(method, Requirement::ScopesAll(scopes))
    }

    /// `method` is open to anyone, authenticated or not: what stays reachable under
    /// [`deny_unlisted`](Self::deny_unlisted) (a health check, a public lookup).
    ///
    /// # Panics
    /// When `method` is not a `/package.Service/Method` path.
    pub fn public(self, method: &str) -> Self {
        self.rule(method, Requirement::Public)
    }

    /// `method` admits callers from internal networks only, authenticated or not
    /// (`PERMISSION_DENIED` otherwise), their address found as the layer finds it: its
    /// `peer_address` (tonic's `TcpConnectInfo`) and `trusted_proxies`. What axum's
    /// `RouteSecurity::internal` is, for a gRPC method.
    ///
    /// # Panics
    /// When `method` is not a `/package.Service/Method` path, or the layer was given no
    /// `peer_address` (the rule would admit no one).
    pub fn internal(self, method: &str) -> Self {
        assert!(
            self.guards.info().finds_addresses(),
            "MethodGuards::internal needs the layer to find addresses: build it with \
             .peer_address(...) reading tonic's TcpConnectInfo"
        );
        self.rule(method, Requirement::Internal)
    }

    /// Refuses every method that is not listed (`PERMISSION_DENIED`, 403 for HTTP callers):
    /// closed by default, so a method added to a service later, or one whose path was
    /// mistyped here, is refused rather than open.
    pub fn deny_unlisted(mut self) -> Self {
        self.deny_unlisted = true;
        self
    }

    /// Checks `request` against its method's rule.
    fn check<B>(&self, request: &Request<B>) -> Result<(), Refusal> {
        let Some(need) = self.rules.get(request.uri().path()) else {
            return match self.deny_unlisted {
                true => Err(Refusal::not_listed()),
                false => Ok(()),
            };
        };
        self.guards
            .require(need, request.extensions(), request.headers())
    }
}

impl<S, C> Layer<S> for MethodGuards<C> {
    type Service = MethodGuardService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        MethodGuardService {
            inner,
            guards: self.clone(),
        }
    }
}

/// The service made by [`MethodGuards`].
pub struct MethodGuardService<S, C> {
    inner: S,
    guards: MethodGuards<C>,
}

impl<S: Clone, C> Clone for MethodGuardService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guards: self.guards.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for MethodGuardService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodGuardService")
            .field("inner", &self.inner)
            .field("guards", &self.guards)
            .finish()
    }
}

impl<S, C, B, R> Service<Request<B>> for MethodGuardService<S, C>
where
    S: Service<Request<B>, Response = Response<R>>,
    C: Client,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, Response<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.guards.check(&request) {
            Ok(()) => GuardFuture::inner(self.inner.call(request)),
            Err(refusal) => {
                GuardFuture::refused(Refusal::shaped_for(&request, refusal.into_response()))
            }
        }
    }
}

/// The response future of a [`MethodGuardService`].
pub type GuardFuture<F, R> = authstar::Refusable<F, R>;

#[cfg(test)]
mod tests {
    use super::*;
    use authstar::DpopAuth;
    use authstar::credentials::dpop::DpopToken;
    use authstar::{AuthMethod, AuthstarClient, BearerToken, Outcome};
    use authstar_testkit::proofs::FakeProofs;
    use http::StatusCode;
    use http::header::WWW_AUTHENTICATE;

    fn layer() -> AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>> {
        AuthstarLayer::builder()
            .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
            .on_auth_dpop(
                // Proofs without the nonce are asked for it ("n-1"); every other is refused.
                DpopAuth::new(
                    FakeProofs::new().stale("no-nonce").nonce("n-1"),
                    |_: DpopToken| async { None::<AuthstarClient> },
                )
                .origin("https://grpc.example"),
            )
            .build()
            .unwrap()
    }

    fn refusal(
        guards: &MethodGuards<AuthstarClient>,
        request: &Request<()>,
    ) -> Option<Response<()>> {
        guards.check(request).err().map(Refusal::into_response)
    }

    fn authenticated(
        layer: &AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>>,
        client: AuthstarClient,
        method: AuthMethod,
    ) -> Request<()> {
        let mut request = Request::post("/r.R/Export").body(()).unwrap();
        request.extensions_mut().insert(Outcome::Authenticated {
            client,
            method,
            layer: layer.info().id(),
        });
        request
    }

    #[test]
    fn rfc9449_7_1_a_dpop_client_without_the_scope_gets_the_dpop_challenge() {
        let layer = layer();
        let guards = MethodGuards::<AuthstarClient>::new(&layer).scopes_any("/r.R/Export", ["x"]);
        for (method, expected) in [
            (
                AuthMethod::Dpop,
                r#"DPoP realm="authstar", error="insufficient_scope", scope="x", algs="ES256""#,
            ),
            (
                AuthMethod::Bearer,
                r#"Bearer realm="authstar", error="insufficient_scope", scope="x""#,
            ),
        ] {
            let request = authenticated(&layer, AuthstarClient::new("svc", ["y"]), method);
            let refusal = refusal(&guards, &request).unwrap();
            assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
            assert_eq!(refusal.headers()[WWW_AUTHENTICATE], expected);
        }
    }

    /// A client whose `is_admin` says so.
    #[derive(Clone, Debug)]
    struct Operator {
        admin: bool,
    }

    impl authstar::Client for Operator {
        fn client_id(&self) -> &str {
            "operator"
        }
        fn scopes(&self) -> impl Iterator<Item = &str> {
            std::iter::empty()
        }
        fn is_admin(&self) -> bool {
            self.admin
        }
    }

    #[test]
    fn an_admin_passes_scope_checks_under_the_bypass_as_on_axum_routes() {
        // Issue 21: the gRPC guards re-implemented axum's and had no admin bypass.
        let layer = AuthstarLayer::builder()
            .on_auth_bearer(|_: BearerToken| async { None::<Operator> })
            .build()
            .unwrap();
        let plain = MethodGuards::<Operator>::new(&layer).scopes_all("/r.R/Export", ["x"]);
        let bypass = plain.clone().with_admin_bypass();
        for (admin, plain_status, bypass_status) in [
            (true, Some(StatusCode::FORBIDDEN), None),
            (
                false,
                Some(StatusCode::FORBIDDEN),
                Some(StatusCode::FORBIDDEN),
            ),
        ] {
            let mut request = Request::post("/r.R/Export").body(()).unwrap();
            request.extensions_mut().insert(Outcome::Authenticated {
                client: Operator { admin },
                method: AuthMethod::Bearer,
                layer: layer.info().id(),
            });
            let status = |guards: &MethodGuards<Operator>| {
                guards.check(&request).err().map(|refusal| refusal.status())
            };
            assert_eq!(status(&plain), plain_status, "admin: {admin}");
            assert_eq!(status(&bypass), bypass_status, "admin: {admin}");
        }
    }

    #[tokio::test]
    async fn a_proof_without_the_nonce_is_refused_with_the_nonce_to_use() {
        // Issue 21: the gRPC guards answered the 401 without the `dpop-nonce` axum's guards
        // send (RFC 9449 §9), so a gRPC client could not learn the nonce from a guarded method.
        use tower::{ServiceExt, service_fn};
        let layer = layer();
        let guards = MethodGuards::<AuthstarClient>::new(&layer).authenticated("/r.R/Export");
        let service = tower::ServiceBuilder::new()
            .layer(layer)
            .layer(guards)
            .service(service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(()))
            }));
        let request = Request::post("/r.R/Export")
            .header("content-type", "application/grpc")
            .header("authorization", "DPoP bound")
            .header("dpop", "no-nonce")
            .body(())
            .unwrap();
        let answer = service.oneshot(request).await.unwrap();
        assert_eq!(answer.headers()["grpc-status"], "16");
        assert_eq!(answer.headers()["dpop-nonce"], "n-1");
        let challenges: Vec<_> = answer.headers().get_all(WWW_AUTHENTICATE).iter().collect();
        assert_eq!(
            challenges,
            [
                r#"Bearer realm="authstar""#,
                r#"DPoP realm="authstar", error="use_dpop_nonce", algs="ES256""#
            ]
        );
    }
}

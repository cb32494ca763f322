//! gRPC callers get gRPC statuses. A refusal the layer answers itself (401, 403, 429, 503) is,
//! for a request whose `content-type` is `application/grpc` (or `application/grpc+proto`...), a
//! *trailers-only* response: HTTP 200, `content-type: application/grpc`, `grpc-status` and
//! `grpc-message` in the headers, no body; `WWW-Authenticate` and `Retry-After` stay, as
//! metadata. HTTP callers of the same server still get their 401/403. Nothing to configure:
//! the request says which it is.
//!
//! | HTTP refusal | gRPC status |
//! |---|---|
//! | 401, missing, malformed or refused credentials | `UNAUTHENTICATED` (16) |
//! | 403, missing scope or outside the network | `PERMISSION_DENIED` (7) |
//! | 429, too many failed attempts | `RESOURCE_EXHAUSTED` (8) |
//! | 503, the authenticator's backend is down | `UNAVAILABLE` (14) |
//! | anything else | `INTERNAL` (13) |
//!
//! ```
//! use authstar::grpc;
//! use http::{Request, Response, StatusCode};
//!
//! let request = Request::post("/greet.Greeter/Hello")
//!     .header("content-type", "application/grpc")
//!     .body(())
//!     .unwrap();
//! let refusal = Response::builder().status(StatusCode::UNAUTHORIZED).body(()).unwrap();
//! let answer = grpc::for_caller(request.headers(), refusal);
//! assert_eq!(answer.status(), StatusCode::OK);
//! assert_eq!(answer.headers()["grpc-status"], "16");
//! assert_eq!(answer.headers()["content-type"], "application/grpc");
//! ```

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

/// The `grpc-status` metadata key.
pub const GRPC_STATUS: &str = "grpc-status";
/// The `grpc-message` metadata key.
pub const GRPC_MESSAGE: &str = "grpc-message";

/// Whether a request with these headers is a gRPC call: its `content-type` is
/// `application/grpc`, alone or with a `+format` suffix or parameters (gRPC over HTTP/2, §
/// Requests). `application/grpc-web` is not: a gRPC-Web proxy or layer (tonic-web) translates
/// those to gRPC before they reach a service.
#[inline]
pub fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    let prefix = b"application/grpc";
    value.len() >= prefix.len()
        && value[..prefix.len()].eq_ignore_ascii_case(prefix)
        && matches!(value.get(prefix.len()), None | Some(b'+' | b';' | b' '))
}

/// The gRPC status code and message for an HTTP refusal's status.
pub fn status_for(status: StatusCode) -> (u8, &'static str) {
    match status {
        StatusCode::UNAUTHORIZED => (16, "missing, malformed or refused credentials"),
        StatusCode::FORBIDDEN => (7, "the client may not call this method"),
        StatusCode::TOO_MANY_REQUESTS => (8, "too many failed attempts; retry later"),
        StatusCode::SERVICE_UNAVAILABLE => (14, "authentication is unavailable; retry later"),
        _ => (13, "the request could not be authenticated"),
    }
}

/// `refusal` as the caller expects it: unchanged for HTTP callers; for gRPC callers (by
/// `request_headers`), the trailers-only response of the table above, its headers (the
/// challenges, `Retry-After`) kept as metadata and its body replaced by an empty one.
pub fn for_caller<B: Default>(request_headers: &HeaderMap, refusal: Response<B>) -> Response<B> {
    if !is_grpc(request_headers) {
        return refusal;
    }
    let (mut parts, _) = refusal.into_parts();
    let (code, message) = status_for(parts.status);
    parts.status = StatusCode::OK;
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    parts
        .headers
        .insert(GRPC_STATUS, HeaderValue::from(u16::from(code)));
    // The messages are fixed ASCII text without `%`: nothing to percent-encode.
    parts
        .headers
        .insert(GRPC_MESSAGE, HeaderValue::from_static(message));
    Response::from_parts(parts, B::default())
}

/// A refusal answered before the request's body was read (the layer's 401, 429 and 503, a
/// guard's 401 and 403), as its caller expects it: a gRPC caller gets its status
/// ([`for_caller`]); an HTTP/1 request that announced a body gets `Connection: close`, because
/// the server will close that connection rather than read a body nobody wants, and a client
/// told so opens a new one for its next request instead of failing it.
///
/// ```
/// use http::{Request, Response, StatusCode};
/// let request = Request::post("/oauth2/token").header("content-length", "120").body(()).unwrap();
/// let refusal = Response::builder().status(StatusCode::TOO_MANY_REQUESTS).body(()).unwrap();
/// let answer = authstar::grpc::early_refusal(&request, refusal);
/// assert_eq!(answer.headers()["connection"], "close");
/// ```
pub fn early_refusal<B, R: Default>(
    request: &http::Request<B>,
    refusal: Response<R>,
) -> Response<R> {
    let headers = request.headers();
    if is_grpc(headers) {
        return for_caller(headers, refusal);
    }
    let announced_body = headers
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0")
        || headers.contains_key(http::header::TRANSFER_ENCODING);
    let http1 = request.version() <= http::Version::HTTP_11;
    let mut refusal = refusal;
    if announced_body && http1 {
        refusal
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    refusal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn grpc_content_types_are_recognised_and_nothing_else() {
        for yes in [
            "application/grpc",
            "application/grpc+proto",
            "application/GRPC+json",
            "application/grpc; charset=utf-8",
        ] {
            assert!(is_grpc(&headers(yes)), "{yes}");
        }
        for no in [
            "application/json",
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpcx",
            "text/plain",
            "application/grp",
        ] {
            assert!(!is_grpc(&headers(no)), "{no}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn a_refusal_keeps_its_challenge_as_metadata_and_loses_its_body() {
        let refusal = Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Bearer realm=\"api\"")
            .header("content-length", "12")
            .body("unauthorized".to_owned())
            .unwrap();
        let answer = for_caller(&headers("application/grpc"), refusal);
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()[GRPC_STATUS], "16");
        assert_eq!(answer.headers()["www-authenticate"], "Bearer realm=\"api\"");
        assert!(answer.headers().get(CONTENT_LENGTH).is_none());
        assert_eq!(answer.body(), "");
        for (status, code) in [(403, "7"), (429, "8"), (503, "14"), (500, "13")] {
            let refusal = Response::builder()
                .status(status)
                .body(String::new())
                .unwrap();
            let answer = for_caller(&headers("application/grpc+proto"), refusal);
            assert_eq!(answer.headers()[GRPC_STATUS], code, "{status}");
        }
    }

    #[test]
    fn http_callers_get_the_refusal_unchanged() {
        let refusal = Response::builder().status(401).body(String::new()).unwrap();
        let answer = for_caller(&headers("application/json"), refusal);
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert!(answer.headers().get(GRPC_STATUS).is_none());
    }
}

/// What a gRPC method needs from the client the layer authenticated.
#[derive(Clone, Debug)]
enum Need {
    /// Nothing: listed as public (for [`MethodGuards::deny_unlisted`]).
    Nothing,
    Authenticated,
    Any(Vec<String>),
    All(Vec<String>),
}

/// A method's need, with the RFC 6750 `insufficient_scope` challenge for its scopes, built
/// once.
#[derive(Clone, Debug)]
struct Rule {
    need: Need,
    challenges: crate::ScopeChallenges,
}

/// Per-method guards for a gRPC server: a tower [`Layer`](tower_layer::Layer) after the
/// [`AuthstarLayer`](crate::AuthstarLayer), keyed by the method's path
/// (`/package.Service/Method`). A listed method refuses a request without an authenticated
/// client (`UNAUTHENTICATED`, with the layer's challenges) or without the scopes
/// (`PERMISSION_DENIED`, with RFC 6750's `insufficient_scope` challenge for the scopes).
/// Methods not listed pass untouched, unless [`deny_unlisted`](Self::deny_unlisted) closes them
/// (`PERMISSION_DENIED`): then a method added to a service later is refused until it is
/// listed, and a typo in a listed path shows at once. Refusals follow [`for_caller`]: HTTP
/// callers get 401/403.
///
/// Paths are checked when listed: `/package.Service/Method` (the package optional), one
/// service and one method segment; anything else panics at start-up, as it could never match
/// a call and would leave the method it meant open.
///
/// ```
/// use authstar::grpc::MethodGuards;
/// use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
///
/// let layer = AuthstarLayer::builder()
///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
///     .build()
///     .unwrap();
/// let guards = MethodGuards::<AuthstarClient>::new(&layer)
///     .authenticated("/reports.Reports/List")
///     .scopes_any("/reports.Reports/Export", ["reports:export", "admin"])
///     .scopes_all("/reports.Reports/Purge", ["admin", "reports:write"])
///     .public("/grpc.health.v1.Health/Check")
///     .deny_unlisted();
/// // tonic::transport::Server::builder().layer(layer).layer(guards).add_service(...)
/// # let _ = guards;
/// ```
pub struct MethodGuards<C> {
    rules: std::sync::Arc<std::collections::HashMap<String, Rule>>,
    info: crate::LayerInfo,
    deny_unlisted: bool,
    _client: std::marker::PhantomData<fn() -> C>,
}

impl<C> Clone for MethodGuards<C> {
    fn clone(&self) -> Self {
        Self {
            rules: std::sync::Arc::clone(&self.rules),
            info: self.info.clone(),
            deny_unlisted: self.deny_unlisted,
            _client: std::marker::PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for MethodGuards<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodGuards")
            .field("rules", &self.rules)
            .field("deny_unlisted", &self.deny_unlisted)
            .finish_non_exhaustive()
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

impl<C> MethodGuards<C> {
    /// Guards with the challenges of `layer` (the one in front of them).
    pub fn new<M>(layer: &crate::AuthstarLayer<C, M>) -> Self {
        Self {
            rules: Default::default(),
            info: layer.info().clone(),
            deny_unlisted: false,
            _client: std::marker::PhantomData,
        }
    }

    fn rule(mut self, method: &str, need: Need) -> Self {
        assert!(
            is_method_path(method),
            "MethodGuards: {method:?} is not a gRPC method path: write /package.Service/Method"
        );
        let scopes: &[String] = match &need {
            Need::Any(scopes) | Need::All(scopes) => {
                assert!(
                    !scopes.is_empty(),
                    "MethodGuards: {method:?} needs at least one scope: an empty list would \
                     admit everyone (all of none) or no one (any of none)"
                );
                scopes
            }
            Need::Authenticated | Need::Nothing => &[],
        };
        let rule = Rule {
            challenges: self.info.challenges().insufficient_scopes(scopes),
            need,
        };
        std::sync::Arc::make_mut(&mut self.rules).insert(method.to_owned(), rule);
        self
    }

    /// `method` needs an authenticated client.
    ///
    /// # Panics
    /// When `method` is not a `/package.Service/Method` path.
    pub fn authenticated(self, method: &str) -> Self {
        self.rule(method, Need::Authenticated)
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
        self.rule(
            method,
            Need::Any(scopes.into_iter().map(Into::into).collect()),
        )
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
        self.rule(
            method,
            Need::All(scopes.into_iter().map(Into::into).collect()),
        )
    }

    /// `method` is open to anyone, authenticated or not: what stays reachable under
    /// [`deny_unlisted`](Self::deny_unlisted) (a health check, a public lookup).
    ///
    /// # Panics
    /// When `method` is not a `/package.Service/Method` path.
    pub fn public(self, method: &str) -> Self {
        self.rule(method, Need::Nothing)
    }

    /// Refuses every method that is not listed (`PERMISSION_DENIED`, 403 for HTTP callers):
    /// closed by default, so a method added to a service later, or one whose path was
    /// mistyped here, is refused rather than open.
    pub fn deny_unlisted(mut self) -> Self {
        self.deny_unlisted = true;
        self
    }
}

impl<S, C> tower_layer::Layer<S> for MethodGuards<C> {
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

impl<S: std::fmt::Debug, C> std::fmt::Debug for MethodGuardService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodGuardService")
            .field("inner", &self.inner)
            .field("guards", &self.guards)
            .finish()
    }
}

impl<C: crate::Client> MethodGuards<C> {
    /// The refusal for `request`, if its method is guarded and the client does not pass.
    fn refusal<B, R: Default>(&self, request: &http::Request<B>) -> Option<Response<R>> {
        let Some(rule) = self.rules.get(request.uri().path()) else {
            return self.deny_unlisted.then(|| {
                let mut refusal = Response::new(R::default());
                *refusal.status_mut() = StatusCode::FORBIDDEN;
                refusal
            });
        };
        if matches!(rule.need, Need::Nothing) {
            return None;
        }
        let outcome = self.info.outcome::<C>(request.extensions());
        let (client, method) = match outcome {
            Some(crate::Outcome::Authenticated { client, method, .. })
                if client.is_authenticated() =>
            {
                (client, method)
            }
            other => {
                let attempt = match other {
                    Some(crate::Outcome::Failed(attempt)) => Some(attempt),
                    _ => None,
                };
                return Some(self.info.challenges().unauthorized(attempt));
            }
        };
        let allowed = match &rule.need {
            Need::Nothing | Need::Authenticated => true,
            Need::Any(scopes) => scopes.iter().any(|s| client.has_scope(s)),
            Need::All(scopes) => scopes.iter().all(|s| client.has_scope(s)),
        };
        if allowed {
            return None;
        }
        let mut refusal = Response::new(R::default());
        *refusal.status_mut() = StatusCode::FORBIDDEN;
        // RFC 6750 §3.1 / RFC 9449 §7.1: in the scheme the client used, if it has error codes.
        if let Some(challenge) = rule.challenges.for_method(method) {
            refusal
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, challenge.clone());
        }
        Some(refusal)
    }
}

impl<S, C, B, R> tower_service::Service<http::Request<B>> for MethodGuardService<S, C>
where
    S: tower_service::Service<http::Request<B>, Response = Response<R>>,
    C: crate::Client,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, Response<R>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.guards.refusal(&request) {
            None => GuardFuture::Inner {
                future: self.inner.call(request),
            },
            Some(refusal) => GuardFuture::Refused {
                response: Some(early_refusal(&request, refusal)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`MethodGuardService`].
    #[project = GuardProj]
    #[allow(missing_docs)]
    pub enum GuardFuture<F, R> {
        /// The guarded method's own answer.
        Inner { #[pin] future: F },
        /// The guard's refusal.
        Refused { response: Option<R> },
    }
}

impl<F, R, E> std::future::Future for GuardFuture<F, R>
where
    F: std::future::Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.project() {
            GuardProj::Inner { future } => future.poll(cx),
            GuardProj::Refused { response } => std::task::Poll::Ready(Ok(response
                .take()
                .expect("authstar GuardFuture polled after completion"))),
        }
    }
}

#[cfg(test)]
mod guard_tests {
    use super::*;
    use crate::credentials::dpop::{DpopAuth, DpopToken, ProofError, ProofRequest, ProofVerifier};
    use crate::{AuthMethod, AuthstarClient, AuthstarLayer, BearerToken, Outcome};

    struct NoProofs;
    impl ProofVerifier for NoProofs {
        fn verify_proof(&self, _: &ProofRequest<'_>) -> Result<String, ProofError> {
            Err(ProofError::Signature)
        }
        fn algorithms(&self) -> Vec<String> {
            vec!["ES256".to_owned()]
        }
    }

    #[test]
    fn rfc9449_7_1_a_dpop_client_without_the_scope_gets_the_dpop_challenge() {
        let layer = AuthstarLayer::builder()
            .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
            .on_auth_dpop(DpopAuth::new(NoProofs, |_: DpopToken| async {
                None::<AuthstarClient>
            }))
            .build()
            .unwrap();
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
            let mut request = http::Request::post("/r.R/Export").body(()).unwrap();
            request.extensions_mut().insert(Outcome::Authenticated {
                client: AuthstarClient::new("svc", ["y"]),
                method,
                layer: layer.info().id(),
            });
            let refusal: Response<()> = guards.refusal(&request).unwrap();
            assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
            assert_eq!(refusal.headers()[http::header::WWW_AUTHENTICATE], expected);
        }
    }
}

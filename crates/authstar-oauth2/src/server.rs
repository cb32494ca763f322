//! [`AuthorizationServer`]: the endpoints, their RFC 8414 metadata and the JWKS, as one tower
//! service answering their paths.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use authstar::Client;

use crate::BoxError;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tower_service::Service;

use crate::action::Action;
use crate::endpoint::{BoxResponse, Endpoint, method_not_allowed, read_body};
use crate::{ClientAuthMethod, Introspect, Issue, Revoke};

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth2/token";
/// The revocation endpoint's path (RFC 7009).
pub const REVOCATION_PATH: &str = "/oauth2/revoke";
/// The introspection endpoint's path (RFC 7662).
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";
/// The authorization server metadata's path (RFC 8414 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// The JWKS's path.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// An endpoint with its type erased.
trait Route: Send + Sync {
    fn handle(&self, parts: http::request::Parts, body: Bytes) -> BoxResponse;
    fn body_limit(&self) -> usize;
    fn body_refused(&self) -> Response<Full<Bytes>>;
}

impl<C: Client, A: Action<C>> Route for Endpoint<C, A> {
    fn handle(&self, parts: http::request::Parts, body: Bytes) -> BoxResponse {
        Endpoint::handle(self, parts, body)
    }
    fn body_limit(&self) -> usize {
        Endpoint::body_limit_bytes(self)
    }
    fn body_refused(&self) -> Response<Full<Bytes>> {
        Endpoint::body_refused(self)
    }
}

/// An endpoint, and how its clients may authenticate.
type Mounted = (Arc<dyn Route>, Vec<ClientAuthMethod>);

enum Handler {
    Endpoint(Arc<dyn Route>),
    /// A JSON document served to `GET`.
    Document(Bytes),
}

/// The authorization server: the token endpoint, and the revocation and introspection
/// endpoints and the JWKS when given, with the RFC 8414 metadata that lists them. One tower
/// service; it answers [its paths](Self::paths) and `404` for any other. In axum,
/// `authstar_axum::authorization_server` mounts it; from hyper, serve it as it is.
///
/// ```
/// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
/// use authstar_oauth2::{AuthorizationServer, OAuth2TokenResponse, token_endpoint};
///
/// # async fn verify(c: BasicCredentials) -> Option<AuthstarClient> { None }
/// let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
/// let token = token_endpoint(&layer, |_, client: AuthstarClient| async move {
///     Ok::<_, std::convert::Infallible>(OAuth2TokenResponse::bearer(client.client_id()))
/// });
/// let server = AuthorizationServer::builder("https://as.example")
///     .token(token)
///     .scopes(["reports:read"])
///     .build()
///     .unwrap();
/// assert_eq!(
///     server.paths().collect::<Vec<_>>(),
///     ["/oauth2/token", "/.well-known/oauth-authorization-server"]
/// );
/// let metadata = server.metadata();
/// assert_eq!(metadata["token_endpoint"], "https://as.example/oauth2/token");
/// assert_eq!(metadata["token_endpoint_auth_methods_supported"][1], "client_secret_post");
/// ```
#[derive(Clone)]
pub struct AuthorizationServer {
    routes: Arc<Vec<(String, Handler)>>,
    metadata: Arc<Value>,
}

impl fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("paths", &self.paths().collect::<Vec<_>>())
            .finish()
    }
}

/// Why an [`AuthorizationServer`] could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The issuer is not an `https` (or `http`) URL without query or fragment (RFC 8414 §2).
    #[error("the issuer {0:?} is not an https URL without query or fragment")]
    InvalidIssuer(String),
    /// No token endpoint was given.
    #[error("an authorization server needs a token endpoint: call token(...)")]
    NoTokenEndpoint,
    /// An endpoint has no way to authenticate its clients.
    #[error(
        "the {0} endpoint cannot authenticate clients: its layer has no Basic method; give it \
         one with client_authenticator"
    )]
    NoClientAuthentication(&'static str),
    /// The JWKS could not be written as JSON.
    #[error("the JWKS is not serialisable as JSON: {0}")]
    Jwks(String),
}

/// Builds an [`AuthorizationServer`]; start with [`AuthorizationServer::builder`].
#[must_use]
pub struct AuthorizationServerBuilder {
    issuer: String,
    token: Option<(Mounted, Option<Vec<String>>)>,
    revocation: Option<Mounted>,
    introspection: Option<Mounted>,
    jwks: Option<Result<Bytes, String>>,
    scopes: Vec<String>,
    /// The `alg` values of client assertions, per endpoint that accepts them.
    assertion_algorithms: Vec<(&'static str, Vec<String>)>,
    /// Whether the token endpoint binds tokens to client certificates (RFC 8705 §3).
    certificate_bound: bool,
}

impl fmt::Debug for AuthorizationServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServerBuilder")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// An authorization server whose `issuer` (`https://as.example`) clients and resource
    /// servers know it by: the metadata's `issuer`, and the origin of the endpoints' URLs.
    pub fn builder(issuer: impl Into<String>) -> AuthorizationServerBuilder {
        AuthorizationServerBuilder {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            token: None,
            revocation: None,
            introspection: None,
            jwks: None,
            scopes: Vec::new(),
            assertion_algorithms: Vec::new(),
            certificate_bound: false,
        }
    }

    /// The paths this server answers, for mounting it.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(path, _)| path.as_str())
    }

    /// The RFC 8414 metadata document.
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    fn route(&self, path: &str) -> Option<&Handler> {
        self.routes
            .iter()
            .find(|(known, _)| known == path)
            .map(|(_, handler)| handler)
    }
}

fn methods(methods: &[ClientAuthMethod]) -> Value {
    methods.iter().map(|m| m.as_str()).collect()
}

impl AuthorizationServerBuilder {
    /// The token endpoint, at [`TOKEN_PATH`].
    pub fn token<C: Client, B>(mut self, endpoint: Endpoint<C, Issue<B>>) -> Self
    where
        Issue<B>: Action<C>,
    {
        let auth = endpoint.client_auth_methods();
        let dpop = endpoint.dpop_algorithms();
        self.certificate_bound = endpoint.binds_certificates();
        self.assertion_algs("token", endpoint.client_assertion_algorithms());
        self.token = Some(((Arc::new(endpoint), auth), dpop));
        self
    }

    /// The revocation endpoint (RFC 7009), at [`REVOCATION_PATH`].
    pub fn revocation<C: Client, R>(mut self, endpoint: Endpoint<C, Revoke<R>>) -> Self
    where
        Revoke<R>: Action<C>,
    {
        let auth = endpoint.client_auth_methods();
        self.assertion_algs("revocation", endpoint.client_assertion_algorithms());
        self.revocation = Some((Arc::new(endpoint), auth));
        self
    }

    /// The introspection endpoint (RFC 7662), at [`INTROSPECTION_PATH`].
    pub fn introspection<C: Client, I>(mut self, endpoint: Endpoint<C, Introspect<I>>) -> Self
    where
        Introspect<I>: Action<C>,
    {
        let auth = endpoint.client_auth_methods();
        self.assertion_algs("introspection", endpoint.client_assertion_algorithms());
        self.introspection = Some((Arc::new(endpoint), auth));
        self
    }

    fn assertion_algs(&mut self, endpoint: &'static str, algorithms: Option<Vec<String>>) {
        self.assertion_algorithms
            .retain(|(name, _)| *name != endpoint);
        if let Some(algorithms) = algorithms {
            self.assertion_algorithms.push((endpoint, algorithms));
        }
    }

    /// The public keys tokens are signed with, served at [`JWKS_PATH`] (authstar-jwt's
    /// `jwks(&[signing_key])`).
    pub fn jwks(mut self, document: &impl Serialize) -> Self {
        self.jwks = Some(
            serde_json::to_vec(document)
                .map(Bytes::from)
                .map_err(|e| e.to_string()),
        );
        self
    }

    /// The scopes the metadata lists as `scopes_supported`.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Validates and builds the server.
    pub fn build(self) -> Result<AuthorizationServer, ServerError> {
        let issuer = &self.issuer;
        let url: http::Uri = issuer
            .parse()
            .map_err(|_| ServerError::InvalidIssuer(issuer.clone()))?;
        if !matches!(url.scheme_str(), Some("https" | "http"))
            || url.authority().is_none()
            || url.query().is_some()
            || issuer.contains('#')
        {
            return Err(ServerError::InvalidIssuer(issuer.clone()));
        }
        let ((token, token_auth), dpop) = self.token.ok_or(ServerError::NoTokenEndpoint)?;
        let endpoints = [
            ("token", Some(&token_auth)),
            ("revocation", self.revocation.as_ref().map(|(_, auth)| auth)),
            (
                "introspection",
                self.introspection.as_ref().map(|(_, auth)| auth),
            ),
        ];
        for (name, auth) in endpoints {
            if auth.is_some_and(Vec::is_empty) {
                return Err(ServerError::NoClientAuthentication(name));
            }
        }
        // RFC 8414 §2. `response_types_supported` is left out: this server has no
        // authorization endpoint, an empty array is invalid, and any value would claim one.
        let mut metadata = Map::new();
        metadata.insert("issuer".into(), json!(issuer));
        metadata.insert(
            "token_endpoint".into(),
            json!(format!("{issuer}{TOKEN_PATH}")),
        );
        metadata.insert(
            "grant_types_supported".into(),
            json!(["client_credentials"]),
        );
        metadata.insert(
            "token_endpoint_auth_methods_supported".into(),
            methods(&token_auth),
        );
        let mut routes = vec![(TOKEN_PATH.to_owned(), Handler::Endpoint(token))];
        if let Some((revocation, auth)) = self.revocation {
            metadata.insert(
                "revocation_endpoint".into(),
                json!(format!("{issuer}{REVOCATION_PATH}")),
            );
            metadata.insert(
                "revocation_endpoint_auth_methods_supported".into(),
                methods(&auth),
            );
            routes.push((REVOCATION_PATH.to_owned(), Handler::Endpoint(revocation)));
        }
        if let Some((introspection, auth)) = self.introspection {
            metadata.insert(
                "introspection_endpoint".into(),
                json!(format!("{issuer}{INTROSPECTION_PATH}")),
            );
            metadata.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                methods(&auth),
            );
            routes.push((
                INTROSPECTION_PATH.to_owned(),
                Handler::Endpoint(introspection),
            ));
        }
        if let Some(jwks) = self.jwks {
            let jwks = jwks.map_err(ServerError::Jwks)?;
            metadata.insert("jwks_uri".into(), json!(format!("{issuer}{JWKS_PATH}")));
            routes.push((JWKS_PATH.to_owned(), Handler::Document(jwks)));
        }
        if !self.scopes.is_empty() {
            metadata.insert("scopes_supported".into(), json!(self.scopes));
        }
        // RFC 8414 §2: the algorithms of `private_key_jwt` assertions, per endpoint.
        for (endpoint, algorithms) in &self.assertion_algorithms {
            metadata.insert(
                format!("{endpoint}_endpoint_auth_signing_alg_values_supported"),
                json!(algorithms),
            );
        }
        // RFC 8705 §3.3.
        if self.certificate_bound {
            metadata.insert(
                "tls_client_certificate_bound_access_tokens".into(),
                json!(true),
            );
        }
        // RFC 9449 §5.1: the token endpoint binds tokens to proofs made with these.
        if let Some(algorithms) = dpop {
            metadata.insert(
                "dpop_signing_alg_values_supported".into(),
                json!(algorithms),
            );
        }
        let metadata = Value::Object(metadata);
        let document = Bytes::from(serde_json::to_vec(&metadata).unwrap_or_default());
        routes.push((METADATA_PATH.to_owned(), Handler::Document(document)));
        Ok(AuthorizationServer {
            routes: Arc::new(routes),
            metadata: Arc::new(metadata),
        })
    }
}

/// A JSON document, cacheable for five minutes (keys rotate; metadata rarely changes).
fn document(json: &Bytes, method: &Method) -> Response<Full<Bytes>> {
    let body = match *method {
        Method::HEAD => Full::default(),
        _ => Full::new(json.clone()),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

impl<B> Service<Request<B>> for AuthorizationServer
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let server = self.clone();
        Box::pin(async move {
            let response = match server.route(request.uri().path()) {
                None => {
                    let mut response = Response::new(Full::default());
                    *response.status_mut() = StatusCode::NOT_FOUND;
                    response
                }
                Some(Handler::Document(json)) => match *request.method() {
                    Method::GET | Method::HEAD => document(json, request.method()),
                    _ => method_not_allowed("GET, HEAD"),
                },
                Some(Handler::Endpoint(route)) => {
                    if request.method() != Method::POST {
                        return Ok(method_not_allowed("POST"));
                    }
                    let route = Arc::clone(route);
                    let (parts, body) = request.into_parts();
                    match read_body(body, route.body_limit()).await {
                        Some(body) => route.handle(parts, body).await,
                        None => route.body_refused(),
                    }
                }
            };
            Ok(response)
        })
    }
}

//! OpenAPI security schemes with [utoipa] (feature `openapi`).
//!
//! The Python package's three markers (`openapi_api_key`, `openapi_http_basic`,
//! `openapi_oauth2_client_credentials`) become [`SecuritySchemes`], a utoipa `Modify` that adds
//! the schemes to the document's components so Swagger UI offers "Authorize". Like the Python package's
//! markers they perform no authentication.
//!
//! Beyond the Python package, [`SecuredRoutes`] declares which schemes each guarded operation accepts, so
//! the document shows a lock only where a guard is; several schemes are alternatives (OpenAPI
//! security requirements are OR-ed), and the 401/403 responses are documented.
//!
//! ```
//! use authstar_axum::openapi::{SecuredRoutes, SecuritySchemes, API_KEY, OAUTH2};
//! use utoipa::Modify;
//! use utoipa::openapi::{HttpMethod, OpenApi, OpenApiBuilder, PathItem, PathsBuilder};
//! use utoipa::openapi::path::OperationBuilder;
//!
//! let mut doc: OpenApi = OpenApiBuilder::new()
//!     .paths(PathsBuilder::new().path(
//!         "/reports",
//!         PathItem::new(HttpMethod::Get, OperationBuilder::new().build()),
//!     ))
//!     .build();
//! SecuritySchemes::common().scope("reports:read", "read reports").modify(&mut doc);
//! SecuredRoutes::new()
//!     .route(HttpMethod::Get, "/reports", [(API_KEY, &[][..]), (OAUTH2, &["reports:read"][..])])
//!     .modify(&mut doc);
//!
//! let json = serde_json::to_value(&doc).unwrap();
//! assert_eq!(json["components"]["securitySchemes"]["api_key"]["in"], "header");
//! assert_eq!(json["paths"]["/reports"]["get"]["security"][1]["oauth2"][0], "reports:read");
//! assert!(json["paths"]["/reports"]["get"]["responses"]["401"].is_object());
//! ```

use utoipa::Modify;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Scopes,
    SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{HttpMethod, OpenApi, RefOr, ResponseBuilder};

/// The name of the API-key scheme (`x-api-key` header).
pub const API_KEY: &str = "api_key";
/// The name of the HTTP Basic scheme.
pub const HTTP_BASIC: &str = "http_basic";
/// The name of the HTTP Bearer scheme.
pub const HTTP_BEARER: &str = "http_bearer";
/// The name of the DPoP scheme (RFC 9449): the proof header, with the token in
/// `Authorization: DPoP`.
pub const DPOP: &str = "dpop";
/// The name of the OAuth2 client-credentials scheme.
pub const OAUTH2: &str = "oauth2";

/// The default token URL of the OAuth2 scheme.
pub const DEFAULT_TOKEN_URL: &str = "/oauth2/token";

/// Security schemes to add to a document's components.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecuritySchemes {
    api_key_header: Option<String>,
    http_basic: bool,
    http_bearer: bool,
    dpop: bool,
    token_url: Option<String>,
    scopes: Vec<(String, String)>,
}

impl SecuritySchemes {
    /// No scheme yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The Python package's three: API key in `x-api-key`, HTTP Basic, OAuth2 client credentials at
    /// `/oauth2/token`.
    pub fn common() -> Self {
        Self::new()
            .api_key()
            .http_basic()
            .oauth2_client_credentials(DEFAULT_TOKEN_URL)
    }

    /// An API key in the `x-api-key` header (the Python package's `openapi_api_key`).
    pub fn api_key(self) -> Self {
        self.api_key_header("x-api-key")
    }

    /// An API key in another header.
    pub fn api_key_header(mut self, header: impl Into<String>) -> Self {
        self.api_key_header = Some(header.into());
        self
    }

    /// HTTP Basic (the Python package's `openapi_http_basic`).
    pub fn http_basic(mut self) -> Self {
        self.http_basic = true;
        self
    }

    /// HTTP Bearer tokens.
    pub fn http_bearer(mut self) -> Self {
        self.http_bearer = true;
        self
    }

    /// DPoP-bound tokens (RFC 9449), as the scheme [`DPOP`]. utoipa 5's `HttpAuthScheme` has no
    /// `DPoP` member, so the scheme is the `DPoP` proof header (`apiKey` in `header`), and its
    /// description says the token goes in `Authorization: DPoP <token>`.
    pub fn dpop(mut self) -> Self {
        self.dpop = true;
        self
    }

    /// The OAuth2 client-credentials flow with this token URL (the Python package's
    /// `openapi_oauth2_client_credentials`).
    pub fn oauth2_client_credentials(mut self, token_url: impl Into<String>) -> Self {
        self.token_url = Some(token_url.into());
        self
    }

    /// A scope the OAuth2 flow offers.
    pub fn scope(mut self, scope: impl Into<String>, description: impl Into<String>) -> Self {
        self.scopes.push((scope.into(), description.into()));
        self
    }
}

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        if let Some(header) = &self.api_key_header {
            components.add_security_scheme(
                API_KEY,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(header))),
            );
        }
        if self.http_basic {
            components.add_security_scheme(
                HTTP_BASIC,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
            );
        }
        if self.http_bearer {
            components.add_security_scheme(
                HTTP_BEARER,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
        if self.dpop {
            components.add_security_scheme(
                DPOP,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "DPoP",
                    "A DPoP proof (RFC 9449 §4) for this request, signed by the key the access \
                     token is bound to; the token itself goes in `Authorization: DPoP <token>`.",
                ))),
            );
        }
        if let Some(token_url) = &self.token_url {
            let scopes: Scopes = self
                .scopes
                .iter()
                .map(|(scope, description)| (scope.as_str(), description.as_str()))
                .collect();
            let flow = Flow::ClientCredentials(ClientCredentials::new(token_url, scopes));
            components.add_security_scheme(OAUTH2, SecurityScheme::OAuth2(OAuth2::new([flow])));
        }
    }
}

/// One route's accepted schemes: alternatives, each with the scopes it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SecuredRoute {
    method: HttpMethodName,
    path: String,
    alternatives: Vec<(String, Vec<String>)>,
}

/// `HttpMethod` without `Clone`/`PartialEq` gaps across utoipa versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HttpMethodName {
    Get,
    Post,
    Put,
    Delete,
    Options,
    Head,
    Patch,
    Trace,
}

impl From<HttpMethod> for HttpMethodName {
    fn from(method: HttpMethod) -> Self {
        match method {
            HttpMethod::Get => Self::Get,
            HttpMethod::Post => Self::Post,
            HttpMethod::Put => Self::Put,
            HttpMethod::Delete => Self::Delete,
            HttpMethod::Options => Self::Options,
            HttpMethod::Head => Self::Head,
            HttpMethod::Patch => Self::Patch,
            HttpMethod::Trace => Self::Trace,
        }
    }
}

/// Declares which schemes each guarded operation accepts; a `Modify` that sets the operations'
/// `security` (alternatives OR-ed) and documents their 401 and, when scopes are named, 403
/// responses. Operations not named keep no lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecuredRoutes {
    routes: Vec<SecuredRoute>,
}

impl SecuredRoutes {
    /// No route yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The operation `method path` accepts any of `alternatives`: `(scheme name, scopes)`.
    pub fn route<'a, I>(
        mut self,
        method: HttpMethod,
        path: impl Into<String>,
        alternatives: I,
    ) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a [&'a str])>,
    {
        self.routes.push(SecuredRoute {
            method: method.into(),
            path: path.into(),
            alternatives: alternatives
                .into_iter()
                .map(|(scheme, scopes)| {
                    (
                        scheme.to_owned(),
                        scopes.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect(),
        });
        self
    }
}

fn operation<'a>(openapi: &'a mut OpenApi, route: &SecuredRoute) -> Option<&'a mut Operation> {
    let item = openapi.paths.paths.get_mut(&route.path)?;
    match route.method {
        HttpMethodName::Get => item.get.as_mut(),
        HttpMethodName::Post => item.post.as_mut(),
        HttpMethodName::Put => item.put.as_mut(),
        HttpMethodName::Delete => item.delete.as_mut(),
        HttpMethodName::Options => item.options.as_mut(),
        HttpMethodName::Head => item.head.as_mut(),
        HttpMethodName::Patch => item.patch.as_mut(),
        HttpMethodName::Trace => item.trace.as_mut(),
    }
}

impl Modify for SecuredRoutes {
    fn modify(&self, openapi: &mut OpenApi) {
        for route in &self.routes {
            let Some(operation) = operation(openapi, route) else {
                tracing::warn!(path = %route.path, "authstar: SecuredRoutes names an operation the document lacks");
                continue;
            };
            let requirements = route
                .alternatives
                .iter()
                .map(|(scheme, scopes)| SecurityRequirement::new(scheme, scopes.iter()))
                .collect();
            operation.security = Some(requirements);
            let responses = &mut operation.responses.responses;
            responses.entry("401".to_owned()).or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description("Not authenticated: a WWW-Authenticate challenge names the accepted schemes")
                        .build(),
                )
            });
            if route
                .alternatives
                .iter()
                .any(|(_, scopes)| !scopes.is_empty())
            {
                responses.entry("403".to_owned()).or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description("Authenticated, but without the required scope")
                            .build(),
                    )
                });
            }
        }
    }
}

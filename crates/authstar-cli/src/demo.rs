//! `authstar demo`: a complete machine-to-machine auth service on the registry.
//!
//! Routes (the contract tests and users rely on):
//!
//! | route | access |
//! |---|---|
//! | `GET /` | public |
//! | `GET /me` | any authenticated client: Bearer JWT, Basic client credentials, `X-API-Key`, session cookie |
//! | `GET /reports` | any of `reports:read`, `admin` |
//! | `GET /reports/export` | all of `reports:read`, `reports:export` |
//! | `GET /internal/health` | internal networks (behind `--trusted-proxies`) |
//! | `GET /ws` | authenticated websocket: `{"client_id": ...}`, then echo |
//! | `POST /session`, `DELETE /session` | sets / clears the signed session cookie |
//! | `POST /oauth2/token` | RFC 6749 `client_credentials`, RFC 9068 JWTs |
//! | `GET /.well-known/jwks.json` | the public signing key |
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata |
//! | `GET /openapi.json`, `GET /docs` | OpenAPI document and Swagger UI (served locally) |

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

use authstar::network::{Networks, TrustedProxies};
use authstar::oauth2::OAuth2TokenRequest;
use authstar::{
    Authenticator, AuthstarClient, AuthstarLayer, BasicCredentials, HeaderAuth, HeaderCredential,
    IntoVerdict, Started, Verdict, sync_fn,
};
use authstar_axum::openapi::{
    API_KEY, HTTP_BASIC, HTTP_BEARER, OAUTH2, SecuredRoutes, SecuritySchemes,
};
use authstar_axum::{Authenticated, RouteSecurity};
use authstar_jwt::{Algorithm, JwtIssuer, JwtVerifier, SigningKey, jwks};
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::Message;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router, ServiceExt as _};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use tower_layer::Layer as _;
use utoipa::openapi::HttpMethod;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::registry::{Registry, RegistryError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "authstar_session";
const SESSION_SECONDS: u64 = 3600;

/// Demo settings (from the command line).
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Address to listen on.
    pub host: String,
    /// Port (0: any free port).
    pub port: u16,
    /// The registry database.
    pub db: PathBuf,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<String>,
    /// The issuer URL; default `http://HOST:PORT`.
    pub issuer: Option<String>,
    /// How long successful registry authentications are cached.
    pub cache_ttl: std::time::Duration,
}

/// Demo errors.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Bad settings.
    #[error("{0}")]
    Config(String),
    /// Could not listen.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// Where.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Basic client credentials against the registry: cache hits answer at once, misses go to
/// SQLite on a blocking thread.
#[derive(Clone)]
struct RegistryBasic {
    registry: Registry,
    /// Skip the cache (the token endpoint).
    fresh: bool,
}

type BoxVerdict = Pin<Box<dyn Future<Output = Verdict<AuthstarClient>> + Send>>;

async fn blocking<F>(work: F) -> Verdict<AuthstarClient>
where
    F: FnOnce() -> Result<Option<AuthstarClient>, RegistryError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.into_verdict(),
        Err(join) => Verdict::Unavailable(join.into()),
    }
}

impl Authenticator<BasicCredentials> for RegistryBasic {
    type Client = AuthstarClient;
    type Future = BoxVerdict;

    fn authenticate(&self, credentials: BasicCredentials) -> BoxVerdict {
        let registry = self.registry.clone();
        let fresh = self.fresh;
        Box::pin(blocking(move || {
            let (id, secret) = (credentials.username(), credentials.password());
            if fresh {
                registry.authenticate_client_uncached(id, secret)
            } else {
                registry.authenticate_client(id, secret)
            }
        }))
    }

    fn start(&self, credentials: BasicCredentials) -> Started<BoxVerdict, AuthstarClient> {
        let cached = (!self.fresh)
            .then(|| {
                self.registry
                    .cached("client", credentials.username(), credentials.password())
            })
            .flatten();
        match cached {
            Some(client) => Started::Done(Verdict::Authenticated(client)),
            None => Started::Running(self.authenticate(credentials)),
        }
    }
}

/// API keys against the registry, the same way.
#[derive(Clone)]
struct RegistryKey(Registry);

impl Authenticator<HeaderCredential> for RegistryKey {
    type Client = AuthstarClient;
    type Future = BoxVerdict;

    fn authenticate(&self, key: HeaderCredential) -> BoxVerdict {
        let registry = self.0.clone();
        Box::pin(blocking(move || registry.authenticate_key(key.as_str())))
    }

    fn start(&self, key: HeaderCredential) -> Started<BoxVerdict, AuthstarClient> {
        match self.0.cached_key(key.as_str()) {
            Some(client) => Started::Done(Verdict::Authenticated(client)),
            None => Started::Running(self.authenticate(key)),
        }
    }
}

/// What the signed session cookie carries.
#[derive(Serialize, Deserialize)]
struct Session {
    client_id: String,
    scopes: Vec<String>,
    exp: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn session_client(parts: &Parts, key: &Key) -> Option<AuthstarClient> {
    let jar = SignedCookieJar::from_headers(&parts.headers, key.clone());
    let cookie = jar.get(SESSION_COOKIE)?;
    let json = URL_SAFE_NO_PAD.decode(cookie.value()).ok()?;
    let session: Session = serde_json::from_slice(&json).ok()?;
    (session.exp > now()).then(|| AuthstarClient::new(session.client_id, session.scopes))
}

/// Public.
#[utoipa::path(get, path = "/", responses((status = 200, description = "Where to start")))]
async fn index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "service": "authstar demo",
        "docs": "/docs",
        "token_endpoint": "/oauth2/token",
        "jwks_uri": "/.well-known/jwks.json",
    }))
}

/// The authenticated client.
#[utoipa::path(get, path = "/me", responses((status = 200, description = "The client: client_id and scopes")))]
async fn me(Authenticated(client): Authenticated<AuthstarClient>) -> Json<AuthstarClient> {
    Json(client)
}

/// Reports: any of `reports:read`, `admin`.
#[utoipa::path(get, path = "/reports", responses((status = 200, description = "Reports")))]
async fn reports(Authenticated(client): Authenticated<AuthstarClient>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"reports": ["2026-10", "2026-11"], "client_id": client.client_id()}))
}

/// Export: all of `reports:read`, `reports:export`.
#[utoipa::path(get, path = "/reports/export", responses((status = 200, description = "CSV export")))]
async fn export() -> &'static str {
    "month,total\n2026-10,42\n2026-11,57\n"
}

/// Internal networks only.
#[utoipa::path(get, path = "/internal/health", responses((status = 200, description = "ok")))]
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn websocket(
    Authenticated(client): Authenticated<AuthstarClient>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    upgrade.on_upgrade(move |mut socket| async move {
        let hello = serde_json::json!({"client_id": client.client_id()}).to_string();
        if socket.send(Message::Text(hello.into())).await.is_err() {
            return;
        }
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) || socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

#[derive(OpenApi)]
#[openapi(
    paths(index, me, reports, export, health),
    info(title = "authstar demo", version = "0.1.0")
)]
struct ApiDoc;

fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    SecuritySchemes::seed()
        .http_bearer()
        .scope("reports:read", "Read reports")
        .scope("reports:export", "Export reports")
        .scope("admin", "Everything")
        .modify(&mut doc);
    let any: [(&str, &[&str]); 4] = [
        (OAUTH2, &[]),
        (HTTP_BEARER, &[]),
        (API_KEY, &[]),
        (HTTP_BASIC, &[]),
    ];
    let read: [(&str, &[&str]); 3] = [
        (OAUTH2, &["reports:read"]),
        (API_KEY, &[]),
        (HTTP_BASIC, &[]),
    ];
    let export: [(&str, &[&str]); 3] = [
        (OAUTH2, &["reports:read", "reports:export"]),
        (API_KEY, &[]),
        (HTTP_BASIC, &[]),
    ];
    SecuredRoutes::new()
        .route(HttpMethod::Get, "/me", any)
        .route(HttpMethod::Get, "/reports", read)
        .route(HttpMethod::Get, "/reports/export", export)
        .modify(&mut doc);
    doc
}

/// RFC 8414 metadata. `response_types_supported` is left out: this server has no authorization
/// endpoint, an empty array is invalid, and any value would claim one.
fn metadata(issuer: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["reports:read", "reports:export", "admin"],
    })
}

/// The demo service: the router wrapped once by the authstar layer, boxed (calling it does
/// not clone it, unlike a fallback service of another router).
pub type DemoService =
    tower::util::BoxCloneSyncService<axum::extract::Request, axum::response::Response, Infallible>;

/// The demo app for a registry and an issuer URL.
pub fn app(
    registry: Registry,
    issuer_url: &str,
    trusted_proxies: TrustedProxies,
) -> Result<DemoService, DemoError> {
    let secrets = registry.secrets().clone();
    let der = URL_SAFE_NO_PAD
        .decode(&secrets.jwt_key)
        .map_err(|_| DemoError::Config("the JWT key in the secrets file is not base64".into()))?;
    let signing = SigningKey::from_pkcs8(Algorithm::ES256, secrets.jwt_kid.clone(), &der)
        .map_err(|e| DemoError::Config(e.to_string()))?;
    let cookie_key = Key::try_from(
        URL_SAFE_NO_PAD
            .decode(&secrets.cookie_key)
            .map_err(|_| {
                DemoError::Config("the cookie key in the secrets file is not base64".into())
            })?
            .as_slice(),
    )
    .map_err(|_| DemoError::Config("the cookie key needs 64 bytes".into()))?;
    let document = jwks(std::slice::from_ref(&signing));
    let verifier = JwtVerifier::new([signing.verification_key()], issuer_url, issuer_url);
    let issuer = JwtIssuer::new(signing, issuer_url, issuer_url);

    let session_key = cookie_key.clone();
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(verifier)
        .on_auth_basic(RegistryBasic {
            registry: registry.clone(),
            fresh: false,
        })
        .on_auth_header(HeaderAuth::x_api_key(RegistryKey(registry.clone())))
        .on_auth_request(sync_fn(move |parts: &Parts| {
            session_client(parts, &session_key)
        }))
        .realm("authstar-demo")
        .build()
        .map_err(|e| DemoError::Config(e.to_string()))?;
    let security = RouteSecurity::new(&layer).trusted_proxies(trusted_proxies);

    let token_registry = registry.clone();
    let token_builder = move |request: OAuth2TokenRequest, _client: AuthstarClient| {
        let issuer = issuer.clone();
        let registry = token_registry.clone();
        async move {
            // A revoked client gets no token, whatever a cache still remembers.
            let client_id = request.client_id.clone();
            let active =
                tokio::task::spawn_blocking(move || registry.is_active(&client_id)).await??;
            if !active {
                return Err("the client is revoked".into());
            }
            issuer
                .token_response(&request)
                .map_err(authstar::BoxError::from)
        }
    };
    let token_endpoint = security
        .oauth2_token_endpoint(token_builder)
        .on_auth_basic(RegistryBasic {
            registry,
            fresh: true,
        })
        .into_method_router();

    let login_key = cookie_key.clone();
    let login = move |Authenticated(client): Authenticated<AuthstarClient>| {
        let key = login_key.clone();
        async move {
            let session = Session {
                client_id: client.client_id().to_owned(),
                scopes: client.scopes().to_vec(),
                exp: now() + SESSION_SECONDS,
            };
            let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session).unwrap_or_default());
            let cookie = Cookie::build((SESSION_COOKIE, value))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .max_age(time::Duration::seconds(SESSION_SECONDS as i64));
            (SignedCookieJar::new(key).add(cookie), Json(client))
        }
    };
    let logout = move |headers: axum::http::HeaderMap| {
        let key = cookie_key.clone();
        async move {
            // Removing a cookie the jar was built with makes it send the removal (Max-Age=0).
            let jar = SignedCookieJar::from_headers(&headers, key)
                .remove(Cookie::build(SESSION_COOKIE).path("/"));
            (jar, axum::http::StatusCode::NO_CONTENT)
        }
    };
    let metadata = metadata(issuer_url);

    let router = Router::new()
        .route("/", get(index))
        .route("/me", get(me))
        .route(
            "/reports",
            get(reports).route_layer(security.scopes_any(["reports:read", "admin"])),
        )
        .route(
            "/reports/export",
            get(export).route_layer(security.scopes_all(["reports:read", "reports:export"])),
        )
        .route(
            "/internal/health",
            get(health).route_layer(security.internal()),
        )
        .route("/ws", get(websocket))
        .route("/session", post(login).delete(logout))
        .route("/oauth2/token", token_endpoint)
        .route(
            "/.well-known/jwks.json",
            get(move || async move { Json(document) }),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { Json(metadata) }),
        )
        .with_state(security)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()));
    // Around the whole router rather than `Router::layer`, which wraps and clones per route.
    Ok(DemoService::new(layer.layer(router)))
}

/// The lines printed on first start: the demo credentials (shown once) and curl commands.
pub fn first_start_lines(base: &str, client_id: &str, secret: &str, api_key: &str) -> Vec<String> {
    let token = format!(
        "$(curl -s -u {client_id}:{secret} -d grant_type=client_credentials {base}/oauth2/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
    );
    vec![
        format!("curl -s {base}/"),
        format!("curl -s -u {client_id}:{secret} {base}/me"),
        format!("curl -s -H 'X-API-Key: {api_key}' {base}/reports"),
        format!(
            "curl -s -u {client_id}:{secret} -d grant_type=client_credentials {base}/oauth2/token"
        ),
        format!("curl -s -H \"Authorization: Bearer {token}\" {base}/reports/export"),
        format!("curl -s {base}/.well-known/oauth-authorization-server"),
    ]
}

/// Runs the demo until Ctrl-C.
pub async fn run(config: DemoConfig) -> Result<(), DemoError> {
    let proxies =
        Networks::parse(&config.trusted_proxies).map_err(|e| DemoError::Config(e.to_string()))?;
    let registry = Registry::open_with_cache(&config.db, config.cache_ttl)?;
    let address = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| DemoError::Listen {
            address: address.clone(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| DemoError::Listen { address, source })?;
    let host = if local.ip().is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    let base = format!("http://{host}:{}", local.port());
    let issuer = config.issuer.clone().unwrap_or_else(|| base.clone());

    if registry.is_empty()? {
        let scopes = ["reports:read".to_owned(), "reports:export".to_owned()];
        let client = registry.create_client(Some("demo-client"), None, &scopes)?;
        let key = registry.create_key(&client.client_id, &["reports:read".to_owned()])?;
        println!("authstar demo: created the demo client and an API key (shown only this once)");
        println!("  client_id:     {}", client.client_id);
        println!("  client_secret: {}", client.client_secret);
        println!("  api_key:       {}", key.key);
        println!("Try:");
        for line in first_start_lines(&base, &client.client_id, &client.client_secret, &key.key) {
            println!("  {line}");
        }
    } else {
        println!(
            "authstar demo: using the clients in {} (secrets are shown only when created: `authstar clients create`)",
            config.db.display()
        );
    }
    println!("Swagger UI: {base}/docs");
    println!("listening on {base}");

    let app = app(registry, &issuer, TrustedProxies::new(proxies))?;
    tracing::info!(%local, issuer = %issuer, "authstar demo: listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|source| DemoError::Listen {
        address: local.to_string(),
        source,
    })
}

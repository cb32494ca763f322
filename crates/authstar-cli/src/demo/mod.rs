//! `authstar demo`: a complete machine-to-machine auth service on the registry.
//!
//! Its routes, who may call each and the command's flags are in the guide (docs/guide.md,
//! "The demo service and the `authstar` command"); `tests/contract.rs` pins them, and
//! `GET /openapi.json` lists every one by area.
//!
//! The files: `auth` (the session authenticator), [`session`] (the cookie), `oauth` (what the
//! token, revocation and introspection endpoints decide), `metrics`, `routes` (the
//! handlers, OpenAPI, metadata), [`server`] (serving with timeouts and limits); this one puts
//! them together.

mod admin;
mod auth;
mod gateway;
mod metrics;
mod oauth;
mod routes;
mod run;
pub mod server;
pub mod session;
pub use run::{first_start_lines, run};
mod tls;

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use authstar::DpopAuth;
use authstar::MethodSet;
use authstar::network::{Networks, TrustedProxies};
use authstar::throttle::FailureThrottle;
use authstar::{AuthstarClient, AuthstarLayer};
use authstar_axum::{RouteSecurity, peer_address};
use authstar_jwt::dpop::{DpopNonces, DpopVerifier};
use authstar_jwt::{JwtVerifier, SigningKey, jwks};
use authstar_oauth2::AuthorizationServer;
use axum::Router;
use axum::routing::{get, post};
use axum_extra::extract::cookie::Key;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tower_layer::Layer as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::registry::{Database, Registry, RegistryError};
use auth::RegistrySession;
pub use oauth::INTROSPECT_SCOPE;
use routes::Websockets;
pub use server::ServerLimits;
pub use session::SESSION_COOKIE;
use session::Sessions;

/// Demo settings (from the command line).
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Address to listen on.
    pub host: String,
    /// Port (0: any free port).
    pub port: u16,
    /// The registry database.
    pub db: Database,
    /// The secrets file; default beside a SQLite database, required for PostgreSQL.
    pub secrets: Option<PathBuf>,
    /// Proxies whose forwarding header is believed.
    pub trusted_proxies: Vec<String>,
    /// The header those proxies write.
    pub forwarded_header: ForwardedHeader,
    /// The issuer URL; default `http://HOST:PORT`.
    pub issuer: Option<String>,
    /// How long successful registry authentications are cached.
    pub cache_ttl: Duration,
    /// `Secure` session cookies; default: when the issuer URL is https.
    pub secure_cookies: Option<bool>,
    /// Origins besides the service's own from which a browser may open a session websocket.
    pub allowed_origins: Vec<String>,
    /// Failed-authentication throttling (on unless turned off).
    pub throttle: bool,
    /// The Redis that shares throttle counters between instances.
    pub redis: Option<String>,
    /// Timeouts and limits of the server.
    pub limits: ServerLimits,
    /// Where to serve Prometheus metrics (`GET /metrics`), apart from the service.
    pub metrics_addr: Option<String>,
    /// Require server nonces in DPoP proofs.
    pub dpop_nonces: bool,
    /// TLS: the certificate chain and the private key (PEM files); clients are asked for a
    /// certificate, and tokens are bound to it (RFC 8705 §3).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The FAPI 2.0 profile for client credentials.
    pub fapi2: bool,
    /// The trusted proxies terminate TLS and forward the client's certificate (RFC 9440).
    pub forwarded_client_cert: bool,
    /// The authorities that issue `tls_client_auth` clients' certificates (a PEM file).
    pub client_ca: Option<PathBuf>,
    /// Every authenticated client's request budget.
    pub rate_limit: Option<authstar::throttle::Budget>,
    /// While Redis is unreachable, stop limiting instead of limiting on each instance.
    pub rate_limit_unlimited_if_redis_down: bool,
    /// Serve the gateway's forward-auth checks with this route policy instead of the demo app
    /// (`authstar gateway`), and the identity headers they answer with.
    pub gateway: Option<(authstar_gateway::Policy, authstar_gateway::IdentityHeaders)>,
    /// The gateway also answers Envoy's ext_authz gRPC `Check` on this port (0: any free one).
    pub ext_authz_port: Option<u16>,
}

/// How the demo app behaves, beyond its registry and issuer.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Proxies whose forwarding header is believed (`internal()`, throttling).
    pub trusted_proxies: TrustedProxies,
    /// `Secure` session cookies.
    pub secure_cookies: bool,
    /// Origins allowed to open a session-authenticated websocket.
    pub allowed_origins: Vec<String>,
    /// Failed-authentication throttling.
    pub throttle: bool,
    /// Throttle counters shared with other instances (default: this process's memory).
    pub shared_throttle: Option<authstar_redis::RedisThrottle>,
    /// DPoP proofs used once across instances (default: once per process).
    pub shared_replays: Option<authstar_redis::RedisProofReplays>,
    /// Require server nonces in DPoP proofs (keyed by the secrets file, so every instance
    /// accepts the others').
    pub dpop_nonces: bool,
    /// Request timeout and body limit (the connection limits apply in [`run`]).
    pub limits: ServerLimits,
    /// Bind tokens to the client certificate of a mutual-TLS request (RFC 8705 §3).
    pub certificate_bound_tokens: bool,
    /// The FAPI 2.0 profile (client credentials): clients authenticate with `private_key_jwt`
    /// or a TLS certificate only, every token is sender-constrained (DPoP or mTLS) and only such tokens are
    /// accepted, PS256/ES256/EdDSA only.
    pub fapi2: bool,
    /// The authorities that issue `tls_client_auth` clients' certificates (RFC 8705 §2.1).
    pub client_authorities: Option<authstar_oauth2::mtls::CertificateAuthorities>,
    /// Every authenticated client's request budget (429 beyond it).
    pub rate_limit: Option<authstar::throttle::Budget>,
    /// Rate-limit counts shared with other instances (default: this process's memory).
    pub shared_rate_limits: Option<authstar_redis::RedisThrottle>,
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

/// The demo service: the router wrapped once by the authstar layer, boxed (calling it does
/// not clone it, unlike a fallback service of another router).
pub type DemoService =
    tower::util::BoxCloneSyncService<axum::extract::Request, axum::response::Response, Infallible>;

/// Verified access tokens remembered (each until its `exp`).
const VERIFIED_TOKENS: u64 = 10_000;

/// The origin (`scheme://host[:port]`) of a URL, as browsers send it in `Origin`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{}://{}", scheme.to_ascii_lowercase(), authority))
}

/// The keys in the secrets file: the registry's JWT signing key and the cookie key.
fn keys(registry: &Registry) -> Result<(SigningKey, Key), DemoError> {
    let secrets = registry.secrets();
    let signing = registry
        .signing_key()
        .map_err(|e| DemoError::Config(e.to_string()))?;
    let cookie = URL_SAFE_NO_PAD.decode(&secrets.cookie_key).map_err(|_| {
        DemoError::Config("the cookie key in the secrets file is not base64".into())
    })?;
    let cookie_key = Key::try_from(cookie.as_slice())
        .map_err(|_| DemoError::Config("the cookie key needs 64 bytes".into()))?;
    Ok((signing, cookie_key))
}

/// The authstar layer: Bearer and DPoP-bound JWTs, Basic client credentials, API keys and the
/// session cookie,
/// all on the registry; throttled unless turned off; 503 when the registry is busy or failing.
fn auth_layer(
    registry: &Registry,
    verifier: JwtVerifier,
    dpop: DpopAuth<DpopVerifier, JwtVerifier>,
    cookie_key: &Key,
    options: &AppOptions,
) -> Result<AuthstarLayer<AuthstarClient, impl MethodSet<AuthstarClient>>, DemoError> {
    let mut builder = AuthstarLayer::builder()
        .on_auth_bearer_with(verifier)
        .on_auth_dpop(dpop)
        // Under FAPI 2.0 only sender-constrained tokens open the resource routes: client
        // secrets, API keys and session cookies are switched off (each refused as presented).
        .on_auth_basic_with(auth::Switched {
            inner: registry.client_secrets(),
            on: !options.fapi2,
        })
        .on_auth_header(
            registry
                .api_keys()
                .map_authenticator(|keys| auth::Switched {
                    inner: keys,
                    on: !options.fapi2,
                }),
        )
        .on_auth_request_with(auth::Switched {
            inner: RegistrySession {
                registry: registry.clone(),
                key: cookie_key.clone(),
            },
            on: !options.fapi2,
        })
        .realm("authstar-demo")
        // Who is calling, for the throttle and the guards: the peer, or the client a trusted
        // proxy names.
        .peer_address(peer_address)
        .trusted_proxies(options.trusted_proxies.clone())
        // A busy or failing registry is the server's problem: 503, never a false 401.
        .unavailable_on_backend_error(Duration::from_secs(1));
    if options.throttle {
        let mut throttle = FailureThrottle::new();
        if let Some(shared) = &options.shared_throttle {
            throttle = throttle.store(shared.clone());
        }
        builder = builder.throttle(throttle);
    }
    builder
        .build()
        .map_err(|e| DemoError::Config(e.to_string()))
}

/// The rate limits: `options`' default for every client, and each client's and API key's own
/// from the registry, counted in memory or, shared, in Redis (a channel of their own, apart
/// from the failure throttle's; while Redis is unreachable each instance counts alone, or,
/// with `--rate-limit-unlimited-if-redis-down`, limits nobody).
fn rate_limits<M>(
    layer: &AuthstarLayer<AuthstarClient, M>,
    registry: &Registry,
    options: &AppOptions,
) -> Option<authstar::ratelimit::RateLimitLayer<AuthstarClient>> {
    use authstar::ratelimit::RateLimitLayer;
    let limits = match options.rate_limit {
        Some(budget) => RateLimitLayer::new(layer, budget),
        None => RateLimitLayer::unlimited_by_default(layer),
    };
    // A client's own budget from the registry, wherever it has one, and an API key's.
    let (clients, keys) = (registry.clone(), registry.clone());
    let limits = limits
        .per_client(move |client: &AuthstarClient| clients.client_rate_limit(client.client_id()))
        .per_credential(move |client: &AuthstarClient, key_id: &str| {
            keys.key_rate_limit(client.client_id(), key_id)
        });
    Some(match &options.shared_rate_limits {
        Some(shared) => limits.store(shared.clone()),
        None => limits,
    })
}

/// `600/60s`: a burst of 600, refilled evenly over the window (1 s to 30 d), at most 1 000 a
/// second (one request a millisecond: budgets are stored to the millisecond).
///
/// ```
/// let budget = authstar_cli::demo::rate("600/60s").unwrap();
/// assert_eq!(budget.burst(), 600);
/// assert!(authstar_cli::demo::rate("600/0s").is_err());
/// assert!(authstar_cli::demo::rate("5000/1s").is_err(), "a request every 0.2 ms");
/// ```
pub fn rate(text: &str) -> Result<authstar::throttle::Budget, String> {
    let (count, window) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?}: write N/WINDOW, as 600/60s"))?;
    let count: u32 = count
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?}: N is a positive number"))?;
    let window = duration(window)?;
    if window.is_zero() || window > Duration::from_secs(30 * 86_400) {
        return Err(format!("{text:?}: a window from 1s to 30d"));
    }
    if window / count < Duration::from_millis(1) {
        return Err(format!("{text:?}: at most 1000 a second"));
    }
    Ok(authstar::throttle::Budget::per_period(
        count,
        window / count,
    ))
}

/// `30d`, `24h`, `15m`, `90s` (a number and a unit).
///
/// ```
/// assert_eq!(authstar_cli::demo::duration("2m"), Ok(std::time::Duration::from_secs(120)));
/// ```
pub fn duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: write a number and a unit: 90s, 15m, 24h, 30d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

/// An audit entry as the command and the admin API show it (its detail as JSON).
pub fn audit_json(entry: &crate::registry::store::AuditRow) -> serde_json::Value {
    serde_json::json!({
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "client_id": entry.client_id,
        "target": entry.target,
        "detail": serde_json::from_str::<serde_json::Value>(&entry.detail).unwrap_or_default(),
    })
}

/// The forwarding header trusted proxies write; the other one is ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx `proxy_add_x_forwarded_for`, HAProxy `option forwardfor`,
    /// Traefik, AWS/GCP/Azure load balancers): the default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=` of each element), for proxies configured to write it.
    Forwarded,
}

impl std::str::FromStr for ForwardedHeader {
    type Err = String;

    /// `x-forwarded-for` or `forwarded`, any case.
    fn from_str(name: &str) -> Result<Self, String> {
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            Ok(Self::XForwardedFor)
        } else if name.eq_ignore_ascii_case("forwarded") {
            Ok(Self::Forwarded)
        } else {
            Err(format!(
                "unknown forwarding header {name:?}: use x-forwarded-for or forwarded"
            ))
        }
    }
}

/// `POST /session` and `DELETE /session`.
fn session_route(sessions: Sessions) -> axum::routing::MethodRouter<RouteSecurity<AuthstarClient>> {
    let logout = sessions.clone();
    post(move |extensions: axum::http::Extensions| {
        let sessions = sessions.clone();
        async move { sessions.login(&extensions) }
    })
    .delete(move |headers: axum::http::HeaderMap| {
        let sessions = logout.clone();
        async move { sessions.logout(&headers) }
    })
}

/// The demo app for a registry and an issuer URL.
pub fn app(
    registry: Registry,
    issuer_url: &str,
    options: AppOptions,
) -> Result<DemoService, DemoError> {
    let (signing, cookie_key) = keys(&registry)?;
    let document = jwks(std::slice::from_ref(&signing));
    // Tokens verified once are answered from a cache until their `exp`; revoked tokens and
    // the tokens of revoked clients are refused from memory, cache hits included.
    let verifier = registry.token_verifier(issuer_url)?.cache(VERIFIED_TOKENS);
    let verifier = match options.fapi2 {
        true => verifier.sender_constrained_only(),
        false => verifier,
    }
    .build();
    // One replay memory for the proofs of the token endpoint and of the resource routes; a
    // proof's URL is the issuer's origin and the path, as clients address them.
    let mut proofs = DpopVerifier::new();
    if options.fapi2 {
        proofs = proofs.algorithms(authstar_jwt::FAPI2_ALGORITHMS);
    }
    if options.dpop_nonces {
        let secret = format!("authstar dpop nonces {}", registry.secrets().cookie_key);
        proofs =
            proofs.require_nonces(DpopNonces::new(secret.as_bytes(), Duration::from_secs(300)));
    }
    if let Some(replays) = &options.shared_replays {
        proofs = proofs.share_replays(replays.clone());
        replays.listen(&proofs);
    }
    let origin = origin_of(issuer_url)
        .ok_or_else(|| DemoError::Config(format!("the issuer {issuer_url:?} is not a URL")))?;
    let dpop = DpopAuth::new(proofs.clone(), verifier.clone()).origin(&origin);
    let layer = auth_layer(&registry, verifier.clone(), dpop, &cookie_key, &options)?;
    let security = RouteSecurity::new(&layer);
    let sessions = Sessions {
        key: cookie_key.clone(),
        secure: options.secure_cookies,
        security: security.clone(),
    };
    let mut origins = options.allowed_origins.clone();
    origins.extend(origin_of(issuer_url));
    let sockets = Websockets {
        // Sockets get half the connections at most, 8 per client.
        policy: authstar_axum::ws::WebSocketPolicy::new()
            .allowed_origins(origins)
            .idle_timeout(options.limits.ws_idle_timeout)
            .recheck_every(options.limits.ws_recheck)
            .max_sockets((options.limits.max_connections / 2).max(1)),
        registry: registry.clone(),
        cookie_key: cookie_key.clone(),
    };
    // `private_key_jwt` clients (RFC 7523) at every endpoint; their assertions' `jti`s are
    // remembered apart from the proofs', and shared through the same Redis channel.
    let mut assertions = registry.client_assertions(issuer_url);
    if options.fapi2 {
        assertions = assertions.algorithms(authstar_jwt::FAPI2_ALGORITHMS);
    }
    if let Some(replays) = &options.shared_replays {
        assertions = assertions.share_replays(replays.clone());
        replays.listen(&assertions);
    }
    let limits = rate_limits(&layer, &registry, &options);
    let clients = oauth::ClientAuth {
        limits: limits.clone(),
        assertions,
        // Certificates reach the app over its own TLS or from a trusted proxy: clients may
        // authenticate with them (self-signed ones registered; others from --client-ca).
        certificates: options
            .certificate_bound_tokens
            .then(|| registry.client_certificates(options.client_authorities.clone())),
        fapi2: options.fapi2,
    };
    let server = AuthorizationServer::builder(issuer_url)
        .token({
            let token = clients.apply(oauth::token_endpoint(
                &layer,
                registry.tokens(issuer_url)?,
                proofs,
            ));
            let token = match options.certificate_bound_tokens {
                true => token.certificate_bound_tokens(),
                false => token,
            };
            match options.fapi2 {
                true => token.sender_constrained_only(),
                false => token,
            }
        })
        .revocation(clients.apply(oauth::revocation_endpoint(
            &layer,
            registry.clone(),
            verifier.clone(),
        )))
        .introspection(clients.apply(oauth::introspection_endpoint(
            &layer,
            registry.clone(),
            verifier,
        )))
        .jwks(&document)
        .scopes(["reports:read", "reports:export", "admin", INTROSPECT_SCOPE])
        .build()
        .map_err(|e| DemoError::Config(e.to_string()))?;

    let openapi = routes::openapi(&server);
    let router = Router::new()
        .route("/", get(routes::index))
        .route("/me", get(routes::me))
        .route(
            "/reports",
            get(routes::reports).route_layer(security.scopes_any(["reports:read", "admin"])),
        )
        .route(
            "/reports/export",
            get(routes::export)
                .route_layer(security.scopes_all(["reports:read", "reports:export"])),
        )
        .route(
            "/internal/health",
            get(routes::health).route_layer(security.internal()),
        )
        .route(
            "/ws",
            get(move |security, headers, extensions, upgrade| {
                routes::websocket(sockets.clone(), security, headers, extensions, upgrade)
            }),
        )
        .route("/session", session_route(sessions))
        .merge(authstar_axum::authorization_server(server))
        .merge(admin::routes(&security, registry))
        .with_state(security)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi));
    // Rate limits count authenticated requests: inside the layer, before the routes (the
    // endpoints count the clients they authenticate themselves, in the same counters).
    let limits = tower::util::option_layer(limits);
    Ok(limited(layer.layer(limits.layer(router)), options.limits))
}

/// The request timeout (408) and the body limit (413) around the secured app.
fn limited(
    app: impl tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static,
    limits: ServerLimits,
) -> DemoService {
    let service = tower::ServiceBuilder::new()
        .map_response(axum::response::IntoResponse::into_response)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            limits.max_body,
        ))
        .map_request(
            |request: axum::http::Request<tower_http::body::Limited<axum::body::Body>>| {
                request.map(axum::body::Body::new)
            },
        )
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        // Around the whole router: its own layer wraps and clones per route.
        .service(app);
    DemoService::new(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_authority() {
        assert_eq!(
            origin_of("https://auth.example:8443/realm?x#y").as_deref(),
            Some("https://auth.example:8443")
        );
        assert_eq!(
            origin_of("HTTP://127.0.0.1:8000").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn forwarded_header_names_parse() {
        assert_eq!(
            "X-Forwarded-For".parse::<ForwardedHeader>(),
            Ok(ForwardedHeader::XForwardedFor)
        );
        assert_eq!(
            "forwarded".parse::<ForwardedHeader>(),
            Ok(ForwardedHeader::Forwarded)
        );
        assert!("x-real-ip".parse::<ForwardedHeader>().is_err());
    }
}

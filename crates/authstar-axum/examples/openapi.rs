//! The Python package's "OpenAPI Available Authorizations" in axum with utoipa: the three security schemes
//! (`api_key` in `x-api-key`, `http_basic`, `oauth2` client credentials at `/oauth2/token`) so
//! Swagger UI offers "Authorize", and a lock only on the guarded operations.
//!
//! ```sh
//! cargo run -p authstar-axum --features openapi --example openapi   # http://127.0.0.1:8003/docs
//! ```
//!
//! `tests/openapi.rs` serves this app and validates its document against the OpenAPI schema.

use std::net::SocketAddr;

use authstar::AuthstarClient;
use authstar_axum::openapi::{API_KEY, HTTP_BASIC, OAUTH2, SecuredRoutes, SecuritySchemes};
use authstar_axum::testing::FixedCredentials;
use authstar_axum::{Authenticated, RouteSecurity};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::HttpMethod;
use utoipa_swagger_ui::SwaggerUi;

/// Public.
#[utoipa::path(get, path = "/", responses((status = 200, description = "Hello")))]
async fn homepage() -> &'static str {
    "homepage"
}

/// The authenticated client.
#[utoipa::path(get, path = "/me", responses((status = 200, description = "The client")))]
async fn me(Authenticated(client): Authenticated<AuthstarClient>) -> Json<AuthstarClient> {
    Json(client)
}

/// Reports: needs `reports:read`.
#[utoipa::path(get, path = "/reports", responses((status = 200, description = "Reports")))]
async fn reports() -> &'static str {
    "reports"
}

#[derive(OpenApi)]
#[openapi(
    paths(homepage, me, reports),
    info(title = "authstar example", version = "0.1.0")
)]
struct ApiDoc;

/// The document: the Python package's three schemes, and which operations accept which.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::Modify;
    let mut doc = ApiDoc::openapi();
    SecuritySchemes::common()
        .scope("reports:read", "Read reports")
        .modify(&mut doc);
    let any_client: [(&str, &[&str]); 3] = [(API_KEY, &[]), (HTTP_BASIC, &[]), (OAUTH2, &[])];
    SecuredRoutes::new()
        .route(HttpMethod::Get, "/me", any_client)
        .route(
            HttpMethod::Get,
            "/reports",
            [(API_KEY, &[][..]), (OAUTH2, &["reports:read"][..])],
        )
        .modify(&mut doc);
    doc
}

/// The app, with Swagger UI at `/docs` (served from the binary: `vendored`, no CDN).
pub(crate) fn app() -> Router {
    let layer = FixedCredentials::new()
        .api_key("k-1", AuthstarClient::new("cli", ["reports:read"]))
        .basic(
            "svc",
            "svc-secret",
            AuthstarClient::new("svc", ["reports:read"]),
        )
        .layer();
    let security = RouteSecurity::new(&layer);
    Router::new()
        .route("/", get(homepage))
        .route("/me", get(me))
        .route(
            "/reports",
            get(reports).route_layer(security.scopes_any(["reports:read"])),
        )
        .with_state(security)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .layer(layer)
}

#[allow(dead_code)] // `tests/openapi.rs` includes this file for `app()` only.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8003").await?;
    println!("Swagger UI on http://{}/docs", listener.local_addr()?);
    axum::serve(
        listener,
        app().into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

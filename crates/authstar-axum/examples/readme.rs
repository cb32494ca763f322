//! The README's example, whole: a Bearer token or an API key, a scope guard, the client handed
//! to a handler.
//!
//! ```sh
//! cargo run -p authstar-axum --example readme        # http://127.0.0.1:8000
//! curl -i http://127.0.0.1:8000/me                   # 401, a challenge per scheme
//! curl -H 'Authorization: Bearer t0k3n' http://127.0.0.1:8000/reports
//! curl -H 'X-API-Key: ask_k1_s3cr3t' http://127.0.0.1:8000/reports   # 403: no reports:read
//! ```
//!
//! `tests/examples.rs` serves this app and checks it.

use authstar::{AuthstarClient, AuthstarLayer, HeaderAuth};
use authstar_axum::{Authenticated, RouteSecurity};
use axum::routing::get;
use axum::{Json, Router};

pub(crate) fn app() -> Result<Router, authstar::ConfigError> {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token| async move { find_token(token.as_str()).await })
        .on_auth_header(HeaderAuth::x_api_key(|key| async move {
            find_key(key.as_str()).await
        }))
        .build()?;
    let security = RouteSecurity::new(&layer);

    Ok(Router::new()
        .route("/me", get(me))
        .route(
            "/reports",
            get(reports).route_layer(security.scopes_any(["reports:read"])),
        )
        .with_state(security)
        .layer(layer))
}

async fn me(Authenticated(client): Authenticated<AuthstarClient>) -> Json<AuthstarClient> {
    Json(client)
}

async fn reports() -> &'static str {
    "reports"
}

/// Your token store (a database, a cache): `Option<C>`, or `Result<Option<C>, E>` when the
/// lookup can fail (a failure is not a wrong token: 503 or anonymous, never 401).
async fn find_token(token: &str) -> Option<AuthstarClient> {
    (token == "t0k3n").then(|| AuthstarClient::new("reports-job", ["reports:read"]))
}

async fn find_key(key: &str) -> Option<AuthstarClient> {
    (key == "ask_k1_s3cr3t").then(|| AuthstarClient::new("cli", ["me"]))
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app()?).await?;
    Ok(())
}

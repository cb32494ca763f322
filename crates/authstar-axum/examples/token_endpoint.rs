//! The Python package's "OAuth2 Token Endpoint" example in axum: `POST /oauth2/token` for the
//! `client_credentials` grant, its clients checked by the layer's own `on_auth_basic` (HTTP
//! Basic, or `client_id`/`client_secret` form fields), and `POST /oauth2/token-form`, whose
//! clients are checked by an authenticator given to the endpoint. Issued tokens are opaque,
//! kept in memory, and accepted by the bearer authenticator on `GET /reports`.
//!
//! ```sh
//! cargo run -p authstar-axum --example token_endpoint     # http://127.0.0.1:8002
//! curl -s -u svc:svc-secret -d grant_type=client_credentials http://127.0.0.1:8002/oauth2/token
//! curl -s -d grant_type=client_credentials -d client_id=svc -d client_secret=svc-secret \
//!      http://127.0.0.1:8002/oauth2/token-form
//! curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8002/reports
//! ```
//!
//! `tests/token_endpoint.rs` serves this same app to the `oauth2` crate, and to Python's authlib.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, BearerToken};
use authstar_axum::RouteSecurity;
use authstar_oauth2::{OAuth2TokenRequest, OAuth2TokenResponse, token_endpoint};
use axum::Router;
use axum::routing::get;
use base64::Engine as _;

/// Issued tokens and the clients they stand for.
type Tokens = Arc<Mutex<HashMap<String, AuthstarClient>>>;

/// The registered client: `svc` / `svc-secret`, scopes `reports:read reports:write`.
async fn verify_auth_basic(credentials: BasicCredentials) -> Option<AuthstarClient> {
    (credentials.username() == "svc" && credentials.password() == "svc-secret")
        .then(|| AuthstarClient::new("svc", ["reports:read", "reports:write"]))
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The app.
pub(crate) fn app() -> Router {
    let tokens: Tokens = Arc::default();
    let lookup = Arc::clone(&tokens);
    let layer = AuthstarLayer::builder()
        .on_auth_basic(verify_auth_basic)
        .on_auth_bearer(move |token: BearerToken| {
            let found = lookup
                .lock()
                .ok()
                .and_then(|t| t.get(token.as_str()).cloned());
            async move { found }
        })
        .realm("example")
        .build()
        .expect("valid configuration");
    let security = RouteSecurity::new(&layer);

    // The Python package's `oauth2_token_builder(oauth_req, client)`: here an opaque random token that
    // carries the granted scopes.
    let token_builder = move |request: OAuth2TokenRequest, client: AuthstarClient| {
        let tokens = Arc::clone(&tokens);
        async move {
            let token = new_token();
            let granted = AuthstarClient::new(client.client_id(), request.scopes.clone());
            tokens
                .lock()
                .map_err(|_| "token store poisoned")?
                .insert(token.clone(), granted);
            Ok::<_, &str>(OAuth2TokenResponse::bearer(token).scope(request.scope()))
        }
    };

    Router::new()
        .route_service(
            "/oauth2/token",
            token_endpoint(&layer, token_builder.clone()),
        )
        .route_service(
            "/oauth2/token-form",
            token_endpoint(&layer, token_builder).client_authenticator(verify_auth_basic),
        )
        .route(
            "/reports",
            get(|| async { "reports" }).route_layer(security.scopes_any(["reports:read"])),
        )
        .with_state(security)
        .layer(layer)
}

#[allow(dead_code)] // `tests/token_endpoint.rs` includes this file for `app()` only.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8002").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app().into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

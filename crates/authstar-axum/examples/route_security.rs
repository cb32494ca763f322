//! The Python package's "Route Authorization" example in axum: guards on a route, a router and the whole
//! app, the client handed to a handler, scopes, internal networks, a websocket.
//!
//! ```sh
//! cargo run -p authstar-axum --example route_security     # http://127.0.0.1:8001
//! curl -i http://127.0.0.1:8001/foo                         # 401
//! curl -i -H 'Authorization: Bearer user-token' http://127.0.0.1:8001/me
//! curl -i -H 'X-API-Key: admin-key' http://127.0.0.1:8001/admin/stats
//! ```
//!
//! `tests/examples.rs` serves this same app and checks every route.

use std::net::SocketAddr;

use authstar::AuthstarClient;
use authstar_axum::testing::FixedCredentials;
use authstar_axum::{Authenticated, RouteSecurity, Scoped, scopes};
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::Message;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

scopes!(ApiUser = any["api-user"]);

/// `GET /`: public.
async fn homepage() -> &'static str {
    "homepage"
}

/// `GET /healthcheck`: 403 unless the client is on an internal network.
async fn healthcheck() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /foo`: 401 unless authenticated; the handler does not need the client.
async fn foo() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "bar"}))
}

/// `GET /me`: the router requires authentication; the client is handed to the handler.
async fn me(Authenticated(client): Authenticated<AuthstarClient>) -> Json<AuthstarClient> {
    Json(client)
}

/// `GET /me2`: 403 unless the client holds `api-user`.
async fn me2(Scoped(client, _): Scoped<AuthstarClient, ApiUser>) -> Json<AuthstarClient> {
    Json(client)
}

/// `GET /greeting`: anonymous allowed, the client if present.
async fn greeting(client: Option<Authenticated<AuthstarClient>>) -> String {
    match client {
        Some(Authenticated(client)) => format!("hello {}", client.client_id()),
        None => "hello stranger".to_owned(),
    }
}

/// `GET /ws`: authenticated websocket; greets with the client id, then echoes.
async fn ws(
    Authenticated(client): Authenticated<AuthstarClient>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    upgrade.on_upgrade(move |mut socket| async move {
        let hello = serde_json::json!({"client_id": client.client_id()}).to_string();
        if socket.send(Message::Text(hello.into())).await.is_err() {
            return;
        }
        while let Some(Ok(message)) = socket.recv().await {
            if socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

/// The app. Credentials: bearer `user-token` (scope `api-user`), bearer `reader-token` (scope
/// `read`), API key `admin-key` (scope `admin`).
pub(crate) fn app() -> Router {
    let layer = FixedCredentials::new()
        .bearer("user-token", AuthstarClient::new("user", ["api-user"]))
        .bearer("reader-token", AuthstarClient::new("reader", ["read"]))
        .api_key("admin-key", AuthstarClient::new("admin", ["admin"]))
        .layer();
    let security = RouteSecurity::new(&layer);

    // Route-level guards (the Python package's `dependencies=[Security(...)]` on one route).
    let insecure_router = Router::new()
        .route("/", get(homepage))
        .route(
            "/healthcheck",
            get(healthcheck).route_layer(security.internal()),
        )
        .route("/foo", get(foo).route_layer(security.authenticated()))
        .route("/greeting", get(greeting));

    // Router-level guard (the Python package's `APIRouter(dependencies=[...])`).
    let router = Router::new()
        .route("/me", get(me))
        .route("/me2", get(me2))
        .route("/ws", get(ws))
        .route_layer(security.authenticated());

    // App-level guard (the Python package's `FastAPI(dependencies=[...])`), here on a nested app.
    let admin = Router::new()
        .route("/stats", get(|| async { "stats" }))
        .route("/ws", get(ws))
        .layer(security.scopes_all(["admin"]));

    insecure_router
        .merge(router)
        .nest("/admin", admin)
        .with_state(security)
        .layer(layer)
}

#[allow(dead_code)] // `tests/examples.rs` includes this file for `app()` only.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8001").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app().into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

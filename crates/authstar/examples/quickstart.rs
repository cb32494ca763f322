//! The smallest authstar server: one public route, one secured route, on 127.0.0.1.
//!
//! ```sh
//! cargo run -p authstar --example quickstart            # listens on 127.0.0.1:8000
//! cargo run -p authstar --example quickstart -- 8080    # another port
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use authstar::{AuthstarClient, AuthstarLayer, BearerToken, HeaderAuth, HeaderCredential};
use axum::extract::Request;
use axum::routing::get;
use axum::{Json, Router};

/// Demo credentials: fine for a local example, never for a real service.
const DEMO_TOKEN: &str = "demo-token";
const DEMO_API_KEY: &str = "demo-api-key";

async fn me(request: Request) -> Json<AuthstarClient> {
    // The layer enforces authentication on every route but `/`, so a client is always present.
    let client = authstar::Outcome::<AuthstarClient>::client_in(request.extensions())
        .cloned()
        .unwrap_or_else(AuthstarClient::anonymous);
    Json(client)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(port) => port
            .parse()
            .map_err(|_| format!("not a port number: {port}"))?,
        None => 8000,
    };
    let tokens = Arc::new(HashMap::from([(
        DEMO_TOKEN.to_owned(),
        AuthstarClient::new("demo-client", ["reports:read"]),
    )]));
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(move |token: BearerToken| {
            let tokens = Arc::clone(&tokens);
            async move { tokens.get(token.as_str()).cloned() }
        })
        .on_auth_header(HeaderAuth::x_api_key(|key: HeaderCredential| async move {
            (key.as_str() == DEMO_API_KEY)
                .then(|| AuthstarClient::new("demo-cli", ["reports:read"]))
        }))
        .realm("quickstart")
        .require_authentication()
        .except_paths(["/"])
        .build()?;

    let app = Router::new()
        .route(
            "/",
            get(|| async { "public: try GET /me with credentials\n" }),
        )
        .route("/me", get(me))
        .layer(layer);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    println!("authstar quickstart listening on http://{address}");
    println!("  curl -i http://{address}/");
    println!(
        "  curl -i http://{address}/me                                   # 401 with challenges"
    );
    println!("  curl -i -H 'Authorization: Bearer {DEMO_TOKEN}' http://{address}/me");
    println!("  curl -i -H 'X-API-Key: {DEMO_API_KEY}' http://{address}/me");
    axum::serve(listener, app).await?;
    Ok(())
}

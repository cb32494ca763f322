//! What an attacker tries against guards and extractors, over a real socket on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
use authstar_axum::{Authenticated, RouteSecurity};
use axum::Router;
use axum::routing::get;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// An authenticator that hands back the anonymous client as a placeholder for "nobody" (an
/// easy mistake: it is a `Client` value, so it compiles).
fn placeholder_layer() -> AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>> {
    AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            Some(if token.as_str() == "good" {
                AuthstarClient::new("svc", ["read"])
            } else {
                AuthstarClient::anonymous()
            })
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_client_that_is_not_authenticated_passes_no_guard_or_extractor() {
    let layer = placeholder_layer();
    let security = RouteSecurity::new(&layer);
    let app = Router::new()
        .route(
            "/me",
            get(
                |Authenticated(c): Authenticated<AuthstarClient>| async move {
                    c.client_id().to_owned()
                },
            ),
        )
        .route(
            "/guarded",
            get(|| async { "in" }).route_layer(security.authenticated()),
        )
        .route(
            "/scoped",
            get(|| async { "in" }).route_layer(security.scopes_any(["read"])),
        )
        .route(
            "/optional",
            get(|client: Option<Authenticated<AuthstarClient>>| async move {
                client.map_or("nobody".to_owned(), |Authenticated(c)| {
                    c.client_id().to_owned()
                })
            }),
        )
        .with_state(security)
        .layer(layer);
    let base = format!("http://{}", serve(app).await);
    let http = reqwest::Client::new();
    for path in ["/me", "/guarded", "/scoped"] {
        let good = http
            .get(format!("{base}{path}"))
            .bearer_auth("good")
            .send()
            .await
            .unwrap();
        assert_eq!(good.status(), 200, "{path}");
        let anonymous = http
            .get(format!("{base}{path}"))
            .bearer_auth("other")
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
        assert!(anonymous.headers().contains_key("www-authenticate"));
    }
    // The placeholder is a refused credential (issue 20, item 20): an optional client is
    // refused like any other refused credential, never handed the placeholder.
    let optional = http
        .get(format!("{base}/optional"))
        .bearer_auth("other")
        .send()
        .await
        .unwrap();
    assert_eq!(optional.status(), 401);
    let nobody = http.get(format!("{base}/optional")).send().await.unwrap();
    assert_eq!(nobody.text().await.unwrap(), "nobody");
}

#[tokio::test]
async fn a_cors_layer_outside_answers_preflights_before_they_reach_the_app() {
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            (token.as_str() == "good").then(|| AuthstarClient::new("svc", ["read"]))
        })
        .require_authentication()
        .build()
        .unwrap();
    let inner = Router::new().route(
        "/data",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "data" }
        })
        .options(|| async { "the app's own OPTIONS" }),
    );
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(axum::http::HeaderValue::from_static("https://app.example"))
        .allow_methods([axum::http::Method::GET])
        .allow_headers([axum::http::header::AUTHORIZATION]);
    // The order the docs ask for: CORS outermost, then authstar, then the app.
    let app = inner.clone().layer(layer.clone()).layer(cors);
    let base = format!("http://{}", serve(app).await);
    let http = reqwest::Client::new();
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{base}/data"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        preflight.text().await.unwrap(),
        "",
        "answered by the CORS layer"
    );
    let actual = http
        .get(format!("{base}/data"))
        .header("origin", "https://app.example")
        .bearer_auth("good")
        .send()
        .await
        .unwrap();
    assert_eq!(actual.status(), 200);
    assert_eq!(reached.load(Ordering::SeqCst), 1);

    // Without a CORS layer, a request shaped as a preflight is an unauthenticated OPTIONS like
    // any other: refused (it reached the app's own OPTIONS handler before issue 20, item 18).
    let bare = format!("http://{}", serve(inner.layer(layer)).await);
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{bare}/data"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 401);
    assert_ne!(preflight.text().await.unwrap(), "the app's own OPTIONS");
    let plain_get = http.get(format!("{bare}/data")).send().await.unwrap();
    assert_eq!(plain_get.status(), 401);
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}

//! Guard configurations, driven in process: trusted proxies, missing peer addresses, custom
//! error bodies, admin bypass, "any of" versus "all of", a missing layer.

use authstar::network::{Networks, TrustedProxies};
use authstar::{AuthstarClient, Client};
use authstar_axum::testing::{FixedCredentials, WithCredentials};
use authstar_axum::{AuthRejection, Authenticated, RouteSecurity};
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::net::SocketAddr;
use tower::ServiceExt;

async fn send(app: &Router, request: Request<Body>) -> Response {
    app.clone().oneshot(request).await.unwrap()
}

async fn body_json(response: Response) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn credentials() -> FixedCredentials<AuthstarClient> {
    FixedCredentials::new()
        .bearer("reader", AuthstarClient::new("reader", ["reports:read"]))
        .bearer(
            "both",
            AuthstarClient::new("both", ["reports:read", "reports:export"]),
        )
        .bearer("root", AuthstarClient::new("root", ["admin"]))
}

fn internal_app(proxies: TrustedProxies) -> Router {
    let layer = credentials().trusted_proxies(proxies).layer();
    let security = RouteSecurity::new(&layer);
    Router::new()
        .route(
            "/health",
            get(|| async { "ok" }).route_layer(security.internal()),
        )
        .layer(layer)
}

fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::get(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn internal_without_a_peer_address_is_403_never_500() {
    let app = internal_app(TrustedProxies::none());
    let response = send(&app, get_with("/health", &[])).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(response).await["error"], "forbidden");
}

#[tokio::test]
async fn internal_admits_private_peers_and_refuses_public_ones() {
    for (peer, status) in [
        ("127.0.0.1:5000", StatusCode::OK),
        ("10.1.2.3:5000", StatusCode::OK),
        ("[fd00::1]:5000", StatusCode::OK),
        ("[fe80::1]:5000", StatusCode::OK),
        ("203.0.113.9:5000", StatusCode::FORBIDDEN),
        ("[2001:db8::1]:5000", StatusCode::FORBIDDEN),
    ] {
        let peer: SocketAddr = peer.parse().unwrap();
        let app = internal_app(TrustedProxies::none()).layer(MockConnectInfo(peer));
        assert_eq!(
            send(&app, get_with("/health", &[])).await.status(),
            status,
            "{peer}"
        );
    }
}

#[tokio::test]
async fn rfc7239_forwarding_headers_count_only_from_trusted_proxies() {
    let proxy: SocketAddr = "192.0.2.10:443".parse().unwrap();
    let trusting = TrustedProxies::new(Networks::parse(["192.0.2.10"]).unwrap());
    let app = internal_app(trusting).layer(MockConnectInfo(proxy));
    // The proxy is public, the client behind it is internal.
    let internal = get_with("/health", &[("x-forwarded-for", "10.0.0.7")]);
    assert_eq!(send(&app, internal).await.status(), StatusCode::OK);
    // The proxy writes X-Forwarded-For: a client's own `Forwarded` is ignored, even beside it.
    let smuggled = get_with(
        "/health",
        &[
            ("x-forwarded-for", "203.0.113.5"),
            ("forwarded", "for=10.0.0.7"),
        ],
    );
    assert_eq!(send(&app, smuggled).await.status(), StatusCode::FORBIDDEN);
    let rfc7239 = TrustedProxies::new(Networks::parse(["192.0.2.10"]).unwrap()).forwarded();
    let forwarded_app = internal_app(rfc7239).layer(MockConnectInfo(proxy));
    let internal = get_with("/health", &[("forwarded", "for=10.0.0.7;proto=https")]);
    assert_eq!(
        send(&forwarded_app, internal).await.status(),
        StatusCode::OK
    );
    let smuggled = get_with(
        "/health",
        &[
            ("forwarded", "for=203.0.113.5"),
            ("x-forwarded-for", "10.0.0.7"),
        ],
    );
    assert_eq!(
        send(&forwarded_app, smuggled).await.status(),
        StatusCode::FORBIDDEN
    );
    // A public client cannot claim an internal address left of the proxy's entry.
    let spoofed = get_with("/health", &[("x-forwarded-for", "10.0.0.7, 203.0.113.5")]);
    assert_eq!(send(&app, spoofed).await.status(), StatusCode::FORBIDDEN);
    // A trusted proxy that names no client identifies nobody.
    assert_eq!(
        send(&app, get_with("/health", &[])).await.status(),
        StatusCode::FORBIDDEN
    );

    // Without trust, the same headers from a public peer change nothing.
    let untrusting = internal_app(TrustedProxies::none()).layer(MockConnectInfo(proxy));
    let claimed = get_with("/health", &[("x-forwarded-for", "10.0.0.7")]);
    assert_eq!(
        send(&untrusting, claimed).await.status(),
        StatusCode::FORBIDDEN
    );
}

fn scopes_app(
    security_config: impl FnOnce(RouteSecurity<AuthstarClient>) -> RouteSecurity<AuthstarClient>,
) -> Router {
    let layer = credentials().layer();
    let security = security_config(RouteSecurity::new(&layer));
    Router::new()
        .route(
            "/any",
            get(|| async { "any" }).route_layer(security.scopes_any(["reports:read", "admin"])),
        )
        .route(
            "/all",
            get(|| async { "all" })
                .route_layer(security.scopes_all(["reports:read", "reports:export"])),
        )
        .layer(layer)
}

#[tokio::test]
async fn scopes_any_and_all() {
    let app = scopes_app(|s| s);
    let cases = [
        ("/any", "reader", StatusCode::OK),
        ("/any", "root", StatusCode::OK),
        ("/all", "reader", StatusCode::FORBIDDEN),
        ("/all", "both", StatusCode::OK),
        ("/all", "root", StatusCode::FORBIDDEN),
    ];
    for (path, token, status) in cases {
        let request = Request::get(path)
            .bearer(token)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, request).await.status(), status, "{path} {token}");
    }
    let response = send(
        &app,
        Request::get("/all")
            .bearer("reader")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="authstar", error="insufficient_scope", scope="reports:read reports:export""#
    );
}

#[tokio::test]
async fn admin_bypass_waives_scope_checks() {
    let app = scopes_app(|s| s.admin_when(|client: &AuthstarClient| client.has_scope("admin")));
    let request = Request::get("/all")
        .bearer("root")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, request).await.status(), StatusCode::OK);
    let request = Request::get("/all")
        .bearer("reader")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, request).await.status(), StatusCode::FORBIDDEN);
}

#[derive(Clone, Debug)]
struct Staff {
    id: String,
    email: String,
}

impl Client for Staff {
    fn client_id(&self) -> &str {
        &self.id
    }
    fn scopes(&self) -> impl Iterator<Item = &str> {
        std::iter::empty()
    }
    fn is_admin(&self) -> bool {
        self.email.ends_with("@ops.example")
    }
}

#[tokio::test]
async fn a_custom_client_type_with_its_own_admin_method() {
    let layer = FixedCredentials::new()
        .bearer(
            "ops",
            Staff {
                id: "o".into(),
                email: "o@ops.example".into(),
            },
        )
        .bearer(
            "dev",
            Staff {
                id: "d".into(),
                email: "d@dev.example".into(),
            },
        )
        .layer();
    let security = RouteSecurity::new(&layer).with_admin_bypass();
    let app = Router::new()
        .route(
            "/email",
            get(|Authenticated(staff): Authenticated<Staff>| async move { staff.email })
                .route_layer(security.scopes_any(["billing"])),
        )
        .with_state(security)
        .layer(layer);
    let ops = send(
        &app,
        Request::get("/email")
            .bearer("ops")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let body = axum::body::to_bytes(ops.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"o@ops.example");
    let dev = send(
        &app,
        Request::get("/email")
            .bearer("dev")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(dev.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn custom_error_bodies_keep_the_status_and_challenges() {
    let layer = credentials().layer();
    let security = RouteSecurity::new(&layer).error_body(|rejection: &AuthRejection| {
        let problem = serde_json::json!({
            "type": "about:blank",
            "title": rejection.body().error_description,
        });
        // Even a renderer that gets the status wrong cannot change it.
        (
            StatusCode::IM_A_TEAPOT,
            [("content-type", "application/problem+json")],
            problem.to_string(),
        )
            .into_response()
    });
    let app = Router::new()
        .route(
            "/me",
            get(|| async { "me" }).route_layer(security.authenticated()),
        )
        .layer(layer);
    let response = send(&app, get_with("/me", &[])).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .count(),
        3
    );
    assert_eq!(
        body_json(response).await["title"],
        "authentication is required"
    );
}

#[tokio::test]
async fn guards_run_before_any_body_is_read() {
    let layer = credentials().layer();
    let security = RouteSecurity::new(&layer);
    let app = Router::new()
        .route(
            "/reports",
            post(|Json(body): Json<serde_json::Value>| async move { body.to_string() })
                .route_layer(security.authenticated()),
        )
        .layer(layer);
    let request = Request::post("/reports")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(send(&app, request).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_guard_without_its_layer_is_a_clear_server_error_not_a_silent_pass() {
    let layer = credentials().layer();
    let security = RouteSecurity::new(&layer);
    // The layer is built but never applied.
    let app = Router::new()
        .route(
            "/me",
            get(|| async { "me" }).route_layer(security.authenticated()),
        )
        .route(
            "/opt",
            get(|c: Option<Authenticated<AuthstarClient>>| async move { c.is_some().to_string() }),
        )
        .with_state(security);
    for path in ["/me", "/opt"] {
        let response = send(&app, get_with(path, &[])).await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        assert_eq!(body_json(response).await["error"], "server_error");
    }
}

#[test]
fn rejection_kinds_map_to_statuses() {
    let layer = credentials().layer();
    let security = RouteSecurity::new(&layer);
    let rejection = security
        .stored_client(&axum::http::Extensions::new())
        .unwrap_err();
    assert!(rejection.refusal().is_misconfiguration());
    assert_eq!(rejection.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

//! The library's defaults, tried as a developer following the README and the guide would, over
//! real sockets on 127.0.0.1 (issue 20, "the library's defaults"): each test is a way an app
//! built as documented let a caller through, and failed before its fix.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authstar::{AuthstarClient, AuthstarLayer, BearerToken, HeaderAuth, HeaderCredential};
use authstar_axum::{Authenticated, RouteSecurity};
use axum::Router;
use axum::routing::{any, get, post};

use authstar_testkit::serve::serve_with_peers as serve;

fn bearer_layer(
    token: &'static str,
) -> AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>> {
    AuthstarLayer::builder()
        .on_auth_bearer(move |presented: BearerToken| async move {
            (presented.as_str() == token).then(|| AuthstarClient::new("svc", ["read"]))
        })
        .require_authentication()
        .build()
        .unwrap()
}

/// Item 18: a request shaped as a CORS preflight skipped `require_authentication()` whether or
/// not a CORS layer answered it; a route registered with `any(...)` and a fallback ran their
/// handlers with no client.
#[tokio::test]
async fn a_preflight_shaped_options_is_refused_unless_asked_for() {
    let reached = Arc::new(AtomicUsize::new(0));
    let (counter, fallback_counter) = (reached.clone(), reached.clone());
    let app = Router::new()
        .route(
            "/data",
            any(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { "data" }
            }),
        )
        .fallback(move || {
            fallback_counter.fetch_add(1, Ordering::SeqCst);
            async { "fallback" }
        })
        .layer(bearer_layer("good"));
    let base = serve(app).await;
    let http = reqwest::Client::new();
    for path in ["/data", "/anything-else"] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "DELETE")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 401, "{path}");
        assert!(preflight.headers().contains_key("www-authenticate"));
    }
    assert_eq!(reached.load(Ordering::SeqCst), 0, "no handler ran");

    // Asked for, with the CORS layer outside that answers preflights: still never a gRPC call.
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .require_authentication()
        .except_cors_preflight()
        .build()
        .unwrap();
    let open = serve(
        Router::new()
            .route("/data", any(|| async { "data" }))
            .layer(layer),
    )
    .await;
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{open}/data"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    let grpc = http
        .request(reqwest::Method::OPTIONS, format!("{open}/data"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("content-type", "application/grpc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        grpc.headers()["grpc-status"],
        "16",
        "a gRPC call is never a preflight"
    );
}

/// Item 19: a nested router with its own layer (same client type) and guards admitted the
/// outer layer's client, because the inner layer found nothing and left the outer outcome.
#[tokio::test]
async fn a_nested_layer_s_guards_admit_only_its_own_clients() {
    let outer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            (token.as_str() == "public-token").then(|| AuthstarClient::new("svc", ["read"]))
        })
        .build()
        .unwrap();
    let inner = AuthstarLayer::builder()
        .on_auth_header(HeaderAuth::new(
            "x-admin-key",
            |key: HeaderCredential| async move {
                (key.as_str() == "admin-key").then(|| AuthstarClient::new("ops", ["admin"]))
            },
        ))
        .build()
        .unwrap();
    let admin_security = RouteSecurity::new(&inner);
    let public_security = RouteSecurity::new(&outer);
    let admin = Router::new()
        .route(
            "/panel",
            get(|| async { "panel" }).route_layer(admin_security.authenticated()),
        )
        .route(
            "/whoami",
            get(
                |Authenticated(c): Authenticated<AuthstarClient>| async move {
                    c.client_id().to_owned()
                },
            ),
        )
        .with_state(admin_security)
        .layer(inner);
    let app = Router::new()
        .route(
            "/me",
            get(|| async { "me" }).route_layer(public_security.authenticated()),
        )
        .nest("/admin", admin)
        .layer(outer);
    let base = serve(app).await;
    let http = reqwest::Client::new();
    let get_with = |path: &str, header: (&str, &str)| {
        http.get(format!("{base}{path}"))
            .header(header.0, header.1)
            .send()
    };
    let public = ("authorization", "Bearer public-token");
    assert_eq!(get_with("/me", public).await.unwrap().status(), 200);
    for path in ["/admin/panel", "/admin/whoami"] {
        let response = get_with(path, public).await.unwrap();
        assert_eq!(
            response.status(),
            401,
            "{path}: the outer client is not admitted"
        );
        let response = get_with(path, ("x-admin-key", "admin-key")).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    assert_eq!(
        get_with("/admin/whoami", ("x-admin-key", "admin-key"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ops"
    );
}

/// Item 20: an authenticator that returns the anonymous client as a placeholder for an unknown
/// token got through `require_authentication()`, and `Outcome::client_in` handed it out.
#[tokio::test]
async fn enforcement_and_client_refuse_a_placeholder_client() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            Some(if token.as_str() == "good" {
                AuthstarClient::new("svc", ["read"])
            } else {
                AuthstarClient::anonymous()
            })
        })
        .require_authentication()
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/data",
            get(|request: axum::extract::Request| async move {
                match authstar::Outcome::<AuthstarClient>::client_in(request.extensions()) {
                    Some(client) => client.client_id().to_owned(),
                    None => "nobody".to_owned(),
                }
            }),
        )
        .layer(layer);
    let base = serve(app).await;
    let http = reqwest::Client::new();
    let wrong = http
        .get(format!("{base}/data"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let good = http
        .get(format!("{base}/data"))
        .bearer_auth("good")
        .send()
        .await
        .unwrap();
    assert_eq!(good.text().await.unwrap(), "svc");
}

/// Item 21: `route_layer` covers the routes (and router) it is applied to, never a
/// `fallback_service`; `.layer(...)` covers everything. What the guide now says.
#[tokio::test]
async fn route_layer_guards_routes_and_layer_guards_the_whole_app() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            (token.as_str() == "good").then(|| AuthstarClient::new("svc", ["read"]))
        })
        .build()
        .unwrap();
    let security = RouteSecurity::new(&layer);
    let files = || {
        tower::service_fn(|_| async {
            Ok::<_, std::convert::Infallible>(axum::response::Response::new(
                axum::body::Body::from("a file"),
            ))
        })
    };
    let routed = Router::new()
        .route("/data", get(|| async { "data" }))
        .fallback_service(files())
        .route_layer(security.authenticated())
        .layer(layer.clone());
    let whole = Router::new()
        .route("/data", get(|| async { "data" }))
        .fallback_service(files())
        .layer(security.authenticated())
        .layer(layer);
    let (routed, whole) = (serve(routed).await, serve(whole).await);
    let http = reqwest::Client::new();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status() }
    };
    assert_eq!(status(format!("{routed}/data")).await, 401);
    assert_eq!(
        status(format!("{routed}/static/secret.txt")).await,
        200,
        "route_layer does not cover the fallback service: documented"
    );
    assert_eq!(status(format!("{whole}/data")).await, 401);
    assert_eq!(status(format!("{whole}/static/secret.txt")).await, 401);
}

/// Item 22: an empty scope list (often read from configuration) admitted everyone
/// (`scopes_all([])`) or no one (`scopes_any([])`); it is a construction error now.
#[test]
#[should_panic(expected = "needs at least one scope")]
fn scopes_all_of_nothing_is_refused_at_construction() {
    let layer = bearer_layer("good");
    let security = RouteSecurity::new(&layer);
    let _ = security.scopes_all(Vec::<String>::new());
}

#[test]
#[should_panic(expected = "needs at least one scope")]
fn scopes_any_of_nothing_is_refused_at_construction() {
    let layer = bearer_layer("good");
    let security = RouteSecurity::new(&layer);
    let _ = security.scopes_any(Vec::<String>::new());
}

/// Item 24: a hanging authenticator held its request forever; with a timeout it is a backend
/// error (503 with `Retry-After`).
#[tokio::test]
async fn a_hanging_authenticator_answers_503_after_its_timeout() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| std::future::pending::<Option<AuthstarClient>>())
        .authenticator_timeout(Duration::from_millis(200), tokio::time::sleep)
        .unavailable_on_backend_error(Duration::from_secs(1))
        .build()
        .unwrap();
    let base = serve(
        Router::new()
            .route("/data", get(|| async { "data" }))
            .layer(layer),
    )
    .await;
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{base}/data"))
        .bearer_auth("anything")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("answered, not held");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// Item 28: an early refusal to a request whose body had not been read closed the keep-alive
/// connection without saying so; now the answer carries `Connection: close`.
#[tokio::test]
async fn an_early_refusal_of_a_request_with_a_body_says_connection_close() {
    let base = serve(
        Router::new()
            .route("/upload", post(|body: String| async move { body }))
            .layer(bearer_layer("good")),
    )
    .await;
    let address = base.trim_start_matches("http://").to_owned();
    let head = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // The head only: the body "arrives later" (never, here).
        stream
            .write_all(
                b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\
                  authorization: Bearer wrong\r\n\r\n",
            )
            .unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "closed before answering");
            answer.extend_from_slice(&buffer[..read]);
        }
        String::from_utf8_lossy(&answer).to_ascii_lowercase()
    })
    .await
    .unwrap();
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("\r\nconnection: close\r\n"), "{head}");

    // A request without a body keeps its connection.
    let response = reqwest::Client::new()
        .get(format!("{base}/upload"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("connection").is_none());
}

/// Item 6: behind a proxy on the same host that the layer was not told about, every caller
/// was internal (the peer is loopback); a forwarded request is not internal without trusted
/// proxies.
#[tokio::test]
async fn internal_refuses_forwarded_requests_when_no_proxy_is_trusted() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .peer_address(authstar_axum::peer_address)
        .build()
        .unwrap();
    let security = RouteSecurity::new(&layer);
    let app = Router::new()
        .route(
            "/internal/health",
            get(|| async { "ok" }).route_layer(security.internal()),
        )
        .layer(layer);
    let base = serve(app).await;
    let http = reqwest::Client::new();
    let direct = http
        .get(format!("{base}/internal/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.status(),
        200,
        "a loopback caller without a proxy is internal"
    );
    for (name, value) in [
        ("x-forwarded-for", "8.8.8.8"),
        ("forwarded", "for=8.8.8.8"),
        ("x-real-ip", "8.8.8.8"),
    ] {
        let forwarded = http
            .get(format!("{base}/internal/health"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(forwarded.status(), 403, "{name}");
    }
}

#[test]
#[should_panic(expected = "peer_address")]
fn an_internal_guard_behind_a_layer_that_finds_no_addresses_is_refused_when_built() {
    // It would admit no one; the layer, the throttle and the guards read one address, and
    // this layer was given none.
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .build()
        .unwrap();
    let _ = RouteSecurity::new(&layer).internal();
}

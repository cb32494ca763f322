//! gRPC callers get gRPC statuses over a real socket: the layer's 401 and 429 and a guard's
//! 403 become trailers-only answers (HTTP 200, `grpc-status`), with the challenge kept as
//! metadata; HTTP callers of the same server still get 401/403.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authstar::throttle::{Budget, FailureThrottle};
use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
use authstar_axum::RouteSecurity;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::post;

async fn serve(app: Router) -> String {
    authstar_testkit::serve::serve_with_peers(app).await
}

fn app(calls: Arc<AtomicUsize>) -> Router {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| {
            let client = match token.as_str() {
                "reader" => Some(AuthstarClient::new("reader", ["reports:read"])),
                "admin" => Some(AuthstarClient::new("admin", ["admin"])),
                _ => None,
            };
            async move { client }
        })
        .require_authentication()
        .throttle(
            FailureThrottle::new()
                .per_address(Some(Budget::new(3, 1)))
                .client_address(|extensions, _| {
                    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?;
                    Some(peer.0.ip())
                }),
        )
        .build()
        .unwrap();
    let security = RouteSecurity::new(&layer);
    let counted = move || {
        calls.fetch_add(1, Ordering::SeqCst);
        async { "called" }
    };
    Router::new()
        .route(
            "/reports.Reports/Export",
            post(counted).route_layer(security.scopes_any(["admin"])),
        )
        .layer(layer)
}

struct Answer {
    status: u16,
    grpc_status: Option<String>,
    challenge: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn call(base: &str, token: Option<&str>, content_type: &str) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/reports.Reports/Export"))
        .header("content-type", content_type)
        .header("te", "trailers")
        .body(vec![0u8, 0, 0, 0, 0]);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        grpc_status: header("grpc-status"),
        challenge: header("www-authenticate"),
        content_type: header("content-type"),
        body: String::new(),
    }
    .with_body(response.text().await.unwrap())
}

impl Answer {
    fn with_body(mut self, body: String) -> Self {
        self.body = body;
        self
    }
}

#[tokio::test]
async fn refusals_are_grpc_statuses_for_grpc_callers_and_http_statuses_for_the_rest() {
    let calls = Arc::new(AtomicUsize::new(0));
    let base = serve(app(calls.clone())).await;

    // No credentials: UNAUTHENTICATED, the challenge as metadata, no body.
    let missing = call(&base, None, "application/grpc").await;
    assert_eq!(missing.status, 200);
    assert_eq!(missing.grpc_status.as_deref(), Some("16"));
    assert_eq!(missing.content_type.as_deref(), Some("application/grpc"));
    assert!(missing.challenge.unwrap().starts_with("Bearer"));
    assert_eq!(missing.body, "");

    // Malformed or refused: UNAUTHENTICATED, with the challenge an HTTP caller gets (the
    // RFC 6750 error code in it).
    for token in ["not{a}token", "wrong"] {
        let grpc = call(&base, Some(token), "application/grpc+proto").await;
        let http = call(&base, Some(token), "application/json").await;
        assert_eq!(grpc.grpc_status.as_deref(), Some("16"), "{token}");
        assert_eq!(http.status, 401);
        assert!(grpc.challenge.as_deref().unwrap().contains("error="));
        assert_eq!(grpc.challenge, http.challenge, "{token}");
    }

    // Authenticated without the scope: PERMISSION_DENIED from the route guard.
    let under_scoped = call(&base, Some("reader"), "application/grpc").await;
    assert_eq!(under_scoped.status, 200);
    assert_eq!(under_scoped.grpc_status.as_deref(), Some("7"));
    assert!(
        under_scoped
            .challenge
            .unwrap()
            .contains("insufficient_scope")
    );

    // The same refusals for an HTTP caller of the same server: 401 and 403.
    let http = call(&base, None, "application/json").await;
    assert_eq!((http.status, http.grpc_status), (401, None));
    let http = call(&base, Some("reader"), "application/json").await;
    assert_eq!((http.status, http.grpc_status), (403, None));

    // Allowed: the handler runs (and answers as it likes).
    let allowed = call(&base, Some("admin"), "application/grpc").await;
    assert_eq!((allowed.status, allowed.body.as_str()), (200, "called"));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "only the allowed call ran");
}

#[tokio::test]
async fn a_throttled_grpc_caller_gets_resource_exhausted() {
    let base = serve(app(Arc::new(AtomicUsize::new(0)))).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let refused = call(&base, Some("wrong"), "application/grpc").await;
        assert_eq!(refused.status, 200);
        statuses.push(refused.grpc_status.unwrap());
    }
    assert_eq!(statuses.first().map(String::as_str), Some("16"));
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("8"),
        "{statuses:?}"
    );
}

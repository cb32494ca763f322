//! The demo app in process, as the `authstar demo` command builds it (throttle on, SQLite
//! registry, credentials cached after their first check): `GET /`, `GET /me` with an API key
//! and with Basic, and `POST /oauth2/token`. For profiling where a workload's time goes beyond
//! the HTTP stack and the signature (`AUTHSTAR_BENCH_PROFILE` + callgrind; counted by
//! difference, see [`lazy`]).

use std::hint::black_box;

use axum::extract::Request;
use axum::http::HeaderValue;
use tower::ServiceExt as _;

use crate::{Group, Variant, lazy};

/// The demo's token endpoint.
pub(crate) const DEMO_TOKEN: &str = "demo: POST /oauth2/token in process (ES256)";
/// The floor of the other demo variants: a public route through the same layer.
pub(crate) const DEMO_FLOOR: &str = "demo: GET / in process";
/// An API key on `/me`.
pub(crate) const DEMO_KEY: &str = "demo: GET /me, X-API-Key in process";
/// Basic client credentials (a generated secret) on `/me`.
pub(crate) const DEMO_BASIC: &str = "demo: GET /me, Basic in process";

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {pair}")
}

/// `POST /oauth2/token` for client `id` (`client_credentials`, Basic).
pub(crate) fn request(id: &str, secret: &str) -> Request {
    Request::post("/oauth2/token")
        .header("authorization", basic(id, secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("grant_type=client_credentials"))
        .unwrap_or_default()
}

/// A client's credentials in the registry behind the app, as header values made once (so
/// that building a request costs the same on every variant).
struct Credentials {
    basic: HeaderValue,
    api_key: HeaderValue,
}

/// The variants (each built on first use: a registry on disk and a runtime).
pub(crate) fn all() -> Vec<Variant> {
    vec![
        variant(DEMO_FLOOR, |_| Request::get("/").body(Default::default())),
        variant(DEMO_KEY, |credentials| {
            Request::get("/me")
                .header("x-api-key", credentials.api_key.clone())
                .body(Default::default())
        }),
        variant(DEMO_BASIC, |credentials| {
            Request::get("/me")
                .header("authorization", credentials.basic.clone())
                .body(Default::default())
        }),
        variant(DEMO_TOKEN, |credentials| {
            Request::post("/oauth2/token")
                .header("authorization", credentials.basic.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from("grant_type=client_credentials"))
        }),
    ]
}

fn variant(
    name: &'static str,
    make_request: fn(&Credentials) -> axum::http::Result<Request>,
) -> Variant {
    lazy(name, Group::Jwt, move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!(
            "authstar-bench-demo-{}-{}",
            std::process::id(),
            name.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (app, credentials) = runtime.block_on(async {
            let registry = authstar_registry::Registry::open(&dir.join("bench.db"))
                .await
                .expect("registry");
            let scopes = ["reports:read".to_owned()];
            let client = registry
                .create_client(Some("bench"), None, &scopes)
                .await
                .expect("client");
            let key = registry.create_key("bench", &scopes).await.expect("key");
            let options = authstar_cli::demo::AppOptions {
                throttle: true,
                ..Default::default()
            };
            let app =
                authstar_cli::demo::app(registry, "https://auth.example", options).expect("app");
            let credentials = Credentials {
                basic: HeaderValue::try_from(basic("bench", &client.client_secret))
                    .expect("base64 is a header value"),
                api_key: HeaderValue::try_from(key.key).expect("a key is a header value"),
            };
            (app, credentials)
        });
        Variant {
            name,
            group: Group::Jwt,
            lazy: false,
            run: Box::new(move |iterations| {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    let request = make_request(&credentials).expect("a valid request");
                    let response = runtime
                        .block_on(app.clone().oneshot(request))
                        .expect("infallible");
                    assert_eq!(response.status(), 200, "{name}");
                    black_box(response);
                }
                start.elapsed()
            }),
        }
    })
}

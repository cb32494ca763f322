//! `POST /oauth2/token` through the demo app in process, for profiling where its time goes
//! beyond the signature (`AUTHSTAR_BENCH_PROFILE` + callgrind; counted by difference).

use std::hint::black_box;

use tower::ServiceExt as _;

use crate::{Group, Variant, lazy};

/// The demo's token endpoint, in process, SQLite registry, the client's check cached.
pub(crate) const DEMO_TOKEN: &str = "demo: POST /oauth2/token in process (ES256)";

/// `POST /oauth2/token` for client `id` (`client_credentials`, Basic).
pub(crate) fn request(id: &str, secret: &str) -> axum::extract::Request {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    axum::extract::Request::post("/oauth2/token")
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("grant_type=client_credentials"))
        .unwrap_or_default()
}

/// The variant (built on first use: a registry on disk and a runtime).
pub(crate) fn all() -> Vec<Variant> {
    vec![lazy(DEMO_TOKEN, Group::Jwt, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!("authstar-bench-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (app, secret) = runtime.block_on(async {
            let registry = authstar_registry::Registry::open(&dir.join("bench.db"))
                .await
                .expect("registry");
            let client = registry
                .create_client(Some("bench"), None, &["reports:read".to_owned()])
                .await
                .expect("client");
            let app = authstar_cli::demo::app(
                registry,
                "https://auth.example",
                authstar_cli::demo::AppOptions::default(),
            )
            .expect("app");
            (app, client.client_secret)
        });
        let name: &'static str = DEMO_TOKEN;
        crate::Variant {
            name,
            group: Group::Jwt,
            lazy: false,
            run: Box::new(move |iterations| {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    let response = runtime
                        .block_on(app.clone().oneshot(request("bench", &secret)))
                        .expect("infallible");
                    assert_eq!(response.status(), 200);
                    black_box(response);
                }
                start.elapsed()
            }),
        }
    })]
}

//! The JWKS, verified-token and introspection counters move through the `metrics` facade, read by
//! a recorder of this test's own (one global recorder per test binary, so this file holds one
//! test): a refresh that works and one that fails, cache misses then hits, introspection calls
//! answered active, inactive and failed.

#![cfg(all(feature = "metrics", feature = "remote"))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstar::{Authenticator, BearerToken, Started};
use authstar_jwt::{Introspection, JwtIssuer, JwtVerifier, RemoteJwks, SigningKey, jwks};
use axum::Router;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Counters by `name{label=value,...}`; gauges and histograms ignored.
#[derive(Default)]
struct Counting(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Counting {
    fn get(&self, name: &str) -> u64 {
        let counters = self.0.lock().unwrap();
        counters.get(name).map_or(0, |c| c.load(Ordering::SeqCst))
    }
}

impl Recorder for &'static Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let mut counters = self.0.lock().unwrap();
        Counter::from_arc(Arc::clone(counters.entry(name).or_default()))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test]
async fn jwks_cache_and_introspection_counters_move() {
    let recorder: &'static Counting = Box::leak(Box::default());
    metrics::set_global_recorder(recorder).unwrap();

    let key = SigningKey::generate_es256("k1").unwrap();
    let document = serde_json::to_value(jwks(std::slice::from_ref(&key))).unwrap();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let serving = Arc::clone(&up);
    let app = Router::new().route(
        "/jwks",
        get(move || {
            let (up, document) = (serving.load(Ordering::SeqCst), document.clone());
            async move {
                if up {
                    axum::Json(document).into_response()
                } else {
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let remote = RemoteJwks::builder(&url)
        .allow_http()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    remote.refresh().await.unwrap();
    assert_eq!(recorder.get("authstar_jwks_refreshes_total{result=ok}"), 1);
    up.store(false, Ordering::SeqCst);
    assert!(remote.refresh().await.is_err());
    assert_eq!(
        recorder.get("authstar_jwks_refreshes_total{result=error}"),
        1
    );

    let verifier = JwtVerifier::remote_builder(remote, "https://idp", "api")
        .cache(10)
        .build();
    let token = JwtIssuer::new(key, "https://idp", "api")
        .issue("svc", &[])
        .unwrap();
    for _ in 0..3 {
        assert!(verifier.verify(&token).is_ok());
    }
    assert_eq!(recorder.get("authstar_jwt_cache_total{result=miss}"), 1);
    assert_eq!(recorder.get("authstar_jwt_cache_total{result=hit}"), 2);

    // An RFC 7662 endpoint: `opaque` is active, `broken` fails, anything else is inactive.
    let introspect = Router::new().route(
        "/introspect",
        axum::routing::post(|body: String| async move {
            if body.contains("token=broken") {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            let active = body.contains("token=opaque");
            axum::Json(serde_json::json!({
                "active": active, "client_id": "svc", "exp": authstar_jwt::unix_now() + 600,
            }))
            .into_response()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, introspect).await });
    let introspection = Introspection::builder(&url, "api", "secret")
        .allow_http()
        .build()
        .unwrap();
    for token in ["opaque", "opaque", "made-up", "broken"] {
        let value = HeaderValue::try_from(format!("Bearer {token}")).unwrap();
        let bearer = BearerToken::from_authorization(&value).unwrap();
        if let Started::Running(future) = introspection.start(bearer) {
            future.await;
        }
    }
    let calls = |result: &str| {
        recorder.get(&format!(
            "authstar_introspection_calls_total{{result={result}}}"
        ))
    };
    assert_eq!(
        (calls("active"), calls("inactive"), calls("error")),
        (1, 1, 1)
    );
    let cache = |result: &str| {
        recorder.get(&format!(
            "authstar_introspection_cache_total{{result={result}}}"
        ))
    };
    assert_eq!((cache("miss"), cache("hit")), (3, 1));
}

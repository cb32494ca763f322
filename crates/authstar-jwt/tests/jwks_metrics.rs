//! The JWKS and verified-token counters move through the `metrics` facade, read by a recorder of
//! this test's own (one global recorder per test binary, so this file holds one test): a
//! refresh that works and one that fails, a cache miss then a hit.

#![cfg(all(feature = "metrics", feature = "remote"))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstar_jwt::{JwtIssuer, JwtVerifier, RemoteJwks, SigningKey, jwks};
use axum::Router;
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
async fn refreshes_and_cache_lookups_are_counted() {
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

    let verifier = JwtVerifier::remote(remote, "https://idp", "api").cache(10);
    let token = JwtIssuer::new(key, "https://idp", "api")
        .issue("svc", &[])
        .unwrap();
    for _ in 0..3 {
        assert!(verifier.verify(&token).is_ok());
    }
    assert_eq!(recorder.get("authstar_jwt_cache_total{result=miss}"), 1);
    assert_eq!(recorder.get("authstar_jwt_cache_total{result=hit}"), 2);
}

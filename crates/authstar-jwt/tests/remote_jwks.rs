//! Verification against a remote JWKS served by a local axum server: caching, one fetch for
//! many requests, rotation, the provider going down or hanging, bounded refreshes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstar::{Authenticator, AuthstarClient, BearerToken, Started, Verdict};
use authstar_jwt::{JwtIssuer, JwtVerifier, RemoteJwks, SigningKey, jwks};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Down,
    Hanging,
}

#[derive(Clone)]
struct Provider {
    document: Arc<Mutex<serde_json::Value>>,
    mode: Arc<Mutex<Mode>>,
    fetches: Arc<AtomicUsize>,
}

async fn serve_jwks(State(provider): State<Provider>) -> Response {
    provider.fetches.fetch_add(1, Ordering::SeqCst);
    let mode = *provider.mode.lock().unwrap();
    match mode {
        Mode::Up => Json(provider.document.lock().unwrap().clone()).into_response(),
        Mode::Down => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Mode::Hanging => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
    }
}

async fn provider(keys: &[SigningKey]) -> (Provider, String) {
    let provider = Provider {
        document: Arc::new(Mutex::new(serde_json::to_value(jwks(keys)).unwrap())),
        mode: Arc::new(Mutex::new(Mode::Up)),
        fetches: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/.well-known/jwks.json", get(serve_jwks))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (provider, url)
}

fn bearer(token: &str) -> BearerToken {
    BearerToken::from_authorization(&HeaderValue::try_from(format!("Bearer {token}")).unwrap())
        .unwrap()
}

/// Authenticates as the middleware does: `start`, then the future if it has to wait.
async fn authenticate(verifier: &JwtVerifier, token: &str) -> Option<String> {
    let verdict = match verifier.start(bearer(token)) {
        Started::Done(verdict) => verdict,
        Started::Running(future) => future.await,
    };
    match verdict {
        Verdict::Authenticated(client) => Some(AuthstarClient::client_id(&client).to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn one_fetch_serves_many_requests() {
    let key = SigningKey::generate_es256("k1").unwrap();
    let (provider, url) = provider(std::slice::from_ref(&key)).await;
    let remote = RemoteJwks::builder(&url)
        .allow_http()
        .timeout(Duration::from_secs(1))
        .min_refresh_interval(Duration::from_millis(200))
        .max_age(Duration::from_secs(600))
        .build()
        .unwrap();
    let verifier = JwtVerifier::remote(remote, "https://idp", "api");
    let token = JwtIssuer::new(key, "https://idp", "api")
        .issue("svc", &[])
        .unwrap();
    for _ in 0..50 {
        assert_eq!(
            authenticate(&verifier, &token).await.as_deref(),
            Some("svc")
        );
    }
    assert_eq!(
        provider.fetches.load(Ordering::SeqCst),
        1,
        "never a fetch per request"
    );
}

#[tokio::test]
async fn rotation_is_picked_up_on_an_unknown_kid() {
    let old = SigningKey::generate_es256("old").unwrap();
    let (provider, url) = provider(std::slice::from_ref(&old)).await;
    let remote = RemoteJwks::builder(&url)
        .allow_http()
        .timeout(Duration::from_secs(1))
        .min_refresh_interval(Duration::from_millis(100))
        .max_age(Duration::from_secs(600))
        .build()
        .unwrap();
    remote.refresh().await.unwrap();
    let verifier = JwtVerifier::remote(remote, "https://idp", "api");
    let old_token = JwtIssuer::new(old, "https://idp", "api")
        .issue("old-client", &[])
        .unwrap();
    assert!(authenticate(&verifier, &old_token).await.is_some());

    let new = SigningKey::generate_ed25519("new").unwrap();
    *provider.document.lock().unwrap() =
        serde_json::to_value(jwks(std::slice::from_ref(&new))).unwrap();
    let new_token = JwtIssuer::new(new, "https://idp", "api")
        .issue("new-client", &[])
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        authenticate(&verifier, &new_token).await.as_deref(),
        Some("new-client")
    );
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unknown_kids_refresh_at_a_bounded_rate() {
    let key = SigningKey::generate_es256("k").unwrap();
    let (provider, url) = provider(std::slice::from_ref(&key)).await;
    let remote = RemoteJwks::builder(&url)
        .allow_http()
        .timeout(Duration::from_secs(1))
        .min_refresh_interval(Duration::from_secs(60))
        .max_age(Duration::from_secs(600))
        .build()
        .unwrap();
    remote.refresh().await.unwrap();
    let verifier = JwtVerifier::remote(remote, "https://idp", "api");
    let stranger = SigningKey::generate_es256("stranger").unwrap();
    let token = JwtIssuer::new(stranger, "https://idp", "api")
        .issue("x", &[])
        .unwrap();
    for _ in 0..20 {
        assert!(authenticate(&verifier, &token).await.is_none());
    }
    assert_eq!(
        provider.fetches.load(Ordering::SeqCst),
        1,
        "the attacker's kids cause no fetches"
    );
}

#[tokio::test]
async fn a_provider_outage_keeps_the_last_good_keys() {
    let key = SigningKey::generate_es256("k").unwrap();
    let (provider, url) = provider(std::slice::from_ref(&key)).await;
    let remote = RemoteJwks::builder(&url)
        .allow_http()
        .timeout(Duration::from_millis(300))
        .min_refresh_interval(Duration::from_millis(50))
        .max_age(Duration::from_millis(100))
        .build()
        .unwrap();
    remote.refresh().await.unwrap();
    let verifier = JwtVerifier::remote(remote.clone(), "https://idp", "api");
    let token = JwtIssuer::new(key, "https://idp", "api")
        .issue("svc", &[])
        .unwrap();

    *provider.mode.lock().unwrap() = Mode::Down;
    assert!(remote.refresh().await.is_err());
    assert_eq!(
        authenticate(&verifier, &token).await.as_deref(),
        Some("svc")
    );

    *provider.mode.lock().unwrap() = Mode::Hanging;
    let started = std::time::Instant::now();
    assert!(remote.refresh().await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the fetch timeout applies"
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Stale keys trigger a background refresh, which fails; the keys are still served.
    assert_eq!(
        authenticate(&verifier, &token).await.as_deref(),
        Some("svc")
    );

    *provider.mode.lock().unwrap() = Mode::Up;
    assert_eq!(remote.refresh().await.unwrap(), 1);
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let error = RemoteJwks::new("http://idp.example/.well-known/jwks.json").unwrap_err();
    assert!(error.to_string().contains("allow_http"), "{error}");
    assert!(RemoteJwks::new("not a url").is_err());
    assert!(RemoteJwks::new("https://idp.example/.well-known/jwks.json").is_ok());
}

/// A provider whose JWKS path redirects to `target`, and which serves `body` at `/big`.
async fn redirecting(target: String, body: String) -> String {
    let app = Router::new()
        .route(
            "/jwks.json",
            get(move || {
                let target = target.clone();
                async move { axum::response::Redirect::temporary(&target) }
            }),
        )
        .route("/big", get(move || async move { body }));
    authstar_testkit::serve::serve(app).await
}

#[tokio::test]
async fn redirects_leave_the_origin_never_and_bodies_are_capped() {
    let key = SigningKey::generate_es256("k1").unwrap();
    let (elsewhere, elsewhere_url) = provider(std::slice::from_ref(&key)).await;
    // Same origin: followed.
    let same = redirecting("/big".into(), serde_json::to_string(&jwks(&[key])).unwrap()).await;
    let remote = RemoteJwks::builder(format!("{same}/jwks.json"))
        .allow_http()
        .build()
        .unwrap();
    assert_eq!(remote.refresh().await.unwrap(), 1);
    // Another origin: refused, and the other provider never asked.
    let cross = redirecting(elsewhere_url, String::new()).await;
    let remote = RemoteJwks::builder(format!("{cross}/jwks.json"))
        .allow_http()
        .build()
        .unwrap();
    assert!(remote.refresh().await.is_err());
    assert_eq!(elsewhere.fetches.load(Ordering::SeqCst), 0);
    // A body over the cap is refused.
    let padding = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let big = redirecting("/big".into(), padding).await;
    let remote = RemoteJwks::builder(format!("{big}/big"))
        .allow_http()
        .build()
        .unwrap();
    let error = remote.refresh().await.unwrap_err();
    assert!(error.to_string().contains("larger than"), "{error}");
    let small = RemoteJwks::builder(format!("{big}/big"))
        .allow_http()
        .max_body_bytes(1024 * 1024)
        .build()
        .unwrap();
    assert_eq!(small.refresh().await.unwrap(), 0);
}

/// Issue 20, item 25: a key the provider withdrew kept verifying the tokens it had signed from
/// the verified-token cache until their `exp`; and keys published for encryption (`use: enc`,
/// or `key_ops` without `verify`) were taken as verification keys.
#[tokio::test]
async fn withdrawn_keys_stop_verifying_cached_tokens_and_encryption_keys_verify_nothing() {
    let public = |key: &SigningKey| serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    let issuer = |key: SigningKey| JwtIssuer::new(key, "https://idp", "api");
    let kept = SigningKey::generate_es256("kept").unwrap();
    let withdrawn = SigningKey::generate_es256("withdrawn").unwrap();
    let encryption = SigningKey::generate_es256("enc").unwrap();
    let operations = SigningKey::generate_es256("ops").unwrap();
    let mut enc = public(&encryption);
    enc["use"] = "enc".into();
    let mut ops = public(&operations);
    ops.as_object_mut().unwrap().remove("use");
    ops["key_ops"] = serde_json::json!(["encrypt"]);
    let only_kept = serde_json::json!({ "keys": [public(&kept)] });
    let (provider, url) = provider(&[]).await;
    *provider.document.lock().unwrap() =
        serde_json::json!({ "keys": [public(&kept), public(&withdrawn), enc, ops] });
    let remote = RemoteJwks::builder(&url)
        .allow_http()
        .min_refresh_interval(Duration::from_millis(10))
        .max_age(Duration::from_secs(600))
        .build()
        .unwrap();
    assert_eq!(
        remote.refresh().await.unwrap(),
        2,
        "only the signature keys"
    );
    let verifier = JwtVerifier::remote_builder(remote.clone(), "https://idp", "api")
        .cache(100)
        .build();
    for key in [encryption, operations] {
        let forged = issuer(key).issue("forger", &[]).unwrap();
        assert_eq!(authenticate(&verifier, &forged).await, None);
    }
    let by_kept = issuer(kept).issue("a", &[]).unwrap();
    let by_withdrawn = issuer(withdrawn).issue("b", &[]).unwrap();
    assert!(authenticate(&verifier, &by_kept).await.is_some());
    assert!(
        authenticate(&verifier, &by_withdrawn).await.is_some(),
        "cached now"
    );

    *provider.document.lock().unwrap() = only_kept;
    remote.refresh().await.unwrap();
    assert!(authenticate(&verifier, &by_kept).await.is_some());
    assert_eq!(
        authenticate(&verifier, &by_withdrawn).await,
        None,
        "a cached token of a withdrawn key"
    );
}

/// The review of item 25: tokens without a `kid`, verified by a set's only key, kept verifying
/// from the cache after the provider replaced that key.
#[tokio::test]
async fn a_cached_token_without_a_kid_stops_verifying_when_the_only_key_changes() {
    let without_kid = |key: &SigningKey| {
        let mut jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
        jwk.as_object_mut().unwrap().remove("kid");
        serde_json::json!({ "keys": [jwk] })
    };
    let old = SigningKey::generate_es256("old").unwrap();
    let new = SigningKey::generate_es256("new").unwrap();
    let (provider, url) = provider(&[]).await;
    *provider.document.lock().unwrap() = without_kid(&old);
    let remote = RemoteJwks::builder(&url)
        .allow_http()
        .min_refresh_interval(Duration::from_millis(10))
        .max_age(Duration::from_secs(600))
        .build()
        .unwrap();
    remote.refresh().await.unwrap();
    let verifier = JwtVerifier::remote_builder(remote.clone(), "https://idp", "api")
        .cache(100)
        .build();
    let now = authstar_jwt::unix_now();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    let claims = serde_json::json!({
        "iss": "https://idp", "aud": "api", "sub": "svc", "client_id": "svc",
        "jti": "no-kid-1", "iat": now, "exp": now + 600,
    });
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(old.to_bytes()),
    )
    .unwrap();
    assert_eq!(
        authenticate(&verifier, &token).await.as_deref(),
        Some("svc")
    );
    assert_eq!(
        authenticate(&verifier, &token).await.as_deref(),
        Some("svc"),
        "cached"
    );
    *provider.document.lock().unwrap() = without_kid(&new);
    remote.refresh().await.unwrap();
    assert_eq!(authenticate(&verifier, &token).await, None);
}

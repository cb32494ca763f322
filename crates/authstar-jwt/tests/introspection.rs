//! Opaque tokens through RFC 7662 introspection, against a local endpoint that counts its calls
//! and can be made slow, down, rude or wrong; and through the layer over a real socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authstar::{Authenticator, AuthstarClient, AuthstarLayer, BearerToken, Started, Verdict};
use authstar_jwt::{Introspection, unix_now};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

const NORMAL: u8 = 0;
const SLOW: u8 = 1;
const GARBAGE: u8 = 2;
const REFUSING: u8 = 3;

#[derive(Clone, Default)]
struct Endpoint {
    calls: Arc<AtomicUsize>,
    mode: Arc<AtomicU8>,
    answers: Arc<Mutex<HashMap<String, Value>>>,
    authorization: Arc<Mutex<Option<String>>>,
}

async fn introspect(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: String,
) -> Response {
    endpoint.calls.fetch_add(1, Ordering::SeqCst);
    *endpoint.authorization.lock().unwrap() = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    match endpoint.mode.load(Ordering::SeqCst) {
        SLOW => tokio::time::sleep(Duration::from_secs(2)).await,
        GARBAGE => return "<html>maintenance</html>".into_response(),
        REFUSING => return StatusCode::UNAUTHORIZED.into_response(),
        _ => tokio::time::sleep(Duration::from_millis(100)).await, // long enough to overlap
    }
    let token = form_urlencoded::parse(body.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let answer = endpoint
        .answers
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or_else(|| json!({"active": false}));
    Json(answer).into_response()
}

async fn start() -> (Endpoint, String) {
    let endpoint = Endpoint::default();
    let app = Router::new()
        .route("/introspect", post(introspect))
        .with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (endpoint, url)
}

fn bearer(token: &str) -> BearerToken {
    BearerToken::from_authorization(&HeaderValue::try_from(format!("Bearer {token}")).unwrap())
        .unwrap()
}

async fn ask(introspection: &Introspection, token: &str) -> Verdict<AuthstarClient> {
    match introspection.start(bearer(token)) {
        Started::Done(verdict) => verdict,
        Started::Running(future) => future.await,
    }
}

fn active(client: &str, scope: &str, exp: u64) -> Value {
    json!({"active": true, "client_id": client, "scope": scope, "exp": exp, "aud": ["https://reports.example"], "token_type": "Bearer"})
}

#[tokio::test]
async fn answers_are_remembered_active_until_exp_or_ttl_inactive_briefly() {
    let (endpoint, url) = start().await;
    endpoint.answers.lock().unwrap().insert(
        "opaque-1".into(),
        active("svc", "reports:read", unix_now() + 600),
    );
    let introspection = Introspection::builder(&url, "reports-api", "se:cr&t")
        .allow_http()
        .active_ttl(Duration::from_millis(400))
        .inactive_ttl(Duration::from_millis(200))
        .build()
        .unwrap();
    let Verdict::Authenticated(client) = ask(&introspection, "opaque-1").await else {
        panic!("active token refused")
    };
    assert_eq!(
        (client.client_id(), client.scopes()),
        ("svc", &["reports:read".to_owned()][..])
    );
    assert!(
        matches!(
            introspection.start(bearer("opaque-1")),
            Started::Done(Verdict::Authenticated(_))
        ),
        "answered from memory"
    );
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 1);
    // RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
    let sent = endpoint.authorization.lock().unwrap().clone().unwrap();
    let expected = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "reports-api:se%3Acr%26t",
    );
    assert_eq!(sent, format!("Basic {expected}"));

    assert!(matches!(
        ask(&introspection, "made-up").await,
        Verdict::Rejected
    ));
    assert!(matches!(
        ask(&introspection, "made-up").await,
        Verdict::Rejected
    ));
    assert_eq!(
        endpoint.calls.load(Ordering::SeqCst),
        2,
        "an inactive answer is remembered too"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(matches!(
        ask(&introspection, "made-up").await,
        Verdict::Rejected
    ));
    // The active answer's TTL ran out: revoked at the issuer meanwhile, it is refused now.
    endpoint
        .answers
        .lock()
        .unwrap()
        .insert("opaque-1".into(), json!({"active": false}));
    assert!(matches!(
        ask(&introspection, "opaque-1").await,
        Verdict::Rejected
    ));
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 4);

    // An active answer whose exp has passed, or for another audience, is no client.
    endpoint
        .answers
        .lock()
        .unwrap()
        .insert("expired".into(), active("svc", "", unix_now() - 5));
    assert!(matches!(
        ask(&introspection, "expired").await,
        Verdict::Rejected
    ));
    let strict = Introspection::builder(&url, "reports-api", "x")
        .allow_http()
        .audience("https://billing.example")
        .build()
        .unwrap();
    endpoint
        .answers
        .lock()
        .unwrap()
        .insert("opaque-2".into(), active("svc", "", unix_now() + 600));
    assert!(matches!(ask(&strict, "opaque-2").await, Verdict::Rejected));
}

#[tokio::test]
async fn concurrent_lookups_of_one_token_share_one_call() {
    let (endpoint, url) = start().await;
    endpoint
        .answers
        .lock()
        .unwrap()
        .insert("hot".into(), active("svc", "a", unix_now() + 600));
    let introspection = Introspection::builder(&url, "api", "x")
        .allow_http()
        .build()
        .unwrap();
    let askers: Vec<_> = (0..50)
        .map(|_| {
            let introspection = introspection.clone();
            tokio::spawn(async move { ask(&introspection, "hot").await })
        })
        .collect();
    for asker in askers {
        assert!(matches!(asker.await.unwrap(), Verdict::Authenticated(_)));
    }
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 1, "single flight");
}

#[tokio::test]
async fn an_endpoint_down_slow_rude_or_wrong_is_a_backend_error_never_a_rejection() {
    let (endpoint, url) = start().await;
    endpoint
        .answers
        .lock()
        .unwrap()
        .insert("t".into(), active("svc", "", unix_now() + 600));
    let introspection = Introspection::builder(&url, "api", "x")
        .allow_http()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for mode in [SLOW, GARBAGE, REFUSING] {
        endpoint.mode.store(mode, Ordering::SeqCst);
        let started = Instant::now();
        assert!(
            matches!(ask(&introspection, "t").await, Verdict::Unavailable(_)),
            "mode {mode}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "bounded by the timeout"
        );
    }
    endpoint.mode.store(NORMAL, Ordering::SeqCst);
    assert!(
        matches!(ask(&introspection, "t").await, Verdict::Authenticated(_)),
        "failures are not remembered"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = Introspection::builder(format!("http://127.0.0.1:{port}/introspect"), "api", "x")
        .allow_http()
        .build()
        .unwrap();
    assert!(matches!(ask(&nobody, "t").await, Verdict::Unavailable(_)));
    assert!(
        Introspection::builder("http://idp.example/introspect", "api", "x")
            .build()
            .is_err(),
        "https only"
    );
    assert!(!format!("{:?}", Introspection::builder(&url, "api", "hunter2")).contains("hunter2"));
}

#[tokio::test]
async fn through_the_layer_active_is_200_inactive_401_endpoint_down_503() {
    let (endpoint, url) = start().await;
    endpoint.answers.lock().unwrap().insert(
        "good".into(),
        active("svc", "reports:read", unix_now() + 600),
    );
    let introspection = Introspection::builder(&url, "api", "x")
        .allow_http()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(introspection)
        .unavailable_on_backend_error(Duration::from_secs(1))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/me",
            get(|extensions: axum::http::Extensions| async move {
                match authstar::Outcome::<AuthstarClient>::get(&extensions) {
                    Some(authstar::Outcome::Authenticated { client, .. }) => {
                        client.client_id().to_owned().into_response()
                    }
                    _ => StatusCode::UNAUTHORIZED.into_response(),
                }
            }),
        )
        .layer(layer);
    let base = authstar_testkit::serve::serve(app).await;
    let http = reqwest::Client::new();
    let status = |token: &'static str| {
        let request = http.get(format!("{base}/me")).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("good").await, 200);
    assert_eq!(status("unknown").await, 401);
    endpoint.mode.store(SLOW, Ordering::SeqCst);
    assert_eq!(status("never-seen").await, 503);
    assert_eq!(
        status("good").await,
        200,
        "remembered answers keep working while it is down"
    );
}

#[tokio::test]
async fn an_active_answer_is_remembered_no_longer_than_the_tokens_exp() {
    let (endpoint, url) = start().await;
    endpoint
        .answers
        .lock()
        .unwrap()
        .insert("short".into(), active("svc", "", unix_now() + 2));
    // A TTL of an hour: the token's own exp must end the remembered answer first. `exp` is in
    // whole seconds: now + 2 is still ahead at the first asks (now + 1 was not, when a second
    // boundary fell between the insert and the ask) and behind after 2.1 s.
    let introspection = Introspection::builder(&url, "api", "x")
        .allow_http()
        .active_ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert!(matches!(
        ask(&introspection, "short").await,
        Verdict::Authenticated(_)
    ));
    assert!(matches!(
        ask(&introspection, "short").await,
        Verdict::Authenticated(_)
    ));
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Past exp: asked again, and the issuer's answer (now expired) is refused.
    assert!(matches!(
        ask(&introspection, "short").await,
        Verdict::Rejected
    ));
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 2);
}

/// RFC 8705 §3.2, RFC 9449 §6.2: an introspected token bound to a client certificate is
/// accepted only over it; one bound to a DPoP key never as a bearer token; from the memory of
/// answers too.
#[tokio::test]
async fn a_bound_token_introspected_is_accepted_only_with_its_binding() {
    use authstar::credentials::ClientCertificate;
    use tower::{Layer as _, ServiceExt as _};
    let (endpoint, url) = start().await;
    let ours = authstar_jwt::client_certificate(b"ours".to_vec());
    let theirs = authstar_jwt::client_certificate(b"theirs".to_vec());
    let exp = unix_now() + 600;
    let mut bound = active("svc", "read", exp);
    bound["cnf"] = json!({"x5t#S256": ours.thumbprint()});
    let mut dpop = active("svc", "read", exp);
    dpop["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"});
    endpoint.answers.lock().unwrap().extend([
        ("bound".to_owned(), bound),
        ("dpop".to_owned(), dpop),
        ("plain".to_owned(), active("svc", "read", exp)),
    ]);
    let introspection = Introspection::builder(url, "rs", "rs-secret")
        .allow_http()
        .build()
        .unwrap();
    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(introspection)
        .build()
        .unwrap();
    let service = layer.layer(tower::service_fn(|request: http::Request<()>| async move {
        let found = authstar::Outcome::<AuthstarClient>::client_in(request.extensions()).is_some();
        Ok::<_, std::convert::Infallible>(http::Response::new(found))
    }));
    let call = |token: &'static str, certificate: Option<&ClientCertificate>| {
        let mut request = http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        if let Some(certificate) = certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        let service = service.clone();
        async move { *service.oneshot(request).await.unwrap().body() }
    };
    // Twice: asked, then remembered.
    for _ in 0..2 {
        assert!(call("bound", Some(&ours)).await);
        assert!(!call("bound", Some(&theirs)).await);
        assert!(!call("bound", None).await);
        assert!(!call("dpop", None).await);
        assert!(call("plain", Some(&theirs)).await);
    }
}

//! `private_key_jwt` (RFC 7523 §2.2): `ClientAssertionVerifier` on its own, and behind the
//! token endpoint of an `AuthorizationServer` (a tower service, driven directly).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authstar::throttle::{Budget, FailureThrottle};
use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, Verdict};
use authstar_jwt::{ClientAssertionVerifier, ClientKeys, JwkSet, SigningKey, jwks, unix_now};
use authstar_oauth2::{
    AuthorizationServer, BoxError, ClientAssertions, JWT_BEARER_ASSERTION, OAuth2TokenRequest,
    OAuth2TokenResponse, token_endpoint,
};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

const ISSUER: &str = "https://as.example";

/// `svc`, whose registered key is `svc-1`; `down` makes the registry fail.
struct Registered {
    keys: JwkSet,
    down: Arc<AtomicBool>,
}

impl ClientKeys<AuthstarClient> for Registered {
    async fn client_keys(
        &self,
        client_id: &str,
    ) -> Result<Option<(AuthstarClient, JwkSet)>, BoxError> {
        if self.down.load(Ordering::SeqCst) {
            return Err("the registry is down".into());
        }
        Ok((client_id == "svc").then(|| {
            (
                AuthstarClient::new("svc", ["reports:read"]),
                self.keys.clone(),
            )
        }))
    }
}

struct Fixture {
    key: SigningKey,
    verifier: ClientAssertionVerifier<Registered>,
    down: Arc<AtomicBool>,
}

fn fixture() -> Fixture {
    let key = SigningKey::generate_es256("svc-1").unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let verifier = ClientAssertionVerifier::new(
        Registered {
            keys: jwks(std::slice::from_ref(&key)),
            down: down.clone(),
        },
        ISSUER,
    );
    Fixture {
        key,
        verifier,
        down,
    }
}

/// An assertion of `claims` over the defaults (`iss` = `sub` = `svc`, `aud` the issuer, `exp`
/// in a minute, a fresh `jti`), signed by `key`.
fn assertion(key: &SigningKey, claims: Value) -> String {
    let now = unix_now();
    let mut all = json!({
        "iss": "svc", "sub": "svc", "aud": ISSUER,
        "exp": now + 60, "iat": now,
        "jti": format!("jti-{}", rand_suffix()),
    });
    for (name, value) in claims.as_object().unwrap() {
        match value {
            Value::Null => {
                all.as_object_mut().unwrap().remove(name);
            }
            value => {
                all[name] = value.clone();
            }
        }
    }
    let mut header = Header::new(key.algorithm());
    header.kid = Some(key.kid().to_owned());
    let encoding = EncodingKey::from_ec_der(key.to_bytes());
    jsonwebtoken::encode(&header, &all, &encoding).unwrap()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

async fn verdict(verifier: &ClientAssertionVerifier<Registered>, assertion: &str) -> &'static str {
    match ClientAssertions::<AuthstarClient>::verify(verifier, assertion, "svc").await {
        Verdict::Authenticated(_) => "ok",
        Verdict::Rejected => "refused",
        Verdict::Unavailable(_) => "unavailable",
    }
}

#[tokio::test]
async fn rfc7523_3_each_flaw_is_refused() {
    let Fixture {
        key,
        verifier,
        down,
    } = fixture();
    let now = unix_now();
    assert_eq!(verdict(&verifier, &assertion(&key, json!({}))).await, "ok");
    let stranger = SigningKey::generate_es256("svc-1").unwrap();
    let cases = [
        ("signed by another key", assertion(&stranger, json!({}))),
        (
            "iss is another client",
            assertion(&key, json!({"iss": "other"})),
        ),
        (
            "sub is another client",
            assertion(&key, json!({"sub": "other"})),
        ),
        (
            "aud is another server",
            assertion(&key, json!({"aud": "https://elsewhere.example"})),
        ),
        (
            "aud names the token endpoint",
            assertion(&key, json!({"aud": format!("{ISSUER}/oauth2/token")})),
        ),
        (
            "aud names two audiences",
            assertion(&key, json!({"aud": [ISSUER, "https://elsewhere.example"]})),
        ),
        ("no aud", assertion(&key, json!({"aud": null}))),
        ("expired", assertion(&key, json!({"exp": now - 60}))),
        ("no exp", assertion(&key, json!({"exp": null}))),
        ("lives an hour", assertion(&key, json!({"exp": now + 3600}))),
        (
            "expires at the end of time",
            assertion(&key, json!({"exp": u64::MAX})),
        ),
        (
            "issued at the end of time",
            assertion(&key, json!({"iat": u64::MAX, "nbf": u64::MAX})),
        ),
        (
            "issued in the future",
            assertion(&key, json!({"iat": now + 120})),
        ),
        (
            "not before the future",
            assertion(&key, json!({"nbf": now + 120})),
        ),
        ("no jti", assertion(&key, json!({"jti": null}))),
        ("an empty jti", assertion(&key, json!({"jti": ""}))),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (flaw, assertion) in cases {
        assert_eq!(verdict(&verifier, &assertion).await, "refused", "{flaw}");
    }
    // An array holding only the issuer is the issuer.
    let single = assertion(&key, json!({"aud": [ISSUER]}));
    assert_eq!(verdict(&verifier, &single).await, "ok");
    // Used once.
    let once = assertion(&key, json!({}));
    assert_eq!(verdict(&verifier, &once).await, "ok");
    assert_eq!(verdict(&verifier, &once).await, "refused", "replayed");
    // An unknown client is refused; a registry that fails is a backend error, not a refusal.
    let unknown = ClientAssertions::<AuthstarClient>::verify(&verifier, &once, "nobody").await;
    assert!(matches!(unknown, Verdict::Rejected));
    down.store(true, Ordering::SeqCst);
    assert_eq!(
        verdict(&verifier, &assertion(&key, json!({}))).await,
        "unavailable"
    );
}

#[tokio::test]
async fn symmetric_and_unsigned_assertions_are_refused() {
    let Fixture { key, verifier, .. } = fixture();
    // HMAC keyed with the client's public key (the classic confusion), and `alg: none`.
    let public = serde_json::to_vec(key.public_jwk().unwrap()).unwrap();
    let claims =
        json!({"iss": "svc", "sub": "svc", "aud": ISSUER, "exp": unix_now() + 60, "jti": "h"});
    let hmac = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(public.as_slice()).unwrap(),
    )
    .unwrap();
    assert_eq!(verdict(&verifier, &hmac).await, "refused");
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    assert_eq!(verdict(&verifier, &none).await, "refused");
    // Even if asked for, HMAC is never accepted.
    let verifier = verifier.algorithms([
        jsonwebtoken::Algorithm::HS256,
        jsonwebtoken::Algorithm::ES256,
    ]);
    assert_eq!(
        ClientAssertions::<AuthstarClient>::algorithms(&verifier),
        ["ES256"]
    );
    assert_eq!(verdict(&verifier, &hmac).await, "refused");
}

async fn issue(
    request: OAuth2TokenRequest,
    client: AuthstarClient,
) -> Result<OAuth2TokenResponse, Infallible> {
    Ok(
        OAuth2TokenResponse::bearer(format!("token-for-{}", client.client_id()))
            .scope(request.scope()),
    )
}

fn post(body: String) -> Request<Full<Bytes>> {
    Request::post("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn send<S>(service: &S, request: Request<Full<Bytes>>) -> (StatusCode, Value)
where
    S: tower::Service<
            Request<Full<Bytes>>,
            Response = http::Response<Full<Bytes>>,
            Error = Infallible,
        > + Clone,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn assertion_body(assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type={}&client_assertion={assertion}",
        form_urlencoded::byte_serialize(JWT_BEARER_ASSERTION.as_bytes()).collect::<String>()
    )
}

/// A layer whose Basic authenticator knows no one, throttling two failures per identity from
/// one address, and a token endpoint behind it that takes `verifier`'s assertions.
fn throttled_server(
    verifier: ClientAssertionVerifier<Registered>,
) -> (
    AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>>,
    AuthorizationServer,
) {
    let layer = AuthstarLayer::builder()
        .on_auth_basic(|_: BasicCredentials| async { None::<AuthstarClient> })
        .throttle(
            FailureThrottle::new()
                .client_address(|_, _| Some(std::net::IpAddr::from([192, 0, 2, 1])))
                .per_address(None)
                .per_identity(Some(Budget::per_period(2, Duration::from_secs(600)))),
        )
        .build()
        .unwrap();
    let server = AuthorizationServer::builder(ISSUER)
        .token(token_endpoint(&layer, issue).client_assertions(verifier))
        .build()
        .unwrap();
    (layer, server)
}

#[tokio::test]
async fn the_token_endpoint_takes_assertions_counts_their_failures_and_lists_them() {
    let Fixture { key, verifier, .. } = fixture();
    let (layer, server) = throttled_server(verifier);
    let metadata = server.metadata().clone();
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        metadata["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "ES384", "EdDSA", "RS256", "PS256"])
    );
    let service = layer.layer(server);
    let (status, json) = send(&service, post(assertion_body(&assertion(&key, json!({}))))).await;
    assert_eq!(
        (status, json["access_token"].as_str()),
        (StatusCode::OK, Some("token-for-svc"))
    );
    // The client_id in the body, when sent, must be the assertion's.
    let body = format!(
        "{}&client_id=svc",
        assertion_body(&assertion(&key, json!({})))
    );
    assert_eq!(send(&service, post(body)).await.0, StatusCode::OK);
    // Two methods at once, a wrong assertion type, half an assertion: refused.
    let both = format!(
        "{}&client_secret=x&client_id=svc",
        assertion_body(&assertion(&key, json!({})))
    );
    let (status, json) = send(&service, post(both)).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let saml = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Asaml2-bearer&client_assertion={}",
        assertion(&key, json!({}))
    );
    let (status, json) = send(&service, post(saml)).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let half = "grant_type=client_credentials&client_assertion=abc".to_owned();
    assert_eq!(send(&service, post(half)).await.0, StatusCode::BAD_REQUEST);
    // Wrong assertions for `svc` are counted as wrong secrets are: the third waits, and so
    // does the right one, until the lock ends.
    let stranger = SigningKey::generate_es256("svc-1").unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, json) = send(
            &service,
            post(assertion_body(&assertion(&stranger, json!({})))),
        )
        .await;
        if status == StatusCode::UNAUTHORIZED {
            // No detail that helps an attacker.
            assert_eq!(
                json["error_description"],
                "unknown client or wrong client secret"
            );
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let (status, _) = send(&service, post(assertion_body(&assertion(&key, json!({}))))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_wrong_secret_and_a_wrong_assertion_count_against_the_same_client() {
    let Fixture { key, verifier, .. } = fixture();
    let (layer, server) = throttled_server(verifier);
    let service = layer.layer(server);
    // One wrong secret for `svc` (checked and counted by the layer)...
    let basic = Request::post("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", "Basic c3ZjOndyb25n")
        .body(Full::new(Bytes::from_static(
            b"grant_type=client_credentials",
        )))
        .unwrap();
    assert_eq!(send(&service, basic).await.0, StatusCode::UNAUTHORIZED);
    // ...one wrong assertion for `svc`...
    let stranger = SigningKey::generate_es256("svc-1").unwrap();
    let wrong = post(assertion_body(&assertion(&stranger, json!({}))));
    assert_eq!(send(&service, wrong).await.0, StatusCode::UNAUTHORIZED);
    // ...and `svc` is locked, whichever way it comes next.
    let right = post(assertion_body(&assertion(&key, json!({}))));
    assert_eq!(send(&service, right).await.0, StatusCode::TOO_MANY_REQUESTS);
}

//! The middleware's behaviour, driven in process through `tower::ServiceExt::oneshot`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authstar::MethodSet;
use authstar::{
    AuthMethod, AuthstarClient, AuthstarLayer, BasicCredentials, BearerToken, ConfigError, Failure,
    HeaderAuth, HeaderCredential, Malformed, Outcome,
};
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tower::{Layer, ServiceExt, service_fn};

#[derive(Clone)]
struct Session(&'static str);

/// What the inner service saw, as text: `client <id> via <method>`, `failed <method>: <failure>`,
/// or `anonymous`.
fn describe(request: &Request<()>) -> String {
    match Outcome::<AuthstarClient>::get(request.extensions()) {
        Some(Outcome::Authenticated { client, method, .. }) => {
            format!("client {} via {method}", client.client_id())
        }
        Some(Outcome::Failed { attempt, .. }) => {
            format!("failed {}: {:?}", attempt.method, attempt.failure)
        }
        None => "anonymous".to_owned(),
    }
}

async fn echo(request: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(describe(&request)))
}

/// Counts calls per method so tests can show which authenticators ran.
#[derive(Default)]
struct Calls {
    bearer: AtomicUsize,
    basic: AtomicUsize,
    header: AtomicUsize,
    request: AtomicUsize,
}

/// A layer with all four methods: bearer token "good-token", basic "svc:pa:ss", API key "key-1",
/// token "down" fails like a broken database, and a session in the extensions.
fn full_layer(
    calls: Arc<Calls>,
    unavailable: Option<Duration>,
    enforce: bool,
) -> AuthstarLayer<AuthstarClient, impl MethodSet<AuthstarClient>> {
    let (c1, c2, c3, c4) = (calls.clone(), calls.clone(), calls.clone(), calls);
    let mut builder =
        AuthstarLayer::builder()
            .on_auth_bearer(move |token: BearerToken| {
                c1.bearer.fetch_add(1, Ordering::SeqCst);
                async move {
                    match token.as_str() {
                        "good-token" => Ok(Some(AuthstarClient::new("bearer-client", ["read"]))),
                        "down" => Err("connection refused"),
                        _ => Ok(None),
                    }
                }
            })
            .on_auth_basic(move |credentials: BasicCredentials| {
                c2.basic.fetch_add(1, Ordering::SeqCst);
                async move {
                    (credentials.username() == "svc" && credentials.password() == "pa:ss")
                        .then(|| AuthstarClient::new("basic-client", ["read"]))
                }
            })
            .on_auth_header(HeaderAuth::x_api_key(move |key: HeaderCredential| {
                c3.header.fetch_add(1, Ordering::SeqCst);
                async move {
                    (key.as_str() == "key-1").then(|| AuthstarClient::new("key-client", ["read"]))
                }
            }))
            .on_auth_request(move |parts: &Parts| {
                c4.request.fetch_add(1, Ordering::SeqCst);
                let session = parts.extensions.get::<Session>().cloned();
                async move { session.map(|s| AuthstarClient::new(s.0, ["web"])) }
            })
            .realm("test");
    if let Some(retry_after) = unavailable {
        builder = builder.unavailable_on_backend_error(retry_after);
    }
    if enforce {
        builder = builder
            .require_authentication()
            .except_cors_preflight()
            .except_paths(["/public"])
            .except_when(|head| head.uri.path().starts_with("/assets/"));
    }
    builder.build().unwrap()
}

fn get(path: &str) -> http::request::Builder {
    Request::builder().uri(path)
}

async fn run<M>(layer: &AuthstarLayer<AuthstarClient, M>, request: Request<()>) -> Response<String>
where
    M: MethodSet<AuthstarClient>,
{
    let service = layer.layer(service_fn(echo));
    match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn basic(raw: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn layer() -> (
    Arc<Calls>,
    AuthstarLayer<AuthstarClient, impl MethodSet<AuthstarClient>>,
) {
    let calls = Arc::new(Calls::default());
    let layer = full_layer(calls.clone(), None, false);
    (calls, layer)
}

#[tokio::test]
async fn bearer_token_authenticates_and_is_stored_in_extensions() {
    let (_, layer) = layer();
    let request = get("/")
        .header(AUTHORIZATION, "Bearer good-token")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "client bearer-client via bearer"
    );
}

#[tokio::test]
async fn rfc9110_11_1_scheme_names_are_case_insensitive() {
    let (_, layer) = layer();
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let request = get("/")
            .header(AUTHORIZATION, format!("{scheme} good-token"))
            .body(())
            .unwrap();
        assert_eq!(
            run(&layer, request).await.body(),
            "client bearer-client via bearer"
        );
    }
}

#[tokio::test]
async fn rfc7617_2_basic_password_may_contain_colons() {
    let (_, layer) = layer();
    let request = get("/")
        .header(AUTHORIZATION, basic("svc:pa:ss"))
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "client basic-client via basic"
    );
}

#[tokio::test]
async fn api_key_header_authenticates() {
    let (_, layer) = layer();
    let request = get("/").header("x-api-key", "key-1").body(()).unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "client key-client via x-api-key"
    );
}

#[tokio::test]
async fn request_authenticator_sees_extensions_from_outer_layers() {
    let (_, layer) = layer();
    let mut request = get("/").body(()).unwrap();
    request.extensions_mut().insert(Session("session-user"));
    assert_eq!(
        run(&layer, request).await.body(),
        "client session-user via request"
    );
}

#[tokio::test]
async fn no_credentials_leave_no_outcome() {
    let (calls, layer) = layer();
    let request = get("/").body(()).unwrap();
    assert_eq!(run(&layer, request).await.body(), "anonymous");
    // Only the request authenticator ran (and found no session).
    assert_eq!(calls.request.load(Ordering::SeqCst), 1);
    assert_eq!(calls.bearer.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn precedence_authorization_before_header_before_request() {
    let (calls, layer) = layer();
    let mut request = get("/")
        .header(AUTHORIZATION, "Bearer good-token")
        .header("x-api-key", "key-1")
        .body(())
        .unwrap();
    request.extensions_mut().insert(Session("s"));
    assert_eq!(
        run(&layer, request).await.body(),
        "client bearer-client via bearer"
    );

    let mut request = get("/").header("x-api-key", "key-1").body(()).unwrap();
    request.extensions_mut().insert(Session("s"));
    assert_eq!(
        run(&layer, request).await.body(),
        "client key-client via x-api-key"
    );

    assert_eq!(calls.header.load(Ordering::SeqCst), 1);
    assert_eq!(calls.request.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn rejected_credentials_do_not_fall_back_to_a_session() {
    let (calls, layer) = layer();
    let mut request = get("/")
        .header(AUTHORIZATION, "Bearer stolen")
        .body(())
        .unwrap();
    request.extensions_mut().insert(Session("s"));
    assert_eq!(run(&layer, request).await.body(), "failed bearer: Denied");

    let mut request = get("/").header("x-api-key", "wrong").body(()).unwrap();
    request.extensions_mut().insert(Session("s"));
    assert_eq!(
        run(&layer, request).await.body(),
        "failed x-api-key: Denied"
    );
    assert_eq!(calls.request.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_schemes_are_not_ours_and_the_next_method_is_tried() {
    let (calls, layer) = layer();
    let request = get("/")
        .header(AUTHORIZATION, "Digest username=\"x\"")
        .header("x-api-key", "key-1")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "client key-client via x-api-key"
    );
    assert_eq!(calls.bearer.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_scheme_that_is_not_enabled_is_not_a_presented_credential() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .on_auth_header(HeaderAuth::x_api_key(|_: HeaderCredential| async {
            Some(AuthstarClient::new("key", ["r"]))
        }))
        .build()
        .unwrap();
    let request = get("/")
        .header(AUTHORIZATION, basic("u:p"))
        .header("x-api-key", "k")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "client key via x-api-key"
    );
}

#[tokio::test]
async fn malformed_credentials_never_reach_an_authenticator() {
    let (calls, layer) = layer();
    let cases: [(&str, &str, &str); 10] = [
        ("authorization", "Bearer", "failed bearer: Malformed(Empty)"),
        (
            "authorization",
            "Bearer a b",
            "failed bearer: Malformed(Syntax)",
        ),
        (
            "authorization",
            "Bearer a,b",
            "failed bearer: Malformed(Syntax)",
        ),
        (
            "authorization",
            "Basic !!!!",
            "failed basic: Malformed(Syntax)",
        ),
        (
            "authorization",
            "Basic dXNlcg==",
            "failed basic: Malformed(MissingColon)",
        ),
        (
            "authorization",
            "Basic OnB3",
            "failed basic: Malformed(EmptyUserId)",
        ),
        (
            "authorization",
            "Basic dXNlcjpwYQ",
            "failed basic: Malformed(Base64)",
        ),
        (
            "authorization",
            "Basic dQBzOnA=",
            "failed basic: Malformed(ControlCharacter)",
        ),
        ("x-api-key", "", "failed x-api-key: Malformed(Empty)"),
        (
            "x-api-key",
            "two words",
            "failed x-api-key: Malformed(Syntax)",
        ),
    ];
    for (name, value, expected) in cases {
        let request = get("/").header(name, value).body(()).unwrap();
        assert_eq!(
            run(&layer, request).await.body(),
            expected,
            "{name}: {value}"
        );
    }
    let request = get("/")
        .header(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Basic /w==").unwrap(),
        ) // 0xFF
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "failed basic: Malformed(Utf8)"
    );
    assert_eq!(calls.bearer.load(Ordering::SeqCst), 0);
    assert_eq!(calls.basic.load(Ordering::SeqCst), 0);
    assert_eq!(calls.header.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn repeated_credential_headers_are_malformed() {
    let (calls, layer) = layer();
    let request = get("/")
        .header(AUTHORIZATION, "Bearer good-token")
        .header(AUTHORIZATION, "Bearer good-token")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "failed bearer: Malformed(Repeated)"
    );
    let request = get("/")
        .header(AUTHORIZATION, basic("svc:pa:ss"))
        .header(AUTHORIZATION, basic("svc:pa:ss"))
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "failed basic: Malformed(Repeated)"
    );
    let request = get("/")
        .header("x-api-key", "key-1")
        .header("x-api-key", "key-1")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "failed x-api-key: Malformed(Repeated)"
    );
    assert_eq!(
        calls.bearer.load(Ordering::SeqCst) + calls.header.load(Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn a_repeated_unrelated_header_does_not_hide_a_single_credential() {
    // Some header is repeated, so the middleware cannot take the one-lookup path and counts the
    // credential header's values instead.
    let (calls, layer) = layer();
    for credential in [
        (AUTHORIZATION.as_str(), "Bearer good-token"),
        ("x-api-key", "key-1"),
    ] {
        let request = get("/")
            .header("accept", "text/html")
            .header("accept", "application/json")
            .header(credential.0, credential.1)
            .body(())
            .unwrap();
        let body = run(&layer, request).await.into_body();
        assert!(body.starts_with("client "), "{credential:?}: {body}");
    }
    assert_eq!(calls.bearer.load(Ordering::SeqCst), 1);
    assert_eq!(calls.header.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn huge_credentials_are_refused_before_any_work() {
    let (calls, layer) = layer();
    let huge = "a".repeat(8 * 1024 + 1); // one byte over the default limit, 8 KiB
    let request = get("/")
        .header(AUTHORIZATION, format!("Bearer {huge}"))
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "failed bearer: Malformed(TooLong)"
    );
    let request = get("/").header("x-api-key", huge).body(()).unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "failed x-api-key: Malformed(TooLong)"
    );
    assert_eq!(
        calls.bearer.load(Ordering::SeqCst) + calls.header.load(Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn backend_error_is_anonymous_by_default_and_recorded_as_unavailable() {
    let (_, layer) = layer();
    let request = get("/")
        .header(AUTHORIZATION, "Bearer down")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "failed bearer: Unavailable"
    );
}

#[tokio::test]
async fn backend_error_can_answer_503_with_retry_after() {
    let policy = Some(Duration::from_secs(7));
    let layer = full_layer(Arc::default(), policy, false);
    let request = get("/")
        .header(AUTHORIZATION, "Bearer down")
        .body(())
        .unwrap();
    let response = run(&layer, request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "7");
    assert_eq!(response.body(), "");
}

#[tokio::test]
async fn slow_authenticators_are_awaited_without_blocking_the_caller() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            (token.as_str() == "t").then(|| AuthstarClient::new("slow", ["r"]))
        })
        .build()
        .unwrap();
    let service = layer.layer(service_fn(echo));
    let request = get("/").header(AUTHORIZATION, "Bearer t").body(()).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.body(), "client slow via bearer");
}

fn challenges(response: &Response<String>) -> Vec<&str> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[tokio::test]
async fn rfc9110_11_6_1_enforcement_challenges_every_enabled_scheme() {
    let layer = full_layer(Arc::default(), None, true);
    let response = run(&layer, get("/private").body(()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="test""#,
            r#"Basic realm="test", charset="UTF-8""#,
            r#"ApiKey realm="test", header="x-api-key""#,
        ]
    );
}

#[tokio::test]
async fn rfc6750_3_1_invalid_token_only_when_a_bearer_token_was_refused() {
    let layer = full_layer(Arc::default(), None, true);
    for token in ["Bearer stolen", "Bearer a b"] {
        let request = get("/private")
            .header(AUTHORIZATION, token)
            .body(())
            .unwrap();
        let response = run(&layer, request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenges(&response)[0],
            r#"Bearer realm="test", error="invalid_token""#
        );
    }
    // A refused API key or Basic credential, or a backend failure, gets the bare challenge.
    for (name, value) in [("x-api-key", "wrong"), ("authorization", "Bearer down")] {
        let request = get("/private").header(name, value).body(()).unwrap();
        let response = run(&layer, request).await;
        assert_eq!(challenges(&response)[0], r#"Bearer realm="test""#);
    }
}

#[tokio::test]
async fn enforcement_lets_authenticated_exempt_and_preflight_requests_through() {
    let layer = full_layer(Arc::default(), None, true);
    let request = get("/private")
        .header("x-api-key", "key-1")
        .body(())
        .unwrap();
    assert_eq!(run(&layer, request).await.status(), StatusCode::OK);
    assert_eq!(
        run(&layer, get("/public").body(()).unwrap()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        run(&layer, get("/assets/app.js").body(()).unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    let preflight = get("/private")
        .method(Method::OPTIONS)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .body(())
        .unwrap();
    assert_eq!(run(&layer, preflight).await.status(), StatusCode::OK);
    // Without `Origin` it is no preflight (browsers always send one): refused.
    let no_origin = get("/private")
        .method(Method::OPTIONS)
        .header("access-control-request-method", "POST")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, no_origin).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A plain OPTIONS is not a preflight.
    let options = get("/private").method(Method::OPTIONS).body(()).unwrap();
    assert_eq!(
        run(&layer, options).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A refused credential on an exempt path still records its outcome.
    let request = get("/public")
        .header("x-api-key", "wrong")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.body(),
        "failed x-api-key: Denied"
    );
}

#[test]
fn misconfiguration_is_an_error_when_built() {
    assert_eq!(
        AuthstarLayer::<AuthstarClient>::builder()
            .require_authentication()
            .build()
            .unwrap_err(),
        ConfigError::NoAuthenticator
    );
    let invalid = AuthstarLayer::builder()
        .on_auth_header(HeaderAuth::new("bad name", |_: HeaderCredential| async {
            None::<AuthstarClient>
        }))
        .build();
    assert_eq!(
        invalid.unwrap_err(),
        ConfigError::InvalidHeaderName("bad name".into())
    );
    let twice = AuthstarLayer::builder()
        .on_auth_header(HeaderAuth::x_api_key(|_: HeaderCredential| async {
            None::<AuthstarClient>
        }))
        .on_auth_header(HeaderAuth::new("X-Api-Key", |_: HeaderCredential| async {
            None::<AuthstarClient>
        }))
        .build();
    assert_eq!(
        twice.unwrap_err(),
        ConfigError::DuplicateMethod("x-api-key".into())
    );
    // Issue 21: a second `on_auth_bearer` silently replaced the first; now it is refused, and
    // the error names `Authenticator::or`, which chains them.
    let bearer_twice = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .build();
    let error = bearer_twice.unwrap_err();
    assert_eq!(error, ConfigError::DuplicateMethod("bearer".into()));
    assert!(error.to_string().contains("Authenticator::or"), "{error}");
    let authorization = AuthstarLayer::builder()
        .on_auth_header(HeaderAuth::new(
            "authorization",
            |_: HeaderCredential| async { None::<AuthstarClient> },
        ))
        .build();
    assert_eq!(authorization.unwrap_err(), ConfigError::AuthorizationHeader);
    let realm = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .realm("new\nline")
        .build();
    assert_eq!(realm.unwrap_err(), ConfigError::InvalidRealm);
}

#[test]
fn debug_names_methods_and_never_a_secret() {
    let secret = "s3cr3t-value";
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(move |token: BearerToken| async move {
            (token.as_str() == secret).then(|| AuthstarClient::new("x", ["y"]))
        })
        .on_auth_header(HeaderAuth::x_api_key(|_: HeaderCredential| async {
            None::<AuthstarClient>
        }))
        .build()
        .unwrap();
    let debug = format!("{layer:?}");
    assert!(
        debug.contains(r#"methods: ["bearer", "x-api-key"]"#),
        "{debug}"
    );
    assert!(debug.contains("x-api-key"), "{debug}");
    assert!(!debug.contains(secret), "{debug}");
    let service = layer.layer(service_fn(echo));
    assert!(!format!("{service:?}").contains(secret));

    let token =
        BearerToken::from_authorization(&HeaderValue::from_static("Bearer s3cr3t-value")).unwrap();
    assert!(!format!("{token:?}").contains(secret));
    let basic = BasicCredentials::new("user", secret).unwrap();
    assert!(!format!("{basic:?}").contains(secret));
}

#[test]
fn outcome_records_method_and_failure_for_guards() {
    let attempt = authstar::Attempt::new(
        AuthMethod::Header(http::HeaderName::from_static("x-api-key")),
        Failure::Malformed(Malformed::Syntax),
    );
    assert!(!attempt.is_invalid_bearer_token());
    assert_eq!(
        attempt.failure.to_string(),
        "credentials have invalid syntax"
    );
}

/// An inner service that counts its clones.
#[derive(Default)]
struct CountingClones(Arc<AtomicUsize>);

impl Clone for CountingClones {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Self(self.0.clone())
    }
}

impl tower::Service<Request<()>> for CountingClones {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: Request<()>) -> Self::Future {
        std::future::ready(Ok(Response::new(describe(&request))))
    }
}

#[tokio::test]
async fn sync_fn_authenticators_answer_without_cloning_the_inner_service() {
    use tower::Service as _;
    let clones = Arc::new(AtomicUsize::new(0));
    let sync_layer = AuthstarLayer::builder()
        .on_auth_bearer_with(authstar::sync_fn(|token: BearerToken| {
            (token.as_str() == "t").then(|| AuthstarClient::new("sync", ["r"]))
        }))
        .on_auth_request_with(authstar::sync_fn(|parts: &Parts| {
            parts
                .extensions
                .get::<Session>()
                .map(|s| AuthstarClient::new(s.0, ["web"]))
        }))
        .build()
        .unwrap();
    let mut service = sync_layer.layer(CountingClones(clones.clone()));
    let request = get("/").header(AUTHORIZATION, "Bearer t").body(()).unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.body(), "client sync via bearer");
    let mut with_session = get("/").body(()).unwrap();
    with_session.extensions_mut().insert(Session("cookie-user"));
    let response = service
        .ready()
        .await
        .unwrap()
        .call(with_session)
        .await
        .unwrap();
    assert_eq!(response.body(), "client cookie-user via request");
    assert_eq!(clones.load(Ordering::SeqCst), 0);

    // An async authenticator needs the tower clone-and-swap.
    let async_layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { Some(AuthstarClient::new("async", ["r"])) })
        .build()
        .unwrap();
    let mut service = async_layer.layer(CountingClones(clones.clone()));
    let request = get("/").header(AUTHORIZATION, "Bearer t").body(()).unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.body(), "client async via bearer");
    assert_eq!(clones.load(Ordering::SeqCst), 1);
}

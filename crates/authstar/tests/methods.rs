//! The one method model (issue 21): precedence, the throttle's identity, response headers and
//! chained authenticators all come from the same list of methods.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authstar::DpopAuth;
use authstar::credentials::dpop::DpopToken;
use authstar::throttle::{Budget, FailureThrottle};
use authstar::{
    Authenticator, AuthstarClient, AuthstarLayer, BasicCredentials, BearerToken, HeaderAuth,
    HeaderCredential, MethodSet, Outcome, Verdict, sync_fn,
};
use authstar_testkit::proofs::FakeProofs;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt, service_fn};

async fn echo(request: Request<()>) -> Result<Response<String>, Infallible> {
    let text = match Outcome::<AuthstarClient>::get(request.extensions()) {
        Some(Outcome::Authenticated { client, method, .. }) => {
            format!("client {} via {method}", client.client_id())
        }
        Some(Outcome::Failed { attempt, .. }) => format!("failed {}", attempt.method),
        None => "anonymous".to_owned(),
    };
    Ok(Response::new(text))
}

async fn run<M: MethodSet<AuthstarClient>>(
    layer: &AuthstarLayer<AuthstarClient, M>,
    request: Request<()>,
) -> Response<String> {
    layer
        .layer(service_fn(echo))
        .oneshot(request)
        .await
        .unwrap()
}

/// Proofs by "good-proof" prove key "k1", proofs without a nonce are asked for one ("n-1"),
/// everything else has a bad signature.
fn proofs() -> FakeProofs {
    FakeProofs::new()
        .proves("good-proof", "k1")
        .stale("no-nonce")
        .nonce("n-1")
}

/// API keys `ask_<id>_<secret>`: only `ask_k1_right` is good; the throttle counts key ids.
fn api_key() -> HeaderAuth<impl Authenticator<HeaderCredential, Client = AuthstarClient>> {
    HeaderAuth::x_api_key(|key: HeaderCredential| async move {
        (key.as_str() == "ask_k1_right").then(|| AuthstarClient::new("k1", ["read"]))
    })
    .identity(|key| key.strip_prefix("ask_")?.split('_').next())
}

fn dpop_tokens() -> DpopAuth<FakeProofs, impl Authenticator<DpopToken, Client = AuthstarClient>> {
    DpopAuth::new(proofs(), |token: DpopToken| async move {
        (token.as_str() == "bound" && token.jkt() == "k1")
            .then(|| AuthstarClient::new("dpop-client", ["read"]))
    })
    .origin("https://api.example")
}

/// One failure locks an identity; every request comes from one address.
fn strict_throttle() -> FailureThrottle {
    FailureThrottle::new()
        .client_address(|_, _| Some(std::net::IpAddr::from([192, 0, 2, 1])))
        .per_address(None)
        .per_identity(Some(Budget::per_period(1, Duration::from_secs(600))))
}

fn with_key(key: &str) -> http::request::Builder {
    Request::get("/").header("x-api-key", key)
}

#[tokio::test]
async fn a_failed_dpop_request_is_not_charged_to_the_api_key_it_also_carries() {
    // Issue 21: the throttle re-derived the deciding credential with no DPoP arm, so a refused
    // `Authorization: DPoP` request that also carried `X-API-Key` was charged to that key's id,
    // and a few such requests locked the key out for its owner.
    let layer = AuthstarLayer::builder()
        .on_auth_dpop(dpop_tokens())
        .on_auth_header(api_key())
        .throttle(strict_throttle())
        .build()
        .unwrap();
    for _ in 0..3 {
        let request = with_key("ask_k1_right")
            .header(AUTHORIZATION, "DPoP bound")
            .header("dpop", "forged-proof")
            .body(())
            .unwrap();
        let response = run(&layer, request).await;
        assert_eq!(
            response.body(),
            "failed dpop",
            "the DPoP credential decides"
        );
    }
    let owner = run(&layer, with_key("ask_k1_right").body(()).unwrap()).await;
    assert_eq!(owner.status(), StatusCode::OK);
    assert_eq!(owner.body(), "client k1 via x-api-key");
}

#[tokio::test]
async fn a_failed_api_key_is_charged_to_its_id_and_locks_it() {
    // The other side of the test above: the identity function is honoured where the key decides.
    let layer = AuthstarLayer::builder()
        .on_auth_dpop(dpop_tokens())
        .on_auth_header(api_key())
        .throttle(strict_throttle())
        .build()
        .unwrap();
    let wrong = run(&layer, with_key("ask_k1_wrong").body(()).unwrap()).await;
    assert_eq!(wrong.body(), "failed x-api-key");
    let locked = run(&layer, with_key("ask_k1_right").body(()).unwrap()).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = run(&layer, with_key("ask_k2_any").body(()).unwrap()).await;
    assert_eq!(
        other.body(),
        "failed x-api-key",
        "another key id is not locked"
    );
}

#[tokio::test]
async fn a_failed_basic_request_is_charged_to_its_user_and_not_to_the_key_beside_it() {
    let layer = AuthstarLayer::builder()
        .on_auth_header(api_key())
        .on_auth_basic(|credentials: BasicCredentials| async move {
            (credentials.password() == "right").then(|| AuthstarClient::new("svc", ["read"]))
        })
        .throttle(strict_throttle())
        .build()
        .unwrap();
    // svc:wrong, with a good key beside it: Basic decides (whatever the builder's order).
    let request = with_key("ask_k1_right")
        .header(AUTHORIZATION, "Basic c3ZjOndyb25n")
        .body(())
        .unwrap();
    assert_eq!(run(&layer, request).await.body(), "failed basic");
    let key = run(&layer, with_key("ask_k1_right").body(()).unwrap()).await;
    assert_eq!(key.body(), "client k1 via x-api-key");
    // svc:right is now locked out: its user name was charged.
    let request = Request::get("/")
        .header(AUTHORIZATION, "Basic c3ZjOnJpZ2h0")
        .body(())
        .unwrap();
    assert_eq!(
        run(&layer, request).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_proof_without_the_nonce_gets_one_and_costs_nothing() {
    let layer = AuthstarLayer::builder()
        .on_auth_dpop(dpop_tokens())
        .throttle(
            strict_throttle()
                .per_address(Some(Budget::per_period(1, Duration::from_secs(600))))
                .client_address(|_, _| Some(std::net::IpAddr::from([192, 0, 2, 1]))),
        )
        .require_authentication()
        .build()
        .unwrap();
    for _ in 0..3 {
        let request = Request::get("/")
            .header(AUTHORIZATION, "DPoP bound")
            .header("dpop", "no-nonce")
            .body(())
            .unwrap();
        let response = run(&layer, request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["dpop-nonce"], "n-1");
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"DPoP realm="authstar", error="use_dpop_nonce", algs="ES256""#
        );
    }
    // Authenticated: the response carries the next nonce (RFC 9449 §8.2), boxed layer too.
    let boxed = AuthstarLayer::builder()
        .on_auth_dpop(dpop_tokens())
        .build_boxed()
        .unwrap();
    for response in [run(&layer, proven()).await, run(&boxed, proven()).await] {
        assert_eq!(response.body(), "client dpop-client via dpop");
        assert_eq!(response.headers()["dpop-nonce"], "n-1");
    }
    // A forged proof is charged: one locks this address.
    let forged = Request::get("/")
        .header(AUTHORIZATION, "DPoP bound")
        .header("dpop", "forged")
        .body(())
        .unwrap();
    assert_eq!(run(&layer, forged).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        run(&layer, proven()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

fn proven() -> Request<()> {
    Request::get("/")
        .header(AUTHORIZATION, "DPoP bound")
        .header("dpop", "good-proof")
        .body(())
        .unwrap()
}

#[tokio::test]
async fn precedence_does_not_depend_on_the_order_of_the_builder_calls() {
    let layer = AuthstarLayer::builder()
        .on_auth_request(|_: &http::request::Parts| async {
            Some(AuthstarClient::new("session", ["web"]))
        })
        .on_auth_header(api_key())
        .on_auth_bearer(|token: BearerToken| async move {
            (token.as_str() == "t").then(|| AuthstarClient::new("svc", ["read"]))
        })
        .build()
        .unwrap();
    let labels: Vec<_> = layer.info().methods().iter().map(|m| m.label()).collect();
    assert_eq!(labels, ["bearer", "x-api-key", "request"]);
    let both = with_key("ask_k1_right")
        .header(AUTHORIZATION, "Bearer t")
        .body(())
        .unwrap();
    assert_eq!(run(&layer, both).await.body(), "client svc via bearer");
    let key = with_key("ask_k1_right").body(()).unwrap();
    assert_eq!(run(&layer, key).await.body(), "client k1 via x-api-key");
    let none = Request::get("/").body(()).unwrap();
    assert_eq!(run(&layer, none).await.body(), "client session via request");
}

/// An authenticator that counts its calls and answers `answer` for every token.
fn counted(
    calls: &Arc<AtomicUsize>,
    answer: fn(&str) -> Verdict<AuthstarClient>,
    waits: bool,
) -> impl Authenticator<BearerToken, Client = AuthstarClient> + use<> {
    let calls = calls.clone();
    move |token: BearerToken| {
        calls.fetch_add(1, Ordering::SeqCst);
        let verdict = answer(token.as_str());
        async move {
            if waits {
                tokio::task::yield_now().await;
            }
            verdict
        }
    }
}

fn ours(token: &str) -> Verdict<AuthstarClient> {
    match token {
        "ours" => Verdict::Authenticated(AuthstarClient::new("ours", ["read"])),
        "down" => Verdict::Unavailable("the registry is down".into()),
        // A placeholder is no client: the next authenticator is asked.
        "sso" => Verdict::Authenticated(AuthstarClient::anonymous()),
        _ => Verdict::Rejected,
    }
}

fn sso(token: &str) -> Verdict<AuthstarClient> {
    match token {
        "sso" | "down" => Verdict::Authenticated(AuthstarClient::new("sso", ["read"])),
        "sso-down" => Verdict::Unavailable("the SSO is down".into()),
        _ => Verdict::Rejected,
    }
}

#[tokio::test]
async fn chained_authenticators_are_tried_in_order() {
    for waits in [false, true] {
        let (first, second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let layer = AuthstarLayer::builder()
            .on_auth_bearer_with(counted(&first, ours, waits).or(counted(&second, sso, waits)))
            .unavailable_on_backend_error(Duration::from_secs(1))
            .build()
            .unwrap();
        let bearer = |token: &str| {
            Request::get("/")
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .body(())
                .unwrap()
        };
        // The first that knows the token wins; the second is not asked.
        assert_eq!(
            run(&layer, bearer("ours")).await.body(),
            "client ours via bearer"
        );
        assert_eq!(
            (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)),
            (1, 0)
        );
        assert_eq!(
            run(&layer, bearer("sso")).await.body(),
            "client sso via bearer"
        );
        assert_eq!(second.load(Ordering::SeqCst), 1);
        // A backend that failed does not hide a token the next one accepts...
        assert_eq!(
            run(&layer, bearer("down")).await.body(),
            "client sso via bearer"
        );
        // ...and is the answer when none accepts: the token might have been good.
        let down = run(&layer, bearer("sso-down")).await;
        assert_eq!(
            down.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "waits: {waits}"
        );
        let refused = run(&layer, bearer("nobody's")).await;
        assert_eq!(refused.body(), "failed bearer");
    }
}

#[tokio::test]
async fn chained_sync_authenticators_answer_at_once() {
    // Two `sync_fn`s chained stay synchronous: no future, no clone of the inner service.
    let chained = sync_fn(|token: BearerToken| ours(token.as_str()))
        .or(sync_fn(|token: BearerToken| sso(token.as_str())));
    let started = chained.start(
        BearerToken::from_authorization(&http::HeaderValue::from_static("Bearer sso")).unwrap(),
    );
    assert!(matches!(
        started,
        authstar::Started::Done(Verdict::Authenticated(_))
    ));
}

//! Failed-authentication throttling over a real socket: a password-guessing flood meets 429
//! before the authenticator, successes are never slowed, and the token endpoint checks each
//! client once. Client addresses are set with `X-Forwarded-For` from a trusted 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authstar::network::{Networks, TrustedProxies};
use authstar::throttle::{Budget, FailureThrottle};
use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, HeaderAuth, HeaderCredential};
use authstar_axum::{Authenticated, RouteSecurity, peer_address};
use authstar_oauth2::{OAuth2TokenRequest, OAuth2TokenResponse};
use axum::Router;
use axum::routing::get;

struct App {
    base: String,
    basic_calls: Arc<AtomicUsize>,
    key_calls: Arc<AtomicUsize>,
}

async fn start(throttle: FailureThrottle) -> App {
    let basic_calls = Arc::new(AtomicUsize::new(0));
    let key_calls = Arc::new(AtomicUsize::new(0));
    let (b, k) = (basic_calls.clone(), key_calls.clone());
    let verify = move |c: BasicCredentials| {
        b.fetch_add(1, Ordering::SeqCst);
        async move {
            (c.password() == "right-secret").then(|| AuthstarClient::new(c.username(), ["read"]))
        }
    };
    let layer = AuthstarLayer::builder()
        .on_auth_basic(verify.clone())
        .on_auth_header(
            HeaderAuth::x_api_key(move |key: HeaderCredential| {
                k.fetch_add(1, Ordering::SeqCst);
                async move {
                    (key.as_str() == "ask_k1_right").then(|| AuthstarClient::new("keyed", ["read"]))
                }
            })
            .identity(|key| key.split('_').nth(1)),
        )
        .throttle(throttle)
        // The throttle counts the addresses the layer finds: behind a proxy on loopback.
        .peer_address(peer_address)
        .trusted_proxies(TrustedProxies::new(Networks::parse(["127.0.0.1"]).unwrap()))
        .build()
        .unwrap();
    let security = RouteSecurity::new(&layer);
    // Clients checked by the layer's own Basic authenticator: no second verifier to give.
    let token = authstar_oauth2::token_endpoint(
        &layer,
        |request: OAuth2TokenRequest, client: AuthstarClient| async move {
            Ok::<_, std::convert::Infallible>(
                OAuth2TokenResponse::bearer(format!("t-{}", client.client_id()))
                    .scope(request.scope()),
            )
        },
    );
    let app = Router::new()
        .route(
            "/me",
            get(
                |Authenticated(c): Authenticated<AuthstarClient>| async move {
                    c.client_id().to_owned()
                },
            ),
        )
        .route_service("/oauth2/token", token)
        .with_state(security)
        .layer(layer);
    App {
        base: authstar_testkit::serve::serve_with_peers(app).await,
        basic_calls,
        key_calls,
    }
}

/// A throttle with no address of its own: it inherits the layer's (behind a loopback proxy).
fn behind_loopback_proxy() -> FailureThrottle {
    FailureThrottle::new()
}

async fn me(app: &App, from: &str, user: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/me", app.base))
        .header("x-forwarded-for", from)
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn per_address_budget_answers_429_before_the_authenticator() {
    let throttle = behind_loopback_proxy()
        .per_address(Some(Budget::new(5, 1)))
        .per_identity(None);
    let app = start(throttle).await;
    for n in 0..5 {
        let response = me(&app, "203.0.113.1", &format!("user{n}"), "wrong").await;
        assert_eq!(response.status(), 401, "failure {n}");
    }
    let locked = me(&app, "203.0.113.1", "someone", "wrong").await;
    assert_eq!(locked.status(), 429);
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(locked.headers()["cache-control"], "no-store");
    assert_eq!(
        app.basic_calls.load(Ordering::SeqCst),
        5,
        "the locked-out request never reached the authenticator"
    );
    // The address is locked for every credential, right ones included; others are not.
    assert_eq!(
        me(&app, "203.0.113.1", "svc", "right-secret")
            .await
            .status(),
        429
    );
    assert_eq!(
        me(&app, "203.0.113.2", "svc", "right-secret")
            .await
            .status(),
        200
    );
    // API keys count against the same address.
    let key = reqwest::Client::new()
        .get(format!("{}/me", app.base))
        .header("x-forwarded-for", "203.0.113.1")
        .header("x-api-key", "ask_k1_right")
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), 429);
    assert_eq!(app.key_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn per_identity_budget_holds_a_guess_spread_over_many_addresses() {
    let throttle = behind_loopback_proxy().per_identity(Some(Budget::new(3, 1)));
    let app = start(throttle).await;
    for n in 0..3 {
        let from = format!("198.51.100.{n}");
        assert_eq!(me(&app, &from, "victim", "guess").await.status(), 401);
    }
    // Locked: the addresses that failed for it are refused before the authenticator...
    let calls = app.basic_calls.load(Ordering::SeqCst);
    for n in 0..3 {
        let from = format!("198.51.100.{n}");
        assert_eq!(me(&app, &from, "victim", "guess").await.status(), 429);
    }
    assert_eq!(app.basic_calls.load(Ordering::SeqCst), calls);
    // ...a new address gets one try, then it is marked too.
    assert_eq!(
        me(&app, "198.51.100.99", "victim", "guess").await.status(),
        401
    );
    assert_eq!(
        me(&app, "198.51.100.99", "victim", "guess").await.status(),
        429
    );
    // The real client, calling from its own clean address, is not shut out by the guesser.
    assert_eq!(
        me(&app, "192.0.2.200", "victim", "right-secret")
            .await
            .status(),
        200
    );
    // Another identity from the guessing addresses is untouched.
    assert_eq!(
        me(&app, "198.51.100.0", "other", "right-secret")
            .await
            .status(),
        200
    );
    // API key ids are identities too.
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client
            .get(format!("{}/me", app.base))
            .header("x-forwarded-for", "192.0.2.1")
            .header("x-api-key", "ask_k9_wrong")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[tokio::test]
async fn successes_are_never_counted() {
    let throttle = behind_loopback_proxy()
        .per_address(Some(Budget::new(2, 1)))
        .per_identity(Some(Budget::new(2, 1)));
    let app = start(throttle).await;
    for _ in 0..50 {
        assert_eq!(
            me(&app, "203.0.113.7", "svc", "right-secret")
                .await
                .status(),
            200
        );
    }
    assert_eq!(app.basic_calls.load(Ordering::SeqCst), 50);
}

/// `POST /oauth2/token` from `from`, with Basic credentials or, for `None`, body fields.
async fn token(app: &App, password: &str, basic: bool) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    let mut request = reqwest::Client::new()
        .post(format!("{}/oauth2/token", app.base))
        .header("x-forwarded-for", "203.0.113.20");
    if basic {
        request = request.basic_auth("svc", Some(password));
    } else {
        form.extend([("client_id", "svc"), ("client_secret", password)]);
    }
    request.form(&form).send().await.unwrap()
}

#[tokio::test]
async fn the_token_endpoint_checks_a_client_once_and_throttles_body_credentials() {
    let throttle = behind_loopback_proxy().per_identity(Some(Budget::new(3, 1)));
    let app = start(throttle).await;
    assert_eq!(token(&app, "right-secret", true).await.status(), 200);
    assert_eq!(
        app.basic_calls.load(Ordering::SeqCst),
        1,
        "one client check per token request"
    );
    assert_eq!(token(&app, "wrong", true).await.status(), 401);
    assert_eq!(app.basic_calls.load(Ordering::SeqCst), 2);
    // client_secret_post never passes the layer: the endpoint counts it against the same id.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(token(&app, "wrong", false).await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 429],
        "Basic and body failures share one id budget"
    );
    let calls = app.basic_calls.load(Ordering::SeqCst);
    let locked = token(&app, "right-secret", true).await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    assert_eq!(app.basic_calls.load(Ordering::SeqCst), calls);
}

//! The fake OpenID provider (feature `testing`), used as the guide shows: a service finds it by
//! its issuer URL, verifies its tokens over a real socket, follows a key rotation.
#![cfg(feature = "testing")]

use authstar::{Authenticator as _, AuthstarClient, AuthstarLayer, BearerToken, Verdict};
use authstar_jwt::testing::FakeProvider;
use std::time::Duration;

use authstar_jwt::{Discovery, JwtVerifier, RemoteJwks, TokenProfile};
use axum::routing::get;
use serde_json::json;

const AUDIENCE: &str = "https://api.example";

async fn verifier(idp: &FakeProvider) -> JwtVerifier {
    Discovery::new(idp.issuer())
        .allow_http()
        .verifier(TokenProfile::rfc9068(AUDIENCE))
        .await
        .unwrap()
        .build()
}

/// What the verifier, as the layer's authenticator, says of `token`.
async fn verdict(verifier: &JwtVerifier, token: &str) -> Option<AuthstarClient> {
    let header = http::HeaderValue::try_from(format!("Bearer {token}")).unwrap();
    let bearer = BearerToken::from_authorization(&header).unwrap();
    match verifier.authenticate(bearer).await {
        Verdict::Authenticated(client) => Some(client),
        _ => None,
    }
}

fn claims(client: &str) -> serde_json::Value {
    json!({"aud": AUDIENCE, "sub": client, "client_id": client, "scope": "reports:read"})
}

#[tokio::test]
async fn a_service_verifies_the_fake_providers_tokens_over_a_socket() {
    let idp = FakeProvider::start().await.unwrap();
    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(verifier(&idp).await)
        .require_authentication()
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/me",
            get(|request: axum::extract::Request| async move {
                let client = authstar::Outcome::<AuthstarClient>::client_in(request.extensions());
                client.map(|c| c.client_id().to_owned()).unwrap_or_default()
            }),
        )
        .layer(layer);
    let base = authstar_testkit::serve::serve(app).await;
    let http = reqwest::Client::new();
    let call = |token: String| {
        let request = http.get(format!("{base}/me")).bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    assert_eq!(call(idp.sign(claims("svc"))).await, (200, "svc".into()));
    let mut wrong_audience = claims("svc");
    wrong_audience["aud"] = "https://other.example".into();
    let mut expired = claims("svc");
    expired["exp"] = 1_000.into();
    let mut other_issuer = claims("svc");
    other_issuer["iss"] = "https://someone.else".into();
    for (name, token) in [
        ("another audience", idp.sign(wrong_audience)),
        ("expired", idp.sign(expired)),
        ("another issuer", idp.sign(other_issuer)),
        (
            "typ JWT under RFC 9068",
            idp.sign_typed("JWT", claims("svc")),
        ),
    ] {
        assert_eq!(call(token).await.0, 401, "{name}");
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_a_retired_key_stops_verifying() {
    let idp = FakeProvider::start().await.unwrap();
    // The JWKS by its URL, refreshed on any unknown kid (the default waits 30 s between
    // refreshes, to spare a real provider).
    let jwks = RemoteJwks::builder(idp.jwks_uri())
        .allow_http()
        .min_refresh_interval(Duration::ZERO)
        .build()
        .unwrap();
    let verifier = JwtVerifier::remote(jwks, idp.issuer(), TokenProfile::rfc9068(AUDIENCE));
    let old = idp.sign(claims("svc"));
    assert!(verdict(&verifier, &old).await.is_some());
    let fetched = idp.jwks_fetches();
    assert_eq!(fetched, 1, "keys fetched on the first token");
    assert!(verdict(&verifier, &old).await.is_some());
    assert_eq!(idp.jwks_fetches(), fetched, "known keys need no fetch");

    let old_kid = idp.current_kid();
    idp.rotate_key();
    assert_ne!(idp.current_kid(), old_kid);
    let new = idp.sign(claims("svc"));
    assert!(verdict(&verifier, &new).await.is_some());
    assert_eq!(idp.jwks_fetches(), fetched + 1, "one fetch for the new kid");
    assert!(verdict(&verifier, &new).await.is_some());
    assert_eq!(idp.jwks_fetches(), fetched + 1);

    idp.retire_old_keys();
    let fresh = self::verifier(&idp).await;
    assert!(verdict(&fresh, &new).await.is_some());
    assert!(
        verdict(&fresh, &old).await.is_none(),
        "the retired key is gone"
    );
}

#[tokio::test]
async fn the_fake_provider_answers_only_what_it_serves() {
    let idp = FakeProvider::start().await.unwrap();
    let http = reqwest::Client::new();
    let metadata: serde_json::Value = http
        .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], idp.issuer());
    assert_eq!(metadata["jwks_uri"], idp.jwks_uri());
    let jwks: serde_json::Value = http
        .get(idp.jwks_uri())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], idp.current_kid().as_str());
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
    let missing = http
        .get(format!("{}/token", idp.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let posted = http.post(idp.jwks_uri()).send().await.unwrap();
    assert_eq!(posted.status(), 405);
}

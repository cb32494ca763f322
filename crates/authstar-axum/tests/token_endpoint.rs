//! `examples/token_endpoint.rs` over a real socket: RFC 6749 clause by clause, then real OAuth2
//! clients nobody here wrote (the `oauth2` crate here, Python's authlib in `authlib.rs`).

#[allow(dead_code)]
#[path = "../examples/token_endpoint.rs"]
mod token_endpoint;

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use reqwest::StatusCode;
use serde_json::Value;

async fn serve() -> String {
    authstar_testkit::serve::serve(token_endpoint::app()).await
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn post(url: &str, body: &str, basic: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", FORM)
        .body(body.to_owned());
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert!(body["error_description"].is_string());
    (status, body["error"].as_str().unwrap().to_owned())
}

const SVC: Option<(&str, &str)> = Some(("svc", "svc-secret"));

#[tokio::test]
async fn rfc6749_4_4_3_and_5_1_token_response_with_no_store() {
    let base = serve().await;
    let response = post(
        &format!("{base}/oauth2/token"),
        "grant_type=client_credentials",
        SVC,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "reports:read reports:write"); // default: all the client's scopes
    assert!(
        body.get("refresh_token").is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    assert!(body["access_token"].as_str().unwrap().len() >= 40);
}

#[tokio::test]
async fn rfc6749_3_3_requested_scope_is_granted_or_invalid_scope() {
    let base = serve().await;
    let url = format!("{base}/oauth2/token");
    let narrowed = post(
        &url,
        "grant_type=client_credentials&scope=reports%3Aread",
        SVC,
    )
    .await;
    assert_eq!(
        narrowed.json::<Value>().await.unwrap()["scope"],
        "reports:read"
    );
    let too_much = post(&url, "grant_type=client_credentials&scope=admin", SVC).await;
    assert_eq!(
        error_of(too_much).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
}

#[tokio::test]
async fn rfc6749_5_2_wrong_or_missing_client_credentials_are_invalid_client_with_a_challenge() {
    let base = serve().await;
    for endpoint in ["/oauth2/token", "/oauth2/token-form"] {
        let url = format!("{base}{endpoint}");
        let wrong = post(&url, "grant_type=client_credentials", Some(("svc", "nope"))).await;
        assert_eq!(
            wrong.headers()["www-authenticate"],
            r#"Basic realm="example", charset="UTF-8""#
        );
        assert_eq!(
            error_of(wrong).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );
        let none = post(&url, "grant_type=client_credentials", None).await;
        assert_eq!(
            error_of(none).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );
    }
}

/// Issue 21: the endpoint is complete by default: with the layer's own Basic authenticator it
/// checks `client_secret_post` too (it needed the authenticator a second time), and an
/// authenticator given to the endpoint does the same.
#[tokio::test]
async fn rfc6749_2_3_1_client_secret_post_is_checked_by_the_layers_basic_authenticator() {
    let base = serve().await;
    let body = "grant_type=client_credentials&client_id=svc&client_secret=svc-secret";
    for endpoint in ["/oauth2/token", "/oauth2/token-form"] {
        let with = post(&format!("{base}{endpoint}"), body, None).await;
        assert_eq!(with.status(), StatusCode::OK, "{endpoint}");
        let wrong = "grant_type=client_credentials&client_id=svc&client_secret=nope";
        let refused = post(&format!("{base}{endpoint}"), wrong, None).await;
        assert_eq!(
            error_of(refused).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );
    }
}

#[tokio::test]
async fn rfc6749_2_3_two_authentication_methods_are_invalid_request() {
    let base = serve().await;
    let body = "grant_type=client_credentials&client_id=svc&client_secret=svc-secret";
    let both = post(&format!("{base}/oauth2/token-form"), body, SVC).await;
    assert_eq!(
        error_of(both).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
}

#[tokio::test]
async fn rfc6749_3_2_repeated_parameters_are_invalid_request() {
    let base = serve().await;
    let body = "grant_type=client_credentials&grant_type=client_credentials";
    let repeated = post(&format!("{base}/oauth2/token"), body, SVC).await;
    assert_eq!(
        error_of(repeated).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
}

#[tokio::test]
async fn rfc6749_5_2_unsupported_grant_type() {
    let base = serve().await;
    for body in [
        "grant_type=password&username=a&password=b",
        "grant_type=authorization_code&code=x",
    ] {
        let response = post(&format!("{base}/oauth2/token"), body, SVC).await;
        assert_eq!(
            error_of(response).await,
            (StatusCode::BAD_REQUEST, "unsupported_grant_type".into())
        );
    }
    let missing = post(&format!("{base}/oauth2/token"), "scope=x", SVC).await;
    assert_eq!(
        error_of(missing).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
}

#[tokio::test]
async fn rfc6749_4_4_2_non_form_bodies_are_refused() {
    let base = serve().await;
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
}

#[tokio::test]
async fn rfc6749_3_2_only_post_is_allowed() {
    let base = serve().await;
    let response = reqwest::Client::new()
        .get(format!("{base}/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
}

#[tokio::test]
async fn rfc6749_2_3_1_credentials_in_the_query_string_are_refused() {
    let base = serve().await;
    let url = format!("{base}/oauth2/token-form?client_id=svc&client_secret=svc-secret");
    let response = post(&url, "grant_type=client_credentials", None).await;
    assert_eq!(
        error_of(response).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_a_500() {
    let base = serve().await;
    let body = format!("grant_type=client_credentials&pad={}", "x".repeat(100_000));
    let response = post(&format!("{base}/oauth2/token"), &body, SVC).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn oauth2_crate_round_trip(auth_type: AuthType, endpoint: &str) {
    let base = serve().await;
    let client = BasicClient::new(ClientId::new("svc".to_owned()))
        .set_client_secret(ClientSecret::new("svc-secret".to_owned()))
        .set_token_uri(TokenUrl::new(format!("{base}{endpoint}")).unwrap())
        .set_auth_type(auth_type);
    let http = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("reports:read".to_owned()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        token.expires_in(),
        Some(std::time::Duration::from_secs(3600))
    );
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["reports:read"]);

    let reports = reqwest::Client::new()
        .get(format!("{base}/reports"))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(reports.status(), StatusCode::OK);
    assert_eq!(reports.text().await.unwrap(), "reports");
}

#[tokio::test]
async fn oauth2_crate_client_secret_basic() {
    oauth2_crate_round_trip(AuthType::BasicAuth, "/oauth2/token").await;
}

#[tokio::test]
async fn oauth2_crate_client_secret_post() {
    oauth2_crate_round_trip(AuthType::RequestBody, "/oauth2/token-form").await;
}

#[tokio::test]
async fn oauth2_crate_sees_the_rfc_error() {
    let base = serve().await;
    let client = BasicClient::new(ClientId::new("svc".to_owned()))
        .set_client_secret(ClientSecret::new("wrong".to_owned()))
        .set_token_uri(TokenUrl::new(format!("{base}/oauth2/token")).unwrap());
    let http = oauth2::reqwest::Client::new();
    let error = client
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap_err();
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => {
            assert_eq!(
                response.error(),
                &oauth2::basic::BasicErrorResponseType::InvalidClient
            );
        }
        other => panic!("expected an RFC 6749 error response, got {other:?}"),
    }
}

/// A builder's [`TokenError`] is the client's answer (a client it finds revoked gets
/// `invalid_client` and the challenge); any other builder error is a 500 that says nothing more.
#[tokio::test]
async fn rfc6749_5_2_a_builder_refusal_is_an_oauth2_error_not_a_server_error() {
    use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
    use authstar_oauth2::BoxError;
    use authstar_oauth2::{ErrorCode, OAuth2TokenRequest, OAuth2TokenResponse, TokenError};

    let layer = AuthstarLayer::builder()
        .on_auth_basic(|credentials: BasicCredentials| async move {
            Some(AuthstarClient::new(credentials.username(), ["read"]))
        })
        .realm("example")
        .build()
        .unwrap();
    let builder = |request: OAuth2TokenRequest, _client: AuthstarClient| async move {
        match request.client_id.as_str() {
            "revoked" => Err(BoxError::from(TokenError::new(
                ErrorCode::InvalidClient,
                "unknown client or wrong client secret",
            ))),
            "broken" => Err(BoxError::from("the signing key is unreadable")),
            _ => Ok(OAuth2TokenResponse::bearer("t".to_owned())),
        }
    };
    let token = authstar_oauth2::token_endpoint(&layer, builder);
    let app = axum::Router::new()
        .route_service("/oauth2/token", token)
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let form = "grant_type=client_credentials";
    assert_eq!(
        post(&url, form, Some(("fine", "x"))).await.status(),
        StatusCode::OK
    );
    let revoked = post(&url, form, Some(("revoked", "x"))).await;
    assert_eq!(
        revoked.headers()["www-authenticate"],
        r#"Basic realm="example", charset="UTF-8""#
    );
    assert_eq!(
        error_of(revoked).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let broken = post(&url, form, Some(("broken", "x"))).await;
    let (status, body) = (broken.status(), broken.text().await.unwrap());
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body.contains("server_error") && !body.contains("signing key"),
        "{body}"
    );
}

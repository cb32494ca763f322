//! `examples/route_security.rs`, served over a real socket on 127.0.0.1 and checked route by
//! route: the axum twin of the Python package's route-authorization example.

#[allow(dead_code)]
#[path = "../examples/route_security.rs"]
mod route_security;

#[allow(dead_code)]
#[path = "../examples/readme.rs"]
mod readme;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

async fn serve() -> String {
    authstar_testkit::serve::serve_with_peers(route_security::app()).await
}

fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn homepage_is_public() {
    let base = serve().await;
    let response = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "homepage");
}

#[tokio::test]
async fn rfc9110_11_6_1_route_guard_answers_401_with_a_challenge_per_scheme() {
    let base = serve().await;
    let response = reqwest::get(format!("{base}/foo")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="authstar""#,
            r#"Basic realm="authstar", charset="UTF-8""#,
            r#"ApiKey realm="authstar", header="x-api-key""#
        ]
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "unauthenticated", "error_description": "authentication is required"})
    );
}

#[tokio::test]
async fn route_guard_admits_any_credential_type() {
    let base = serve().await;
    let http = reqwest::Client::new();
    let bearer = http
        .get(format!("{base}/foo"))
        .bearer_auth("user-token")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bearer.json::<Value>().await.unwrap(),
        json!({"status": "bar"})
    );
    let key = http
        .get(format!("{base}/foo"))
        .header("x-api-key", "admin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), StatusCode::OK);
}

#[tokio::test]
async fn rfc6750_3_1_rejected_token_gets_invalid_token() {
    let base = serve().await;
    let response = reqwest::Client::new()
        .get(format!("{base}/me"))
        .bearer_auth("stolen")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&response)[0],
        r#"Bearer realm="authstar", error="invalid_token""#
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_token"
    );
}

#[tokio::test]
async fn router_guard_hands_the_client_to_the_handler() {
    let base = serve().await;
    let response = reqwest::Client::new()
        .get(format!("{base}/me"))
        .header("x-api-key", "admin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"client_id": "admin", "scopes": ["admin"]})
    );
}

#[tokio::test]
async fn rfc6750_3_1_missing_scope_is_403_insufficient_scope_for_bearer_clients() {
    let base = serve().await;
    let http = reqwest::Client::new();
    let reader = http
        .get(format!("{base}/me2"))
        .bearer_auth("reader-token")
        .send()
        .await
        .unwrap();
    assert_eq!(reader.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenges(&reader),
        [r#"Bearer realm="authstar", error="insufficient_scope", scope="api-user""#]
    );
    assert_eq!(
        reader.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );

    // An API-key client has no bearer challenge to receive.
    let key = http
        .get(format!("{base}/me2"))
        .header("x-api-key", "admin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), StatusCode::FORBIDDEN);
    assert!(challenges(&key).is_empty());

    let user = http
        .get(format!("{base}/me2"))
        .bearer_auth("user-token")
        .send()
        .await
        .unwrap();
    assert_eq!(user.json::<Value>().await.unwrap()["client_id"], "user");
}

#[tokio::test]
async fn optional_authentication_reads_the_stored_outcome_for_every_scheme() {
    let base = serve().await;
    let http = reqwest::Client::new();
    let url = format!("{base}/greeting");
    let anonymous = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(anonymous, "hello stranger");
    let bearer = http
        .get(&url)
        .bearer_auth("user-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.text().await.unwrap(), "hello user");
    let key = http
        .get(&url)
        .header("x-api-key", "admin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(key.text().await.unwrap(), "hello admin");
    // A presented but refused credential is still refused.
    let refused = http
        .get(&url)
        .basic_auth("nobody", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn internal_route_admits_loopback_clients() {
    let base = serve().await;
    let response = reqwest::get(format!("{base}/healthcheck")).await.unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn app_level_guard_covers_every_nested_route() {
    let base = serve().await;
    let http = reqwest::Client::new();
    let url = format!("{base}/admin/stats");
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let reader = http
        .get(&url)
        .bearer_auth("reader-token")
        .send()
        .await
        .unwrap();
    assert_eq!(reader.status(), StatusCode::FORBIDDEN);
    let admin = http
        .get(&url)
        .header("x-api-key", "admin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(admin.text().await.unwrap(), "stats");
}

async fn ws_status(url: String, credential: Option<(&'static str, &str)>) -> Result<(), u16> {
    let mut request = url.into_client_request().unwrap();
    if let Some((name, value)) = credential {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("websocket failed: {other}"),
    }
}

#[tokio::test]
async fn websocket_routes_are_guarded_before_the_upgrade() {
    let base = serve().await.replace("http://", "ws://");
    assert_eq!(ws_status(format!("{base}/ws"), None).await, Err(401));
    let reader = Some(("authorization", "Bearer reader-token"));
    assert_eq!(
        ws_status(format!("{base}/admin/ws"), reader).await,
        Err(403)
    );

    let mut request = format!("{base}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", "Bearer user-token".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert_eq!(hello.as_str(), r#"{"client_id":"user"}"#);
    socket
        .send(tungstenite::Message::text("echo me"))
        .await
        .unwrap();
    let echo = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert_eq!(echo.as_str(), "echo me");
}

/// The README's example: the token opens `/reports`, the key only `/me`, nothing gets a
/// challenge per scheme.
#[tokio::test]
async fn the_readme_example_serves_what_the_readme_says() {
    let base = authstar_testkit::serve::serve(readme::app().unwrap()).await;
    let http = reqwest::Client::new();
    let get = |path: &str, header: Option<(&str, &str)>| {
        let mut request = http.get(format!("{base}{path}"));
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap() }
    };
    let nothing = get("/me", None).await;
    assert_eq!(nothing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&nothing),
        [
            r#"Bearer realm="authstar""#,
            r#"ApiKey realm="authstar", header="x-api-key""#
        ]
    );
    let token = ("authorization", "Bearer t0k3n");
    let key = ("x-api-key", "ask_k1_s3cr3t");
    let me: Value = get("/me", Some(token)).await.json().await.unwrap();
    assert_eq!(me["client_id"], "reports-job");
    assert_eq!(get("/reports", Some(token)).await.status(), StatusCode::OK);
    assert_eq!(get("/me", Some(key)).await.status(), StatusCode::OK);
    assert_eq!(
        get("/reports", Some(key)).await.status(),
        StatusCode::FORBIDDEN
    );
    let wrong = get("/me", Some(("authorization", "Bearer nope"))).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

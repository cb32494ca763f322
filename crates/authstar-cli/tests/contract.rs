//! The demo's route contract, one concern per test, against one demo shared by this binary
//! (read-only tests); the tests that change state (revocation) start their own.

mod support;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use support::Demo;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

fn demo() -> &'static Demo {
    Demo::shared()
}

async fn get(path: &str, header: Option<(&str, &str)>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", demo().base));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn token(demo: &Demo) -> Value {
    support::token_response(&demo.base, "demo-client", &demo.value("client_secret:")).await
}

#[tokio::test]
async fn the_root_is_public_and_me_challenges_every_scheme() {
    assert_eq!(get("/", None).await.0, 200);
    let anonymous = reqwest::get(format!("{}/me", demo().base)).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let challenges = anonymous
        .headers()
        .get_all("www-authenticate")
        .iter()
        .count();
    assert!(challenges >= 3, "Bearer, Basic and ApiKey: {challenges}");
}

#[tokio::test]
async fn rfc9068_tokens_carry_all_the_clients_scopes_by_default() {
    let token = token(demo()).await;
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(token["scope"], "reports:read reports:export");
    assert!(token.get("refresh_token").is_none());
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        token["expires_in"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap()
    );
    assert_eq!(claims["iss"], demo().base.as_str());
}

#[tokio::test]
async fn rfc8414_metadata_and_the_jwks_publish_no_secret_and_no_empty_array() {
    let metadata: Value =
        serde_json::from_str(&get("/.well-known/oauth-authorization-server", None).await.1)
            .unwrap();
    assert_eq!(metadata["issuer"], demo().base.as_str());
    for (name, value) in metadata.as_object().unwrap() {
        assert!(
            value.as_array().is_none_or(|a| !a.is_empty()),
            "{name} is an empty array"
        );
    }
    let jwks: Value = serde_json::from_str(&get("/.well-known/jwks.json", None).await.1).unwrap();
    assert!(jwks["keys"][0].get("d").is_none(), "public keys only");
}

#[tokio::test]
async fn every_credential_reaches_me_and_scopes_decide_reports() {
    let access = token(demo()).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {access}");
    let api_key = demo().value("api_key:");
    let cases = [
        ("/me", "authorization", bearer.as_str(), 200),
        ("/me", "x-api-key", api_key.as_str(), 200),
        ("/reports", "x-api-key", api_key.as_str(), 200),
        // The API key only has reports:read; the token has both scopes.
        ("/reports/export", "x-api-key", api_key.as_str(), 403),
        ("/reports/export", "authorization", bearer.as_str(), 200),
    ];
    for (path, header, value, status) in cases {
        assert_eq!(
            get(path, Some((header, value))).await.0,
            status,
            "{path} with {header}"
        );
    }
    assert_eq!(
        get("/internal/health", None).await.0,
        200,
        "loopback is internal"
    );
}

#[tokio::test]
async fn the_session_cookie_is_signed_httponly_strict_and_cleared_by_delete() {
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/session", demo().base))
        .basic_auth("demo-client", Some(demo().value("client_secret:")))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let (status, body) = get("/me", Some(("cookie", &cookie))).await;
    assert_eq!(status, 200);
    assert!(body.contains("demo-client"));
    let tampered = cookie.replacen("authstar_session=", "authstar_session=x", 1);
    assert_eq!(get("/me", Some(("cookie", &tampered))).await.0, 401);
    let logout = http
        .delete(format!("{}/session", demo().base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let cleared = logout.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn the_websocket_is_refused_before_the_upgrade_then_greets_and_echoes() {
    let ws = demo().base.replace("http://", "ws://") + "/ws";
    match tokio_tungstenite::connect_async(ws.as_str()).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            assert!(
                response.headers().contains_key("www-authenticate"),
                "the layer's challenges, as on every other route"
            );
        }
        other => panic!("expected 401, got {other:?}"),
    }
    let mut request = ws.into_client_request().unwrap();
    let api_key = demo().value("api_key:");
    request
        .headers_mut()
        .insert("x-api-key", api_key.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert_eq!(hello.as_str(), r#"{"client_id":"demo-client"}"#);
    socket
        .send(tungstenite::Message::text("echo"))
        .await
        .unwrap();
    let echo = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert_eq!(echo.as_str(), "echo");
}

/// Every route the demo serves is in its OpenAPI document, under the tag of its area (the
/// admin API was tagged `super::admin`, the rest untagged; the OAuth 2.0 routes, the session
/// and the websocket were missing).
#[tokio::test]
async fn every_route_is_in_the_openapi_document_under_its_area() {
    let (status, body) = get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    let routes = [
        ("/", "get", "resources"),
        ("/me", "get", "resources"),
        ("/reports", "get", "resources"),
        ("/reports/export", "get", "resources"),
        ("/ws", "get", "session"),
        ("/session", "post", "session"),
        ("/session", "delete", "session"),
        ("/internal/health", "get", "health"),
        ("/oauth2/token", "post", "OAuth 2.0"),
        ("/oauth2/revoke", "post", "OAuth 2.0"),
        ("/oauth2/introspect", "post", "OAuth 2.0"),
        (
            "/.well-known/oauth-authorization-server",
            "get",
            "OAuth 2.0",
        ),
        ("/.well-known/jwks.json", "get", "OAuth 2.0"),
        ("/admin/clients", "get", "admin"),
        ("/admin/clients", "post", "admin"),
        ("/admin/clients/{client_id}", "delete", "admin"),
        ("/admin/clients/{client_id}/jwks", "put", "admin"),
        ("/admin/clients/{client_id}/certificate", "put", "admin"),
        ("/admin/clients/{client_id}/scopes", "put", "admin"),
        ("/admin/clients/{client_id}/rate-limit", "put", "admin"),
        ("/admin/keys", "get", "admin"),
        ("/admin/keys", "post", "admin"),
        ("/admin/keys/{key_id}", "delete", "admin"),
        ("/admin/keys/{key_id}/rotate", "post", "admin"),
        ("/admin/keys/{key_id}/rate-limit", "put", "admin"),
        ("/admin/keys/{key_id}/expiry", "put", "admin"),
        ("/admin/audit", "get", "admin"),
    ];
    for (path, method, tag) in routes {
        let operation = &doc["paths"][path][method];
        assert_eq!(
            operation["tags"],
            serde_json::json!([tag]),
            "{method} {path}"
        );
    }
    let described: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(described, routes.len(), "no operation left out of the list");
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        ["OAuth 2.0", "resources", "session", "admin", "health"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_stops_tokens_and_keys_and_no_secret_reaches_the_logs() {
    let demo = Demo::start("contract-revoke", &[]);
    let secret = demo.value("client_secret:");
    let api_key = demo.value("api_key:");
    let access = token(&demo).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/session", demo.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        demo.cli(&["clients", "revoke", "demo-client"])
            .status
            .success()
    );
    let refused = http
        .post(format!("{}/oauth2/token", demo.base))
        .basic_auth("demo-client", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let with_key = http
        .get(format!("{}/me", demo.base))
        .header("x-api-key", &api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status(), 401);
    // The revoked client's access token too (it was valid for another hour), once the
    // revocation poll brings the CLI's revocation into memory: within a second.
    let revoked = std::time::Instant::now();
    loop {
        let with_token = http
            .get(format!("{}/me", demo.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        if with_token.status() == 401 {
            break;
        }
        assert!(revoked.elapsed() < std::time::Duration::from_secs(1));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let logs = demo.stop();
    let cookie_value = cookie.split(';').next().unwrap();
    for secret_value in [
        secret.as_str(),
        api_key.as_str(),
        access.as_str(),
        cookie_value,
    ] {
        assert!(
            !logs.contains(secret_value),
            "a secret leaked into the logs:\n{logs}"
        );
    }
}

//! The layer in a real axum app, over a real socket on 127.0.0.1, with real HTTP and websocket
//! clients.

use std::net::SocketAddr;

use authstar::{
    AuthstarClient, AuthstarLayer, BasicCredentials, BearerToken, HeaderAuth, HeaderCredential,
    Outcome,
};
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

fn client_of(request: &Request<axum::body::Body>) -> Option<AuthstarClient> {
    authstar::Outcome::<AuthstarClient>::client_in(request.extensions()).cloned()
}

async fn me(request: Request<axum::body::Body>) -> impl IntoResponse {
    match Outcome::<AuthstarClient>::get(request.extensions()) {
        Some(Outcome::Authenticated { client, method, .. }) => {
            Json(serde_json::json!({ "client_id": client.client_id(), "via": method.label() }))
                .into_response()
        }
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn ws(upgrade: WebSocketUpgrade, request: Request<axum::body::Body>) -> impl IntoResponse {
    let client_id = client_of(&request)
        .map(|c| c.client_id().to_owned())
        .unwrap_or_default();
    upgrade.on_upgrade(move |mut socket| async move {
        let hello = serde_json::json!({ "client_id": client_id }).to_string();
        if socket.send(Message::Text(hello.into())).await.is_err() {
            return;
        }
        while let Some(Ok(message)) = socket.recv().await {
            if socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

/// Serves the app on a free loopback port. Routes: `/` (public), `/me`, `/ws`.
async fn serve() -> SocketAddr {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            (token.as_str() == "good-token").then(|| AuthstarClient::new("bearer-client", ["read"]))
        })
        .on_auth_basic(|credentials: BasicCredentials| async move {
            (credentials.username() == "svc" && credentials.password() == "p:w")
                .then(|| AuthstarClient::new("basic-client", ["read"]))
        })
        .on_auth_header(HeaderAuth::x_api_key(|key: HeaderCredential| async move {
            (key.as_str() == "key-1").then(|| AuthstarClient::new("key-client", ["read"]))
        }))
        .require_authentication()
        .except_paths(["/"])
        .build()
        .expect("valid layer");
    let app = Router::new()
        .route("/", get(|| async { "public" }))
        .route("/me", get(me))
        .route("/ws", get(ws))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test]
async fn public_route_needs_nothing_and_secured_route_challenges() {
    let address = serve().await;
    let http = reqwest::Client::new();
    let public = http.get(format!("http://{address}/")).send().await.unwrap();
    assert_eq!(public.status(), 200);
    assert_eq!(public.text().await.unwrap(), "public");

    let secured = http
        .get(format!("http://{address}/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(secured.status(), 401);
    let challenges: Vec<_> = secured
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        challenges,
        [
            r#"Bearer realm="authstar""#,
            r#"Basic realm="authstar", charset="UTF-8""#,
            r#"ApiKey realm="authstar", header="x-api-key""#
        ]
    );
}

#[tokio::test]
async fn each_credential_type_authenticates_over_the_wire() {
    let address = serve().await;
    let http = reqwest::Client::new();
    let url = format!("http://{address}/me");
    let bearer: serde_json::Value = http
        .get(&url)
        .bearer_auth("good-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        bearer,
        serde_json::json!({"client_id": "bearer-client", "via": "bearer"})
    );
    let basic: serde_json::Value = http
        .get(&url)
        .basic_auth("svc", Some("p:w"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(basic["client_id"], "basic-client");
    let key: serde_json::Value = http
        .get(&url)
        .header("x-api-key", "key-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["via"], "x-api-key");

    let rejected = http.get(&url).bearer_auth("stolen").send().await.unwrap();
    assert_eq!(rejected.status(), 401);
    assert_eq!(
        rejected.headers()["www-authenticate"],
        r#"Bearer realm="authstar", error="invalid_token""#
    );
}

#[tokio::test]
async fn garbage_headers_get_a_clear_401_never_a_500() {
    let address = serve().await;
    let http = reqwest::Client::new();
    let url = format!("http://{address}/me");
    let huge = "x".repeat(20_000);
    for (name, value) in [
        ("authorization", "Basic %%%%"),
        ("authorization", "Bearer"),
        ("authorization", "Basic AAAA"),
        ("authorization", huge.as_str()),
        ("x-api-key", "a b"),
    ] {
        let response = http.get(&url).header(name, value).send().await.unwrap();
        assert_eq!(response.status(), 401, "{name}: {value:.20}");
    }
}

#[tokio::test]
async fn websocket_upgrade_is_refused_before_the_upgrade_without_credentials() {
    let address = serve().await;
    let request = format!("ws://{address}/ws").into_client_request().unwrap();
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            assert!(response.headers().contains_key("www-authenticate"));
        }
        other => panic!("expected an HTTP 401, got {other:?}"),
    }
}

#[tokio::test]
async fn websocket_upgrade_is_accepted_with_credentials_and_sees_the_client() {
    let address = serve().await;
    let mut request = format!("ws://{address}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", "key-1".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    let hello = socket.next().await.unwrap().unwrap();
    assert_eq!(
        hello.into_text().unwrap().as_str(),
        r#"{"client_id":"key-client"}"#
    );
    socket
        .send(tungstenite::Message::text("ping"))
        .await
        .unwrap();
    let echo = socket.next().await.unwrap().unwrap();
    assert_eq!(echo.into_text().unwrap().as_str(), "ping");
}

/// A boxed layer (methods erased) answers exactly as the typed one: Bearer, API key, the
/// request authenticator when there is one, 401 with its challenges otherwise.
#[tokio::test]
async fn a_boxed_layer_behaves_like_the_typed_one() {
    use authstar::BoxAuthstarLayer;

    fn layer(session: bool) -> BoxAuthstarLayer<AuthstarClient> {
        let builder = AuthstarLayer::builder()
            .on_auth_bearer(|token| async move {
                (token.as_str() == "good-token")
                    .then(|| AuthstarClient::new("bearer-client", ["read"]))
            })
            .on_auth_header(HeaderAuth::x_api_key(|key| async move {
                (key.as_str() == "key-1").then(|| AuthstarClient::new("key-client", ["read"]))
            }))
            .require_authentication();
        if session {
            builder
                .on_auth_request(|parts| {
                    let session = parts.headers.contains_key("x-session");
                    async move { session.then(|| AuthstarClient::new("session-client", ["read"])) }
                })
                .build_boxed()
                .unwrap()
        } else {
            builder.build_boxed().unwrap()
        }
    }

    for session in [false, true] {
        let app = Router::new().route("/me", get(me)).layer(layer(session));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = reqwest::Client::new();
        let url = format!("http://{address}/me");
        let bearer = http
            .get(&url)
            .bearer_auth("good-token")
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status(), 200);
        assert!(bearer.text().await.unwrap().contains("bearer-client"));
        let key = http
            .get(&url)
            .header("x-api-key", "key-1")
            .send()
            .await
            .unwrap();
        assert!(key.text().await.unwrap().contains("key-client"));
        let with_session = http
            .get(&url)
            .header("x-session", "1")
            .send()
            .await
            .unwrap();
        let expected = if session { 200 } else { 401 };
        assert_eq!(with_session.status(), expected, "session={session}");
        let nothing = http.get(&url).send().await.unwrap();
        assert_eq!(nothing.status(), 401);
        assert!(nothing.headers().contains_key("www-authenticate"));
    }
}

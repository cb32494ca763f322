//! `authstar demo` end to end: the built binary on a free loopback port, its printed curl lines
//! walked with real curl, the route contract, a token verified by PyJWT, and logs free of
//! secrets.

#[path = "../../../tests/support/python.rs"]
mod python;
mod support;

use std::process::Command;

use support::Demo;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

fn sh(line: &str) -> String {
    let output = Command::new("sh").args(["-c", line]).output().unwrap();
    assert!(
        output.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn has_curl() -> bool {
    let found = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true needs curl"
    );
    found
}

#[test]
fn the_printed_curl_lines_all_work() {
    if !has_curl() {
        return;
    }
    let demo = Demo::start("curl", &[]);
    let lines = demo.curl_lines();
    assert_eq!(lines.len(), 6, "{:?}", demo.printed);
    let outputs: Vec<Value> = lines[..4]
        .iter()
        .map(|line| serde_json::from_str(&sh(line)).unwrap())
        .collect();
    assert_eq!(outputs[0]["token_endpoint"], "/oauth2/token");
    assert_eq!(
        outputs[1],
        serde_json::json!({"client_id": "demo-client", "scopes": ["reports:read", "reports:export"]})
    );
    assert_eq!(outputs[2]["client_id"], "demo-client");
    assert_eq!(outputs[3]["token_type"], "Bearer");
    assert!(sh(&lines[4]).starts_with("month,total"));
    let metadata: Value = serde_json::from_str(&sh(&lines[5])).unwrap();
    assert_eq!(metadata["issuer"], demo.base.as_str());
    let logs = demo.stop();
    assert!(!logs.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_contract_tokens_sessions_websocket_and_no_secret_in_logs() {
    let demo = Demo::start("contract", &[]);
    let base = demo.base.clone();
    let secret = demo.value("client_secret:");
    let api_key = demo.value("api_key:");
    let http = reqwest::Client::builder().build().unwrap();

    // GET / public, /me needs a client.
    assert_eq!(
        http.get(format!("{base}/")).send().await.unwrap().status(),
        200
    );
    let anonymous = http.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous
            .headers()
            .get_all("www-authenticate")
            .iter()
            .count()
            >= 3
    );

    // The token: RFC 9068, expires_in = exp − iat, scope defaults to all the client's scopes.
    let token: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth("demo-client", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token["scope"], "reports:read reports:export");
    assert!(token.get("refresh_token").is_none());
    use base64::Engine as _;
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
    assert_eq!(claims["iss"], base.as_str());

    // RFC 8414 metadata: issuer is the base URL, no empty arrays.
    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], base.as_str());
    for (name, value) in metadata.as_object().unwrap() {
        assert!(
            value.as_array().is_none_or(|a| !a.is_empty()),
            "{name} is an empty array"
        );
    }
    // JWKS: public keys only.
    let jwks: Value = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(jwks["keys"][0].get("d").is_none());

    // Every credential type on /me; scopes on /reports and /reports/export.
    let me = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    let bearer = format!("Bearer {access}");
    let cases = [
        ("/me", "authorization", bearer.as_str(), 200),
        ("/me", "x-api-key", api_key.as_str(), 200),
        ("/reports", "x-api-key", api_key.as_str(), 200),
        // The API key only has reports:read; the token has both scopes.
        ("/reports/export", "x-api-key", api_key.as_str(), 403),
        ("/reports/export", "authorization", bearer.as_str(), 200),
    ];
    for (path, header, value, status) in cases {
        let request = http.get(format!("{base}{path}")).header(header, value);
        assert_eq!(me(request).await.0, status, "{path} with {header}");
    }
    assert_eq!(me(http.get(format!("{base}/internal/health"))).await.0, 200);

    // The session cookie: signed, HttpOnly, SameSite; alone it authenticates; DELETE clears it.
    let login = http
        .post(format!("{base}/session"))
        .basic_auth("demo-client", Some(&secret))
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
    let with_cookie = me(http.get(format!("{base}/me")).header("cookie", &cookie)).await;
    assert_eq!(with_cookie.0, 200);
    assert!(with_cookie.1.contains("demo-client"));
    let tampered = cookie.replacen("authstar_session=", "authstar_session=x", 1);
    assert_eq!(
        me(http.get(format!("{base}/me")).header("cookie", tampered))
            .await
            .0,
        401
    );
    let logout = http
        .delete(format!("{base}/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        logout.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // The websocket: refused before the upgrade without credentials, greets with the client.
    let ws = base.replace("http://", "ws://") + "/ws";
    match tokio_tungstenite::connect_async(ws.as_str()).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    let mut request = ws.into_client_request().unwrap();
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
    assert_eq!(
        socket
            .next()
            .await
            .unwrap()
            .unwrap()
            .into_text()
            .unwrap()
            .as_str(),
        "echo"
    );

    // Revocation: the client gets no token, its API key stops working.
    let revoked = demo.cli(&["clients", "revoke", "demo-client"]);
    assert!(revoked.status.success());
    let refused = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth("demo-client", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        me(http.get(format!("{base}/me")).header("x-api-key", &api_key))
            .await
            .0,
        401
    );

    let logs = demo.stop();
    for secret_value in [
        secret.as_str(),
        api_key.as_str(),
        access.as_str(),
        cookie.as_str(),
    ] {
        assert!(
            !logs.contains(secret_value),
            "a secret leaked into the logs:\n{logs}"
        );
    }
}

#[test]
fn trusted_proxies_decide_who_is_internal() {
    let demo = Demo::start("proxies", &["--trusted-proxies", "127.0.0.1/32"]);
    let url = format!("{}/internal/health", demo.base);
    let status = |forwarded: Option<&str>| {
        let mut request = reqwest::blocking::Client::new().get(&url);
        if let Some(address) = forwarded {
            request = request.header("x-forwarded-for", address);
        }
        request.send().unwrap().status().as_u16()
    };
    assert_eq!(status(Some("10.1.2.3")), 200);
    assert_eq!(status(Some("203.0.113.5")), 403);
    assert_eq!(
        status(Some("10.1.2.3, 203.0.113.5")),
        403,
        "read right to left"
    );
    assert_eq!(status(None), 403, "a trusted proxy that names nobody");
    // The attacker's move: the proxy appends X-Forwarded-For, the client adds `Forwarded`.
    let smuggled = reqwest::blocking::Client::new()
        .get(&url)
        .header("x-forwarded-for", "203.0.113.5")
        .header("forwarded", "for=10.1.2.3")
        .send()
        .unwrap();
    assert_eq!(smuggled.status().as_u16(), 403, "Forwarded is not believed");
}

#[test]
fn proxies_that_write_forwarded_are_read_from_forwarded_only() {
    let demo = Demo::start(
        "proxies-rfc7239",
        &[
            "--trusted-proxies",
            "127.0.0.1/32",
            "--forwarded-header",
            "forwarded",
        ],
    );
    let url = format!("{}/internal/health", demo.base);
    let status = |pairs: &[(&str, &str)]| {
        let mut request = reqwest::blocking::Client::new().get(&url);
        for (name, value) in pairs {
            request = request.header(*name, *value);
        }
        request.send().unwrap().status().as_u16()
    };
    assert_eq!(status(&[("forwarded", "for=10.1.2.3")]), 200);
    assert_eq!(
        status(&[
            ("forwarded", "for=203.0.113.5"),
            ("x-forwarded-for", "10.1.2.3")
        ]),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_verify_independently_with_pyjwt() {
    if !python::available("jwt, cryptography") {
        return;
    }
    let demo = Demo::start("pyjwt", &[]);
    let secret = demo.value("client_secret:");
    let token: Value = reqwest::Client::new()
        .post(format!("{}/oauth2/token", demo.base))
        .basic_auth("demo-client", Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "reports:read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();
    let jwks = format!("{}/.well-known/jwks.json", demo.base);
    let issuer = demo.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        python::run("verify_jwt.py", &[&jwks, &issuer, &access])
    })
    .await
    .unwrap();
    let claims: Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(claims["client_id"], "demo-client");
    assert_eq!(claims["scope"], "reports:read");
}

//! The authorization server as plain tower services: driven directly (`oneshot`), and served
//! by a plain hyper 1 server on a loopback socket, no axum anywhere.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authstar::throttle::{Budget, FailureThrottle};
use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, BearerToken, MethodSet};
use authstar_oauth2::{
    AuthorizationServer, OAuth2TokenRequest, OAuth2TokenResponse, ServerError, TokenIntrospection,
    introspection_endpoint, revocation_endpoint, token_endpoint,
};
use authstar_testkit::proofs::FakeProofs;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};

/// `svc` / `secret` (and `my client` / `s:cret`, an id and secret that need RFC 6749 §2.3.1
/// escapes); each check is counted.
fn layer(
    checks: Arc<AtomicUsize>,
) -> AuthstarLayer<AuthstarClient, impl MethodSet<AuthstarClient>> {
    AuthstarLayer::builder()
        .on_auth_basic(move |credentials: BasicCredentials| {
            checks.fetch_add(1, Ordering::SeqCst);
            // The layer's authenticator decodes OAuth 2.0 client credentials itself.
            let (id, secret) = credentials.oauth2_client();
            let known = matches!(
                (id.as_ref(), secret.as_ref()),
                ("svc", "secret") | ("my client", "s:cret") | ("svc", "a+b")
            );
            let client = known.then(|| AuthstarClient::new(id, ["reports:read", "reports:write"]));
            async move { client }
        })
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .realm("as")
        .throttle(
            FailureThrottle::new()
                .client_address(|_, _| Some(std::net::IpAddr::from([192, 0, 2, 1])))
                .per_address(None)
                .per_identity(Some(Budget::per_period(2, Duration::from_secs(600)))),
        )
        .build()
        .unwrap()
}

async fn issue(
    request: OAuth2TokenRequest,
    client: AuthstarClient,
) -> Result<OAuth2TokenResponse, Infallible> {
    let kind = if request.dpop_jkt.is_some() {
        "dpop"
    } else {
        "bearer"
    };
    let token = format!("{kind}-token-for-{}", client.client_id());
    Ok(match request.dpop_jkt {
        Some(_) => OAuth2TokenResponse::dpop(token),
        None => OAuth2TokenResponse::bearer(token),
    }
    .scope(request.scope()))
}

/// Proofs `good` prove key `k1` for the token endpoint's URL, bound to no access token;
/// `stale` lacks the nonce `n-1`.
fn proofs() -> FakeProofs {
    FakeProofs::new()
        .proves("good", "k1")
        .stale("stale")
        .url("https://as.example/oauth2/token")
        .access_token(None)
        .nonce("n-1")
}

fn server(
    checks: Arc<AtomicUsize>,
) -> (
    AuthorizationServer,
    AuthstarLayer<AuthstarClient, impl MethodSet<AuthstarClient>>,
) {
    let layer = layer(checks);
    let token = token_endpoint(&layer, issue).dpop(proofs(), "https://as.example/oauth2/token");
    let revoke = revocation_endpoint(&layer, |token: String, client: AuthstarClient| async move {
        match token.strip_prefix("bearer-token-for-") {
            Some(owner) if owner != client.client_id() => Err(authstar_oauth2::BoxError::from(
                authstar_oauth2::TokenError::new(
                    authstar_oauth2::ErrorCode::UnauthorizedClient,
                    "the token was issued to another client",
                ),
            )),
            _ => Ok(()),
        }
    });
    let introspect =
        introspection_endpoint(&layer, |token: String, _: AuthstarClient| async move {
            Ok::<_, Infallible>(match token.strip_prefix("bearer-token-for-") {
                Some(owner) => TokenIntrospection::active(owner),
                None => TokenIntrospection::inactive(),
            })
        });
    let server = AuthorizationServer::builder("https://as.example/")
        .token(token)
        .revocation(revoke)
        .introspection(introspect)
        .jwks(&serde_json::json!({"keys": []}))
        .scopes(["reports:read", "reports:write"])
        .build()
        .unwrap();
    (server, layer)
}

fn post(path: &str) -> http::request::Builder {
    Request::post(path).header("content-type", "application/x-www-form-urlencoded")
}

async fn send<S>(
    service: &S,
    request: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, serde_json::Value)
where
    S: tower::Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        BasicCredentials::new(id, secret).unwrap().encode()
    )
}

fn form(path: &str, body: &'static str, authorization: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = post(path);
    if let Some(authorization) = authorization {
        builder = builder.header("authorization", authorization);
    }
    builder
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test]
async fn the_token_endpoint_checks_basic_clients_once_with_the_layers_authenticator() {
    let checks = Arc::new(AtomicUsize::new(0));
    let (server, layer) = server(checks.clone());
    let service = layer.layer(server);
    let (status, headers, json) = send(
        &service,
        form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&basic("svc", "secret")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["access_token"], "bearer-token-for-svc");
    assert_eq!(json["scope"], "reports:read reports:write");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        checks.load(Ordering::SeqCst),
        1,
        "the layer's verdict stands"
    );
}

#[tokio::test]
async fn rfc6749_2_3_1_escaped_basic_and_body_credentials_are_checked_by_the_same_authenticator() {
    let checks = Arc::new(AtomicUsize::new(0));
    let (server, layer) = server(checks.clone());
    let service = layer.layer(server);
    // `my client` / `s:cret`, form-encoded in Basic as RFC 6749 §2.3.1 says.
    let (status, _, json) = send(
        &service,
        form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&basic("my+client", "s%3Acret")),
        ),
    )
    .await;
    assert_eq!(
        (status, json["access_token"].as_str()),
        (StatusCode::OK, Some("bearer-token-for-my client"))
    );
    // client_secret_post, with no second authenticator given to the endpoint.
    let (status, _, json) = send(
        &service,
        form(
            "/oauth2/token",
            "grant_type=client_credentials&client_id=svc&client_secret=secret",
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, json["access_token"].as_str()),
        (StatusCode::OK, Some("bearer-token-for-svc"))
    );
    // Each way of sending a credential is decoded once: a `+` in a secret, escaped as it
    // must be, is a `+` in Basic and in the body alike...
    for (body, authorization) in [
        ("grant_type=client_credentials", Some(basic("svc", "a%2Bb"))),
        (
            "grant_type=client_credentials&client_id=svc&client_secret=a%2Bb",
            None,
        ),
    ] {
        let (status, _, json) = send(
            &service,
            form("/oauth2/token", body, authorization.as_deref()),
        )
        .await;
        assert_eq!(
            (status, json["access_token"].as_str()),
            (StatusCode::OK, Some("bearer-token-for-svc")),
            "{body} {authorization:?}"
        );
    }
    // ...and an id sent as `%2573vc` in the body is the id `%73vc`, not `svc`.
    let (status, _, json) = send(
        &service,
        form(
            "/oauth2/token",
            "grant_type=client_credentials&client_id=%2573vc&client_secret=secret",
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

#[tokio::test]
async fn an_endpoint_served_without_its_layer_counts_basic_failures_itself() {
    // Mounted bare (a hyper or tonic server with no layer in front): nobody else counted these.
    let checks = Arc::new(AtomicUsize::new(0));
    let (server, _layer) = server(checks.clone());
    let wrong = || {
        form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&basic("svc", "guess")),
        )
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send(&server, wrong()).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(
        checks.load(Ordering::SeqCst),
        2,
        "a locked client costs no check"
    );
}

#[tokio::test]
async fn body_credentials_are_throttled_under_the_id_the_layer_counts() {
    let (server, layer) = server(Arc::new(AtomicUsize::new(0)));
    let service = layer.layer(server);
    for _ in 0..2 {
        let (status, headers, json) = send(
            &service,
            form(
                "/oauth2/token",
                "grant_type=client_credentials&client_id=svc&client_secret=guess",
                None,
            ),
        )
        .await;
        assert_eq!(
            (status, json["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        assert_eq!(
            headers["www-authenticate"],
            r#"Basic realm="as", charset="UTF-8""#
        );
    }
    // Locked: the right secret, in the body or in Basic, waits.
    let body = "grant_type=client_credentials&client_id=svc&client_secret=secret";
    let (status, headers, _) = send(&service, form("/oauth2/token", body, None)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    let (status, _, _) = send(
        &service,
        form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&basic("svc", "secret")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn rfc9449_5_a_proof_binds_the_token_and_a_stale_one_gets_the_nonce() {
    let (server, layer) = server(Arc::new(AtomicUsize::new(0)));
    let service = layer.layer(server);
    let with_proof = |proof: &'static str| {
        let mut request = form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&basic("svc", "secret")),
        );
        request
            .headers_mut()
            .insert("dpop", http::HeaderValue::from_static(proof));
        request
    };
    let (status, headers, json) = send(&service, with_proof("good")).await;
    assert_eq!(
        (status, json["token_type"].as_str()),
        (StatusCode::OK, Some("DPoP"))
    );
    assert_eq!(headers["dpop-nonce"], "n-1");
    let (status, headers, json) = send(&service, with_proof("stale")).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("use_dpop_nonce"))
    );
    assert_eq!(headers["dpop-nonce"], "n-1");
    let (status, _, json) = send(&service, with_proof("forged")).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
    );
}

#[tokio::test]
async fn rfc7009_and_rfc7662_revocation_and_introspection() {
    let (server, layer) = server(Arc::new(AtomicUsize::new(0)));
    let service = layer.layer(server);
    let svc = basic("svc", "secret");
    let (status, _, _) = send(
        &service,
        form("/oauth2/revoke", "token=bearer-token-for-svc", Some(&svc)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, json) = send(
        &service,
        form("/oauth2/revoke", "token=bearer-token-for-other", Some(&svc)),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (status, _, json) = send(&service, form("/oauth2/revoke", "", Some(&svc))).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (_, _, json) = send(
        &service,
        form(
            "/oauth2/introspect",
            "token=bearer-token-for-svc",
            Some(&svc),
        ),
    )
    .await;
    assert_eq!(
        json,
        serde_json::json!({"active": true, "client_id": "svc"})
    );
    let (_, _, json) = send(
        &service,
        form("/oauth2/introspect", "token=junk", Some(&svc)),
    )
    .await;
    assert_eq!(json, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn rfc8414_metadata_lists_what_is_served_and_other_paths_are_404() {
    let (server, layer) = server(Arc::new(AtomicUsize::new(0)));
    let service = layer.layer(server);
    let get = |path: &str| Request::get(path).body(Full::<Bytes>::default()).unwrap();
    let (status, headers, metadata) =
        send(&service, get("/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        metadata,
        serde_json::json!({
            "issuer": "https://as.example",
            "token_endpoint": "https://as.example/oauth2/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint": "https://as.example/oauth2/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint": "https://as.example/oauth2/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "jwks_uri": "https://as.example/.well-known/jwks.json",
            "scopes_supported": ["reports:read", "reports:write"],
            "dpop_signing_alg_values_supported": ["ES256"],
        })
    );
    let (_, _, jwks) = send(&service, get("/.well-known/jwks.json")).await;
    assert_eq!(jwks, serde_json::json!({"keys": []}));
    assert_eq!(
        send(&service, get("/elsewhere")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, headers, _) = send(&service, get("/oauth2/token")).await;
    assert_eq!(
        (status, &headers["allow"]),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            &"POST".parse::<http::HeaderValue>().unwrap()
        )
    );
    let (status, _, _) = send(&service, form("/.well-known/jwks.json", "", None)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn a_server_that_cannot_authenticate_its_clients_is_refused_when_built() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .build()
        .unwrap();
    let token = token_endpoint(&layer, issue);
    assert!(token.client_auth_methods().is_empty());
    let refused = AuthorizationServer::builder("https://as.example")
        .token(token.clone())
        .build();
    assert_eq!(
        refused.unwrap_err(),
        ServerError::NoClientAuthentication("token")
    );
    let given = token.client_authenticator(|c: BasicCredentials| async move {
        (c.password() == "secret").then(|| AuthstarClient::new(c.username(), ["read"]))
    });
    assert!(
        AuthorizationServer::builder("https://as.example")
            .token(given.clone())
            .build()
            .is_ok()
    );
    for issuer in ["as.example", "https://as.example?x=1", "ftp://as.example"] {
        let refused = AuthorizationServer::builder(issuer)
            .token(given.clone())
            .build();
        assert!(
            matches!(refused, Err(ServerError::InvalidIssuer(_))),
            "{issuer}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_invalid_requests_never_a_500() {
    let (server, layer) = server(Arc::new(AtomicUsize::new(0)));
    let service = layer.layer(server);
    let body = format!("grant_type=client_credentials&pad={}", "x".repeat(40_000));
    let request = post("/oauth2/token")
        .header("authorization", basic("svc", "secret"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let (status, _, json) = send(&service, request).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

/// The whole server from a plain hyper 1 accept loop, no framework: what a tonic or hyper
/// user mounts.
#[tokio::test]
async fn a_plain_hyper_server_serves_the_authorization_server() {
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    let (server, layer) = server(Arc::new(AtomicUsize::new(0)));
    let service = layer.layer(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("http://{address}/oauth2/token"))
        .basic_auth("svc", Some("secret"))
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
    assert_eq!(token["access_token"], "bearer-token-for-svc");
    assert_eq!(token["scope"], "reports:read");
    let metadata: serde_json::Value = http
        .get(format!(
            "http://{address}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "https://as.example");
}

/// Moved from the core (`Client::can_use_grant`, gone): which clients may use the grant is the
/// token builder's to say; its `unauthorized_client` is the client's answer.
#[tokio::test]
async fn rfc6749_5_2_unauthorized_client() {
    let layer = layer(Arc::new(AtomicUsize::new(0)));
    let token = token_endpoint(&layer, |_: OAuth2TokenRequest, _: AuthstarClient| async {
        Err::<OAuth2TokenResponse, _>(authstar_oauth2::BoxError::from(
            authstar_oauth2::TokenError::new(
                authstar_oauth2::ErrorCode::UnauthorizedClient,
                "this client may not use the client_credentials grant",
            ),
        ))
    });
    let service = layer.layer(token);
    let (status, _, json) = send(
        &service,
        form(
            "/oauth2/token",
            "grant_type=client_credentials",
            Some(&basic("svc", "secret")),
        ),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn a_client_secret_post_gets_the_layers_authenticator_timeout() {
    // The layer's Basic authenticator hangs; the body secret is checked by it, under the same
    // deadline as a Basic credential.
    let layer = AuthstarLayer::builder()
        .on_auth_basic(|_: BasicCredentials| std::future::pending::<Option<AuthstarClient>>())
        .authenticator_timeout(Duration::from_millis(100), tokio::time::sleep)
        .build()
        .unwrap();
    let server = AuthorizationServer::builder("https://as.example/")
        .token(token_endpoint(&layer, issue))
        .build()
        .unwrap();
    let service = layer.layer(server);
    let started = std::time::Instant::now();
    let body = "grant_type=client_credentials&client_id=svc&client_secret=secret";
    let (status, _, json) = send(&service, form("/oauth2/token", body, None)).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("temporarily_unavailable")
        )
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

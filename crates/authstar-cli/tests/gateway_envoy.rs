//! `authstar gateway --ext-authz-port`: Envoy's external authorization protocol
//! (`envoy.service.auth.v3.Authorization/Check`) over a real socket, asked by clients nobody here
//! wrote: tonic with the `envoy-types` crate's generated client, and Python's grpcio with the
//! Envoy protos from PyPI (`xds-protos`). Envoy itself is not installable here; the requests
//! carry exactly the attributes Envoy sends (`source.address`, `request.http` with method, host,
//! scheme, path and headers).

mod support;

use std::collections::HashMap;

use authstar_testkit::dpop::DpopClient;
use envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier;
use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use support::Demo;

/// A `CheckRequest` as Envoy sends it for `method https://api.example:8443{path}` from `client`.
fn check(client: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .chain([(":path".to_owned(), path.to_owned())])
        .collect();
    let source = Peer {
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: client.to_owned(),
                port_specifier: Some(PortSpecifier::PortValue(41_000)),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(source),
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.to_owned(),
                    host: "api.example:8443".to_owned(),
                    scheme: "https".to_owned(),
                    path: path.to_owned(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// The HTTP status Envoy would answer with (200 for an allowed request), and the headers it
/// would set upstream (allowed) or send the client (denied).
fn outcome(response: &CheckResponse) -> (i32, HashMap<String, String>, Vec<String>) {
    let header_map = |options: &[envoy_types::pb::envoy::config::core::v3::HeaderValueOption]| {
        // Repeated headers (one challenge each) joined as one list.
        let mut map: HashMap<String, String> = HashMap::new();
        for header in options.iter().filter_map(|option| option.header.as_ref()) {
            map.entry(header.key.to_ascii_lowercase())
                .and_modify(|value| *value = format!("{value}, {}", header.value))
                .or_insert_with(|| header.value.clone());
        }
        map
    };
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => {
            (200, header_map(&ok.headers), ok.headers_to_remove.clone())
        }
        Some(HttpResponse::DeniedResponse(denied)) => {
            let status = denied.status.as_ref().map_or(403, |status| status.code);
            (status, header_map(&denied.headers), Vec::new())
        }
        _ => (0, HashMap::new(), Vec::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_ext_authz_checks_with_the_same_decisions() {
    let demo = Demo::start("gateway-envoy", &[]);
    let (id, secret) = (demo.value("client_id:"), demo.value("client_secret:"));
    let api_key = demo.value("api_key:");
    let policy = demo.dir().join("policy.toml");
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy.toml"),
    )
    .unwrap();
    std::fs::write(&policy, text).unwrap();
    let gateway = demo.gateway(&policy, &["--ext-authz-port", "0"]);
    let address = gateway.value("ext_authz (gRPC) on");
    let mut envoy = AuthorizationClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let mut ask =
        async |request: CheckRequest| outcome(&envoy.check(request).await.unwrap().into_inner());
    let inside = "10.1.2.3";

    // An API key: allowed, the identity set upstream over whatever the client sent.
    let (status, headers, _) = ask(check(
        inside,
        "GET",
        "/me",
        &[("x-api-key", &api_key), ("x-authstar-client-id", "admin")],
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-authstar-client-id"], "demo-client");
    assert_eq!(headers["x-authstar-method"], "x-api-key");
    assert_eq!(headers["x-authstar-scopes"], "reports:read");

    // Public, nobody: allowed, and a client's identity headers removed.
    let (status, headers, removed) = ask(check(
        inside,
        "GET",
        "/health",
        &[("x-authstar-client-id", "admin")],
    ))
    .await;
    assert_eq!(status, 200);
    assert!(headers.is_empty(), "{headers:?}");
    assert!(
        removed.contains(&"x-authstar-client-id".to_owned()),
        "{removed:?}"
    );

    // Nobody on an authenticated route: 401 with the challenges; the wrong scope: 403.
    let (status, headers, _) = ask(check(inside, "GET", "/me", &[])).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"].contains("Bearer"),
        "{headers:?}"
    );
    let (status, _, _) = ask(check(
        inside,
        "GET",
        "/reports/export",
        &[("x-api-key", &api_key)],
    ))
    .await;
    assert_eq!(status, 403);

    // Internal: from the client's address as Envoy reports it.
    assert_eq!(
        ask(check(inside, "GET", "/internal/health", &[])).await.0,
        200
    );
    assert_eq!(
        ask(check("203.0.113.7", "GET", "/internal/health", &[]))
            .await
            .0,
        403
    );

    // DPoP: the proof names the URL Envoy describes.
    let client = DpopClient::new();
    let token_url = format!("{}/oauth2/token", demo.base);
    let bound: serde_json::Value = reqwest::Client::new()
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .header("dpop", client.proof("POST", &token_url, None))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = bound["access_token"].as_str().unwrap();
    let dpop = format!("DPoP {token}");
    let proof = client.proof("GET", "https://api.example:8443/me", Some(token));
    let (status, headers, _) = ask(check(
        inside,
        "GET",
        "/me",
        &[("authorization", &dpop), ("dpop", &proof)],
    ))
    .await;
    assert_eq!(status, 200, "{headers:?}");
    assert_eq!(headers["x-authstar-method"], "dpop");
    let elsewhere = client.proof("GET", "https://other.example/me", Some(token));
    let denied = ask(check(
        inside,
        "GET",
        "/me",
        &[("authorization", &dpop), ("dpop", &elsewhere)],
    ))
    .await;
    assert_eq!(denied.0, 401);

    // A password guesser: ten mistakes, then 429 with Retry-After.
    let mut statuses = Vec::new();
    for n in 0..11 {
        use base64::Engine as _;
        let pair = format!("guess-envoy:guess number {n}");
        let guess = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        );
        let (status, headers, _) = ask(check(
            "10.9.9.9",
            "GET",
            "/me",
            &[("authorization", &guess)],
        ))
        .await;
        if status == 429 {
            assert!(headers.contains_key("retry-after"), "{headers:?}");
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);

    // Only the proxies may ask: a caller from 127.0.0.2 is refused.
    let elsewhere = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .local_address(Some(std::net::IpAddr::from([127, 0, 0, 2])))
        .connect()
        .await
        .unwrap();
    let refused = AuthorizationClient::new(elsewhere)
        .check(check(inside, "GET", "/health", &[]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    // A CheckRequest that describes no HTTP request is refused as such.
    let empty = envoy.check(CheckRequest::default()).await.unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);

    // grpcio with the protos from PyPI sees the same, and the health service says SERVING.
    if authstar_testkit::python::available("envoy.service.auth.v3.external_auth_pb2") {
        let output = authstar_testkit::python::run("ext_authz_grpcio.py", &[&address, &api_key]);
        assert!(output.contains("ok"), "{output}");
    }
}

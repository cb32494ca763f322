//! The layer in front of a real tonic gRPC server (tonic's own health service), called by a
//! real tonic client over HTTP/2 on a loopback socket: credentials in metadata (a bearer token,
//! an API key) are accepted; missing, malformed and refused ones are `UNAUTHENTICATED` with the
//! challenge in `www-authenticate` metadata, and a throttled caller gets `RESOURCE_EXHAUSTED`.

use std::net::SocketAddr;

use authstar_testkit::python;

use authstar::network::Networks;
use authstar::throttle::{Budget, FailureThrottle};
use authstar::{AuthstarClient, AuthstarLayer, BearerToken, Guards, HeaderAuth};
use authstar_tonic::MethodGuards;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// tonic's health service, `reports` serving.
async fn serving_health()
-> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("reports", ServingStatus::Serving)
        .await;
    health
}

/// A loopback listener for a server, and its URL.
async fn listen() -> (tokio_stream::wrappers::TcpListenerStream, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        url,
    )
}

async fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn server() -> String {
    let health = serving_health().await;
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| {
            let client = (token.as_str() == "good-token")
                .then(|| AuthstarClient::new("reporting", ["reports:read"]));
            async move { client }
        })
        .on_auth_header(HeaderAuth::x_api_key(|key| async move {
            (key.as_str() == "good-key").then(|| AuthstarClient::new("svc", ["reports:read"]))
        }))
        .require_authentication()
        .throttle(
            FailureThrottle::new()
                .per_address(Some(Budget::new(4, 1)))
                .per_identity(None)
                .client_address(|extensions, _| {
                    let info = extensions.get::<tonic::transport::server::TcpConnectInfo>()?;
                    info.remote_addr().map(|peer: SocketAddr| peer.ip())
                }),
        )
        .build()
        .unwrap();
    serve_health(layer, health).await
}

/// `health` behind `layer` on a loopback socket; its URL.
async fn serve_health<M: authstar::MethodSet<AuthstarClient>>(
    layer: AuthstarLayer<AuthstarClient, M>,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
) -> String {
    let (incoming, url) = listen().await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(incoming),
    );
    url
}

/// One health check with `metadata`; the status (`Ok` = the service's serving status).
async fn check(url: &str, metadata: &[(&'static str, &str)]) -> Result<i32, tonic::Status> {
    let channel = channel(url).await;
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: "reports".into(),
    });
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, MetadataValue::try_from(*value).unwrap());
    }
    client.check(request).await.map(|r| r.into_inner().status)
}

#[tokio::test]
async fn credentials_in_metadata_pass_and_refusals_are_grpc_statuses() {
    let url = server().await;
    let serving = ServingStatus::Serving as i32;
    assert_eq!(
        check(&url, &[("authorization", "Bearer good-token")])
            .await
            .unwrap(),
        serving
    );
    assert_eq!(
        check(&url, &[("x-api-key", "good-key")]).await.unwrap(),
        serving
    );
    let missing = check(&url, &[]).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    // A gRPC status from the layer (trailers-only), not tonic's reading of an HTTP 401.
    assert_eq!(
        missing.message(),
        "missing, malformed or refused credentials"
    );
    let challenge = missing.metadata().get("www-authenticate").unwrap();
    assert!(
        challenge.to_str().unwrap().starts_with("Bearer"),
        "{challenge:?}"
    );
    for (key, value) in [
        ("authorization", "Bearer not{a}token"),
        ("authorization", "Basic !!!"),
        ("authorization", "Bearer wrong-token"),
        ("x-api-key", "wrong-key"),
    ] {
        let refused = check(&url, &[(key, value)]).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{key}: {value}");
        assert!(refused.metadata().get("www-authenticate").is_some());
    }
}

#[tokio::test]
async fn a_guessing_grpc_caller_is_told_resource_exhausted() {
    let url = server().await;
    let mut codes = Vec::new();
    for i in 0..8 {
        let token = format!("Bearer guess-{i}");
        codes.push(
            check(&url, &[("authorization", &token)])
                .await
                .unwrap_err()
                .code(),
        );
    }
    assert_eq!(codes.first(), Some(&Code::Unauthenticated));
    assert_eq!(codes.last(), Some(&Code::ResourceExhausted), "{codes:?}");
    // Locked out: the right token waits too (the budget is per address, as for HTTP).
    let locked = check(&url, &[("authorization", "Bearer good-token")]).await;
    assert_eq!(locked.unwrap_err().code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn a_python_grpcio_client_sees_the_same_statuses() {
    if !python::available("grpc, grpc_health") {
        return;
    }
    let urls = [
        server().await,
        guarded_server().await,
        reports_server().await,
    ];
    let targets: Vec<String> = urls
        .iter()
        .map(|url| url.trim_start_matches("http://").to_owned())
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = targets.iter().map(String::as_str).collect();
        python::run("grpc_health_client.py", &args)
    })
    .await
    .unwrap();
    assert!(out.contains("grpc ok"), "{out}");
}

/// A layer that lets anonymous calls through, and per-method guards behind it: `Check` needs
/// the `health:read` scope, `Watch` is not guarded.
async fn guarded_server() -> String {
    let health = serving_health().await;
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| {
            let client = match token.as_str() {
                "reader" => Some(AuthstarClient::new("reader", ["reports:read"])),
                "monitor" => Some(AuthstarClient::new("monitor", ["health:read"])),
                _ => None,
            };
            async move { client }
        })
        .build()
        .unwrap();
    let guards = MethodGuards::<AuthstarClient>::new(&layer)
        .scopes_any("/grpc.health.v1.Health/Check", ["health:read", "admin"]);
    let (incoming, url) = listen().await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .layer(guards)
            .add_service(health)
            .serve_with_incoming(incoming),
    );
    url
}

#[tokio::test]
async fn method_guards_refuse_per_method_and_let_the_rest_through() {
    let url = guarded_server().await;
    let anonymous = check(&url, &[]).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let refused = check(&url, &[("authorization", "Bearer nobody")])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let challenge = refused.metadata().get("www-authenticate").unwrap();
    assert!(
        challenge.to_str().unwrap().contains("invalid_token"),
        "{challenge:?}"
    );
    let under_scoped = check(&url, &[("authorization", "Bearer reader")])
        .await
        .unwrap_err();
    assert_eq!(under_scoped.code(), Code::PermissionDenied);
    let challenge = under_scoped.metadata().get("www-authenticate").unwrap();
    assert_eq!(
        challenge.to_str().unwrap(),
        r#"Bearer realm="authstar", error="insufficient_scope", scope="health:read admin""#
    );
    assert_eq!(
        check(&url, &[("authorization", "Bearer monitor")])
            .await
            .unwrap(),
        ServingStatus::Serving as i32
    );
    // `Watch` is not guarded: an anonymous caller gets its first answer.
    let channel = channel(&url).await;
    let mut stream = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: "reports".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
}

#[path = "../examples/grpc_reports.rs"]
mod reports;

/// Calls `path` of the example's service with `metadata`: the reply's (client id, report).
async fn export(
    url: &str,
    path: &'static str,
    metadata: &[(&'static str, &str)],
) -> Result<(String, String), tonic::Status> {
    let channel = channel(url).await;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(reports::ExportRequest {
        report: "q3".into(),
    });
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, MetadataValue::try_from(*value).unwrap());
    }
    let codec = tonic_prost::ProstCodec::<reports::ExportRequest, reports::ExportReply>::default();
    let reply = grpc
        .unary(request, http::uri::PathAndQuery::from_static(path), codec)
        .await?
        .into_inner();
    Ok((reply.client_id, reply.report))
}

async fn reports_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(reports::serve(listener));
    url
}

#[tokio::test]
async fn a_handler_reads_the_client_and_a_guarded_method_needs_its_scope() {
    let url = reports_server().await;
    // The handler sees who called.
    assert_eq!(
        export(&url, reports::EXPORT, &[("x-api-key", "demo-key")])
            .await
            .unwrap(),
        ("exporter".to_owned(), "q3".to_owned())
    );
    assert_eq!(
        export(
            &url,
            reports::PING,
            &[("authorization", "Bearer demo-token")]
        )
        .await
        .unwrap(),
        ("reporting".to_owned(), "q3".to_owned())
    );
    // The open method answers anonymous callers, without a client.
    assert_eq!(
        export(&url, reports::PING, &[]).await.unwrap(),
        (String::new(), "q3".to_owned())
    );
    // The guarded one: no credentials, a refused one, a client without the scope.
    let missing = export(&url, reports::EXPORT, &[]).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    let refused = export(&url, reports::EXPORT, &[("x-api-key", "stolen")])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let under_scoped = export(
        &url,
        reports::EXPORT,
        &[("authorization", "Bearer demo-token")],
    )
    .await
    .unwrap_err();
    assert_eq!(under_scoped.code(), Code::PermissionDenied);
    assert!(
        under_scoped
            .metadata()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains(r#"scope="reports:export""#)
    );
}

/// DPoP over gRPC: a proof names `POST` and the method's URL (the origin and
/// `/grpc.health.v1.Health/Check`); a tonic client sending `authorization: DPoP ...` and a `dpop`
/// proof in metadata is served, and without a proof gets `UNAUTHENTICATED` with the RFC 9449
/// `invalid_dpop_proof` challenge as metadata. (Proofs are checked by a stand-in here; the JOSE
/// checks are authstar-jwt's, tested there.)
#[tokio::test]
async fn rfc9449_dpop_bound_tokens_over_grpc() {
    use authstar::DpopAuth;
    use authstar::credentials::dpop::DpopToken;
    use authstar_testkit::proofs::FakeProofs;
    let proofs = FakeProofs::new()
        .proves("proof-by-k1", "k1")
        .method(http::Method::POST)
        .url("https://grpc.example/grpc.health.v1.Health/Check");
    let tokens = |token: DpopToken| async move {
        (token.as_str() == "bound" && token.jkt() == "k1")
            .then(|| AuthstarClient::new("svc", ["reports:read"]))
    };
    let layer = AuthstarLayer::builder()
        .on_auth_dpop(DpopAuth::new(proofs, tokens).origin("https://grpc.example"))
        .require_authentication()
        .build()
        .unwrap();
    let url = serve_health(layer, serving_health().await).await;
    let served = check(
        &url,
        &[("authorization", "DPoP bound"), ("dpop", "proof-by-k1")],
    )
    .await;
    assert_eq!(served.unwrap(), ServingStatus::Serving as i32);
    for metadata in [
        &[("authorization", "DPoP bound")][..],
        &[("authorization", "DPoP bound"), ("dpop", "forged")][..],
    ] {
        let refused = check(&url, metadata).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        let challenge = refused.metadata().get("www-authenticate").unwrap();
        assert_eq!(
            challenge,
            r#"DPoP realm="authstar", error="invalid_dpop_proof", algs="ES256""#
        );
    }
    let stolen = check(
        &url,
        &[("authorization", "DPoP other"), ("dpop", "proof-by-k1")],
    )
    .await
    .unwrap_err();
    assert_eq!(stolen.code(), Code::Unauthenticated);
}

/// Issue 20, item 18: tonic ignores the HTTP method, so an `OPTIONS` call with `Origin` and
/// `Access-Control-Request-Method` (the shape of a CORS preflight) is a gRPC call. The layer
/// used to exempt it from `require_authentication()`, and the method ran unauthenticated.
#[tokio::test]
async fn an_options_call_shaped_as_a_preflight_is_authenticated_like_any_call() {
    use prost::Message as _;
    use tower::ServiceExt as _;
    let url = server().await;
    let message = HealthCheckRequest {
        service: "reports".into(),
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&message);
    let request = http::Request::builder()
        .method(http::Method::OPTIONS)
        .uri(format!("{url}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            bytes::Bytes::from(frame),
        )))
        .unwrap();
    let response = channel(&url).await.oneshot(request).await.unwrap();
    assert_eq!(
        response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap()),
        Some("16"),
        "UNAUTHENTICATED, as a trailers-only answer: the method did not run"
    );
}

/// Issue 20, item 23: with `deny_unlisted`, a method nobody listed is refused; `public` keeps a
/// listed method open. Paths that cannot be method paths are refused when listed.
#[tokio::test]
async fn deny_unlisted_closes_the_methods_nobody_listed() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            (token.as_str() == "monitor").then(|| AuthstarClient::new("monitor", ["health:read"]))
        })
        .build()
        .unwrap();
    let guards = MethodGuards::<AuthstarClient>::new(&layer)
        .public("/grpc.health.v1.Health/Check")
        .deny_unlisted();
    let (incoming, url) = listen().await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .layer(guards)
            .add_service(serving_health().await)
            .serve_with_incoming(incoming),
    );
    assert_eq!(
        check(&url, &[]).await.unwrap(),
        ServingStatus::Serving as i32,
        "the public method"
    );
    let mut health = HealthClient::new(channel(&url).await);
    for metadata in [None, Some("Bearer monitor")] {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: "reports".into(),
        });
        if let Some(value) = metadata {
            request
                .metadata_mut()
                .insert("authorization", MetadataValue::try_from(value).unwrap());
        }
        let watch = health.watch(request).await.unwrap_err();
        assert_eq!(watch.code(), Code::PermissionDenied, "{metadata:?}");
    }
}

#[test]
fn method_paths_are_checked_when_listed() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .build()
        .unwrap();
    for typo in [
        "reports.Reports/List",
        "/reports.Reports.List",
        "/reports.Reports/List/",
        "/reports..Reports/List",
        "/reports.Reports/",
        "",
    ] {
        let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            MethodGuards::<AuthstarClient>::new(&layer).authenticated(typo)
        }));
        assert!(listed.is_err(), "{typo:?} was accepted");
    }
    let _ = MethodGuards::<AuthstarClient>::new(&layer)
        .authenticated("/Greeter/SayHello")
        .scopes_any("/reports.v1.Reports/Export", ["export"]);
    let empty = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        MethodGuards::<AuthstarClient>::new(&layer).scopes_all("/r.R/M", Vec::<String>::new())
    }));
    assert!(empty.is_err(), "an empty scope list");
}

#[tokio::test]
async fn an_internal_method_admits_internal_callers_only() {
    // Two servers behind the same rule: one counts loopback as internal (the default networks),
    // one only 10.0.0.0/8; the caller is on loopback, authenticated or not.
    let served = |networks: Option<Networks>| async move {
        let layer = AuthstarLayer::builder()
            .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
            .peer_address(|extensions| {
                let info = extensions.get::<tonic::transport::server::TcpConnectInfo>()?;
                info.remote_addr().map(|peer: SocketAddr| peer.ip())
            })
            .build()
            .unwrap();
        let mut guards = Guards::new(&layer);
        if let Some(networks) = networks {
            guards = guards.internal_networks(networks);
        }
        let guards = MethodGuards::<AuthstarClient>::with_guards(guards)
            .internal("/grpc.health.v1.Health/Check");
        let (incoming, url) = listen().await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(layer)
                .layer(guards)
                .add_service(serving_health().await)
                .serve_with_incoming(incoming),
        );
        url
    };
    let internal = served(None).await;
    assert_eq!(
        check(&internal, &[]).await.unwrap(),
        ServingStatus::Serving as i32
    );
    let elsewhere = served(Some(Networks::parse(["10.0.0.0/8"]).unwrap())).await;
    let refused = check(&elsewhere, &[]).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // A layer that cannot find addresses would make the rule admit no one: refused at start.
    let blind = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .build()
        .unwrap();
    let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        MethodGuards::<AuthstarClient>::new(&blind).internal("/grpc.health.v1.Health/Check")
    }));
    assert!(listed.is_err());
}

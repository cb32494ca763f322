//! Real tokens over gRPC: tonic's health service behind the layer, called by a tonic client over
//! HTTP/2 on a loopback socket, with an ES256 JWT as `authorization: Bearer` metadata and a
//! DPoP-bound JWT with a real proof (signed by jsonwebtoken, naming `POST` and the method's URL).
//! Refusals are `UNAUTHENTICATED` with the RFC 6750 / RFC 9449 challenge as metadata.

use authstar::DpopAuth;
use authstar::{AuthstarClient, AuthstarLayer};
use authstar_jwt::dpop::DpopVerifier;
use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
use authstar_testkit::dpop::DpopClient;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const ORIGIN: &str = "https://grpc.example";
const CHECK: &str = "/grpc.health.v1.Health/Check";

async fn server(verifier: JwtVerifier<AuthstarClient>) -> String {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("reports", ServingStatus::Serving)
        .await;
    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(verifier.clone())
        .on_auth_dpop(DpopAuth::new(DpopVerifier::new(), verifier).origin(ORIGIN))
        .require_authentication()
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    url
}

async fn check(url: &str, metadata: &[(&'static str, String)]) -> Result<i32, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: "reports".into(),
    });
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, MetadataValue::try_from(value.as_str()).unwrap());
    }
    HealthClient::new(channel)
        .check(request)
        .await
        .map(|r| r.into_inner().status)
}

/// Every `www-authenticate` challenge of a refusal, joined.
fn challenge(status: &tonic::Status) -> String {
    let values = status.metadata().get_all("www-authenticate").iter();
    let texts: Vec<&str> = values.map(|v| v.to_str().unwrap()).collect();
    texts.join(" | ")
}

#[tokio::test]
async fn jwts_and_dpop_bound_jwts_over_grpc() {
    let signing = SigningKey::generate_es256("k1").unwrap();
    let verifier = JwtVerifier::new([signing.verification_key()], ORIGIN, "api");
    let issuer = JwtIssuer::new(signing, ORIGIN, "api");
    let url = server(verifier).await;

    // A bearer JWT: served; one signed by another key: refused as invalid_token.
    let jwt = issuer.issue("svc", &["reports:read".into()]).unwrap();
    let served = check(&url, &[("authorization", format!("Bearer {jwt}"))]).await;
    assert_eq!(served.unwrap(), ServingStatus::Serving as i32);
    let stranger = SigningKey::generate_es256("k1").unwrap();
    let forged = JwtIssuer::new(stranger, ORIGIN, "api")
        .issue("svc", &[])
        .unwrap();
    let refused = check(&url, &[("authorization", format!("Bearer {forged}"))])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(challenge(&refused).contains(r#"error="invalid_token""#));

    // A DPoP-bound JWT with a real proof: served; the same proof again: a replay.
    let client = DpopClient::new();
    let bound = issuer.issue_bound("svc", &[], &client.jkt()).unwrap();
    let once = client.proof("POST", &format!("{ORIGIN}{CHECK}"), Some(&bound));
    let metadata = [("authorization", format!("DPoP {bound}")), ("dpop", once)];
    assert_eq!(
        check(&url, &metadata).await.unwrap(),
        ServingStatus::Serving as i32
    );
    let replayed = check(&url, &metadata).await.unwrap_err();
    assert_eq!(replayed.code(), Code::Unauthenticated);
    assert!(challenge(&replayed).contains(r#"error="invalid_dpop_proof""#));
    // The bound JWT as a bearer token: refused.
    let stolen = check(&url, &[("authorization", format!("Bearer {bound}"))])
        .await
        .unwrap_err();
    assert_eq!(stolen.code(), Code::Unauthenticated);
    assert!(challenge(&stolen).contains(r#"Bearer realm="authstar", error="invalid_token""#));
}

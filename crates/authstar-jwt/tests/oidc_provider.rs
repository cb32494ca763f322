//! A real OpenID provider: `oidc-provider` (npm, OpenID Certified; pinned in
//! `tests/oidc/package.json`, installed by `.ci/run`) started on a loopback port. authstar
//! discovers it by issuer URL, verifies its RFC 9068 JWTs, refuses its tokens for another
//! resource, follows its key rotation, and verifies its opaque tokens through introspection.
//! Without Node or the package the test skips, except under `CI=true`, where it fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use authstar::{Authenticator, AuthstarClient, BearerToken, Started, Verdict};
use authstar_jwt::{Discovery, Introspection, JwtVerifier, RemoteJwks, TokenProfile};
use axum::http::HeaderValue;
use serde_json::Value;

const JOB: (&str, &str) = ("reports-job", "reports-job-secret-0123456789");
const API: (&str, &str) = ("reports-api", "reports-api-secret-0123456789");

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc")
}

fn available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let package = folder()
        .join("node_modules/oidc-provider/package.json")
        .exists();
    if !(node && package) {
        let install = "cd tests/oidc && npm ci";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but Node or oidc-provider is missing ({install})"
        );
        eprintln!("skipped: Node or oidc-provider missing ({install})");
    }
    node && package
}

struct OpenIdProvider {
    child: Child,
}

impl OpenIdProvider {
    fn start(port: u16, keys: &std::path::Path, rotate: bool) -> Self {
        let mut command = Command::new("node");
        command
            .current_dir(folder())
            .arg("provider.mjs")
            .arg(port.to_string())
            .arg(keys)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if rotate {
            command.arg("--rotate");
        }
        let mut child = command.spawn().expect("node runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().and_then(Result::ok);
        assert_eq!(
            ready.as_deref(),
            Some("listening"),
            "oidc-provider did not start"
        );
        Self { child }
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn token(issuer: &str, resource: &str, scope: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(JOB.0, Some(JOB.1))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

async fn verdict<A: Authenticator<BearerToken, Client = AuthstarClient>>(
    authenticator: &A,
    token: &str,
) -> Verdict<AuthstarClient> {
    let bearer =
        BearerToken::from_authorization(&HeaderValue::try_from(format!("Bearer {token}")).unwrap())
            .unwrap();
    match authenticator.start(bearer) {
        Started::Done(verdict) => verdict,
        Started::Running(future) => future.await,
    }
}

fn client(verdict: Verdict<AuthstarClient>) -> AuthstarClient {
    match verdict {
        Verdict::Authenticated(client) => client,
        Verdict::Rejected => panic!("rejected"),
        Verdict::Unavailable(error) => panic!("unavailable: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_jwts_rotation_and_introspection_against_oidc_provider() {
    if !available() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let keys = std::env::temp_dir().join(format!("authstar-oidc-keys-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&keys);
    let provider = OpenIdProvider::start(port, &keys, false);
    let issuer = format!("http://127.0.0.1:{port}");

    // Discovered by its issuer URL; its JWT access tokens are RFC 9068: the strict default.
    let verifier = Discovery::new(&issuer)
        .allow_http()
        .verifier(TokenProfile::rfc9068("https://jwt.api.test"))
        .await
        .unwrap()
        .build();
    let jwt = token(
        &issuer,
        "https://jwt.api.test",
        "reports:read reports:export",
    )
    .await;
    let found = client(verdict(&verifier, &jwt).await);
    assert_eq!(found.client_id(), "reports-job");
    assert_eq!(
        found.scopes(),
        ["reports:read".to_owned(), "reports:export".to_owned()]
    );

    // Its tokens for another resource are for someone else.
    let elsewhere = token(&issuer, "https://other.api.test", "reports:read").await;
    assert!(matches!(
        verdict(&verifier, &elsewhere).await,
        Verdict::Rejected
    ));

    // Key rotation: restarted with a new signing key in front (the old one still published).
    let metadata = Discovery::new(&issuer).allow_http().fetch().await.unwrap();
    let jwks = RemoteJwks::builder(&metadata.jwks_uri)
        .allow_http()
        .min_refresh_interval(Duration::ZERO)
        .build()
        .unwrap();
    let rotating =
        JwtVerifier::remote(jwks, &issuer, TokenProfile::rfc9068("https://jwt.api.test"));
    assert!(matches!(
        verdict(&rotating, &jwt).await,
        Verdict::Authenticated(_)
    ));
    drop(provider);
    let provider = OpenIdProvider::start(port, &keys, true);
    let rotated = token(&issuer, "https://jwt.api.test", "reports:read").await;
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_ne!(kid(&rotated), kid(&jwt), "signed with the new key");
    assert!(
        matches!(
            verdict(&rotating, &rotated).await,
            Verdict::Authenticated(_)
        ),
        "new key fetched on its unknown kid"
    );
    assert!(
        matches!(verdict(&rotating, &jwt).await, Verdict::Authenticated(_)),
        "old key still published"
    );

    // Opaque tokens: introspected by the resource server, as itself.
    let opaque = token(&issuer, "https://opaque.api.test", "reports:read").await;
    assert_eq!(opaque.split('.').count(), 1, "an opaque token");
    let introspection = Introspection::builder(
        metadata.introspection_endpoint.clone().unwrap(),
        API.0,
        API.1,
    )
    .allow_http()
    .audience("https://opaque.api.test")
    .active_ttl(Duration::from_millis(200))
    .build()
    .unwrap();
    let found = client(verdict(&introspection, &opaque).await);
    assert_eq!(
        (found.client_id(), found.scopes()),
        ("reports-job", &["reports:read".to_owned()][..])
    );
    // A resource server for another audience refuses it.
    let wrong_audience = Introspection::builder(
        metadata.introspection_endpoint.clone().unwrap(),
        API.0,
        API.1,
    )
    .allow_http()
    .audience("https://billing.api.test")
    .build()
    .unwrap();
    match verdict(&wrong_audience, &opaque).await {
        Verdict::Rejected => {}
        Verdict::Authenticated(client) => panic!("accepted for another audience: {client:?}"),
        Verdict::Unavailable(error) => panic!("unavailable: {error}"),
    }
    // Revoked at the provider: refused once the remembered answer runs out.
    let revoked = reqwest::Client::new()
        .post(format!("{issuer}/token/revocation"))
        .basic_auth(JOB.0, Some(JOB.1))
        .form(&[("token", opaque.as_str())])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(
        verdict(&introspection, &opaque).await,
        Verdict::Rejected
    ));
    // The provider gone: a backend error, not a rejection.
    drop(provider);
    let fresh = Introspection::builder(metadata.introspection_endpoint.unwrap(), API.0, API.1)
        .allow_http()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    assert!(matches!(
        verdict(&fresh, "whatever").await,
        Verdict::Unavailable(_)
    ));
    let _ = std::fs::remove_file(keys);
}

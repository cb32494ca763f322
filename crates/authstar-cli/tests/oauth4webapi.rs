//! oauth4webapi (panva's OAuth 2 client for JavaScript, written to the FAPI 2.0 profiles), a
//! client nobody here wrote, against the demo over TLS: client credentials with
//! `private_key_jwt` (RFC 7523, its `PrivateKeyJwt`) and with `tls_client_auth` (RFC 8705, its
//! `TlsClientAuth`, the certificate presented through undici), then the token on `/me`.

mod support;

use std::path::PathBuf;
use std::process::Command;

use authstar_testkit::assertion::KeyClient;
use base64::Engine as _;
use serde_json::Value;
use support::Demo;
use support::tls::{Certificates, authority, issued, runs, thumbprint};

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oauth4webapi")
}

/// `node client.mjs ARGS`: the JSON line it printed.
fn oauth4webapi(args: &[&str]) -> Value {
    let output = Command::new("node")
        .current_dir(folder())
        .arg("client.mjs")
        .args(args)
        .output()
        .expect("node runs");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn oauth4webapi_gets_tokens_with_private_key_jwt_and_tls_client_auth() {
    let present = runs("node")
        && runs("openssl")
        && folder()
            .join("node_modules/oauth4webapi/package.json")
            .exists();
    if !authstar_testkit::require(
        present,
        "node, openssl or tests/oauth4webapi's packages (npm ci)",
    ) {
        return;
    }
    let certificates = Certificates::new("oauth4webapi");
    let ca = authority(&certificates.dir, "ca", "/CN=Example Client CA");
    let billing = issued(
        &certificates.dir,
        "billing",
        "/O=Example/CN=billing",
        &ca,
        &[
            "subjectAltName=DNS:billing.example",
            "extendedKeyUsage=clientAuth",
        ],
    );
    let (server_cert, server_key) = certificates.server.clone();
    let demo = Demo::start(
        "oauth4webapi",
        &[
            "--tls-cert",
            server_cert.to_str().unwrap(),
            "--tls-key",
            server_key.to_str().unwrap(),
            "--client-ca",
            ca.0.to_str().unwrap(),
        ],
    );
    let issuer = demo.base.clone();

    // private_key_jwt: the public key registered, the private one handed to oauth4webapi.
    let job = KeyClient::new("job");
    let jwks = demo.dir().join("job.jwks.json");
    std::fs::write(&jwks, job.jwks()).unwrap();
    let output = demo.cli(&[
        "clients",
        "create",
        "--id",
        "job",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        jwks.to_str().unwrap(),
        "--scope",
        "reports:read",
    ]);
    assert!(output.status.success(), "{output:?}");
    let private = demo.dir().join("job.pkcs8");
    let encoded = base64::engine::general_purpose::STANDARD.encode(job.private_pkcs8());
    std::fs::write(&private, encoded).unwrap();
    let answer = oauth4webapi(&[
        &issuer,
        "private_key_jwt",
        "job",
        server_cert.to_str().unwrap(),
        private.to_str().unwrap(),
    ]);
    assert_eq!(answer["token_type"], "bearer", "{answer}");
    assert_eq!(answer["client_id"], "job");
    assert_eq!(answer["bound"], Value::Null, "no certificate, no binding");
    assert_eq!(answer["with_certificate"], 200, "{answer}");
    assert_eq!(answer["without_certificate"], 200, "{answer}");
    let methods = answer["methods"].to_string();
    assert!(
        methods.contains("private_key_jwt") && methods.contains("\"tls_client_auth\""),
        "{methods}"
    );

    // tls_client_auth: the certificate authenticates the client and binds the token.
    let output = demo.cli(&[
        "clients",
        "create",
        "--id",
        "billing",
        "--auth-method",
        "tls_client_auth",
        "--tls-san-dns",
        "billing.example",
        "--scope",
        "reports:read",
    ]);
    assert!(output.status.success(), "{output:?}");
    let answer = oauth4webapi(&[
        &issuer,
        "tls_client_auth",
        "billing",
        server_cert.to_str().unwrap(),
        billing.0.to_str().unwrap(),
        billing.1.to_str().unwrap(),
    ]);
    assert_eq!(answer["client_id"], "billing", "{answer}");
    assert_eq!(answer["bound"], thumbprint(&billing.0));
    assert_eq!(answer["with_certificate"], 200, "{answer}");
    assert_eq!(
        answer["without_certificate"], 401,
        "a bound token needs its certificate"
    );
}

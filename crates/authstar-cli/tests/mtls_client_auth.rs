//! Client authentication by TLS certificate (RFC 8705 §2) on the demo, with curl as the
//! client: `tls_client_auth` clients registered by subject DN or subject alternative name, their
//! certificates issued by `--client-ca`; `self_signed_tls_client_auth` clients registered with
//! their certificate. Each gets a token bound to its certificate; a certificate from another
//! authority with the same subject, one from the right authority with another subject, another
//! self-signed certificate, and no certificate are each `invalid_client`.

mod support;

use serde_json::Value;
use std::path::PathBuf;
use support::Demo;

use support::tls::{
    Certificates, authority, claims, curl, expired, issued, runs, thumbprint, with_certificate,
};

/// `grant_type=client_credentials&client_id=ID` to the token endpoint, with `cert`.
fn token_with(
    base: &str,
    id: &str,
    cert: Option<&(std::path::PathBuf, std::path::PathBuf)>,
) -> (u16, Value) {
    let body = format!("grant_type=client_credentials&client_id={id}");
    let url = format!("{base}/oauth2/token");
    let rest = ["-d", body.as_str(), url.as_str()];
    let (status, answer) = match cert {
        Some((cert, key)) => curl(&with_certificate(cert, key, &rest)),
        None => curl(&rest),
    };
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

#[test]
fn rfc8705_2_clients_authenticate_with_their_certificates_and_nothing_else() {
    if !authstar_testkit::require(
        runs("openssl") && runs("curl"),
        "openssl and curl are not installed",
    ) {
        return;
    }
    let certificates = Certificates::new("mtls-client-auth");
    let dir = certificates.dir.clone();
    let ca = authority(&dir, "ca", "/CN=Example Client CA");
    let rogue = authority(&dir, "rogue", "/CN=Example Client CA");
    let sans = "subjectAltName=DNS:billing.example,URI:spiffe://example/billing,IP:10.1.2.3,email:ops@example.com";
    let billing = issued(
        &dir,
        "billing",
        "/O=Example/CN=billing",
        &ca,
        &[sans, "extendedKeyUsage=clientAuth"],
    );
    let forged = issued(&dir, "forged", "/O=Example/CN=billing", &rogue, &[sans]);
    let payroll = issued(
        &dir,
        "payroll",
        "/O=Example/CN=payroll",
        &ca,
        &["subjectAltName=DNS:payroll.example"],
    );
    let server_only = issued(
        &dir,
        "server-only",
        "/O=Example/CN=billing",
        &ca,
        &[sans, "extendedKeyUsage=serverAuth"],
    );
    let stale = expired(
        &dir,
        "stale",
        "/O=Example/CN=billing",
        &ca,
        "subjectAltName=DNS:billing.example",
    );
    let (server_cert, server_key) = certificates.server.clone();
    let demo = Demo::start(
        "mtls-client-auth",
        &[
            "--tls-cert",
            server_cert.to_str().unwrap(),
            "--tls-key",
            server_key.to_str().unwrap(),
            "--client-ca",
            ca.0.to_str().unwrap(),
        ],
    );
    let base = demo.base.clone();

    // Registered by the CLI: by DN (written as RFC 4514 reads, most specific first), by each
    // kind of alternative name, and one self-signed certificate.
    let create = |id: &str, method: &str, option: &str, value: &str| {
        let output = demo.cli(&[
            "clients",
            "create",
            "--id",
            id,
            "--auth-method",
            method,
            option,
            value,
            "--scope",
            "reports:read",
        ]);
        assert!(output.status.success(), "{id}: {output:?}");
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            printed.contains(method) && !printed.contains("secret"),
            "{printed}"
        );
    };
    create(
        "by-dn",
        "tls_client_auth",
        "--tls-subject-dn",
        "CN=billing,O=Example",
    );
    create(
        "by-dns",
        "tls_client_auth",
        "--tls-san-dns",
        "BILLING.example",
    );
    create(
        "by-uri",
        "tls_client_auth",
        "--tls-san-uri",
        "spiffe://example/billing",
    );
    create("by-ip", "tls_client_auth", "--tls-san-ip", "10.1.2.3");
    create(
        "by-email",
        "tls_client_auth",
        "--tls-san-email",
        "ops@example.com",
    );
    let (ours, ours_key) = certificates.ours.clone();
    create(
        "self-signed",
        "self_signed_tls_client_auth",
        "--certificate",
        ours.to_str().unwrap(),
    );
    // What cannot work is refused when registered, with the reason.
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for (method, option, value, says) in [
        ("tls_client_auth", "--tls-subject-dn", "billing", "RFC 4514"),
        (
            "tls_client_auth",
            "--certificate",
            ours.to_str().unwrap(),
            "a tls_client_auth client needs",
        ),
        (
            "self_signed_tls_client_auth",
            "--certificate",
            garbage.to_str().unwrap(),
            "no certificate given",
        ),
        (
            "tls_client_auth",
            "--secret",
            "an-imported-secret-0123456789",
            "has no secret",
        ),
        (
            "client_secret_basic",
            "--tls-san-dns",
            "x",
            "are for --auth-method",
        ),
    ] {
        let output = demo.cli(&[
            "clients",
            "create",
            "--id",
            "bad",
            "--auth-method",
            method,
            option,
            value,
        ]);
        assert!(!output.status.success(), "{method} {option}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains(says), "{method} {option}: {error}");
    }

    let (status, metadata) = curl(&[&format!("{base}/.well-known/oauth-authorization-server")]);
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    let methods = metadata["token_endpoint_auth_methods_supported"].to_string();
    assert!(
        methods.contains("\"tls_client_auth\"")
            && methods.contains("\"self_signed_tls_client_auth\""),
        "{methods}"
    );

    // Each registration takes its certificate; the token is bound to it (RFC 8705 §3).
    for id in ["by-dn", "by-dns", "by-uri", "by-ip", "by-email"] {
        let (status, answer) = token_with(&base, id, Some(&billing));
        assert_eq!(status, 200, "{id}: {answer}");
        let token = answer["access_token"].as_str().unwrap();
        assert_eq!(claims(token)["client_id"], id);
        assert_eq!(claims(token)["cnf"]["x5t#S256"], thumbprint(&billing.0));
    }
    let (status, answer) = token_with(&base, "self-signed", Some(&certificates.ours));
    assert_eq!(status, 200, "{answer}");
    let bound = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&bound)["cnf"]["x5t#S256"], thumbprint(&ours));
    let me = format!("{base}/me");
    let bearer = format!("Authorization: Bearer {bound}");
    assert_eq!(
        curl(&with_certificate(&ours, &ours_key, &["-H", &bearer, &me])).0,
        200
    );

    // What must not authenticate: the same subject from another authority, another subject
    // from the right one, a certificate not for client authentication, another self-signed
    // certificate, the right certificate for another client, and no certificate.
    for (id, cert, why) in [
        ("by-dn", Some(&forged), "another authority"),
        ("by-dns", Some(&forged), "another authority"),
        ("by-dn", Some(&payroll), "another subject"),
        ("by-dns", Some(&payroll), "another name"),
        ("by-dn", Some(&server_only), "a server certificate"),
        (
            "self-signed",
            Some(&certificates.theirs),
            "another self-signed certificate",
        ),
        (
            "self-signed",
            Some(&billing),
            "a CA-issued certificate is not the registered one",
        ),
        (
            "by-dn",
            Some(&certificates.ours),
            "a self-signed certificate for a tls_client_auth client",
        ),
        ("by-dn", None, "no certificate"),
        ("nobody", Some(&billing), "an unknown client"),
        (
            "by-dns",
            Some(&stale),
            "an expired certificate from the right authority",
        ),
    ] {
        let (status, answer) = token_with(&base, id, cert);
        assert_eq!(status, 401, "{why}: {answer}");
        assert_eq!(answer["error"], "invalid_client", "{why}");
    }

    // A renewed self-signed certificate replaces the old one at once.
    let (theirs, _) = certificates.theirs.clone();
    let output = demo.cli(&[
        "clients",
        "set-certificate",
        "self-signed",
        "--certificate",
        theirs.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        token_with(&base, "self-signed", Some(&certificates.theirs)).0,
        200
    );
    assert_eq!(
        token_with(&base, "self-signed", Some(&certificates.ours)).0,
        401
    );
    // The revocation endpoint takes the same client authentication: the client revokes its
    // own token with its certificate, and no other certificate can.
    let (_, answer) = token_with(&base, "by-uri", Some(&billing));
    let token = answer["access_token"].as_str().unwrap().to_owned();
    let revoke = |cert: &(PathBuf, PathBuf)| {
        let body = format!("client_id=by-uri&token={token}");
        let url = format!("{base}/oauth2/revoke");
        curl(&with_certificate(&cert.0, &cert.1, &["-d", &body, &url])).0
    };
    assert_eq!(revoke(&payroll), 401, "another client's certificate");
    assert_eq!(revoke(&billing), 200);

    // A revoked client's certificate opens nothing.
    assert!(demo.cli(&["clients", "revoke", "by-ip"]).status.success());
    assert_eq!(token_with(&base, "by-ip", Some(&billing)).0, 401);

    // Wrong certificates are counted as wrong secrets are: ten, then 429 for that client id,
    // even with the right certificate.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(token_with(&base, "by-email", Some(&payroll)).0);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);
    assert_eq!(token_with(&base, "by-email", Some(&billing)).0, 429);

    // The admin API registers the same rules (RFC 8705 §2.1.2 member names) and refuses a
    // rule for the other method.
    let created = demo.cli(&[
        "clients", "create", "--id", "ops", "--scope", "admin", "--json",
    ]);
    let ops: Value = serde_json::from_slice(&created.stdout).unwrap();
    let admin = format!("ops:{}", ops["client_secret"].as_str().unwrap());
    let post = |body: &str| {
        curl(&[
            "-u",
            &admin,
            "-H",
            "content-type: application/json",
            "-d",
            body,
            &format!("{base}/admin/clients"),
        ])
    };
    let (status, answer) = post(
        r#"{"client_id":"by-api","auth_method":"tls_client_auth","scopes":["reports:read"],
            "certificate":{"tls_client_auth_san_uri":"spiffe://example/billing"}}"#,
    );
    assert_eq!(status, 201, "{answer}");
    assert!(!answer.contains("secret"), "{answer}");
    assert_eq!(token_with(&base, "by-api", Some(&billing)).0, 200);
    let (status, answer) = post(
        r#"{"client_id":"mixed","auth_method":"self_signed_tls_client_auth",
            "certificate":{"tls_client_auth_san_dns":"billing.example"}}"#,
    );
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = curl(&[
        "-u",
        &admin,
        "-X",
        "PUT",
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"tls_client_auth_subject_dn":"CN=payroll,O=Example"}"#,
        &format!("{base}/admin/clients/by-api/certificate"),
    ]);
    assert_eq!(status, 204, "{answer}");
    assert_eq!(token_with(&base, "by-api", Some(&billing)).0, 401);
    assert_eq!(token_with(&base, "by-api", Some(&payroll)).0, 200);
}

#[test]
fn fapi2_takes_certificate_clients_and_binds_their_tokens() {
    if !authstar_testkit::require(
        runs("openssl") && runs("curl"),
        "openssl and curl are not installed",
    ) {
        return;
    }
    let certificates = Certificates::new("mtls-fapi2");
    let ca = authority(&certificates.dir, "ca", "/CN=Example Client CA");
    let billing = issued(
        &certificates.dir,
        "billing",
        "/O=Example/CN=billing",
        &ca,
        &["subjectAltName=DNS:billing.example"],
    );
    let (server_cert, server_key) = certificates.server.clone();
    let demo = Demo::start(
        "mtls-fapi2",
        &[
            "--profile",
            "fapi2",
            "--tls-cert",
            server_cert.to_str().unwrap(),
            "--tls-key",
            server_key.to_str().unwrap(),
            "--client-ca",
            ca.0.to_str().unwrap(),
        ],
    );
    let base = demo.base.clone();
    let output = demo.cli(&[
        "clients",
        "create",
        "--id",
        "billing",
        "--auth-method",
        "tls_client_auth",
        "--tls-san-dns",
        "billing.example",
    ]);
    assert!(output.status.success(), "{output:?}");
    let (_, metadata) = curl(&[&format!("{base}/.well-known/oauth-authorization-server")]);
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ])
    );
    let (status, answer) = token_with(&base, "billing", Some(&billing));
    assert_eq!(status, 200, "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["cnf"]["x5t#S256"], thumbprint(&billing.0));
    // The demo's secret client, even over a certificate: secrets are not FAPI 2.0's.
    let user = format!(
        "{}:{}",
        demo.value("client_id:"),
        demo.value("client_secret:")
    );
    let url = format!("{base}/oauth2/token");
    let rest = [
        "-u",
        user.as_str(),
        "-d",
        "grant_type=client_credentials",
        url.as_str(),
    ];
    let (status, answer) = curl(&with_certificate(&billing.0, &billing.1, &rest));
    assert_eq!(status, 401, "{answer}");
    // Without a certificate (or a DPoP proof) no token could be sender-constrained: refused
    // before the client is even looked at.
    let (status, answer) = token_with(&base, "billing", None);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "invalid_request");
}

//! Mutual TLS on the demo (RFC 8705 §3), with curl as the client: a token requested over a
//! connection that presented a client certificate is bound to it (`cnf.x5t#S256`), accepted
//! only over that certificate, and refused over another certificate or none; a token requested
//! without a certificate stays a plain bearer token. Certificates are made here by `openssl`.

mod support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use support::Demo;
use support::nginx::Nginx;
use support::tls::{Certificates, claims, curl, der, runs, thumbprint, with_certificate};

#[test]
fn rfc8705_3_a_token_bound_to_a_client_certificate_is_used_only_with_it() {
    if !authstar_testkit::require(
        runs("openssl") && runs("curl"),
        "openssl and curl are not installed",
    ) {
        return;
    }
    let certificates = Certificates::new("mtls");
    let (server_cert, server_key) = certificates.server.clone();
    let (ours, ours_key) = certificates.ours.clone();
    let (theirs, theirs_key) = certificates.theirs.clone();
    let demo = Demo::start(
        "mtls",
        &[
            "--tls-cert",
            server_cert.to_str().unwrap(),
            "--tls-key",
            server_key.to_str().unwrap(),
        ],
    );
    assert!(demo.base.starts_with("https://"), "{}", demo.base);
    let base = demo.base.clone();
    let (id, secret) = (demo.value("client_id:"), demo.value("client_secret:"));
    let user = format!("{id}:{secret}");
    let token_url = format!("{base}/oauth2/token");
    let me = format!("{base}/me");

    let (status, metadata) = curl(&[&format!("{base}/.well-known/oauth-authorization-server")]);
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(metadata["tls_client_certificate_bound_access_tokens"], true);
    assert!(metadata["issuer"].as_str().unwrap().starts_with("https://"));

    // Over a connection with our certificate: a bound token.
    let (status, answer) = curl(&with_certificate(
        &ours,
        &ours_key,
        &[
            "-u",
            &user,
            "-d",
            "grant_type=client_credentials",
            &token_url,
        ],
    ));
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["token_type"], "Bearer");
    let bound = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&bound)["cnf"]["x5t#S256"], thumbprint(&ours));
    let bearer = format!("Authorization: Bearer {bound}");
    let with_ours = curl(&with_certificate(&ours, &ours_key, &["-H", &bearer, &me]));
    assert_eq!(with_ours.0, 200, "{}", with_ours.1);
    let with_theirs = curl(&with_certificate(
        &theirs,
        &theirs_key,
        &["-H", &bearer, &me],
    ));
    assert_eq!(with_theirs.0, 401, "another certificate");
    assert_eq!(curl(&["-H", &bearer, &me]).0, 401, "no certificate");
    // A bound token cannot be traded for a session cookie, which would need no certificate.
    let session = curl(&with_certificate(
        &ours,
        &ours_key,
        &["-H", &bearer, "-X", "POST", &format!("{base}/session")],
    ));
    assert_eq!(session.0, 400, "{}", session.1);
    assert!(session.1.contains("mutual TLS"), "{}", session.1);

    // Without a certificate: a plain bearer token, good over any connection.
    let (status, answer) = curl(&[
        "-u",
        &user,
        "-d",
        "grant_type=client_credentials",
        &token_url,
    ]);
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let plain = answer["access_token"].as_str().unwrap().to_owned();
    assert!(claims(&plain).get("cnf").is_none());
    let bearer = format!("Authorization: Bearer {plain}");
    assert_eq!(curl(&["-H", &bearer, &me]).0, 200);
    assert_eq!(
        curl(&with_certificate(
            &theirs,
            &theirs_key,
            &["-H", &bearer, &me]
        ))
        .0,
        200
    );
    // Python's httpx, with `cert=`, sees the same.
    if authstar_testkit::python::available("httpx") {
        let output = authstar_testkit::python::run(
            "httpx_mtls.py",
            &[
                &base,
                &id,
                &secret,
                ours.to_str().unwrap(),
                ours_key.to_str().unwrap(),
                theirs.to_str().unwrap(),
                theirs_key.to_str().unwrap(),
            ],
        );
        assert!(output.contains("httpx mtls: ok"), "{output}");
    }
    // Plain HTTP to the TLS port gets no answer it could mistake for one.
    let plain_http = curl(&[&me.replace("https://", "http://")]);
    assert_ne!(plain_http.0, 200);
}

/// An nginx terminating TLS in front of the demo, as `docs/guide.md` shows it.
fn tls_nginx(dir: &Path, cert: &Path, key: &Path, upstream: &str) -> Nginx {
    let port = authstar_testkit::redis::free_port();
    let server = format!(
        "server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    # Ask for a client certificate, require none, chain it to nothing (RFC 8705 binding).
    ssl_verify_client optional_no_ca;
    location / {{
        proxy_pass {upstream};
        # The certificate as nginx can write it; set here, so a client's own header of
        # that name never passes.
        proxy_set_header Client-Cert $ssl_client_escaped_cert;
        proxy_set_header X-Forwarded-For $remote_addr;
    }}
}}
",
        cert = cert.display(),
        key = key.display(),
    );
    Nginx::start(dir, "tls", &server, port, "https")
}

#[test]
fn a_certificate_forwarded_by_a_trusted_nginx_binds_tokens_and_a_client_cannot_forge_one() {
    if !authstar_testkit::require(
        runs("openssl") && runs("curl") && Command::new("nginx").arg("-v").output().is_ok(),
        "openssl, curl or nginx is not installed",
    ) {
        return;
    }
    let certificates = Certificates::new("mtls-nginx");
    let dir = certificates.dir.clone();
    let (server_cert, server_key) = certificates.server.clone();
    let (ours, ours_key) = certificates.ours.clone();
    let (theirs, theirs_key) = certificates.theirs.clone();
    let demo = Demo::start(
        "mtls-nginx",
        &["--trusted-proxies", "127.0.0.1", "--forwarded-client-cert"],
    );
    let nginx = tls_nginx(&dir, &server_cert, &server_key, &demo.base);
    let (id, secret) = (demo.value("client_id:"), demo.value("client_secret:"));
    let user = format!("{id}:{secret}");
    let token_url = format!("{}/oauth2/token", nginx.base);
    let me = format!("{}/me", nginx.base);

    let (status, answer) = curl(&with_certificate(
        &ours,
        &ours_key,
        &[
            "-u",
            &user,
            "-d",
            "grant_type=client_credentials",
            &token_url,
        ],
    ));
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let bound = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&bound)["cnf"]["x5t#S256"], thumbprint(&ours));
    let bearer = format!("Authorization: Bearer {bound}");
    assert_eq!(
        curl(&with_certificate(&ours, &ours_key, &["-H", &bearer, &me])).0,
        200
    );
    assert_eq!(
        curl(&with_certificate(
            &theirs,
            &theirs_key,
            &["-H", &bearer, &me]
        ))
        .0,
        401
    );
    assert_eq!(curl(&["-H", &bearer, &me]).0, 401);
    // A client with no certificate sends the header itself, in both forms: nginx replaces it.
    let pem = std::fs::read_to_string(&ours).unwrap();
    let escaped: String = pem
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let der = der(&ours);
    let sf = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    for forged in [
        format!("Client-Cert: {escaped}"),
        format!("Client-Cert: {sf}"),
    ] {
        assert_eq!(
            curl(&["-H", &bearer, "-H", &forged, &me]).0,
            401,
            "{forged}"
        );
    }
    drop(nginx);
}

#[test]
fn a_client_cert_header_from_anyone_but_a_forwarding_proxy_is_ignored() {
    if !authstar_testkit::require(
        runs("openssl") && runs("curl"),
        "openssl or curl is not installed",
    ) {
        return;
    }
    let certificates = Certificates::new("mtls-forged");
    let ours = certificates.ours.0.clone();
    let der = der(&ours);
    let sf = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );

    // Straight to a demo that trusts another proxy, not this caller: the header is dropped,
    // the token unbound (the demo binds tokens, to certificates from the proxy it trusts).
    let untrusting = Demo::start(
        "mtls-untrusting",
        &["--trusted-proxies", "192.0.2.1", "--forwarded-client-cert"],
    );
    let (id, secret) = (
        untrusting.value("client_id:"),
        untrusting.value("client_secret:"),
    );
    let (status, answer) = curl(&[
        "-u",
        &format!("{id}:{secret}"),
        "-H",
        &format!("Client-Cert: {sf}"),
        "-d",
        "grant_type=client_credentials",
        &format!("{}/oauth2/token", untrusting.base),
    ]);
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert!(
        claims(answer["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none(),
        "a forged Client-Cert bound a token"
    );
}

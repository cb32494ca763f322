//! `private_key_jwt` clients (RFC 7523 §2.2) on the demo: registered with the CLI and the admin
//! API, authenticated by Python's authlib and by assertions signed here, and never by a secret.

mod support;

use authstar_testkit::assertion::KeyClient;
use authstar_testkit::python;
use base64::Engine as _;
use serde_json::{Value, json};
use support::Demo;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn post_assertion(base: &str, assertion: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Registers `client` (its public keys) with the CLI; returns what it printed.
fn register(demo: &Demo, id: &str, client: &KeyClient) -> std::process::Output {
    let jwks = demo.dir().join(format!("{id}.jwks.json"));
    std::fs::write(&jwks, client.jwks()).unwrap();
    demo.cli(&[
        "clients",
        "create",
        "--id",
        id,
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        jwks.to_str().unwrap(),
        "--scope",
        "reports:read",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_client_gets_tokens_with_assertions_and_never_with_a_secret() {
    let demo = Demo::start("private-key-jwt", &[]);
    let base = demo.base.clone();
    let job = KeyClient::new("job");
    let output = register(&demo, "job", &job);
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("private_key_jwt"), "{printed}");
    assert!(!printed.contains("secret"), "no secret exists: {printed}");
    let listed = demo.cli(&["clients", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("job\tactive\tprivate_key_jwt"));

    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = metadata["issuer"].as_str().unwrap().to_owned();
    for endpoint in ["token", "revocation", "introspection"] {
        let methods = &metadata[format!("{endpoint}_endpoint_auth_methods_supported")];
        assert!(
            methods
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt")),
            "{endpoint}: {methods}"
        );
        assert!(
            metadata[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")].is_array()
        );
    }

    let (status, token) = post_assertion(&base, &job.assertion(&issuer)).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["scope"], "reports:read");
    let me = reqwest::Client::new()
        .get(format!("{base}/me"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // The same assertion again, another key under the client's id, or a secret: refused.
    let once = job.assertion(&issuer);
    assert_eq!(post_assertion(&base, &once).await.0, 200);
    let (status, refused) = post_assertion(&base, &once).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let impostor = KeyClient::new("job");
    assert_eq!(
        post_assertion(&base, &impostor.assertion(&issuer)).await.0,
        401
    );
    for secret in ["", "x", "private_key_jwt"] {
        let answer = reqwest::Client::new()
            .post(format!("{base}/oauth2/token"))
            .basic_auth("job", Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "secret {secret:?}");
    }
    // It introspects its own token with an assertion too (RFC 7662 with RFC 7523).
    let access = token["access_token"].as_str().unwrap();
    let introspected: Value = reqwest::Client::new()
        .post(format!("{base}/oauth2/introspect"))
        .form(&[
            ("token", access),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &job.assertion(&issuer)),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    // No API key for a client that keeps no secret.
    let key = demo.cli(&["keys", "create", "--client-id", "job"]);
    assert!(!key.status.success());
    assert!(String::from_utf8_lossy(&key.stderr).contains("private_key_jwt"));
    // A rotation: the new key replaces the old, at once.
    let rotated = KeyClient::new("job");
    let jwks = demo.dir().join("job-2.jwks.json");
    std::fs::write(&jwks, rotated.jwks()).unwrap();
    let set = demo.cli(&[
        "clients",
        "set-jwks",
        "job",
        "--jwks",
        jwks.to_str().unwrap(),
    ]);
    assert!(set.status.success(), "{set:?}");
    assert_eq!(post_assertion(&base, &job.assertion(&issuer)).await.0, 401);
    assert_eq!(
        post_assertion(&base, &rotated.assertion(&issuer)).await.0,
        200
    );
    // Revoked: its assertions stop working.
    let job = rotated;
    let revoked = demo.cli(&["clients", "revoke", "job"]);
    assert!(revoked.status.success());
    support_wait_refused(&base, &job, &issuer).await;

    // authlib, with the private key as a PEM file.
    if python::available("authlib, httpx") {
        let client = KeyClient::new("py-job");
        assert!(register(&demo, "py-job", &client).status.success());
        let pem = demo.dir().join("py-job.pem");
        std::fs::write(&pem, pem_of(client.private_pkcs8())).unwrap();
        let base = base.clone();
        let output = tokio::task::spawn_blocking(move || {
            python::run(
                "authlib_private_key_jwt.py",
                &[&base, "py-job", pem.to_str().unwrap()],
            )
        })
        .await
        .unwrap();
        assert!(output.contains("authlib private_key_jwt: ok"), "{output}");
    }
    let logs = demo.stop();
    assert!(!logs.contains(&once), "an assertion reached the log");
}

/// Revocation reaches the token endpoint within the poll interval.
async fn support_wait_refused(base: &str, client: &KeyClient, issuer: &str) {
    for _ in 0..100 {
        if post_assertion(base, &client.assertion(issuer)).await.0 == 401 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("a revoked key client still gets tokens");
}

fn pem_of(pkcs8: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(pkcs8);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_registers_key_clients_and_refuses_private_keys() {
    let demo = Demo::start("private-key-jwt-admin", &[]);
    let base = demo.base.clone();
    let created = demo.cli(&[
        "clients", "create", "--id", "ops", "--scope", "admin", "--json",
    ]);
    let ops: Value = serde_json::from_slice(&created.stdout).unwrap();
    let secret = ops["client_secret"].as_str().unwrap().to_owned();
    let admin = |body: Value| {
        let (base, secret) = (base.clone(), secret.clone());
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/admin/clients"))
                .basic_auth("ops", Some(secret))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let robot = KeyClient::new("robot");
    let jwks: Value = serde_json::from_str(&robot.jwks()).unwrap();
    let (status, answer) = admin(json!({
        "client_id": "robot", "auth_method": "private_key_jwt", "jwks": jwks,
        "scopes": ["reports:read"],
    }))
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["auth_method"], "private_key_jwt");
    assert!(answer.get("client_secret").is_none(), "{answer}");
    let mut private = jwks.clone();
    private["keys"][0]["d"] = json!("AAAA");
    for (body, why) in [
        (
            json!({"client_id": "r2", "auth_method": "private_key_jwt", "jwks": private}),
            "a private key",
        ),
        (
            json!({"client_id": "r3", "auth_method": "private_key_jwt"}),
            "no jwks",
        ),
        (
            json!({"auth_method": "private_key_jwt", "jwks": jwks}),
            "no client_id",
        ),
        (
            json!({"client_id": "r4", "auth_method": "tls_client_auth"}),
            "not a method here",
        ),
    ] {
        let (status, answer) = admin(body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_request")),
            "{why}"
        );
    }
    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = metadata["issuer"].as_str().unwrap();
    assert_eq!(post_assertion(&base, &robot.assertion(issuer)).await.0, 200);
    // A rotation through the admin API.
    let next = KeyClient::new("robot");
    let jwks: Value = serde_json::from_str(&next.jwks()).unwrap();
    let replaced = reqwest::Client::new()
        .put(format!("{base}/admin/clients/robot/jwks"))
        .basic_auth("ops", Some(&secret))
        .json(&jwks)
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 204);
    assert_eq!(post_assertion(&base, &robot.assertion(issuer)).await.0, 401);
    assert_eq!(post_assertion(&base, &next.assertion(issuer)).await.0, 200);
    let unknown = reqwest::Client::new()
        .put(format!("{base}/admin/clients/nobody/jwks"))
        .basic_auth("ops", Some(&secret))
        .json(&jwks)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fapi2_profile_takes_only_key_clients_and_sender_constrained_tokens() {
    use authstar_testkit::dpop::DpopClient;
    let demo = Demo::start("fapi2", &["--profile", "fapi2"]);
    let base = demo.base.clone();
    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_signing_alg_values_supported"],
        json!(["PS256", "ES256", "EdDSA"])
    );
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["PS256", "ES256", "EdDSA"])
    );
    let issuer = metadata["issuer"].as_str().unwrap().to_owned();
    let token_url = format!("{base}/oauth2/token");
    // A secret, even the right one and with a DPoP proof: refused (without a proof the request
    // is refused before any client check: nothing could be bound).
    let secret = demo.value("client_secret:");
    let proof_client = authstar_testkit::dpop::DpopClient::new();
    let answer = reqwest::Client::new()
        .post(&token_url)
        .basic_auth("demo-client", Some(&secret))
        .header(
            "DPoP",
            proof_client.proof("POST", &format!("{issuer}/oauth2/token"), None),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let unbound = reqwest::Client::new()
        .post(&token_url)
        .basic_auth("demo-client", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(unbound.status(), 400);
    // Nor do a secret, an API key or a session open the resource routes: only
    // sender-constrained tokens do.
    let http = reqwest::Client::new();
    let basic = http
        .get(format!("{base}/reports/export"))
        .basic_auth("demo-client", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let key = http
        .get(format!("{base}/reports"))
        .header("x-api-key", demo.value("api_key:"))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), 401);
    let session = http
        .post(format!("{base}/session"))
        .basic_auth("demo-client", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 401, "no cookie from a secret");
    let job = KeyClient::new("job");
    assert!(register(&demo, "job", &job).status.success());
    // An assertion without a DPoP proof (or a certificate): no unbound token is issued.
    let (status, answer) = post_assertion(&base, &job.assertion(&issuer)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request")),
        "{answer}"
    );
    // With a proof: a DPoP-bound token, used with proofs.
    let dpop = DpopClient::new();
    let answer: Value = reqwest::Client::new()
        .post(&token_url)
        .header(
            "DPoP",
            dpop.proof("POST", &format!("{issuer}/oauth2/token"), None),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &job.assertion(&issuer)),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    let me = reqwest::Client::new()
        .get(format!("{base}/me"))
        .header("Authorization", format!("DPoP {token}"))
        .header(
            "DPoP",
            dpop.proof("GET", &format!("{issuer}/me"), Some(token)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

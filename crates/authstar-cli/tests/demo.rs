//! `authstar demo` end to end: the built binary on a free loopback port, its printed curl lines
//! walked with real curl, trusted proxies, a token verified by PyJWT. The route contract is in
//! `contract.rs`, the attacks in `attacks.rs`.

use authstar_testkit::python;
mod support;

use std::process::Command;

use support::Demo;

use serde_json::Value;

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

/// RFC 9449 end to end with an independent client (PyJWT + cryptography): a DPoP-bound token
/// from the token endpoint, used with fresh proofs; replays, the token as Bearer, another
/// key's proof and a bad proof at the token endpoint refused; introspection shows the binding.
#[tokio::test]
async fn rfc9449_a_python_dpop_client_gets_and_uses_a_bound_token() {
    if !python::available("jwt, cryptography, httpx") {
        return;
    }
    let demo = Demo::start("dpop", &[]);
    let (id, secret) = (demo.value("client_id:"), demo.value("client_secret:"));
    let out = python::run("dpop_demo_client.py", &[&demo.base, &id, &secret]);
    assert!(out.contains("dpop ok"), "{out}");
    // Issue 20, item 4: a DPoP-bound token minted a bearer session cookie for an hour.
    assert!(out.contains("dpop session refused"), "{out}");
}

/// RFC 9449 §8 and §9 with `--dpop-nonces`: the token endpoint and `/me` answer
/// `use_dpop_nonce` with a `DPoP-Nonce` until the client's proofs carry it, and each success
/// hands out the nonce to use next; Bearer clients get none (PyJWT client).
#[tokio::test]
async fn rfc9449_8_9_server_nonces_are_required_and_handed_out() {
    if !python::available("jwt, cryptography, httpx") {
        return;
    }
    let demo = Demo::start("dpop-nonces", &["--dpop-nonces"]);
    let (id, secret) = (demo.value("client_id:"), demo.value("client_secret:"));
    let out = python::run("dpop_nonce_client.py", &[&demo.base, &id, &secret]);
    assert!(out.contains("nonces ok"), "{out}");
}

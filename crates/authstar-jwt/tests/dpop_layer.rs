//! DPoP-bound tokens through the layer, over a real socket (RFC 9449 §7): `Authorization: DPoP`
//! with a proof is accepted only when the proof is valid for this request and token and was
//! made by the key the token is bound to; each refusal carries the RFC's error in a `DPoP`
//! challenge, and a bound token sent as `Bearer` is refused.

use std::net::SocketAddr;

use authstar::DpopAuth;
use authstar::{AuthstarClient, AuthstarLayer, Outcome};
use authstar_jwt::dpop::DpopVerifier;
use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey, unix_now};
use authstar_testkit::dpop::DpopClient;
use axum::Router;
use axum::extract::Extension;
use axum::routing::get;
use serde_json::json;

const ISSUER: &str = "https://as.example";

struct Server {
    base: String,
    issuer: JwtIssuer,
}

async fn me(Extension(outcome): Extension<Outcome<AuthstarClient>>) -> String {
    match outcome {
        Outcome::Authenticated { client, method, .. } => {
            format!("{} by {method}", client.client_id())
        }
        Outcome::Failed { .. } => "failed".to_owned(),
    }
}

/// Bearer and DPoP through one verifier (with its cache, so the cached path is exercised too),
/// enforcing; the proofs' origin is the server's own address.
async fn serve() -> Server {
    serve_with(DpopVerifier::new()).await
}

async fn serve_with(proofs: DpopVerifier) -> Server {
    let key = SigningKey::generate_es256("k1").unwrap();
    let verifier = JwtVerifier::builder([key.verification_key()], ISSUER, "api")
        .cache(100)
        .build();
    let issuer = JwtIssuer::new(key, ISSUER, "api");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{address}");
    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(verifier.clone())
        .on_auth_dpop(DpopAuth::new(proofs, verifier).origin(&base))
        .require_authentication()
        .build()
        .unwrap();
    let app = Router::new().route("/me", get(me)).layer(layer);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { base, issuer }
}

/// A proof by `client` for `GET url` and `token`, with `claims` set over those (signed by
/// jsonwebtoken, not by authstar's own signing code).
fn proof(client: &DpopClient, url: &str, token: &str, claims: serde_json::Value) -> String {
    client.proof_with("GET", url, Some(token), &claims)
}

fn jkt(client: &DpopClient) -> String {
    client.jkt()
}

async fn get_me(base: &str, authorization: &str, proofs: &[&str]) -> (u16, Vec<String>, String) {
    let mut request = reqwest::Client::new()
        .get(format!("{base}/me"))
        .header("authorization", authorization);
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenges = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (status, challenges, response.text().await.unwrap())
}

/// `GET url` with the DPoP-bound `token` and `proof`.
async fn send(url: &str, token: &str, proof: String) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap()
}

const PROOF_ERROR: &str =
    r#"DPoP realm="authstar", error="invalid_dpop_proof", algs="ES256 ES384 EdDSA RS256 PS256""#;
const TOKEN_ERROR: &str =
    r#"DPoP realm="authstar", error="invalid_token", algs="ES256 ES384 EdDSA RS256 PS256""#;

#[tokio::test]
async fn rfc9449_7_a_bound_token_needs_a_fresh_proof_by_its_key() {
    let server = serve().await;
    let url = format!("{}/me", server.base);
    let key = DpopClient::new();
    let token = server
        .issuer
        .issue_bound("svc", &["read".into()], &jkt(&key))
        .unwrap();
    let dpop = format!("DPoP {token}");

    // Valid: twice, each with a fresh proof (the second is answered from the cache).
    for _ in 0..2 {
        let fresh = proof(&key, &url, &token, json!({}));
        let (status, _, body) = get_me(&server.base, &dpop, &[&fresh]).await;
        assert_eq!((status, body.as_str()), (200, "svc by dpop"));
    }
    // No nonces required here: successes carry none.
    let response = send(&url, &token, proof(&key, &url, &token, json!({}))).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("dpop-nonce").is_none());

    // A proof used twice (§11.1): refused the second time.
    let once = proof(&key, &url, &token, json!({}));
    assert_eq!(get_me(&server.base, &dpop, &[&once]).await.0, 200);
    let (status, challenges, _) = get_me(&server.base, &dpop, &[&once]).await;
    assert_eq!(status, 401);
    assert!(
        challenges.contains(&PROOF_ERROR.to_owned()),
        "{challenges:?}"
    );

    // §4.3 rules, each an invalid_dpop_proof: no proof, two proofs, another method, another
    // URL, a stale one, one for another token, garbage.
    let other_token = server.issuer.issue_bound("svc", &[], &jkt(&key)).unwrap();
    let refused = [
        vec![],
        vec![
            proof(&key, &url, &token, json!({})),
            proof(&key, &url, &token, json!({})),
        ],
        vec![proof(&key, &url, &token, json!({"htm": "POST"}))],
        vec![proof(
            &key,
            &format!("{}/other", server.base),
            &token,
            json!({}),
        )],
        vec![proof(&key, "http://evil.example/me", &token, json!({}))],
        vec![proof(&key, &url, &token, json!({"iat": unix_now() - 3600}))],
        vec![proof(&key, &url, &other_token, json!({}))],
        vec!["not-a-proof".to_owned()],
    ];
    for (i, proofs) in refused.iter().enumerate() {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, challenges, _) = get_me(&server.base, &dpop, &proofs).await;
        assert_eq!(status, 401, "case {i}");
        assert!(
            challenges.contains(&PROOF_ERROR.to_owned()),
            "case {i}: {challenges:?}"
        );
    }

    // A valid proof by another key: the proof is fine, the token is not bound to that key
    // (invalid_token), on the cached path and on a fresh verification alike.
    let thief = DpopClient::new();
    let fresh_token = server.issuer.issue_bound("svc", &[], &jkt(&key)).unwrap();
    for stolen in [&token, &fresh_token] {
        let theirs = proof(&thief, &url, stolen, json!({}));
        let (status, challenges, _) =
            get_me(&server.base, &format!("DPoP {stolen}"), &[&theirs]).await;
        assert_eq!(status, 401);
        assert!(
            challenges.contains(&TOKEN_ERROR.to_owned()),
            "{challenges:?}"
        );
    }
}

/// RFC 9449 §11.1 over the wire: proofs are checked before the token, so anyone can fill the
/// replay memory; a flood past its capacity, sent with a made-up token, must not let a used
/// proof through again.
#[tokio::test]
async fn a_flood_of_proofs_without_a_token_does_not_reopen_a_used_one() {
    let proofs = DpopVerifier::new().replay_capacity(16);
    // The memory's steady state: full of proofs whose window has passed (a clone shares it).
    for n in 0..100u8 {
        proofs.heard(&[n; 32], 1);
    }
    let server = serve_with(proofs).await;
    let url = format!("{}/me", server.base);
    let key = DpopClient::new();
    let token = server.issuer.issue_bound("svc", &[], &jkt(&key)).unwrap();
    let dpop = format!("DPoP {token}");
    let used = proof(&key, &url, &token, json!({}));
    assert_eq!(get_me(&server.base, &dpop, &[&used]).await.0, 200);

    let attacker = DpopClient::new();
    let made_up = "made-up-token";
    let mut refused = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..300 {
        let flood = proof(&attacker, &url, made_up, json!({"iat": unix_now() + 5}));
        let (status, challenges, _) =
            get_me(&server.base, &format!("DPoP {made_up}"), &[&flood]).await;
        assert_eq!(status, 401);
        *refused.entry(challenges.join(" | ")).or_default() += 1;
    }
    assert!(
        refused.keys().any(|c| c.contains(TOKEN_ERROR)),
        "the flood's proofs were accepted (then their token refused): {refused:?}"
    );

    let (status, challenges, _) = get_me(&server.base, &dpop, &[&used]).await;
    assert_eq!(status, 401, "a used proof was served again after the flood");
    assert!(
        challenges.contains(&PROOF_ERROR.to_owned()),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn rfc9449_7_2_bound_tokens_are_not_bearer_tokens_and_bearer_tokens_are_not_bound() {
    let server = serve().await;
    let url = format!("{}/me", server.base);
    let key = DpopClient::new();
    let bound = server.issuer.issue_bound("svc", &[], &jkt(&key)).unwrap();
    let plain = server.issuer.issue("svc", &[]).unwrap();

    // The bound token as Bearer, with or without a proof beside it: refused.
    let beside = proof(&key, &url, &bound, json!({}));
    for proofs in [vec![], vec![beside.as_str()]] {
        let (status, challenges, _) =
            get_me(&server.base, &format!("Bearer {bound}"), &proofs).await;
        assert_eq!(status, 401);
        assert!(
            challenges.contains(&r#"Bearer realm="authstar", error="invalid_token""#.to_owned()),
            "{challenges:?}"
        );
    }
    // A plain token under the DPoP scheme, with a valid proof: not bound to the key.
    let with_proof = proof(&key, &url, &plain, json!({}));
    let (status, challenges, _) =
        get_me(&server.base, &format!("DPoP {plain}"), &[&with_proof]).await;
    assert_eq!(status, 401);
    assert!(
        challenges.contains(&TOKEN_ERROR.to_owned()),
        "{challenges:?}"
    );
    // The plain token as Bearer still works.
    let (status, _, body) = get_me(&server.base, &format!("Bearer {plain}"), &[]).await;
    assert_eq!((status, body.as_str()), (200, "svc by bearer"));

    // No credentials: both schemes offered, DPoP with its algorithms (§7.1), no error.
    let response = reqwest::get(format!("{}/me", server.base)).await.unwrap();
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        challenges,
        [
            r#"Bearer realm="authstar""#,
            r#"DPoP realm="authstar", algs="ES256 ES384 EdDSA RS256 PS256""#
        ]
    );
    // Malformed DPoP credentials never reach the verifier and never a 500.
    for bad in ["DPoP", "DPoP a b", "DPoP ===="] {
        let (status, _, _) = get_me(&server.base, bad, &[&with_proof]).await;
        assert_eq!(status, 401, "{bad}");
    }
}

/// RFC 9449 §9 on an enforcing layer: a proof without the server's nonce gets 401
/// `use_dpop_nonce` with a `DPoP-Nonce` header; a proof carrying that nonce is accepted, and
/// the success hands out the nonce to use next (§8.2).
#[tokio::test]
async fn rfc9449_9_the_layer_hands_out_nonces_and_then_accepts_them() {
    use authstar_jwt::dpop::DpopNonces;
    let key = SigningKey::generate_es256("k1").unwrap();
    let verifier = JwtVerifier::builder([key.verification_key()], ISSUER, "api")
        .cache(100)
        .build();
    let issuer = JwtIssuer::new(key, ISSUER, "api");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let nonces = DpopNonces::new(b"test", std::time::Duration::from_secs(60));
    let layer = AuthstarLayer::builder()
        .on_auth_dpop(
            DpopAuth::new(DpopVerifier::new().require_nonces(nonces), verifier).origin(&base),
        )
        .require_authentication()
        .build()
        .unwrap();
    let app = Router::new().route("/me", get(me)).layer(layer);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = DpopClient::new();
    let token = issuer.issue_bound("svc", &[], &jkt(&client)).unwrap();
    let url = format!("{base}/me");
    let response = send(&url, &token, proof(&client, &url, &token, json!({}))).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="use_dpop_nonce""#),
        "{challenge}"
    );
    let nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    // Served, on a fresh verification and from the verifier's cache alike, and each success
    // carries a nonce for the next proofs (§8.2), which is accepted in turn.
    let mut nonce = nonce;
    for _ in 0..3 {
        let with_nonce = proof(&client, &url, &token, json!({ "nonce": nonce }));
        let response = send(&url, &token, with_nonce).await;
        assert_eq!(response.status(), 200);
        nonce = response.headers()["dpop-nonce"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(response.text().await.unwrap(), "svc by dpop");
    }
}

/// Issue 20, item 5: a proof dated ahead of the server's clock (within the leeway) was stored
/// under a window counted from the clock at its first use, and checked against one counted
/// from the clock at its replay: once the clock moved on, a flood had evicted it and the
/// replay's later window end was above the memory's horizon, so it was served again.
#[tokio::test]
async fn a_proof_dated_ahead_is_not_served_again_after_a_flood() {
    let proofs = DpopVerifier::new().replay_capacity(16);
    let server = serve_with(proofs).await;
    let url = format!("{}/me", server.base);
    let key = DpopClient::new();
    let token = server.issuer.issue_bound("svc", &[], &jkt(&key)).unwrap();
    let dpop = format!("DPoP {token}");
    let ahead: Vec<String> = (0..8)
        .map(|_| proof(&key, &url, &token, json!({"iat": unix_now() + 4})))
        .collect();
    for used in &ahead {
        assert_eq!(get_me(&server.base, &dpop, &[used]).await.0, 200);
    }
    // An ordinary client's traffic past the memory's capacity evicts them. (Past its capacity
    // the memory refuses the proofs it can no longer tell from replays, some of this traffic
    // included: never a used one served.)
    for _ in 0..24 {
        let fresh = proof(&key, &url, &token, json!({}));
        let status = get_me(&server.base, &dpop, &[&fresh]).await.0;
        assert!(status == 200 || status == 401, "{status}");
    }
    // The clock moves on (a second, at most).
    let second = unix_now();
    while unix_now() == second {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for used in &ahead {
        let (status, challenges, _) = get_me(&server.base, &dpop, &[used]).await;
        assert_eq!(status, 401, "a used proof dated ahead was served again");
        assert!(
            challenges.contains(&PROOF_ERROR.to_owned()),
            "{challenges:?}"
        );
    }
}

/// Issue 20, item 12: the nonce handshake (`use_dpop_nonce`) is the protocol's normal first
/// step, not a failed authentication: a fleet behind one address that meets it a hundred times
/// must not put the address's other valid credentials at 429.
#[tokio::test]
async fn the_nonce_handshake_does_not_count_against_the_address() {
    use authstar::HeaderAuth;
    use authstar::throttle::{Budget, FailureThrottle};
    use authstar_jwt::dpop::DpopNonces;
    let key = SigningKey::generate_es256("k1").unwrap();
    let verifier = JwtVerifier::new([key.verification_key()], ISSUER, "api");
    let issuer = JwtIssuer::new(key, ISSUER, "api");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let nonces = DpopNonces::new(b"test", std::time::Duration::from_secs(60));
    let one_address = std::net::IpAddr::from([203, 0, 113, 7]);
    let layer = AuthstarLayer::builder()
        .on_auth_dpop(
            DpopAuth::new(DpopVerifier::new().require_nonces(nonces), verifier).origin(&base),
        )
        .on_auth_header(HeaderAuth::x_api_key(|key| async move {
            (key.as_str() == "good-key").then(|| AuthstarClient::new("svc", ["read"]))
        }))
        .throttle(
            FailureThrottle::new()
                .per_address(Some(Budget::new(20, 1)))
                .client_address(move |_, _| Some(one_address)),
        )
        .require_authentication()
        .build()
        .unwrap();
    let app = Router::new().route("/me", get(me)).layer(layer);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("{base}/me");
    for _ in 0..50 {
        let client = DpopClient::new();
        let token = issuer.issue_bound("fleet", &[], &jkt(&client)).unwrap();
        let response = send(&url, &token, proof(&client, &url, &token, json!({}))).await;
        assert_ne!(response.status(), 429, "the handshake was throttled");
        assert!(
            response.headers().contains_key("dpop-nonce"),
            "{response:?}"
        );
    }
    let keyed = reqwest::Client::new()
        .get(&url)
        .header("x-api-key", "good-key")
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 200);
}

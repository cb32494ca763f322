//! The axum side of DPoP over a real socket: the `Authenticated` extractor's 401 body and
//! challenge name the RFC 9449 §7.1 error (`invalid_dpop_proof` or `invalid_token`, DPoP scheme),
//! and a scope guard's 403 to a DPoP client is `insufficient_scope` in the DPoP scheme. The
//! proofs here are checked by a stand-in `ProofVerifier` (authstar-jwt's is tested with real
//! signatures in its own crate); what is under test is the wiring.

use authstar::DpopAuth;
use authstar::credentials::dpop::DpopToken;
use authstar::{AuthstarClient, AuthstarLayer};
use authstar_axum::{Authenticated, RouteSecurity};
use authstar_testkit::proofs::FakeProofs;
use authstar_testkit::serve::{serve, serve_with_peers};
use axum::Router;
use axum::routing::get;

/// Accepts the proof `proof-by-k1` for `GET https://api.example/...`, as key `k1`.
fn proofs() -> FakeProofs {
    FakeProofs::new()
        .proves("proof-by-k1", "k1")
        .method(axum::http::Method::GET)
        .url_prefix("https://api.example/")
}

async fn serve_app() -> String {
    let tokens = |token: DpopToken| async move {
        (token.as_str() == "t1" && token.jkt() == "k1")
            .then(|| AuthstarClient::new("svc", ["reports:read"]))
    };
    let layer = AuthstarLayer::builder()
        .on_auth_dpop(DpopAuth::new(proofs(), tokens).origin("https://api.example"))
        .build()
        .unwrap();
    let security = RouteSecurity::new(&layer);
    let app = Router::new()
        .route(
            "/me",
            get(
                |Authenticated(client): Authenticated<AuthstarClient>| async move {
                    authstar::Client::client_id(&client).to_owned()
                },
            ),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(security.scopes_any(["admin"])),
        )
        .layer(layer)
        .with_state(security);
    serve(app).await
}

async fn get_with(url: &str, token: &str, proof: Option<&str>) -> (u16, Vec<String>, String) {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("authorization", format!("DPoP {token}"));
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
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

#[tokio::test]
async fn rfc9449_7_1_extractor_and_guard_answers() {
    let base = serve_app().await;
    let me = format!("{base}/me");
    let (status, _, body) = get_with(&me, "t1", Some("proof-by-k1")).await;
    assert_eq!((status, body.as_str()), (200, "svc"));

    for proof in [None, Some("forged")] {
        let (status, challenges, body) = get_with(&me, "t1", proof).await;
        assert_eq!(status, 401);
        assert_eq!(
            challenges,
            [r#"DPoP realm="authstar", error="invalid_dpop_proof", algs="ES256""#]
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    }

    let (status, challenges, body) = get_with(&me, "stolen", Some("proof-by-k1")).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenges,
        [r#"DPoP realm="authstar", error="invalid_token", algs="ES256""#]
    );
    assert!(body.contains("invalid_token"), "{body}");

    let (status, challenges, _) =
        get_with(&format!("{base}/admin"), "t1", Some("proof-by-k1")).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenges,
        [r#"DPoP realm="authstar", error="insufficient_scope", scope="admin", algs="ES256""#]
    );
}

/// Behind a trusted proxy the proof names the URL the client used (`https://api.example/me`),
/// which the proxy reports in `X-Forwarded-Proto`/`X-Forwarded-Host`; the same headers from
/// anyone else are not believed, and the URL is then the request's own.
#[tokio::test]
async fn proofs_name_the_url_a_trusted_proxy_reports() {
    use authstar::network::{Networks, TrustedProxies};
    let tokens = |_: DpopToken| async { Some(AuthstarClient::new("svc", ["reports:read"])) };
    let app_for = |proxies: TrustedProxies| {
        // The origin a trusted proxy reports comes from the layer's proxies, configured once.
        let layer = AuthstarLayer::builder()
            .on_auth_dpop(DpopAuth::new(
                FakeProofs::new()
                    .proves("p", "k1")
                    .url("https://api.example/me"),
                tokens,
            ))
            .peer_address(authstar_axum::peer_address)
            .trusted_proxies(proxies)
            .require_authentication()
            .build()
            .unwrap();
        Router::new()
            .route("/me", get(|| async { "ok" }))
            .layer(layer)
    };
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "api.example"),
    ];
    for (proxies, expected) in [
        (
            TrustedProxies::new(Networks::parse(["127.0.0.1"]).unwrap()),
            200,
        ),
        (TrustedProxies::none(), 401),
    ] {
        let base = serve_with_peers(app_for(proxies)).await;
        let mut request = reqwest::Client::new()
            .get(format!("{base}/me"))
            .header("authorization", "DPoP t1")
            .header("dpop", "p");
        for (name, value) in forwarded {
            request = request.header(name, value);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), expected);
    }
}

/// Each refused proof cost a signature check: a flood of them from one address is throttled
/// (429) like a flood of wrong tokens, before any more checks run.
#[tokio::test]
async fn a_flood_of_bad_proofs_is_throttled() {
    use authstar::throttle::{Budget, FailureThrottle};
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;

    let proofs = FakeProofs::new();
    let tokens = |_: DpopToken| async { None::<AuthstarClient> };
    let layer = AuthstarLayer::builder()
        .on_auth_dpop(DpopAuth::new(proofs.clone(), tokens).origin("https://api.example"))
        .require_authentication()
        .throttle(
            FailureThrottle::new()
                .per_address(Some(Budget::new(3, 60)))
                .client_address(|extensions, _| {
                    Some(extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip())
                }),
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(|| async { "ok" }))
        .layer(layer);
    let base = serve_with_peers(app).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get_with(&format!("{base}/me"), "t1", Some("bad")).await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    assert_eq!(proofs.checks(), 3, "no proof checked once locked");
}

/// Accepts the proof `p` only for exactly `https://api.example/api/me`, the URL the client uses.
fn exact_url() -> FakeProofs {
    FakeProofs::new()
        .proves("p", "k1")
        .url("https://api.example/api/me")
}

/// A DPoP layer inside a nested router sees the path without the prefix (`/me` for the
/// client's `/api/me`): with `path_from(original_path)` the proof is checked against the path
/// the client sent; without it, every proof is refused (`invalid_dpop_proof`), never accepted
/// for the shortened path.
#[tokio::test]
async fn a_layer_in_a_nested_router_checks_the_clients_path() {
    let tokens = |token: DpopToken| async move {
        (token.as_str() == "t1" && token.jkt() == "k1")
            .then(|| AuthstarClient::new("svc", ["reports:read"]))
    };
    let serve_api = |dpop: DpopAuth<FakeProofs, _>| async move {
        let layer = AuthstarLayer::builder()
            .on_auth_dpop(dpop)
            .require_authentication()
            .build()
            .unwrap();
        let api = Router::new()
            .route("/me", get(|| async { "me" }))
            .layer(layer);
        serve(Router::new().nest("/api", api)).await
    };
    let with_path = serve_api(
        DpopAuth::new(exact_url(), tokens)
            .origin("https://api.example")
            .path_from(authstar_axum::original_path),
    )
    .await;
    let without = serve_api(DpopAuth::new(exact_url(), tokens).origin("https://api.example")).await;

    let (status, _, body) = get_with(&format!("{with_path}/api/me"), "t1", Some("p")).await;
    assert_eq!((status, body.as_str()), (200, "me"));
    let (status, challenges, _) = get_with(&format!("{without}/api/me"), "t1", Some("p")).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenges,
        [r#"DPoP realm="authstar", error="invalid_dpop_proof", algs="ES256""#]
    );
}

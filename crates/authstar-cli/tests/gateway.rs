//! `authstar gateway` behind the real proxies, each run from its file in `deploy/` (ports
//! substituted): nginx `auth_request` (`deploy/nginx.conf`) and Caddy `forward_auth`
//! (`deploy/Caddyfile`), in front of a small upstream that reports what reached it, with the
//! policy of `deploy/policy.toml`. One matrix for both, as a client sees it: an API key, a Bearer
//! JWT, a DPoP-bound JWT (its proof naming the proxy's URL), Basic client credentials, no
//! credential, the wrong scope, a throttled guesser, an internal route from inside and from the
//! internet, a path that reads two ways, and identity headers a client sends itself.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use authstar_testkit::dpop::DpopClient;
use axum::Json;
use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::Demo;
use support::nginx::{self, Nginx};

fn deploy(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file);
    std::fs::read_to_string(path).unwrap()
}

/// The upstream: what reached it (method, path, the identity headers).
async fn upstream() -> String {
    let echo = |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap| async move {
        let identity: HashMap<String, String> = headers
            .iter()
            // Any spelling of an identity header, and any method override: none may arrive
            // but the proxy's own.
            .filter(|(name, _)| {
                name.as_str().contains("authstar") || name.as_str().contains("override")
            })
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("?").to_owned()))
            .collect();
        Json(json!({"method": method.as_str(), "path": uri.path(), "identity": identity}))
    };
    authstar_testkit::serve::serve(axum::Router::new().fallback(echo)).await
}

fn address(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// Caddy (Debian's package) with `deploy/Caddyfile`; stopped when dropped.
struct Caddy {
    child: Child,
    base: String,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Caddy {
    fn start(dir: &Path, gateway: &str, app: &str) -> Caddy {
        let port = authstar_testkit::redis::free_port();
        let config = deploy("Caddyfile")
            .replace("http://:8081", &format!("http://127.0.0.1:{port}"))
            .replace("127.0.0.1:9000", gateway)
            .replace("127.0.0.1:3000", app);
        let root = dir.join("caddy");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("Caddyfile"), config).unwrap();
        let child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(root.join("Caddyfile"))
            .env("XDG_DATA_HOME", &root)
            .env("XDG_CONFIG_HOME", &root)
            .env("HOME", &root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("caddy runs");
        authstar_testkit::serve::until_blocking(
            std::time::Duration::from_secs(10),
            "caddy listening",
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        Caddy {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

fn caddy_installed() -> bool {
    Command::new("caddy").arg("version").output().is_ok()
}

/// nginx with `deploy/nginx.conf`; `client` replaces `$remote_addr` (the address the proxy
/// reports for its client) when given, as for a client on the internet.
fn nginx_with(dir: &Path, name: &str, gateway: &str, app: &str, client: Option<&str>) -> Nginx {
    let port = authstar_testkit::redis::free_port();
    let mut config = deploy("nginx.conf")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:9000", gateway)
        .replace("127.0.0.1:3000", app);
    if let Some(client) = client {
        config = config.replace("$remote_addr", client);
    }
    Nginx::start(dir, name, &config, port, "http")
}

/// What a client sees through `base`, and what reached the upstream.
struct Seen {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    upstream: Value,
}

/// A request from 127.0.0.2: a client that is not the proxy (the gateway trusts 127.0.0.1
/// only), on an internal network.
async fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> Seen {
    send(reqwest::Method::GET, base, path, headers).await
}

async fn send(method: reqwest::Method, base: &str, path: &str, headers: &[(&str, &str)]) -> Seen {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut request = client.request(method, format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let upstream = response.json().await.unwrap_or(Value::Null);
    Seen {
        status,
        headers,
        upstream,
    }
}

struct Credentials {
    api_key: String,
    basic: String,
    bearer: String,
    /// A Bearer token with `reports:read` only.
    narrow: String,
    dpop: (DpopClient, String),
}

/// The matrix, through the proxy at `base`; `guesser` names the throttled identity.
async fn matrix(proxy: &str, base: &str, credentials: &Credentials, guesser: &str) {
    let key = ("x-api-key", credentials.api_key.as_str());
    let forged = ("x-authstar-client-id", "admin");

    // Public: passes without a credential; a forged identity never reaches the service (nginx
    // sends no identity header, Caddy empty ones: nobody authenticated).
    let underscored = ("x_authstar_client_id", "admin");
    let overridden = ("x-http-method-override", "DELETE");
    let seen = get(base, "/health", &[forged, underscored, overridden]).await;
    assert_eq!(seen.status, 200, "{proxy}");
    let identity = seen.upstream["identity"].as_object().unwrap();
    assert!(
        identity.values().all(|value| value == ""),
        "{proxy}: {identity:?}"
    );

    // No credential on an authenticated route: 401 with the challenges.
    let seen = get(base, "/me", &[]).await;
    assert_eq!(seen.status, 401, "{proxy}");
    let challenge = seen.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("Bearer"), "{proxy}: {challenge}");
    assert_eq!(
        seen.upstream,
        Value::Null,
        "{proxy}: nothing reached the service"
    );

    // An API key: the service learns who, with what scopes, and how; a forged header is
    // replaced by the real identity.
    let seen = get(base, "/me", &[key, forged]).await;
    assert_eq!(seen.status, 200, "{proxy}");
    let identity = &seen.upstream["identity"];
    assert_eq!(identity["x-authstar-client-id"], "demo-client", "{proxy}");
    assert_eq!(identity["x-authstar-scopes"], "reports:read", "{proxy}");
    assert_eq!(identity["x-authstar-method"], "x-api-key", "{proxy}");
    assert_eq!(seen.upstream["path"], "/me", "{proxy}");

    // Scopes: any of (reports:read) passes; all of (read and export) needs export.
    assert_eq!(
        get(base, "/reports/42", &[key]).await.status,
        200,
        "{proxy}"
    );
    assert_eq!(
        get(base, "/reports/export", &[key]).await.status,
        403,
        "{proxy}"
    );
    // A Bearer token without export: RFC 6750's insufficient_scope challenge comes through.
    let narrow = format!("Bearer {}", credentials.narrow);
    let seen = get(base, "/reports/export", &[("authorization", &narrow)]).await;
    assert_eq!(seen.status, 403, "{proxy}");
    let challenge = seen.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("insufficient_scope"),
        "{proxy}: {challenge}"
    );

    // A Bearer JWT with both scopes; Basic client credentials.
    let bearer = format!("Bearer {}", credentials.bearer);
    let seen = get(base, "/reports/export", &[("authorization", &bearer)]).await;
    assert_eq!(seen.status, 200, "{proxy}");
    assert_eq!(
        seen.upstream["identity"]["x-authstar-method"], "bearer",
        "{proxy}"
    );
    let basic = format!("Basic {}", credentials.basic);
    let seen = get(base, "/me", &[("authorization", &basic)]).await;
    assert_eq!(seen.status, 200, "{proxy}");
    assert_eq!(
        seen.upstream["identity"]["x-authstar-method"], "basic",
        "{proxy}"
    );

    // DPoP: the proof names the URL the client used (the proxy's), not the gateway's.
    let (client, token) = &credentials.dpop;
    let dpop = format!("DPoP {token}");
    let proof = client.proof("GET", &format!("{base}/me"), Some(token));
    let seen = get(base, "/me", &[("authorization", &dpop), ("dpop", &proof)]).await;
    assert_eq!(seen.status, 200, "{proxy}: {:?}", seen.headers);
    assert_eq!(
        seen.upstream["identity"]["x-authstar-method"], "dpop",
        "{proxy}"
    );
    let elsewhere = client.proof("GET", "http://127.0.0.1:1/me", Some(token));
    let seen = get(
        base,
        "/me",
        &[("authorization", &dpop), ("dpop", &elsewhere)],
    )
    .await;
    assert_eq!(seen.status, 401, "{proxy}: a proof for another URL");
    let bearer_as_dpop = client.proof("POST", &format!("{base}/me"), Some(token));
    let seen = get(
        base,
        "/me",
        &[("authorization", &dpop), ("dpop", &bearer_as_dpop)],
    )
    .await;
    assert_eq!(seen.status, 401, "{proxy}: a proof for another method");

    // A path that could read two ways is refused, whatever the credential (the client's URL
    // library keeps these as they are; it would resolve a dot segment itself).
    for path in ["/health//me", "/health%2F..%2Fme", "/health;x"] {
        let seen = get(base, path, &[key]).await;
        assert_eq!(seen.status, 403, "{proxy}: {path}");
    }
    // Spellings the service routes to the export route are checked as that route.
    for path in ["/reports/%65xport", "/reports/export/", "/%72eports/export"] {
        let seen = get(base, path, &[key]).await;
        assert_eq!(seen.status, 403, "{proxy}: {path}");
    }
    // A method /reports/{id} does not list is refused, not passed to the weaker /*.
    for method in [reqwest::Method::DELETE, reqwest::Method::PUT] {
        let seen = send(method.clone(), base, "/reports/42", &[key]).await;
        assert_eq!(seen.status, 403, "{proxy}: {method}");
    }
    assert_eq!(
        send(reqwest::Method::HEAD, base, "/reports/42", &[key])
            .await
            .status,
        200
    );

    // Internal from an internal address.
    assert_eq!(
        get(base, "/internal/health", &[]).await.status,
        200,
        "{proxy}"
    );

    // A guesser: ten mistakes, then 429 with Retry-After, as the client sees it.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for n in 0..12 {
        let guess = base64_basic(guesser, &format!("guess {n}"));
        let seen = get(base, "/me", &[("authorization", &guess)]).await;
        if seen.status == 429 {
            retry_after = seen.headers.get("retry-after").cloned();
        }
        statuses.push(seen.status.as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10], "{proxy}");
    assert_eq!(&statuses[10..], &[429, 429], "{proxy}");
    let retry: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{proxy}");
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_and_caddy_ask_the_gateway_and_pass_on_its_answers() {
    let nginx_here = nginx::installed();
    let caddy_here = caddy_installed();
    if !authstar_testkit::require(
        nginx_here || caddy_here,
        "nginx and caddy are not installed",
    ) {
        return;
    }
    let demo = Demo::start("gateway", &[]);
    let (id, secret) = (demo.value("client_id:"), demo.value("client_secret:"));
    let api_key = demo.value("api_key:");
    let policy = demo.dir().join("policy.toml");
    std::fs::write(&policy, deploy("policy.toml")).unwrap();
    let gateway = demo.gateway(&policy, &[]);
    let app = upstream().await;

    let token = support::access_token(&demo.base, &id, &secret).await;
    let client = DpopClient::new();
    let token_url = format!("{}/oauth2/token", demo.base);
    let bound: Value = reqwest::Client::new()
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .header("dpop", client.proof("POST", &token_url, None))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let narrow: Value = reqwest::Client::new()
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
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
    let credentials = Credentials {
        narrow: narrow["access_token"].as_str().unwrap().to_owned(),
        api_key,
        basic: base64_basic(&id, &secret)["Basic ".len()..].to_owned(),
        bearer: token,
        dpop: (client, bound["access_token"].as_str().unwrap().to_owned()),
    };

    // Only the proxies may ask (anyone else could name any request), and a check must name
    // the request it is about.
    let forged = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/health"),
    ];
    assert_eq!(get(&gateway.base, "/auth", &forged).await.status, 403);
    let unnamed = reqwest::get(format!("{}/auth", gateway.base))
        .await
        .unwrap();
    assert_eq!(unnamed.status(), 400);

    let dir = demo.dir().to_owned();
    if authstar_testkit::require(nginx_here, "nginx is not installed") {
        let nginx = nginx_with(&dir, "gateway", address(&gateway.base), address(&app), None);
        matrix("nginx", &nginx.base, &credentials, "guess-nginx").await;
        // The same file, for a client on the internet: the internal route is closed to it.
        let outside = nginx_with(
            &dir,
            "outside",
            address(&gateway.base),
            address(&app),
            Some("203.0.113.7"),
        );
        for path in [
            "/internal/health",
            "/%69nternal/health",
            "/internal/health/",
        ] {
            let seen = get(&outside.base, path, &[]).await;
            assert_eq!(seen.status, 403, "{path}");
        }
        assert_eq!(get(&outside.base, "/health", &[]).await.status, 200);
    }
    if authstar_testkit::require(caddy_here, "caddy is not installed") {
        let caddy = Caddy::start(&dir, address(&gateway.base), address(&app));
        matrix("caddy", &caddy.base, &credentials, "guess-caddy").await;
    }
}

/// The Traefik and Envoy files cannot run here (neither is installable): they must at least
/// name what the gateway reads and answers, as the tests exercise it through nginx, Caddy and
/// the ext_authz clients.
#[test]
fn the_traefik_and_envoy_files_name_what_the_gateway_reads() {
    let traefik = deploy("traefik.yml");
    for needle in [
        "address: \"http://127.0.0.1:9000/auth\"",
        "trustForwardHeader: false",
        "- X-Authstar-Client-Id",
        "- X-Authstar-Scopes",
        "- X-Authstar-Method",
    ] {
        assert!(traefik.contains(needle), "traefik.yml: {needle}");
    }
    let envoy = deploy("envoy.yaml");
    for needle in [
        "envoy.filters.http.ext_authz",
        "transport_api_version: V3",
        "failure_mode_allow: false",
        "include_peer_certificate: true",
        "port_value: 9001",
        "http2_protocol_options",
    ] {
        assert!(envoy.contains(needle), "envoy.yaml: {needle}");
    }
    // The policy the tests run is the one shipped.
    assert!(authstar_gateway::Policy::from_toml(&deploy("policy.toml")).is_ok());
}

//! The demo app in process, as the `authstar demo` command builds it (throttle on, SQLite
//! registry, credentials cached after their first check): `GET /`, `GET /me` with an API key
//! and with Basic, and `POST /oauth2/token`. For profiling where a workload's time goes beyond
//! the HTTP stack and the signature (`AUTHSTAR_BENCH_PROFILE` + callgrind; counted by
//! difference, see [`lazy`]).

use std::hint::black_box;

use axum::extract::Request;
use axum::http::HeaderValue;
use tower::ServiceExt as _;

use crate::{Group, Variant, lazy};

/// The demo's token endpoint.
pub(crate) const DEMO_TOKEN: &str = "demo: POST /oauth2/token in process (ES256)";
/// The floor of the other demo variants: a public route through the same layer.
pub(crate) const DEMO_FLOOR: &str = "demo: GET / in process";
/// An API key on `/me`.
pub(crate) const DEMO_KEY: &str = "demo: GET /me, X-API-Key in process";
/// Basic client credentials (a generated secret) on `/me`.
pub(crate) const DEMO_BASIC: &str = "demo: GET /me, Basic in process";
/// The token endpoint with `private_key_jwt`: a fresh ES256 assertion per request.
pub(crate) const DEMO_TOKEN_KEY: &str =
    "demo: POST /oauth2/token in process (private_key_jwt ES256 assertion, ES256)";
/// The token endpoint with `tls_client_auth`: a CA-issued client certificate (chain checked
/// by webpki, SAN matched) and the token bound to it.
pub(crate) const DEMO_TOKEN_TLS: &str =
    "demo: POST /oauth2/token in process (tls_client_auth, ES256 chain, bound ES256 token)";
/// A bearer JWT (cached after its first check) on `/me`.
pub(crate) const DEMO_JWT: &str = "demo: GET /me, bearer JWT (cached) in process";
/// A certificate-bound JWT (cached) on `/me`, over its certificate (RFC 8705).
pub(crate) const DEMO_MTLS: &str =
    "demo: GET /me, certificate-bound JWT (cached) over its certificate in process";
/// A DPoP-bound token (cached after its first check) with a fresh ES256 proof on `/me`.
pub(crate) const DEMO_DPOP: &str = "demo: GET /me, DPoP-bound token + fresh ES256 proof in process";

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {pair}")
}

/// `POST /oauth2/token` for client `id` (`client_credentials`, Basic).
pub(crate) fn request(id: &str, secret: &str) -> Request {
    Request::post("/oauth2/token")
        .header("authorization", basic(id, secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("grant_type=client_credentials"))
        .unwrap_or_default()
}

/// A client's credentials in the registry behind the app, as header values made once (so
/// that building a request costs the same on every variant).
struct Credentials {
    basic: HeaderValue,
    api_key: HeaderValue,
    /// A `private_key_jwt` client of the registry.
    key_client: authstar_testkit::assertion::KeyClient,
}

/// The app's public origin (its issuer).
const ORIGIN: &str = "https://auth.example";

/// A DPoP client (the test kit's: its proofs are signed with jsonwebtoken, as a client
/// library would).
pub(crate) use authstar_testkit::dpop::DpopClient;

/// The variants (each built on first use: a registry on disk and a runtime).
pub(crate) fn all() -> Vec<Variant> {
    vec![
        variant(DEMO_FLOOR, |_| Request::get("/").body(Default::default())),
        variant(DEMO_KEY, |credentials| {
            Request::get("/me")
                .header("x-api-key", credentials.api_key.clone())
                .body(Default::default())
        }),
        variant(DEMO_BASIC, |credentials| {
            Request::get("/me")
                .header("authorization", credentials.basic.clone())
                .body(Default::default())
        }),
        variant(DEMO_TOKEN, |credentials| {
            Request::post("/oauth2/token")
                .header("authorization", credentials.basic.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from("grant_type=client_credentials"))
        }),
        dpop_variant(),
        assertion_variant(),
        certificate_variant(),
        jwt_variant(DEMO_JWT, false),
        jwt_variant(DEMO_MTLS, true),
    ]
}

/// `POST /oauth2/token` with a fresh assertion per request, signed before the clock starts.
fn assertion_variant() -> Variant {
    let name = DEMO_TOKEN_KEY;
    lazy(name, Group::Jwt, move || {
        let (runtime, app, credentials) = demo_app(name);
        Variant {
            name,
            group: Group::Jwt,
            lazy: false,
            run: Box::new(move |iterations| {
                let bodies = assertions_client_side_not_counted(&credentials, iterations);
                let start = std::time::Instant::now();
                for body in bodies {
                    let request = Request::post("/oauth2/token")
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(axum::body::Body::from(body))
                        .expect("a valid request");
                    black_box(answered(&runtime, &app, request, name));
                }
                start.elapsed()
            }),
        }
    })
}

/// The bench's client certificate (P-256, issued by `fixtures/client-ca.pem`, until 2126).
const CLIENT_CERTIFICATE: &[u8] = include_bytes!("../fixtures/client.der");

/// `POST /oauth2/token` by a `tls_client_auth` client over its certificate.
fn certificate_variant() -> Variant {
    let name = DEMO_TOKEN_TLS;
    lazy(name, Group::Jwt, move || {
        let (runtime, app, _) = demo_app(name);
        let certificate = authstar_jwt::client_certificate(CLIENT_CERTIFICATE.to_vec());
        Variant {
            name,
            group: Group::Jwt,
            lazy: false,
            run: Box::new(move |iterations| {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    let mut request = Request::post("/oauth2/token")
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(axum::body::Body::from(
                            "grant_type=client_credentials&client_id=bench-mtls",
                        ))
                        .expect("a valid request");
                    request.extensions_mut().insert(certificate.clone());
                    black_box(answered(&runtime, &app, request, name));
                }
                start.elapsed()
            }),
        }
    })
}

/// `count` token request bodies, each with a fresh assertion: the client's work.
#[inline(never)]
fn assertions_client_side_not_counted(credentials: &Credentials, count: u64) -> Vec<String> {
    (0..count)
        .map(|_| {
            format!(
                "grant_type=client_credentials&client_assertion_type=\
                 urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
                credentials.key_client.assertion(ORIGIN)
            )
        })
        .collect()
}

/// `GET /me` with a JWT verified once and then cached: a bearer token, or (`bound`) one bound
/// to the client certificate every request comes with.
fn jwt_variant(name: &'static str, bound: bool) -> Variant {
    lazy(name, Group::Jwt, move || {
        let (runtime, app, credentials) = demo_app(name);
        let certificate =
            authstar_jwt::client_certificate(b"the bench client's certificate".to_vec());
        let token = runtime.block_on(async {
            let mut request = Request::post("/oauth2/token")
                .header("authorization", credentials.basic.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from("grant_type=client_credentials"))
                .expect("a request");
            if bound {
                request.extensions_mut().insert(certificate.clone());
            }
            let response = app.clone().oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), 200, "{name}: token");
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("a body")
                .to_bytes();
            let answer: serde_json::Value = serde_json::from_slice(&body).expect("json");
            answer["access_token"].as_str().expect("a token").to_owned()
        });
        let authorization = HeaderValue::try_from(format!("Bearer {token}")).expect("a header");
        Variant {
            name,
            group: Group::Jwt,
            lazy: false,
            run: Box::new(move |iterations| {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    let mut request = Request::get("/me")
                        .header("authorization", authorization.clone())
                        .body(axum::body::Body::default())
                        .expect("a valid request");
                    if bound {
                        request.extensions_mut().insert(certificate.clone());
                    }
                    black_box(answered(&runtime, &app, request, name));
                }
                start.elapsed()
            }),
        }
    })
}

/// `/me` with a DPoP-bound token: the proofs of a run are signed before its clock starts, so
/// the time is the server's (proof verification, the cached token, the handler).
fn dpop_variant() -> Variant {
    let name = DEMO_DPOP;
    lazy(name, Group::Jwt, move || {
        let (runtime, app, credentials) = demo_app(name);
        let client = DpopClient::new();
        let token = runtime.block_on(async {
            let proof = client.proof("POST", &format!("{ORIGIN}/oauth2/token"), None);
            let request = Request::post("/oauth2/token")
                .header("authorization", credentials.basic.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .header("dpop", proof)
                .body(axum::body::Body::from("grant_type=client_credentials"))
                .expect("a request");
            let response = app.clone().oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), 200, "{name}: token");
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("a body")
                .to_bytes();
            let answer: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(answer["token_type"], "DPoP", "{name}");
            answer["access_token"].as_str().expect("a token").to_owned()
        });
        let authorization = HeaderValue::try_from(format!("DPoP {token}")).expect("a header");
        let url = format!("{ORIGIN}/me");
        Variant {
            name,
            group: Group::Jwt,
            lazy: false,
            run: Box::new(move |iterations| {
                let proofs = client_side_not_counted(&client, &url, &token, iterations);
                let start = std::time::Instant::now();
                for proof in proofs {
                    let request = Request::get("/me")
                        .header("authorization", authorization.clone())
                        .header("dpop", proof)
                        .body(axum::body::Body::default())
                        .expect("a valid request");
                    black_box(answered(&runtime, &app, request, name));
                }
                start.elapsed()
            }),
        }
    })
}

fn variant(
    name: &'static str,
    make_request: fn(&Credentials) -> axum::http::Result<Request>,
) -> Variant {
    lazy(name, Group::Jwt, move || {
        let (runtime, app, credentials) = demo_app(name);
        Variant {
            name,
            group: Group::Jwt,
            lazy: false,
            run: Box::new(move |iterations| {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    let request = make_request(&credentials).expect("a valid request");
                    black_box(answered(&runtime, &app, request, name));
                }
                start.elapsed()
            }),
        }
    })
}

/// `app`'s answer to `request`, which must be 200.
fn answered(
    runtime: &tokio::runtime::Runtime,
    app: &authstar_cli::demo::DemoService,
    request: Request,
    name: &str,
) -> axum::response::Response {
    let response = runtime
        .block_on(app.clone().oneshot(request))
        .expect("infallible");
    assert_eq!(response.status(), 200, "{name}");
    response
}

/// `count` proofs for `GET url` with `token`: the client's work, left out of the time and
/// (by its name) of the instruction counts.
#[inline(never)]
fn client_side_not_counted(
    client: &DpopClient,
    url: &str,
    token: &str,
    count: u64,
) -> Vec<HeaderValue> {
    (0..count)
        .map(|_| {
            HeaderValue::try_from(client.proof("GET", url, Some(token)))
                .expect("a proof is a header value")
        })
        .collect()
}

/// The demo app on a fresh registry with one client and one key, and its runtime.
fn demo_app(
    name: &str,
) -> (
    tokio::runtime::Runtime,
    authstar_cli::demo::DemoService,
    Credentials,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!(
        "authstar-bench-demo-{}-{}",
        std::process::id(),
        name.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (app, credentials) = runtime.block_on(async {
        let registry = authstar_registry::Registry::open(&dir.join("bench.db"))
            .await
            .expect("registry");
        let scopes = ["reports:read".to_owned()];
        let client = registry
            .create_client(Some("bench"), None, &scopes)
            .await
            .expect("client");
        let key = registry.create_key("bench", &scopes).await.expect("key");
        let key_client = authstar_testkit::assertion::KeyClient::new("bench-job");
        registry
            .create_key_client("bench-job", &key_client.jwks(), &scopes)
            .await
            .expect("key client");
        registry
            .create_certificate_client(
                "bench-mtls",
                authstar_oauth2::mtls::CertificateRule::SanDns("bench.example".into()),
                &scopes,
            )
            .await
            .expect("certificate client");
        let authorities = authstar_oauth2::mtls::CertificateAuthorities::from_pem(include_bytes!(
            "../fixtures/client-ca.pem"
        ))
        .expect("the bench's client CA");
        let options = authstar_cli::demo::AppOptions {
            throttle: true,
            certificate_bound_tokens: true,
            client_authorities: Some(authorities),
            ..Default::default()
        };
        let app = authstar_cli::demo::app(registry, ORIGIN, options).expect("app");
        let credentials = Credentials {
            basic: HeaderValue::try_from(basic("bench", &client.client_secret))
                .expect("base64 is a header value"),
            api_key: HeaderValue::try_from(key.key).expect("a key is a header value"),
            key_client,
        };
        (app, credentials)
    });
    (runtime, app, credentials)
}

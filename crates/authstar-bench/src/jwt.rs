//! JWT verification: authstar's `JwtVerifier` against the raw `jsonwebtoken::decode` it builds on
//! (validation settings prebuilt for both), and with the verified-token cache.

use std::hint::black_box;
use std::time::Instant;

use authstar::AuthstarClient;
use authstar_jwt::{AccessTokenClaims, Algorithm, JwtIssuer, JwtVerifier, SigningKey};
use jsonwebtoken::{DecodingKey, Validation};

use crate::{Group, Variant};

/// The group's floor: an empty loop.
pub(crate) const FLOOR: &str = "jwt: empty loop (floor)";
/// Raw decode.
pub(crate) const RAW: &str = "raw jsonwebtoken::decode";
/// authstar's verifier.
pub(crate) const AUTHSTAR: &str = "authstar JwtVerifier";
/// authstar's verifier with its cache, the same token again.
pub(crate) const CACHED: &str = "authstar JwtVerifier, cached";
/// The same, consulting a registry's revocations (200 revoked tokens, 20 revoked clients).
pub(crate) const CACHED_REVOCABLE: &str = "authstar JwtVerifier, cached + registry revocations";

/// An opaque token whose introspection answer is remembered.
pub(crate) const INTROSPECTION_HIT: &str = "opaque token: Introspection, remembered answer";

/// An introspection endpoint on loopback that calls every token active, and the authenticator
/// asking it, with one answer already remembered for `token`.
fn remembered_introspection(token: &str) -> authstar_jwt::Introspection {
    use authstar::{Authenticator, BearerToken};
    let runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime"),
    ));
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/introspect", listener.local_addr().expect("address"));
        let app = axum::Router::new().route(
            "/introspect",
            axum::routing::post(|| async {
                axum::Json(serde_json::json!({"active": true, "client_id": "svc", "scope": "reports:read"}))
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let introspection = authstar_jwt::Introspection::builder(url, "api", "secret")
            .allow_http()
            .active_ttl(std::time::Duration::from_secs(3600))
            .build()
            .expect("introspection");
        let header = http::HeaderValue::try_from(format!("Bearer {token}")).expect("header");
        let bearer = BearerToken::from_authorization(&header).expect("bearer");
        let verdict = introspection.authenticate(bearer).await;
        assert!(matches!(verdict, authstar::Verdict::Authenticated(_)));
        introspection
    })
}

/// A variant's name.
pub(crate) fn name(alg: &str, kind: &str) -> String {
    format!("jwt {alg}: {kind}")
}

const ISS: &str = "https://auth.example";
const AUD: &str = "api";

fn variant(name: String, mut run: impl FnMut() + 'static) -> Variant {
    Variant {
        name: Box::leak(name.into_boxed_str()),
        group: Group::Jwt,
        lazy: false,
        run: Box::new(move |iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                run();
            }
            start.elapsed()
        }),
    }
}

/// Where the parent process leaves its keys and tokens for the profiled children.
pub(crate) const FIXTURE_ENV: &str = "AUTHSTAR_BENCH_JWT_FIXTURE";

/// The keys and tokens: read from the fixture file a parent left (so that every profiled child
/// verifies the very same signatures: ECDSA signatures are randomised, and a signature check's
/// instruction count depends on the signature), or made here and, given a path, saved there.
fn fixture(save: Option<&std::path::Path>) -> Vec<(&'static str, SigningKey, String)> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let load = |alg: &str, der: &[u8]| {
        match alg {
            "HS256" => SigningKey::hs256("hs", der),
            "ES256" => SigningKey::from_pkcs8(Algorithm::ES256, "es", der),
            _ => SigningKey::from_pkcs8(Algorithm::EdDSA, "ed", der),
        }
        .expect("key")
    };
    if let Some(text) = std::env::var_os(FIXTURE_ENV).and_then(|p| std::fs::read_to_string(p).ok())
    {
        let saved: Vec<(String, String, String)> =
            serde_json::from_str(&text).expect("fixture written by the parent");
        return saved
            .into_iter()
            .map(|(alg, der, token)| {
                let key = load(&alg, &b64.decode(der).expect("fixture key"));
                let alg = ["HS256", "ES256", "EdDSA"]
                    .into_iter()
                    .find(|a| *a == alg)
                    .expect("known algorithm");
                (alg, key, token)
            })
            .collect();
    }
    let keys = [
        ("HS256", SigningKey::hs256("hs", &[42u8; 32]).expect("key")),
        ("ES256", SigningKey::generate_es256("es").expect("key")),
        ("EdDSA", SigningKey::generate_ed25519("ed").expect("key")),
    ];
    let made: Vec<_> = keys
        .into_iter()
        .map(|(alg, key)| {
            let issuer = JwtIssuer::new(key, ISS, AUD);
            let token = issuer
                .issue("reporting", &["reports:read".to_owned()])
                .expect("token");
            (alg, load(alg, issuer.key().to_bytes()), token)
        })
        .collect();
    // A child given a fixture path that does not exist yet leaves its own there (for counting
    // by hand: `AUTHSTAR_BENCH_JWT_FIXTURE=/tmp/f.json AUTHSTAR_BENCH_PROFILE=...`).
    let from_env = std::env::var_os(FIXTURE_ENV).map(std::path::PathBuf::from);
    if let Some(path) = save.or(from_env.as_deref()) {
        let saved: Vec<(&str, String, &str)> = made
            .iter()
            .map(|(alg, key, token)| (*alg, b64.encode(key.to_bytes()), token.as_str()))
            .collect();
        let text = serde_json::to_string(&saved).expect("fixture");
        if let Err(error) = std::fs::write(path, text) {
            eprintln!("could not save the JWT fixture: {error}");
        }
    }
    made
}

/// A SQLite registry with 200 revoked tokens and 20 revoked clients, on a runtime that lives
/// as long as the process. It never polls during a run (the interval is an hour), so a
/// profiled child counts no background work.
fn registry_with_revocations() -> authstar_registry::Registry {
    let runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime"),
    ));
    let dir =
        std::env::temp_dir().join(format!("authstar-bench-revocations-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    runtime.block_on(async {
        let registry = authstar_registry::Registry::builder(dir.join("registry.db"))
            .revocation_poll(std::time::Duration::from_secs(3600))
            .open()
            .await
            .expect("registry");
        let far = authstar_jwt::unix_now() + 3600;
        for n in 0..200 {
            registry
                .revoke_token(&format!("revoked-{n}"), "someone", far)
                .await
                .expect("revoke");
        }
        for n in 0..20 {
            let id = format!("gone-{n}");
            registry
                .create_client(Some(&id), None, &[])
                .await
                .expect("client");
            registry.revoke_client(&id).await.expect("revoke");
        }
        registry
    })
}

/// The JWT variants; `save` is where to leave the keys and tokens for profiled children.
pub(crate) fn all(save: Option<&std::path::Path>) -> Vec<Variant> {
    let mut variants = vec![variant(FLOOR.to_owned(), || {
        black_box(());
    })];
    variants.push(crate::lazy(INTROSPECTION_HIT, Group::Jwt, || {
        use authstar::{Authenticator, BearerToken, Started, Verdict};
        let token = "2YotnFZFEjr1zCsicMWpAA-an-opaque-token-of-43-chars";
        let introspection = remembered_introspection(token);
        let header = http::HeaderValue::try_from(format!("Bearer {token}")).expect("header");
        let bearer = BearerToken::from_authorization(&header).expect("bearer");
        variant(INTROSPECTION_HIT.to_owned(), move || {
            match introspection.start(black_box(bearer.clone())) {
                Started::Done(Verdict::Authenticated(client)) => {
                    black_box(client);
                }
                _ => unreachable!("remembered"),
            }
        })
    }));
    for (alg, key, token) in fixture(save) {
        let decoding = match key.algorithm() {
            Algorithm::HS256 => DecodingKey::from_secret(key.to_bytes()).expect("secret"),
            _ => {
                let jwk = key.public_jwk().expect("public key");
                DecodingKey::from_jwk(jwk).expect("jwk")
            }
        };
        let mut validation = Validation::new(key.algorithm());
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[AUD]);
        let verifier = JwtVerifier::new([key.verification_key()], ISS, AUD);
        let cached = JwtVerifier::builder([key.verification_key()], ISS, AUD)
            .cache(10_000)
            .build();

        let raw_token = token.clone();
        variants.push(variant(name(alg, RAW), move || {
            let data = jsonwebtoken::decode::<AccessTokenClaims>(
                black_box(&raw_token),
                &decoding,
                &validation,
            );
            black_box(data.expect("valid"));
        }));
        let our_token = token.clone();
        variants.push(variant(name(alg, AUTHSTAR), move || {
            let client: AuthstarClient = verifier.verify(black_box(&our_token)).expect("valid");
            black_box(client);
        }));
        if alg == "ES256" {
            let (key, token) = (key.verification_key(), token.clone());
            let label: &'static str = Box::leak(name(alg, CACHED_REVOCABLE).into_boxed_str());
            variants.push(crate::lazy(label, Group::Jwt, move || {
                let revocable = JwtVerifier::builder([key], ISS, AUD)
                    .cache(10_000)
                    .revocations(registry_with_revocations())
                    .build();
                variant(label.to_owned(), move || {
                    let client: AuthstarClient =
                        revocable.verify(black_box(&token)).expect("valid");
                    black_box(client);
                })
            }));
        }
        if alg != "HS256" {
            variants.push(variant(name(alg, CACHED), move || {
                let client: AuthstarClient = cached.verify(black_box(&token)).expect("valid");
                black_box(client);
            }));
        }
    }
    variants
}

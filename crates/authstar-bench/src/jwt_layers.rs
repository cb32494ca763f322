//! JWT through a whole tower layer: jwt-authorizer (the peer) against authstar's layer with a
//! `JwtVerifier`, both HS256, both inserting the verified claims/client into the request.

use std::convert::Infallible;
use std::future::ready;
use std::hint::black_box;

use authstar::{AuthstarClient, AuthstarLayer};
use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
use http::{Request, Response};
use jwt_authorizer::{IntoLayer, JwtAuthorizer, Validation};
use serde::Deserialize;
use tower::service_fn;
use tower_layer::Layer;

use crate::Variant;
use crate::variants::{drive, tower};

/// jwt-authorizer's layer.
pub(crate) const JWT_AUTHORIZER: &str = "jwt-authorizer layer, HS256 JWT";
/// authstar's layer with a `JwtVerifier`.
pub(crate) const AUTHSTAR_JWT: &str = "authstar layer + JwtVerifier, HS256 JWT";

const ISS: &str = "https://auth.example";
const AUD: &str = "api";
const SECRET: &str = "bench-secret-bench-secret-bench!";

/// The claims jwt-authorizer deserialises and stores.
#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code)]
struct Claims {
    sub: String,
    scope: Option<String>,
    exp: u64,
}

/// The two layers, each around a bare inner service, with the same HS256 token.
pub(crate) fn all() -> Vec<Variant> {
    let key = SigningKey::hs256("hs", SECRET.as_bytes()).expect("key");
    let verifier = JwtVerifier::<AuthstarClient>::new([key.verification_key()], ISS, AUD);
    let token = JwtIssuer::new(key, ISS, AUD)
        .issue("reporting", &["reports:read".to_owned()])
        .expect("token");
    let credential = || Some(("authorization", format!("Bearer {token}")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let peer = runtime
        .block_on(
            JwtAuthorizer::<Claims>::from_secret(SECRET)
                .validation(Validation::new().iss(&[ISS]).aud(&[AUD]))
                .build(),
        )
        .expect("jwt-authorizer")
        .into_layer();
    let peer_inner = service_fn(|request: Request<()>| {
        black_box(&request);
        ready(Ok::<_, Infallible>(Response::new(
            axum_core_04::body::Body::empty(),
        )))
    });
    let ours = AuthstarLayer::builder()
        .on_auth_bearer_with(verifier)
        .build()
        .expect("valid configuration");
    let our_inner = service_fn(|request: Request<()>| {
        black_box(&request);
        ready(Ok::<_, Infallible>(Response::new(())))
    });
    let mut peer = peer.layer(peer_inner);
    let mut ours = ours.layer(our_inner);
    // Both must accept the token, or the comparison would time a refusal.
    let request = crate::peers::request(credential());
    assert!(drive(&mut peer, request.clone()).status().is_success());
    assert!(drive(&mut ours, request).status().is_success());
    vec![
        tower(JWT_AUTHORIZER, peer, credential()),
        tower(AUTHSTAR_JWT, ours, credential()),
    ]
}

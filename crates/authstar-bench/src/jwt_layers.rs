//! JWT through a whole tower layer: jwt-authorizer (the peer) against authstar's layer with a
//! `JwtVerifier`, both HS256, both inserting the verified claims/client into the request.

use std::convert::Infallible;
use std::future::ready;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use authstar::{AuthstarClient, AuthstarLayer};
use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
use http::{HeaderValue, Request, Response};
use jwt_authorizer::{IntoLayer, JwtAuthorizer, Validation};
use serde::Deserialize;
use tower::service_fn;
use tower_layer::Layer;
use tower_service::Service;

use crate::{Group, Variant};

/// jwt-authorizer's layer.
pub const JWT_AUTHORIZER: &str = "jwt-authorizer layer, HS256 JWT";
/// authstar's layer with a `JwtVerifier`.
pub const AUTHSTAR_JWT: &str = "authstar layer + JwtVerifier, HS256 JWT";

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

fn variant<S, B>(name: &'static str, mut service: S, prototype: Request<()>) -> Variant
where
    S: Service<Request<()>, Response = Response<B>> + 'static,
    S::Error: std::fmt::Debug,
{
    Variant {
        name,
        group: Group::InProcess,
        run: Box::new(move |iterations| {
            let mut cx = Context::from_waker(Waker::noop());
            let start = Instant::now();
            for _ in 0..iterations {
                assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
                let mut future = pin!(service.call(prototype.clone()));
                match future.as_mut().poll(&mut cx) {
                    Poll::Ready(Ok(response)) => assert!(black_box(response).status().is_success()),
                    other => panic!("not answered at once: {:?}", other.map(|r| r.map(drop))),
                }
            }
            start.elapsed()
        }),
    }
}

/// The two layers, each around a bare inner service, with the same HS256 token.
pub fn all() -> Vec<Variant> {
    let key = SigningKey::hs256("hs", SECRET.as_bytes()).expect("key");
    let verifier = JwtVerifier::<AuthstarClient>::new([key.verification_key()], ISS, AUD);
    let token = JwtIssuer::new(key, ISS, AUD)
        .issue("reporting", &["reports:read".to_owned()])
        .expect("token");
    let mut request = crate::peers::request(None);
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        HeaderValue::try_from(format!("Bearer {token}")).expect("header"),
    );

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
        .on_auth_bearer(verifier)
        .build()
        .expect("valid configuration");
    let our_inner = service_fn(|request: Request<()>| {
        black_box(&request);
        ready(Ok::<_, Infallible>(Response::new(())))
    });
    vec![
        variant(JWT_AUTHORIZER, peer.layer(peer_inner), request.clone()),
        variant(AUTHSTAR_JWT, ours.layer(our_inner), request),
    ]
}

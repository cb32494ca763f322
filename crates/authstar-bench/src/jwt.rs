//! JWT verification: authstar's `JwtVerifier` against the raw `jsonwebtoken::decode` it builds on
//! (validation settings prebuilt for both), and with the verified-token cache.

use std::hint::black_box;
use std::time::Instant;

use authstar::AuthstarClient;
use authstar_jwt::{AccessTokenClaims, Algorithm, JwtIssuer, JwtVerifier, SigningKey};
use jsonwebtoken::{DecodingKey, Validation};

use crate::{Group, Variant};

/// The group's floor: an empty loop.
pub const FLOOR: &str = "jwt: empty loop (floor)";
/// Raw decode.
pub const RAW: &str = "raw jsonwebtoken::decode";
/// authstar's verifier.
pub const AUTHSTAR: &str = "authstar JwtVerifier";
/// authstar's verifier with its cache, the same token again.
pub const CACHED: &str = "authstar JwtVerifier, cached";

/// A variant's name.
pub fn name(alg: &str, kind: &str) -> String {
    format!("jwt {alg}: {kind}")
}

const ISS: &str = "https://auth.example";
const AUD: &str = "api";

fn variant(name: String, mut run: impl FnMut() + 'static) -> Variant {
    Variant {
        name: Box::leak(name.into_boxed_str()),
        group: Group::Jwt,
        run: Box::new(move |iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                run();
            }
            start.elapsed()
        }),
    }
}

/// The JWT variants.
pub fn all() -> Vec<Variant> {
    let mut variants = vec![variant(FLOOR.to_owned(), || {
        black_box(());
    })];
    let keys = [
        ("HS256", SigningKey::hs256("hs", &[42u8; 32]).expect("key")),
        ("ES256", SigningKey::generate_es256("es").expect("key")),
        ("EdDSA", SigningKey::generate_ed25519("ed").expect("key")),
    ];
    for (alg, key) in keys {
        let decoding = match key.algorithm() {
            Algorithm::HS256 => DecodingKey::from_secret(key.to_bytes()),
            _ => {
                let jwk = key.public_jwk().expect("public key");
                DecodingKey::from_jwk(jwk).expect("jwk")
            }
        };
        let mut validation = Validation::new(key.algorithm());
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[AUD]);
        let verifier = JwtVerifier::new([key.verification_key()], ISS, AUD);
        let cached = verifier.clone().cache(10_000);
        let token = JwtIssuer::new(key, ISS, AUD)
            .issue("reporting", &["reports:read".to_owned()])
            .expect("token");

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
        if alg != "HS256" {
            variants.push(variant(name(alg, CACHED), move || {
                let client: AuthstarClient = cached.verify(black_box(&token)).expect("valid");
                black_box(client);
            }));
        }
    }
    variants
}

//! JWT parsing and verification: arbitrary bearer tokens against a verifier with a real key.
//! Never a panic; never an accepted token without the key's signature.

use authstar::credentials::bearer::BearerToken;
use authstar::{Authenticator, AuthstarClient, Started, Verdict};
use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
use http::HeaderValue;

fn main() {
    let key = SigningKey::generate_es256("k1").expect("a key");
    let verifier: JwtVerifier<AuthstarClient> =
        JwtVerifier::new([key.verification_key()], "https://issuer", "api");
    let genuine = JwtIssuer::new(key, "https://issuer", "api")
        .issue("svc", &["read".to_owned()])
        .expect("a token");
    // A panic aborts the process (AFL's crash); nothing is observed after an unwind.
    let verifier = std::panic::AssertUnwindSafe(verifier);
    afl::fuzz!(|data: &[u8]| {
        let Ok(value) = HeaderValue::from_bytes(&[b"Bearer ", data].concat()) else {
            return;
        };
        let Some(token) = BearerToken::from_authorization(&value) else {
            return;
        };
        let presented = token.as_str().to_owned();
        let verdict = match (*verifier).start(token) {
            Started::Done(verdict) => verdict,
            Started::Running(future) => futures_executor::block_on(future),
        };
        if matches!(verdict, Verdict::Authenticated(_)) {
            assert_eq!(presented, genuine, "only the genuine token verifies");
        }
    });
}

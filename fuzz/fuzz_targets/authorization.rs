//! Every credential parser: `Authorization` (Bearer, Basic), Basic's base64 and `user:pass`,
//! and a named header's value. A defined outcome for any bytes, never a panic.

use authstar::BasicCredentials;
use authstar::credentials::authorization;
use authstar::credentials::bearer::BearerToken;
use authstar::credentials::header::HeaderCredential;
use http::{HeaderName, HeaderValue};

fn main() {
    let name = HeaderName::from_static("x-api-key");
    afl::fuzz!(|data: &[u8]| {
        let _ = authorization::parse(data);
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = BasicCredentials::decode(text);
            if let Some((user, password)) = text.split_once(':') {
                // What `new` accepts, `decode` reads back unchanged.
                if let Ok(credentials) = BasicCredentials::new(user, password) {
                    let round_trip = BasicCredentials::decode(&credentials.encode())
                        .expect("an encoded credential decodes");
                    assert_eq!(round_trip.username(), user);
                    assert_eq!(round_trip.password(), password);
                }
            }
        }
        if let Ok(value) = HeaderValue::from_bytes(data) {
            let _ = BearerToken::from_authorization(&value);
            let _ = HeaderCredential::read(&name, &value);
        }
    });
}

//! `private_key_jwt` client assertions (RFC 7523 §2.2) signed as a client library signs them:
//! by jsonwebtoken, not by authstar's own signing code.

use std::sync::atomic::{AtomicU64, Ordering};

use authstar_jwt::{JwkSet, SigningKey, unix_now};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

/// A `private_key_jwt` client: its id, an ES256 key, and the assertions it signs.
#[derive(Debug)]
pub struct KeyClient {
    client_id: String,
    key: SigningKey,
    next: AtomicU64,
}

impl KeyClient {
    /// `client_id` with a new ES256 key (`kid` = `<client_id>-1`).
    ///
    /// # Panics
    ///
    /// Without a system random source.
    pub fn new(client_id: &str) -> Self {
        let key = SigningKey::generate_es256(format!("{client_id}-1")).expect("an ES256 key");
        Self {
            client_id: client_id.to_owned(),
            key,
            next: AtomicU64::new(0),
        }
    }

    /// The private key, PKCS#8 DER (for a client library that reads it as PEM).
    pub fn private_pkcs8(&self) -> &[u8] {
        self.key.to_bytes()
    }

    /// The public keys to register, as a JWKS document.
    ///
    /// # Panics
    ///
    /// Never for an ES256 key.
    pub fn jwks(&self) -> String {
        let keys: JwkSet = authstar_jwt::jwks(std::slice::from_ref(&self.key));
        serde_json::to_string(&keys).expect("a JWKS document")
    }

    /// A fresh assertion for the server `audience`: `iss` = `sub` = the client, `exp` in a
    /// minute, a new `jti`.
    pub fn assertion(&self, audience: &str) -> String {
        self.assertion_with(audience, &json!({}))
    }

    /// [`assertion`](Self::assertion) with `claims` replacing the defaults (`null` removes
    /// one).
    ///
    /// # Panics
    ///
    /// When `claims` is not a JSON object.
    pub fn assertion_with(&self, audience: &str, claims: &Value) -> String {
        let now = unix_now();
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let mut all = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": audience,
            "iat": now, "exp": now + 60, "jti": format!("{}-{}-{n}", self.client_id, unique()),
        });
        let object = all.as_object_mut().expect("an object");
        for (name, value) in claims.as_object().expect("claims are a JSON object") {
            match value {
                Value::Null => {
                    object.remove(name);
                }
                value => {
                    object.insert(name.clone(), value.clone());
                }
            }
        }
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.key.kid().to_owned());
        let encoding = EncodingKey::from_ec_der(self.key.to_bytes());
        jsonwebtoken::encode(&header, &all, &encoding).expect("an assertion")
    }
}

/// A value no other call returns (a fresh random hasher's output): two clients with the same
/// id never sign the same `jti`.
fn unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

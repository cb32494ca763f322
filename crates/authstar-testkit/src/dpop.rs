//! DPoP proofs (RFC 9449 §4.2) signed as a client library signs them: by jsonwebtoken, not by
//! authstar's own signing code, so a test of the verifier does not check authstar against
//! itself.

use std::sync::atomic::{AtomicU64, Ordering};

use authstar_jwt::SigningKey;
use serde_json::{Value, json};

/// A DPoP client: an ES256 key, and the proofs it signs.
#[derive(Debug)]
pub struct DpopClient {
    key: SigningKey,
    next: AtomicU64,
}

impl Default for DpopClient {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopClient {
    /// A client with a new ES256 key.
    ///
    /// # Panics
    ///
    /// Without a system random source.
    pub fn new() -> Self {
        Self::with_key(SigningKey::generate_es256("dpop-client").expect("an ES256 key"))
    }

    /// A client holding `key` (ES256).
    pub fn with_key(key: SigningKey) -> Self {
        Self {
            key,
            next: AtomicU64::new(0),
        }
    }

    /// The key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The key's RFC 7638 thumbprint: what a bound token names in `cnf.jkt`.
    ///
    /// # Panics
    ///
    /// When the key has no public JWK (an HS256 key).
    pub fn jkt(&self) -> String {
        let jwk = serde_json::to_value(self.key.public_jwk().expect("a public key")).expect("json");
        authstar_jwt::dpop::thumbprint(&jwk).expect("a thumbprint")
    }

    /// A fresh proof (a new `jti`, `iat` now) for `method url`, with `ath` for `token` if any.
    pub fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        self.proof_with(method, url, token, &json!({}))
    }

    /// [`proof`](Self::proof) with `claims` set over the usual ones (a `nonce`, an old `iat`,
    /// a reused `jti`; `null` removes one).
    ///
    /// # Panics
    ///
    /// When `claims` is not a JSON object.
    pub fn proof_with(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        claims: &Value,
    ) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".to_owned());
        header.jwk = self.key.public_jwk().cloned();
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        let mut body = json!({
            "jti": format!("{}-{serial}-{}", authstar_jwt::unix_now(), std::process::id()),
            "htm": method,
            "htu": url,
            "iat": authstar_jwt::unix_now(),
        });
        if let Some(token) = token {
            body["ath"] = authstar_jwt::dpop::access_token_hash(token).into();
        }
        let Value::Object(changes) = claims else {
            panic!("proof claims are a JSON object");
        };
        for (name, value) in changes {
            match value {
                Value::Null => {
                    body.as_object_mut().map(|body| body.remove(name));
                }
                value => body[name] = value.clone(),
            }
        }
        let signer = jsonwebtoken::EncodingKey::from_ec_der(self.key.to_bytes());
        jsonwebtoken::encode(&header, &body, &signer).expect("a signed proof")
    }
}

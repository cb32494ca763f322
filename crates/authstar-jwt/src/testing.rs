//! A fake OpenID provider for your tests (feature `testing`): it serves discovery metadata
//! (OpenID Connect Discovery and RFC 8414) and a JWKS on a loopback port, and signs whatever
//! claims a test gives it. Your service finds it as it finds the real one, by its issuer URL
//! through [`Discovery`](crate::Discovery), so the test covers the whole path: discovery, the
//! key fetch, a key rotation, the verifier's checks.
//!
//! ```
//! use authstar_jwt::testing::FakeProvider;
//! use authstar_jwt::{Discovery, TokenProfile};
//! use serde_json::json;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let idp = FakeProvider::start().await.unwrap();
//! let verifier = Discovery::new(idp.issuer())
//!     .allow_http() // the fake serves plain HTTP on 127.0.0.1
//!     .verifier(TokenProfile::rfc9068("https://api.example"))
//!     .await
//!     .unwrap()
//!     .build();
//!
//! let token = idp.sign(json!({
//!     "aud": "https://api.example", "sub": "svc", "client_id": "svc", "scope": "reports:read",
//! }));
//! let client = verifier.verify(&token).unwrap();
//! assert_eq!(authstar::Client::client_id(&client), "svc");
//! # });
//! ```

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use jsonwebtoken::Header;
use serde_json::{Value, json};

use crate::{ACCESS_TOKEN_TYPE, SigningKey, jwks};

/// Lifetime of a signed token whose claims give no `exp`.
const DEFAULT_LIFETIME: u64 = 300;

/// A fake OpenID provider on `http://127.0.0.1:PORT`, serving until dropped.
///
/// * `GET /.well-known/openid-configuration` and `GET /.well-known/oauth-authorization-server`:
///   `{"issuer", "jwks_uri", ...}`.
/// * `GET /jwks`: the public keys (every key since the start, until
///   [`retire_old_keys`](Self::retire_old_keys)).
///
/// It signs with ES256 under a `kid` of its own; [`rotate_key`](Self::rotate_key) starts
/// signing with a new one.
#[derive(Debug)]
pub struct FakeProvider {
    issuer: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    /// Published keys; the last one signs.
    keys: Vec<SigningKey>,
    /// Keys made so far (names the next `kid`).
    generated: usize,
    jwks_fetches: usize,
}

impl State {
    fn add_key(&mut self) {
        self.generated += 1;
        let kid = format!("fake-{}", self.generated);
        // Key generation fails only without a system random source; nothing can be tested then.
        #[allow(clippy::expect_used)]
        let key = SigningKey::generate_es256(kid).expect("an ES256 key (system randomness)");
        self.keys.push(key);
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeProvider {
    /// Starts the provider on a free loopback port (inside a tokio runtime).
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://{}", listener.local_addr()?);
        let mut state = State {
            keys: Vec::new(),
            generated: 0,
            jwks_fetches: 0,
        };
        state.add_key();
        let state = Arc::new(Mutex::new(state));
        let (served, base) = (state.clone(), issuer.clone());
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (state, base) = (served.clone(), base.clone());
                let service = hyper::service::service_fn(move |request| {
                    std::future::ready(Ok::<_, Infallible>(answer(&state, &base, &request)))
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Ok(Self {
            issuer,
            state,
            server,
        })
    }

    /// The issuer URL (`http://127.0.0.1:PORT`): what `iss` holds and what
    /// [`Discovery::new`](crate::Discovery::new) takes.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The JWKS URL, for [`RemoteJwks`](crate::RemoteJwks) without discovery.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// Signs `claims` as an RFC 9068 access token (`typ: at+jwt`) with the current key. Claims
    /// the object leaves out are filled in: `iss` (this provider), `iat` (now), `exp` (five
    /// minutes on) and a random `jti`; everything given, including a wrong `iss` or an `exp` in
    /// the past, is signed as it is.
    ///
    /// # Panics
    ///
    /// When `claims` is not a JSON object.
    pub fn sign(&self, claims: Value) -> String {
        self.sign_typed(ACCESS_TOKEN_TYPE, claims)
    }

    /// [`sign`](Self::sign) with another header `typ` (`"JWT"`, as Keycloak and Entra ID send).
    ///
    /// # Panics
    ///
    /// When `claims` is not a JSON object.
    pub fn sign_typed(&self, typ: &str, claims: Value) -> String {
        let Value::Object(mut claims) = claims else {
            panic!("FakeProvider::sign takes a JSON object of claims");
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let mut jti = [0u8; 16];
        let _ = SystemRandom::new().fill(&mut jti);
        claims
            .entry("iss")
            .or_insert_with(|| self.issuer.clone().into());
        claims.entry("iat").or_insert_with(|| now.into());
        claims
            .entry("exp")
            .or_insert_with(|| (now + DEFAULT_LIFETIME).into());
        claims
            .entry("jti")
            .or_insert_with(|| URL_SAFE_NO_PAD.encode(jti).into());
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(key) = state.keys.last() else {
            panic!("FakeProvider has no key: rotate_key() adds one");
        };
        let mut header = Header::new(key.algorithm());
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid().to_owned());
        let mut token = String::new();
        for part in [
            serde_json::to_vec(&header).unwrap_or_default(),
            serde_json::to_vec(&claims).unwrap_or_default(),
        ] {
            if !token.is_empty() {
                token.push('.');
            }
            URL_SAFE_NO_PAD.encode_string(part, &mut token);
        }
        // Signing with a key generated here fails only if the system's crypto does.
        #[allow(clippy::expect_used)]
        let signature = key.sign(token.as_bytes()).expect("an ES256 signature");
        token.push('.');
        token.push_str(&signature);
        token
    }

    /// Starts signing with a new key (a new `kid`), published beside the old ones: tokens
    /// signed before stay valid, and a verifier must fetch the JWKS again to accept the new.
    pub fn rotate_key(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add_key();
    }

    /// Publishes only the current key: tokens signed with an older one no longer verify
    /// anywhere that refetches the JWKS.
    pub fn retire_old_keys(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let keep = state.keys.len().saturating_sub(1);
        state.keys.drain(..keep);
    }

    /// The `kid` the next token is signed under.
    pub fn current_kid(&self) -> String {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .keys
            .last()
            .map(|key| key.kid().to_owned())
            .unwrap_or_default()
    }

    /// How many times the JWKS was fetched: what a test of a verifier's key cache counts.
    pub fn jwks_fetches(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .jwks_fetches
    }
}

/// One request's answer.
fn answer<B>(state: &Mutex<State>, issuer: &str, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "GET only"}),
        );
    }
    match request.uri().path() {
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => {
            let metadata = json!({
                "issuer": issuer,
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
            });
            respond(StatusCode::OK, &metadata)
        }
        "/jwks" => {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            state.jwks_fetches += 1;
            let document = serde_json::to_value(jwks(&state.keys)).unwrap_or(Value::Null);
            drop(state);
            respond(StatusCode::OK, &document)
        }
        _ => respond(StatusCode::NOT_FOUND, &json!({"error": "not found"})),
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

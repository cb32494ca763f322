//! Helpers for testing your own secured handlers in a few lines: requests that carry
//! credentials, and a layer with fixed credentials.
//!
//! ```
//! use authstar::AuthstarClient;
//! use authstar_axum::testing::{FixedCredentials, WithCredentials};
//! use authstar_axum::{Authenticated, RouteSecurity};
//! use axum::{Router, body::Body, http::Request, routing::get};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let layer = FixedCredentials::new()
//!     .bearer("t-1", AuthstarClient::new("svc", ["read"]))
//!     .api_key("k-1", AuthstarClient::new("cli", ["read"]))
//!     .layer();
//! let security = RouteSecurity::new(&layer);
//! let app = Router::new()
//!     .route("/me", get(|Authenticated(c): Authenticated<AuthstarClient>| async move { c.client_id().to_owned() }))
//!     .with_state(security)
//!     .layer(layer);
//!
//! let request = Request::get("/me").bearer("t-1").body(Body::empty()).unwrap();
//! let response = app.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//!
//! let request = Request::get("/me").body(Body::empty()).unwrap();
//! assert_eq!(app.oneshot(request).await.unwrap().status(), 401);
//! # }
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use authstar::MethodSet;
use authstar::network::TrustedProxies;
use authstar::{
    AuthstarLayer, BasicCredentials, BearerToken, Client, HeaderAuth, HeaderCredential,
};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Builder;
use base64::Engine as _;

/// Adds credentials to a request under construction.
pub trait WithCredentials {
    /// `Authorization: Bearer <token>`.
    fn bearer(self, token: &str) -> Self;
    /// `Authorization: Basic <base64(user:password)>`.
    fn basic(self, username: &str, password: &str) -> Self;
    /// `X-API-Key: <key>`.
    fn api_key(self, key: &str) -> Self;
}

impl WithCredentials for Builder {
    fn bearer(self, token: &str) -> Self {
        self.header(AUTHORIZATION, format!("Bearer {token}"))
    }

    fn basic(self, username: &str, password: &str) -> Self {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.header(AUTHORIZATION, format!("Basic {encoded}"))
    }

    fn api_key(self, key: &str) -> Self {
        self.header("x-api-key", key)
    }
}

/// Fixed bearer tokens, Basic credentials and API keys, each mapped to a client; `layer` turns
/// them into an [`AuthstarLayer`] accepting Bearer, Basic and `X-API-Key`.
pub struct FixedCredentials<C> {
    bearer: HashMap<String, C>,
    basic: HashMap<(String, String), C>,
    api_keys: HashMap<String, C>,
    proxies: TrustedProxies,
}

impl<C> std::fmt::Debug for FixedCredentials<C> {
    /// Counts only: the credentials are secrets even in tests.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedCredentials")
            .field("bearer", &self.bearer.len())
            .field("basic", &self.basic.len())
            .field("api_keys", &self.api_keys.len())
            .finish()
    }
}

impl<C: Client> Default for FixedCredentials<C> {
    fn default() -> Self {
        Self {
            bearer: HashMap::new(),
            basic: HashMap::new(),
            api_keys: HashMap::new(),
            proxies: TrustedProxies::none(),
        }
    }
}

impl<C: Client> FixedCredentials<C> {
    /// No credentials yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as a bearer token for `client`.
    pub fn bearer(mut self, token: &str, client: C) -> Self {
        self.bearer.insert(token.to_owned(), client);
        self
    }

    /// Accepts `username:password` as Basic credentials for `client`.
    pub fn basic(mut self, username: &str, password: &str, client: C) -> Self {
        self.basic
            .insert((username.to_owned(), password.to_owned()), client);
        self
    }

    /// Accepts `key` in `X-API-Key` for `client`.
    pub fn api_key(mut self, key: &str, client: C) -> Self {
        self.api_keys.insert(key.to_owned(), client);
        self
    }

    /// Trusts `proxies` to name the client behind them (the layer reads the peer from axum's
    /// `ConnectInfo`, or `MockConnectInfo` in tests).
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// The layer.
    pub fn layer(self) -> AuthstarLayer<C, impl MethodSet<C>> {
        let bearer = Arc::new(self.bearer);
        let basic = Arc::new(self.basic);
        let api_keys = Arc::new(self.api_keys);
        let built = AuthstarLayer::builder()
            .on_auth_bearer(move |token: BearerToken| {
                let found = bearer.get(token.as_str()).cloned();
                async move { found }
            })
            .on_auth_basic(move |credentials: BasicCredentials| {
                let key = (
                    credentials.username().to_owned(),
                    credentials.password().to_owned(),
                );
                let found = basic.get(&key).cloned();
                async move { found }
            })
            .on_auth_header(HeaderAuth::x_api_key(move |key: HeaderCredential| {
                let found = api_keys.get(key.as_str()).cloned();
                async move { found }
            }))
            .peer_address(crate::peer_address)
            .trusted_proxies(self.proxies)
            .build();
        match built {
            Ok(layer) => layer,
            // Bearer, Basic and x-api-key are always a valid configuration.
            Err(error) => unreachable!("fixed test configuration is valid: {error}"),
        }
    }
}

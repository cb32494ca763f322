//! # authstar
//!
//! Authentication middleware for [tower] services (axum, tonic, hyper): async *authenticators*
//! for `Authorization: Bearer` (RFC 6750), `Authorization: Basic` (RFC 7617), named headers such
//! as `X-API-Key`, and the request itself (a session), whose result is stored in the request
//! extensions for guards and handlers.
//!
//! It is the Rust form of the `AuthstarMiddleware` of the Python package authstar 0.0.5: its
//! `on_auth_bearer`, `on_auth_basic`, `on_auth_header` and `on_auth_scope` callbacks are
//! [`AuthstarLayerBuilder::on_auth_bearer`], [`on_auth_basic`](AuthstarLayerBuilder::on_auth_basic),
//! [`on_auth_header`](AuthstarLayerBuilder::on_auth_header) and
//! [`on_auth_request`](AuthstarLayerBuilder::on_auth_request).
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Arc;
//!
//! use authstar::{AuthstarClient, AuthstarLayer, HeaderAuth};
//!
//! # #[derive(Clone)] struct Session { client_id: String }
//! let tokens: Arc<HashMap<String, AuthstarClient>> = Arc::new(HashMap::from([(
//!     "t-1".to_owned(),
//!     AuthstarClient::new("reporting", ["reports:read"]),
//! )]));
//!
//! let layer = AuthstarLayer::builder()
//!     // async fn on_auth_bearer(token) -> Client | None
//!     .on_auth_bearer(move |token| {
//!         let tokens = tokens.clone();
//!         async move { tokens.get(token.as_str()).cloned() }
//!     })
//!     // async fn on_auth_basic(username, password) -> Client | None, but a backend error is
//!     // told apart from wrong credentials
//!     .on_auth_basic(|credentials| async move {
//!         let valid = credentials.username() == "svc" && credentials.password() == "pw";
//!         Ok::<_, std::io::Error>(valid.then(|| AuthstarClient::new("svc", ["read"])))
//!     })
//!     // HeaderAuth.x_api_key(on_auth_api_key)
//!     .on_auth_header(HeaderAuth::x_api_key(|key| async move {
//!         (key.as_str() == "k-1").then(|| AuthstarClient::new("cli", ["read"]))
//!     }))
//!     // on_auth_scope: a session inserted by an outer layer
//!     .on_auth_request(|parts| {
//!         let session = parts.extensions.get::<Session>().cloned();
//!         async move { session.map(|s| AuthstarClient::new(s.client_id, ["web"])) }
//!     })
//!     .build()
//!     .expect("valid configuration");
//!
//! // Closures need no type annotations: their arguments are `BearerToken`, `BasicCredentials`,
//! // `HeaderCredential` and `&Parts`. Types implementing `Authenticator` go to `on_auth_*_with`.
//! // axum: Router::new().route(...).layer(layer)
//! // tower: ServiceBuilder::new().layer(layer).service(svc)
//! # let _ = layer;
//! ```
//!
//! ## What a request carries afterwards
//!
//! * authenticated: [`Outcome::Authenticated`] with your client type, in the extensions;
//! * a credential was presented and failed: [`Outcome::Failed`] with the [`Attempt`] (method and
//!   [`Failure`]: malformed, rejected, backend unavailable);
//! * nothing presented: no outcome at all (so an anonymous request allocates nothing).
//!
//! ## Precedence
//!
//! `Authorization` (Bearer or Basic) → named headers, in the order added → the request
//! authenticator. The first credential presented decides; a rejected credential never falls back
//! to a later method. See [`MethodSet`] for the details.
//!
//! ## When an authenticator fails
//!
//! A backend error is not the client's fault. The layer continues anonymously by default (as the Python package authstar 0.0.5 does);
//! [`unavailable_on_backend_error`](AuthstarLayerBuilder::unavailable_on_backend_error) makes it
//! answer 503 with `Retry-After` instead. Either way one `tracing` event records the method and the error, never the
//! credential.
//!
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod authenticator;
mod builder;
mod challenge;
mod client;
mod config;
pub mod credentials;
mod error;
mod future;
mod grpc;
mod guard;
mod layer;
#[doc(hidden)]
pub mod method;
pub mod metrics;
pub mod network;
mod outcome;
pub mod ratelimit;
mod service;
pub mod throttle;

pub use authenticator::{
    Authenticator, IntoVerdict, RequestAuthenticator, Started, Verdict, sync_fn,
};
#[doc(hidden)]
pub use authenticator::{SyncFn, VerdictFuture};
pub use builder::AuthstarLayerBuilder;
pub use client::{AuthstarClient, Client, is_scope_token};
#[doc(hidden)]
pub use config::RefusalHeader;
pub use config::{LayerInfo, RequestHead};
pub use credentials::basic::BasicCredentials;
pub use credentials::bearer::BearerToken;
pub use credentials::header::HeaderCredential;
pub use error::ConfigError;
pub use future::{Refusable, ResponseFuture};
pub use guard::{Guards, Refusal, Requirement};
pub use layer::{AuthstarLayer, BasicCheck, BoxAuthstarLayer};
pub use method::MethodSet;
pub use method::dpop::DpopAuth;
pub use method::header::HeaderAuth;
pub use outcome::{Attempt, AuthMethod, Failure, LayerId, Malformed, Outcome};
pub use service::AuthstarMiddleware;

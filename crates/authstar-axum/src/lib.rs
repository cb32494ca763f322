//! # authstar-axum
//!
//! The axum extension of [`authstar`]: the FastAPI `RouteSecurity` of the Python package
//! authstar 0.0.5 as axum route layers and extractors, mounting for the authorization server, and
//! OpenAPI security schemes (feature `openapi`).
//!
//! `Security(rs.authenticated)` is `.route_layer(security.authenticated())` or the
//! [`Authenticated<C>`] extractor, `Security(rs.scopes, ...)` is `security.scopes_any([...])`,
//! `scopes_all` or [`Scoped`], `Security(rs.internal)` is `security.internal()`; the token
//! endpoint is authstar-oauth2's, mounted by [`authorization_server`]; the OpenAPI markers are
//! `openapi::SecuritySchemes` (feature `openapi`). The whole mapping is in the guide
//! (docs/guide.md, "From the Python package").
//!
//! Unauthenticated requests get 401 with a `WWW-Authenticate` challenge per scheme the layer
//! accepts (`error="invalid_token"` only when a bearer token was refused, RFC 6750 §3.1); clients
//! without the scope get 403 (with `error="insufficient_scope"` for bearer clients). Bodies are
//! `{"error": ..., "error_description": ...}`, or your own ([`RouteSecurity::error_body`]).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod extract;
mod guard;
mod oauth2;
#[cfg(feature = "openapi")]
pub mod openapi;
mod rejection;
mod security;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "ws")]
pub mod ws;

pub use extract::{Authenticated, ScopeRequirement, Scoped};
pub use guard::{GuardFuture, GuardLayer, GuardService};
pub use oauth2::authorization_server;
pub use rejection::{AuthRejection, ErrorBody, ErrorRenderer};
pub use security::{RouteSecurity, ScopeMatch, original_path, peer_address};

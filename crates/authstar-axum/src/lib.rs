//! # authstar-axum
//!
//! The axum extension of [`authstar`]: the FastAPI `RouteSecurity` of the Python package
//! authstar 0.0.5 as axum route layers and extractors, mounting for the authorization server, and
//! OpenAPI security schemes (feature `openapi`).
//!
//! | authstar 0.0.5 (FastAPI) | here |
//! |---|---|
//! | `dependencies=[Security(rs.authenticated)]` | `.route_layer(security.authenticated())` |
//! | `Annotated[Client, Security(rs.authenticated)]` | [`Authenticated<C>`] extractor |
//! | `Security(rs.scopes, scopes=[...])` | `security.scopes_any([...])`, `scopes_all`, [`Scoped`] |
//! | `Security(rs.internal)` | `.route_layer(security.internal())` |
//! | `rs.oauth2_token_endpoint(token_builder, on_auth_basic)` | `authstar_oauth2::token_endpoint(&layer, token_builder)`, mounted by [`authorization_server`] |
//! | `rs.openapi_api_key()`, `openapi_http_basic()`, `openapi_oauth2_client_credentials()` | `openapi::SecuritySchemes` (feature `openapi`) |
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

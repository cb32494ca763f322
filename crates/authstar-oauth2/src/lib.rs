//! # authstar-oauth2
//!
//! The OAuth 2.0 authorization server of authstar, as framework-neutral tower services behind
//! an [`AuthstarLayer`](authstar::AuthstarLayer):
//!
//! * the token endpoint for the `client_credentials` grant (RFC 6749 §4.4), binding tokens to
//!   DPoP proofs (RFC 9449 §5): [`token_endpoint`];
//! * revocation (RFC 7009): [`revocation_endpoint`]; introspection (RFC 7662):
//!   [`introspection_endpoint`];
//! * the RFC 8414 metadata and the JWKS, with the endpoints, in one
//!   [`AuthorizationServer`].
//!
//! Each endpoint authenticates its clients itself (RFC 6749 §2.3: `client_secret_basic`, ids
//! and secrets form-encoded as §2.3.1 says, or `client_secret_post`) with the layer's own Basic
//! authenticator, under the layer's failure throttle, and answers RFC 6749 §5.2 errors. They
//! are `tower::Service`s over any request body: mount them in axum (`route_service`), serve
//! them from hyper, or put them behind tonic's router.
//!
//! ```
//! use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
//! use authstar_oauth2::{AuthorizationServer, OAuth2TokenRequest, OAuth2TokenResponse};
//!
//! async fn verify(credentials: BasicCredentials) -> Option<AuthstarClient> {
//!     (credentials.username() == "svc" && credentials.password() == "secret")
//!         .then(|| AuthstarClient::new("svc", ["reports:read"]))
//! }
//! async fn issue(
//!     request: OAuth2TokenRequest,
//!     client: AuthstarClient,
//! ) -> Result<OAuth2TokenResponse, std::convert::Infallible> {
//!     // authstar-jwt's JwtIssuer::token_response signs a JWT here.
//!     Ok(OAuth2TokenResponse::bearer(format!("token-for-{}", client.client_id()))
//!         .scope(request.scope()))
//! }
//!
//! let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
//! let server = AuthorizationServer::builder("https://as.example")
//!     .token(authstar_oauth2::token_endpoint(&layer, issue))
//!     .build()
//!     .unwrap();
//! // hyper: serve `tower::ServiceBuilder::new().layer(layer).service(server)`
//! // axum:  authstar_axum::authorization_server(server) merged into your router
//! # let _ = server;
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod action;
mod assertion;
mod certificate;
mod client_auth;
mod endpoint;
mod error;
mod form;
mod introspection;
#[cfg(feature = "mtls")]
pub mod mtls;
#[cfg(feature = "openapi")]
pub mod openapi;
mod revocation;
mod server;
mod token;

/// The boxed error type a token builder, revoker or introspector fails with (the tower
/// convention): a [`TokenError`] inside is the client's answer, anything else a 500.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub use action::{Action, Answer};
pub use assertion::ClientAssertions;
pub use authstar::is_scope_token;
pub use certificate::ClientCertificates;
pub use client_auth::{ClientAuthMethod, JWT_BEARER_ASSERTION};
pub use endpoint::{
    DEFAULT_BODY_LIMIT, Endpoint, introspection_endpoint, revocation_endpoint, token_endpoint,
};
pub use error::{ErrorCode, TokenError};
pub use form::OAuth2TokenRequest;
#[doc(hidden)]
pub use form::TokenRequestForm;
pub use introspection::{Confirmation, Introspect, TokenIntrospection, TokenIntrospector};
pub use revocation::{Revoke, TokenRevoker};
pub use server::{
    AuthorizationServer, AuthorizationServerBuilder, INTROSPECTION_PATH, JWKS_PATH, METADATA_PATH,
    REVOCATION_PATH, ServerError, TOKEN_PATH,
};
pub use token::{Issue, OAuth2TokenResponse, TokenBuilder};

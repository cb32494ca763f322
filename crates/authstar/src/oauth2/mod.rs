//! The OAuth 2.0 token endpoint's rules (RFC 6749 §2.3, §3.2, §4.4, §5), framework-neutral;
//! the revocation (RFC 7009) and introspection (RFC 7662) endpoints read the same form and
//! authenticate clients the same way.
//!
//! [`token_endpoint`] reads and validates a request in two steps around the one asynchronous
//! step, client authentication, which the framework adapter performs (`authstar-axum` does it
//! for axum). [`TokenError`] maps one-to-one onto RFC 6749 §5.2's error codes.

mod error;
mod introspection;
pub mod token_endpoint;

pub use error::{ErrorCode, TokenError};
pub use introspection::{Confirmation, TokenIntrospection};
pub use token_endpoint::{
    CLIENT_CREDENTIALS, ClientAuthMethod, ClientCredentials, OAuth2TokenRequest,
    OAuth2TokenResponse, TokenRequestForm, form_decoded, is_scope_token,
};

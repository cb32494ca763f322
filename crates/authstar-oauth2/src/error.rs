//! RFC 6749 §5.2 error responses.

use std::fmt;

use serde::Serialize;

/// The error codes of RFC 6749 §5.2 (and `server_error` for a failing token builder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Missing, repeated or malformed parameter; more than one client authentication method.
    InvalidRequest,
    /// Client authentication failed: unknown client, no or unsupported client authentication.
    InvalidClient,
    /// The grant is invalid (not used by `client_credentials`, kept for completeness).
    InvalidGrant,
    /// The authenticated client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported by this endpoint.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown, malformed, or exceeds the client's scopes.
    InvalidScope,
    /// The server failed to issue the token (not the client's fault).
    ServerError,
    /// Client authentication could not be completed because its backend is down (503). RFC 6749
    /// defines the code for the authorization endpoint (§4.1.2.1); the token endpoint uses it
    /// for the same situation rather than blaming the client with `invalid_client`.
    TemporarilyUnavailable,
    /// The `DPoP` proof sent with the token request is invalid (RFC 9449 §5, §12.2).
    InvalidDpopProof,
    /// The `DPoP` proof lacks the server's nonce, sent in `DPoP-Nonce` (RFC 9449 §8).
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as sent in the `error` member.
    ///
    /// ```
    /// assert_eq!(authstar_oauth2::ErrorCode::InvalidScope.as_str(), "invalid_scope");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// The HTTP status: 401 for `invalid_client` (RFC 6749 §5.2, with a `WWW-Authenticate`
    /// challenge), 500 for `server_error`, 503 for `temporarily_unavailable`, 400 otherwise.
    pub fn status(self) -> http::StatusCode {
        match self {
            Self::InvalidClient => http::StatusCode::UNAUTHORIZED,
            Self::ServerError => http::StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 6749 §5.2 error response: the JSON body `{"error", "error_description"}`.
///
/// ```
/// use authstar_oauth2::{ErrorCode, TokenError};
/// let error = TokenError::new(ErrorCode::InvalidRequest, "grant_type is repeated");
/// assert_eq!(
///     serde_json::to_string(&error).unwrap(),
///     r#"{"error":"invalid_request","error_description":"grant_type is repeated"}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}: {error_description}")]
pub struct TokenError {
    /// The error code.
    pub error: ErrorCode,
    /// A human-readable description (ASCII, never echoing a secret).
    pub error_description: String,
}

impl TokenError {
    /// An error with a description.
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
        }
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> http::StatusCode {
        self.error.status()
    }
}

//! [`AuthRejection`]: a guard's [`Refusal`], and the response it becomes in axum.

use std::fmt;
use std::sync::Arc;

use authstar::Refusal;
use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Renders the body of a rejection; see
/// [`RouteSecurity::error_body`](crate::RouteSecurity::error_body).
pub type ErrorRenderer = Arc<dyn Fn(&AuthRejection) -> Response + Send + Sync>;

/// The JSON error body: `{"error": ..., "error_description": ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// A short machine-readable code ([`Refusal::error`]).
    pub error: &'static str,
    /// A human-readable description ([`Refusal::description`]).
    pub error_description: String,
}

/// A guard's refusal in axum. It implements [`IntoResponse`]: the status, the
/// `WWW-Authenticate` challenges, the method's header (a DPoP nonce) and a small JSON body (or
/// your own body, see [`RouteSecurity::error_body`](crate::RouteSecurity::error_body)).
#[derive(Clone)]
pub struct AuthRejection {
    refusal: Refusal,
    renderer: Option<ErrorRenderer>,
}

impl AuthRejection {
    pub(crate) fn new(refusal: Refusal, renderer: Option<ErrorRenderer>) -> Self {
        Self { refusal, renderer }
    }

    /// Why the request was refused, as authstar's guards decided.
    pub fn refusal(&self) -> &Refusal {
        &self.refusal
    }

    /// The HTTP status: 401, 403 or 500.
    pub fn status(&self) -> StatusCode {
        self.refusal.status()
    }

    /// The `WWW-Authenticate` values sent with the response.
    pub fn challenges(&self) -> &[HeaderValue] {
        self.refusal.challenges()
    }

    /// The default error body: the refusal's code (`invalid_token`, `invalid_dpop_proof`,
    /// `use_dpop_nonce`, `invalid_request`, `unauthenticated`, `insufficient_scope`,
    /// `forbidden`, `server_error`) and description.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.refusal.error(),
            error_description: self.refusal.description(),
        }
    }
}

impl fmt::Debug for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthRejection").field(&self.refusal).finish()
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.refusal.fmt(f)
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut response = match &self.renderer {
            Some(render) => render(&self),
            None => Json(self.body()).into_response(),
        };
        // Status, challenges and the method's header are not the renderer's to lose.
        self.refusal.apply(&mut response);
        response
    }
}

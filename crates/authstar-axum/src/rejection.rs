//! [`AuthRejection`]: why a guard refused a request, and the response it becomes.

use std::fmt;
use std::sync::Arc;

use authstar::credentials::dpop::ProofError;
use authstar::{Attempt, AuthMethod, Failure};
use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ScopeMatch;

/// Renders the body of a rejection; see
/// [`RouteSecurity::error_body`](crate::RouteSecurity::error_body).
pub type ErrorRenderer = Arc<dyn Fn(&AuthRejection) -> Response + Send + Sync>;

/// Why a guard refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No client: nothing presented, or the presented credential failed (`attempt`).
    /// Answered with 401 and a challenge per accepted scheme.
    Unauthenticated {
        /// The failed attempt, if a credential was presented.
        attempt: Option<Attempt>,
    },
    /// The client lacks the scopes (403; `insufficient_scope` for bearer clients, RFC 6750 §3.1).
    InsufficientScope {
        /// The scopes the route names.
        scopes: Vec<String>,
        /// Whether any one of them is enough, or all are needed.
        matching: ScopeMatch,
    },
    /// The client's address is not in an internal network, or cannot be determined (403).
    NotInternal,
    /// A guard ran but the authstar layer was never applied to a service (500): a server
    /// misconfiguration, reported instead of silently treating every client as anonymous.
    LayerNotInstalled,
}

/// The JSON error body: `{"error": ..., "error_description": ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// A short machine-readable code.
    pub error: &'static str,
    /// A human-readable description.
    pub error_description: String,
}

/// A guard's refusal. It implements [`IntoResponse`]: the status, the `WWW-Authenticate`
/// challenges and a small JSON body (or your own body, see
/// [`RouteSecurity::error_body`](crate::RouteSecurity::error_body)).
#[derive(Clone)]
pub struct AuthRejection {
    kind: RejectionKind,
    challenges: Vec<HeaderValue>,
    renderer: Option<ErrorRenderer>,
    /// A header the method adds to its refusals (a DPoP nonce, RFC 9449 §9); boxed, as it is
    /// rare and the rejection travels in every guard's `Result`.
    header: Option<Box<(HeaderName, HeaderValue)>>,
}

impl AuthRejection {
    pub(crate) fn new(
        kind: RejectionKind,
        challenges: Vec<HeaderValue>,
        renderer: Option<ErrorRenderer>,
    ) -> Self {
        Self {
            kind,
            challenges,
            renderer,
            header: None,
        }
    }

    /// Sends `header` with the refusal.
    pub(crate) fn with_header(mut self, header: Option<(HeaderName, HeaderValue)>) -> Self {
        self.header = header.map(Box::new);
        self
    }

    /// Why the request was refused.
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// The HTTP status: 401, 403 or 500.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RejectionKind::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            RejectionKind::InsufficientScope { .. } | RejectionKind::NotInternal => {
                StatusCode::FORBIDDEN
            }
            RejectionKind::LayerNotInstalled => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `WWW-Authenticate` values sent with the response.
    pub fn challenges(&self) -> &[HeaderValue] {
        &self.challenges
    }

    /// The default error body.
    ///
    /// Codes: `invalid_token` (a bearer or DPoP-bound token was refused, RFC 6750 §3.1, RFC
    /// 9449 §7.1), `invalid_dpop_proof` (its DPoP proof was), `use_dpop_nonce` (the proof lacked
    /// the server's nonce, sent as `DPoP-Nonce`), `invalid_request` (a malformed
    /// credential), `unauthenticated`, `insufficient_scope`, `forbidden`, `server_error`.
    pub fn body(&self) -> ErrorBody {
        let (error, error_description) = match &self.kind {
            RejectionKind::Unauthenticated { attempt: None } => {
                ("unauthenticated", "authentication is required".to_owned())
            }
            RejectionKind::Unauthenticated {
                attempt: Some(attempt),
            } => describe_attempt(attempt),
            RejectionKind::InsufficientScope { scopes, matching } => (
                "insufficient_scope",
                format!(
                    "requires {} of the scopes: {}",
                    match matching {
                        ScopeMatch::All => "all",
                        ScopeMatch::Any => "one",
                    },
                    scopes.join(" ")
                ),
            ),
            RejectionKind::NotInternal => (
                "forbidden",
                "only clients on internal networks may use this route".to_owned(),
            ),
            RejectionKind::LayerNotInstalled => (
                "server_error",
                "authentication is not configured on this server".to_owned(),
            ),
        };
        ErrorBody {
            error,
            error_description,
        }
    }
}

fn describe_attempt(attempt: &Attempt) -> (&'static str, String) {
    let error = match (&attempt.method, attempt.failure) {
        (AuthMethod::Bearer | AuthMethod::Dpop, Failure::Denied | Failure::Malformed(_)) => {
            "invalid_token"
        }
        (_, Failure::InvalidProof(ProofError::UseNonce)) => "use_dpop_nonce",
        (_, Failure::InvalidProof(_)) => "invalid_dpop_proof",
        (_, Failure::Malformed(_)) => "invalid_request",
        _ => "unauthenticated",
    };
    let description = match attempt.failure {
        Failure::Unavailable => "authentication is temporarily unavailable".to_owned(),
        failure => format!("{} credentials: {failure}", attempt.method),
    };
    (error, description)
}

impl fmt::Debug for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRejection")
            .field("kind", &self.kind)
            .field("status", &self.status())
            .finish()
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.body();
        write!(f, "{}: {}", body.error, body.error_description)
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        if self.kind == RejectionKind::LayerNotInstalled {
            tracing::error!(
                "authstar: a guard ran but the AuthstarLayer was never applied; \
                 add `.layer(authstar_layer)` outside the guarded routes"
            );
        }
        let mut response = match &self.renderer {
            Some(render) => render(&self),
            None => Json(self.body()).into_response(),
        };
        // Status and challenges are not the renderer's to lose.
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.remove(WWW_AUTHENTICATE);
        for challenge in self.challenges {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
        if let Some(header) = self.header {
            let (name, value) = *header;
            headers.insert(name, value);
        }
        response
    }
}

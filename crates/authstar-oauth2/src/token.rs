//! The token endpoint's work (RFC 6749 §4.4, §5.1): the validated request, the response, and
//! the [`TokenBuilder`] that turns one into the other.

use std::fmt;
use std::future::Future;

use authstar::Client;

use crate::BoxError;
use serde::{Deserialize, Serialize};

use crate::TokenError;
use crate::action::{Action, Answer, Holds, private};
use crate::form::{OAuth2TokenRequest, TokenRequestForm};

/// A successful token response (RFC 6749 §5.1; the Python package's `OAuth2TokenResponse`). Optional
/// members are omitted when absent; `Debug` never shows the tokens.
///
/// ```
/// use authstar_oauth2::OAuth2TokenResponse;
/// let response = OAuth2TokenResponse::bearer("t0k3n");
/// assert_eq!(
///     serde_json::to_string(&response).unwrap(),
///     r#"{"access_token":"t0k3n","token_type":"Bearer","expires_in":3600}"#
/// );
/// assert!(!format!("{response:?}").contains("t0k3n"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OAuth2TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds (default 3600).
    pub expires_in: u64,
    /// A refresh token (never issued for `client_credentials`, RFC 6749 §4.4.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope, when it differs from the requested one or is worth stating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl OAuth2TokenResponse {
    /// A bearer token valid for 3600 seconds.
    pub fn bearer(access_token: impl Into<String>) -> Self {
        Self {
            access_token: access_token.into(),
            token_type: "Bearer".to_owned(),
            expires_in: 3600,
            refresh_token: None,
            scope: None,
        }
    }

    /// A DPoP-bound token (`token_type: DPoP`, RFC 9449 §5) valid for 3600 seconds.
    ///
    /// ```
    /// use authstar_oauth2::OAuth2TokenResponse;
    /// assert_eq!(OAuth2TokenResponse::dpop("t").token_type, "DPoP");
    /// ```
    pub fn dpop(access_token: impl Into<String>) -> Self {
        Self {
            token_type: "DPoP".to_owned(),
            ..Self::bearer(access_token)
        }
    }

    /// Sets `expires_in`.
    pub fn expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = seconds;
        self
    }

    /// Sets `scope`.
    pub fn scope(mut self, scope: Option<String>) -> Self {
        self.scope = scope;
        self
    }
}

impl fmt::Debug for OAuth2TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

/// Builds the token response for a validated request and its authenticated client (the Python
/// package's `token_builder(request, client)`). Implemented for every
/// `Fn(OAuth2TokenRequest, C) -> impl Future<Output = Result<OAuth2TokenResponse, E>>`;
/// authstar-jwt's `JwtIssuer::token_response` signs RFC 9068 access tokens.
pub trait TokenBuilder<C>: Send + Sync + 'static {
    /// Builds the response. An error that is a [`TokenError`] is the client's answer (e.g.
    /// `invalid_client` for a client the builder finds revoked: 401 with the Basic challenge;
    /// `unauthorized_client` for one that may not use the grant); any other error becomes a
    /// 500 `server_error`, logged.
    fn build(
        &self,
        request: OAuth2TokenRequest,
        client: C,
    ) -> impl Future<Output = Result<OAuth2TokenResponse, BoxError>> + Send;
}

impl<C, F, Fut, E> TokenBuilder<C> for F
where
    C: Send,
    F: Fn(OAuth2TokenRequest, C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<OAuth2TokenResponse, E>> + Send,
    E: Into<BoxError>,
{
    async fn build(
        &self,
        request: OAuth2TokenRequest,
        client: C,
    ) -> Result<OAuth2TokenResponse, BoxError> {
        self(request, client).await.map_err(Into::into)
    }
}

/// The token endpoint's work: issue a token with a [`TokenBuilder`].
#[derive(Clone, Copy, Debug)]
pub struct Issue<B>(pub(crate) B);

impl<B> private::Sealed for Issue<B> {}

impl<C: Client, B: TokenBuilder<C>> Action<C> for Issue<B> {
    const NAME: &'static str = "token";

    fn check(&self, form: &TokenRequestForm) -> Result<(), TokenError> {
        form.check_grant_type()
    }

    async fn answer(
        &self,
        form: TokenRequestForm,
        client: C,
        holds: Holds,
    ) -> Result<Answer, BoxError> {
        let mut request = form.authorize(&client)?;
        request.dpop_jkt = holds.dpop_jkt;
        request.certificate_x5t = holds.certificate_x5t;
        let token = self.0.build(request, client).await?;
        Ok(Answer::json(&token))
    }
}

//! The introspection endpoint's work (RFC 7662): what a token stands for.

use std::future::Future;

use authstar::Client;

use crate::BoxError;
use serde::{Serialize, Serializer};

use crate::action::{Action, Answer, Holds, private};
use crate::form::TokenRequestForm;

/// What an introspection endpoint answers about a token (RFC 7662 §2.2). An inactive token
/// (unknown, expired, revoked, for another audience) is only `{"active": false}`: nothing else
/// is told about it. Optional members are omitted when absent.
///
/// ```
/// use authstar_oauth2::TokenIntrospection;
///
/// assert_eq!(serde_json::to_string(&TokenIntrospection::inactive()).unwrap(), r#"{"active":false}"#);
///
/// let mut active = TokenIntrospection::active("svc");
/// active.scope = Some("reports:read".into());
/// active.aud = vec!["https://api.example".into()];
/// assert_eq!(
///     serde_json::to_string(&active).unwrap(),
///     r#"{"active":true,"scope":"reports:read","client_id":"svc","aud":"https://api.example"}"#
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TokenIntrospection {
    /// Whether the token is active: issued here, not expired, not revoked.
    pub active: bool,
    /// Space-delimited scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The token's type, e.g. `Bearer` (RFC 6749 §5.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issued at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audiences: sent as a string when there is one, an array when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The key a DPoP-bound token is bound to (RFC 9449 §6.2), with `token_type: DPoP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// A confirmation (RFC 7800 `cnf`): what a sender-constrained token is bound to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Confirmation {
    /// A DPoP key's RFC 7638 thumbprint (`jkt`, RFC 9449 §6.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// A TLS client certificate's SHA-256 thumbprint (`x5t#S256`, RFC 8705 §3.1).
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
}

impl Confirmation {
    /// Bound to the DPoP key whose thumbprint is `jkt`.
    pub fn dpop(jkt: impl Into<String>) -> Self {
        Self {
            jkt: Some(jkt.into()),
            x5t_s256: None,
        }
    }

    /// Bound to the client certificate whose thumbprint is `x5t_s256`.
    pub fn certificate(x5t_s256: impl Into<String>) -> Self {
        Self {
            jkt: None,
            x5t_s256: Some(x5t_s256.into()),
        }
    }
}

impl TokenIntrospection {
    /// `{"active": false}`.
    pub fn inactive() -> Self {
        Self::default()
    }

    /// An active token issued to `client_id`; fill in the other members.
    pub fn active(client_id: impl Into<String>) -> Self {
        Self {
            active: true,
            client_id: Some(client_id.into()),
            ..Self::default()
        }
    }
}

fn one_or_many<S: Serializer>(values: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    match values {
        [one] => serializer.serialize_str(one),
        many => many.serialize(serializer),
    }
}

/// Tells an authenticated caller (a resource server) what a token stands for (RFC 7662 §2.2).
/// Implemented for every `Fn(String, C) -> impl Future<Output = Result<TokenIntrospection, E>>`;
/// authstar-jwt's `JwtVerifier::introspect` answers for the tokens it verifies.
///
/// Answer [`TokenIntrospection::inactive`] for a token that is unknown, invalid, expired or
/// revoked. A [`TokenError`](crate::TokenError) error is the caller's answer; any other error
/// is a 500.
pub trait TokenIntrospector<C>: Send + Sync + 'static {
    /// Introspects `token` for `caller`.
    fn introspect(
        &self,
        token: String,
        caller: C,
    ) -> impl Future<Output = Result<TokenIntrospection, BoxError>> + Send;
}

impl<C, F, Fut, E> TokenIntrospector<C> for F
where
    C: Send,
    F: Fn(String, C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TokenIntrospection, E>> + Send,
    E: Into<BoxError>,
{
    async fn introspect(&self, token: String, caller: C) -> Result<TokenIntrospection, BoxError> {
        self(token, caller).await.map_err(Into::into)
    }
}

/// The introspection endpoint's work: answer with a [`TokenIntrospector`].
#[derive(Clone, Copy, Debug)]
pub struct Introspect<I>(pub(crate) I);

impl<I> private::Sealed for Introspect<I> {}

impl<C: Client, I: TokenIntrospector<C>> Action<C> for Introspect<I> {
    const NAME: &'static str = "introspection";

    fn check(&self, form: &TokenRequestForm) -> Result<(), crate::TokenError> {
        form.require_token().map(|_| ())
    }

    async fn answer(
        &self,
        mut form: TokenRequestForm,
        client: C,
        _: Holds,
    ) -> Result<Answer, BoxError> {
        let token = form.token.take().unwrap_or_default();
        let answer = self.0.introspect(token, client).await?;
        Ok(Answer::json(&answer))
    }
}

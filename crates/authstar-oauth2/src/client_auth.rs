//! Client authentication at the authorization server (RFC 6749 §2.3), in one place for the
//! token, revocation and introspection endpoints.
//!
//! A client authenticates with `Authorization: Basic` (`client_secret_basic`, id and secret
//! each form-urlencoded, §2.3.1) or with `client_id` and `client_secret` in the body
//! (`client_secret_post`), never both. The secret is checked by the layer's own Basic
//! authenticator ([`AuthstarLayer::check_basic`]), given the credentials as the layer reads
//! them (Basic ones as they came, body ones form-encoded: the authenticator decodes both once,
//! with [`BasicCredentials::oauth2_client`]), or by one given to the endpoint, which gets them
//! decoded. The layer's verdict on `Authorization: Basic` stands when it is the layer's
//! authenticator and the layer saw the request (a password hash is not computed twice).
//! Credentials the layer did not see (a body secret, Basic where the layer reads no Basic, a
//! request that did not pass the layer) are counted by the layer's failure throttle here, under
//! the identity the layer counts a Basic user name by, so what is checked and what is counted
//! agree.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use authstar::{
    AuthMethod, Authenticator, AuthstarLayer, BasicCredentials, Client, Failure, LayerInfo,
    MethodSet, Outcome, Verdict,
};
use http::HeaderValue;
use http::request::Parts;

use crate::form::{TokenRequestForm, invalid_request};
use crate::{ErrorCode, TokenError};

/// How a client presented its credentials (RFC 7591 §2 names, as in
/// `token_endpoint_auth_methods_supported`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `Authorization: Basic`.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The name RFC 8414 metadata lists.
    ///
    /// ```
    /// use authstar_oauth2::ClientAuthMethod;
    /// assert_eq!(ClientAuthMethod::ClientSecretPost.as_str(), "client_secret_post");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

/// A client id and secret presented to an endpoint. `Debug` never shows the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Presented {
    /// The client id, decoded.
    pub(crate) client_id: String,
    pub(crate) method: ClientAuthMethod,
    /// The credentials as the layer's Basic authenticator reads them: Basic ones as they came,
    /// body ones form-encoded (RFC 6749 §2.3.1), so that its one decoding
    /// ([`BasicCredentials::oauth2_client`]) reads what the client sent, either way.
    credentials: BasicCredentials,
}

impl Presented {
    /// The credentials decoded, for an authenticator given to the endpoint. `None` for an id
    /// that no Basic credential can carry (a colon, control characters).
    fn decoded(&self) -> Option<BasicCredentials> {
        let (client_id, secret) = self.credentials.oauth2_client();
        BasicCredentials::new(&client_id, &secret).ok()
    }
}

fn invalid_client(description: impl Into<String>) -> TokenError {
    TokenError::new(ErrorCode::InvalidClient, description)
}

/// The client credentials a request presents, from `Authorization: Basic` (each part
/// form-urlencoded, RFC 6749 §2.3.1) or from the body; `None` when the client did not
/// authenticate.
pub(crate) fn presented(
    form: &TokenRequestForm,
    authorization: Option<&HeaderValue>,
) -> Result<Option<Presented>, TokenError> {
    let basic = match authorization.and_then(BasicCredentials::from_authorization) {
        None => None,
        Some(Err(reason)) => {
            return Err(invalid_client(format!(
                "malformed Basic credentials: {reason}"
            )));
        }
        Some(Ok(credentials)) => {
            let client_id = credentials.oauth2_client().0.into_owned();
            if client_id.is_empty() {
                return Err(invalid_client("malformed Basic credentials"));
            }
            Some(Presented {
                client_id,
                method: ClientAuthMethod::ClientSecretBasic,
                credentials,
            })
        }
    };
    match (basic, &form.client_id, &form.client_secret) {
        (Some(_), _, Some(_)) => Err(invalid_request(
            "use one client authentication method: HTTP Basic or client_secret in the body",
        )),
        (Some(basic), Some(form_id), None) if *form_id != basic.client_id => Err(invalid_request(
            "client_id in the body differs from the Basic credentials",
        )),
        (Some(basic), _, None) => Ok(Some(basic)),
        (None, Some(client_id), Some(secret)) => Ok(Some(Presented {
            client_id: client_id.clone(),
            method: ClientAuthMethod::ClientSecretPost,
            credentials: BasicCredentials::from_oauth2_client(client_id, secret)
                .map_err(|_| invalid_client("malformed client credentials"))?,
        })),
        (None, None, Some(_)) => Err(invalid_request("client_secret without client_id")),
        (None, _, None) => Ok(None),
    }
}

/// Why a request's client was not authenticated.
#[derive(Debug)]
pub(crate) enum Refused {
    Token(TokenError),
    /// The layer's throttle has locked out the client's address or id.
    Throttled(Duration),
}

impl From<TokenError> for Refused {
    fn from(error: TokenError) -> Self {
        Self::Token(error)
    }
}

fn missing_credentials() -> TokenError {
    invalid_client("client authentication is required")
}

fn wrong_credentials() -> TokenError {
    invalid_client("unknown client or wrong client secret")
}

fn unavailable() -> TokenError {
    TokenError::new(
        ErrorCode::TemporarilyUnavailable,
        "client authentication is temporarily unavailable",
    )
}

/// A check of a client's id and secret.
type CheckFn<C> =
    Arc<dyn Fn(BasicCredentials) -> Pin<Box<dyn Future<Output = Verdict<C>> + Send>> + Send + Sync>;

/// How an endpoint authenticates clients: its layer, and the check of their secrets.
pub(crate) struct Clients<C> {
    layer: LayerInfo,
    check: Option<CheckFn<C>>,
    /// Whether the check is the layer's own, so its verdict on the same credentials stands.
    layers_check: bool,
}

impl<C> Clone for Clients<C> {
    fn clone(&self) -> Self {
        Self {
            layer: self.layer.clone(),
            check: self.check.clone(),
            layers_check: self.layers_check,
        }
    }
}

impl<C: Client> Clients<C> {
    /// Clients checked by `layer`'s Basic authenticator, if it has one.
    pub(crate) fn of_layer<M: MethodSet<C>>(layer: &AuthstarLayer<C, M>) -> Self {
        let has_basic = layer.info().methods().contains(&AuthMethod::Basic);
        let check: Option<CheckFn<C>> = has_basic.then(|| {
            let layer = layer.clone();
            Arc::new(move |credentials| {
                let check = layer.check_basic(credentials);
                Box::pin(async move {
                    match check {
                        Some(check) => check.await,
                        None => Verdict::Rejected,
                    }
                }) as Pin<Box<dyn Future<Output = Verdict<C>> + Send>>
            }) as CheckFn<C>
        });
        Self {
            layer: layer.info().clone(),
            check,
            layers_check: has_basic,
        }
    }

    /// Clients checked by `authenticator` instead.
    pub(crate) fn checked_by<A>(mut self, authenticator: A) -> Self
    where
        A: Authenticator<BasicCredentials, Client = C>,
    {
        let authenticator = Arc::new(authenticator);
        self.check = Some(Arc::new(move |credentials| {
            let started = authenticator.start(credentials);
            Box::pin(started.finish())
        }));
        self.layers_check = false;
        self
    }

    /// The layer in front of the endpoint.
    pub(crate) fn layer(&self) -> &LayerInfo {
        &self.layer
    }

    /// The methods clients may authenticate with (RFC 8414
    /// `token_endpoint_auth_methods_supported`).
    pub(crate) fn methods(&self) -> Vec<ClientAuthMethod> {
        match self.check {
            Some(_) => vec![
                ClientAuthMethod::ClientSecretBasic,
                ClientAuthMethod::ClientSecretPost,
            ],
            None => Vec::new(),
        }
    }

    /// Authenticates the client of a request that presented `presented`.
    pub(crate) async fn authenticate(
        &self,
        presented: Option<Presented>,
        parts: &Parts,
    ) -> Result<C, Refused> {
        let presented = presented.ok_or_else(missing_credentials)?;
        // Basic credentials the layer read (it has a Basic method and recorded what it made of
        // them): counted there already.
        let seen_by_layer = presented.method == ClientAuthMethod::ClientSecretBasic
            && self.layer.methods().contains(&AuthMethod::Basic)
            && self.layer.outcome::<C>(&parts.extensions).is_some();
        if seen_by_layer && let Some(verdict) = self.layer_verdict(&presented, parts) {
            return Ok(verdict?);
        }
        let Some(check) = &self.check else {
            tracing::error!(
                "authstar-oauth2: no client authenticator: the layer has no Basic method; give \
                 the endpoint one with client_authenticator"
            );
            return Err(invalid_client("client authentication is not configured").into());
        };
        // Credentials the layer did not count are counted here, under the identity the layer
        // counts a Basic user name by (decoded once, as the authenticator decodes it).
        let throttle = self.layer.throttle().filter(|_| !seen_by_layer);
        let id = presented.credentials.username().to_owned();
        let credentials = match self.layers_check {
            true => Some(presented.credentials),
            false => presented.decoded(),
        };
        // A client id with a colon or control characters is no client of a Basic authenticator.
        let credentials = credentials.ok_or_else(wrong_credentials)?;
        if let Some(throttle) = throttle {
            throttle
                .check_client(&parts.extensions, &parts.headers, &id)
                .map_err(Refused::Throttled)?;
        }
        match check(credentials).await {
            Verdict::Authenticated(client) if client.is_authenticated() => Ok(client),
            Verdict::Unavailable(error) => {
                tracing::warn!(%error, "authstar-oauth2: the client authenticator failed");
                Err(unavailable().into())
            }
            Verdict::Authenticated(_) | Verdict::Rejected => {
                if let Some(throttle) = throttle {
                    throttle.failed_client(&parts.extensions, &parts.headers, &id);
                }
                Err(wrong_credentials().into())
            }
        }
    }

    /// The layer's verdict on `presented`, when it stands for the endpoint's: Basic
    /// credentials, which the layer checked as they came with the very authenticator the
    /// endpoint would use.
    fn layer_verdict(&self, presented: &Presented, parts: &Parts) -> Option<Result<C, TokenError>> {
        if !self.layers_check || presented.method != ClientAuthMethod::ClientSecretBasic {
            return None;
        }
        match self.layer.outcome::<C>(&parts.extensions)? {
            Outcome::Authenticated {
                client,
                method: AuthMethod::Basic,
                ..
            } if client.is_authenticated() => Some(Ok(client.clone())),
            Outcome::Failed { attempt, .. } if attempt.method == AuthMethod::Basic => {
                match attempt.failure {
                    Failure::Denied => Some(Err(wrong_credentials())),
                    Failure::Unavailable => Some(Err(unavailable())),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::TokenRequestForm;

    fn form_type() -> HeaderValue {
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8")
    }

    fn parse(body: &str) -> TokenRequestForm {
        TokenRequestForm::parse(Some(&form_type()), None, body.as_bytes()).unwrap()
    }

    #[test]
    fn rfc6749_2_3_one_authentication_method_at_a_time() {
        let basic = HeaderValue::from_static("Basic YTpi"); // a:b
        let form = parse("client_id=a&client_secret=b");
        assert_eq!(
            presented(&form, Some(&basic)).unwrap_err().error,
            ErrorCode::InvalidRequest
        );
        // client_id alone beside Basic only identifies the client (§3.2.1) and must match.
        let same = parse("client_id=a");
        assert_eq!(
            presented(&same, Some(&basic)).unwrap().unwrap().client_id,
            "a"
        );
        let other = parse("client_id=z");
        assert_eq!(
            presented(&other, Some(&basic)).unwrap_err().error,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn rfc6749_2_3_1_client_secret_post() {
        let form = parse("client_id=svc&client_secret=p%26ss");
        let credentials = presented(&form, None).unwrap().unwrap();
        assert_eq!(credentials.method, ClientAuthMethod::ClientSecretPost);
        assert_eq!(credentials.credentials.oauth2_client().1, "p&ss");
        assert!(!format!("{credentials:?}").contains("p&ss"));
        // Body values are decoded once, by the form: an id that reads `%64…` in the body is
        // that id, not `d…`, and a `+` in a secret stays a `+`.
        let form = parse("client_id=%2564emo&client_secret=a%2Bb");
        let credentials = presented(&form, None).unwrap().unwrap();
        assert_eq!(credentials.client_id, "%64emo");
        let (id, secret) = credentials.credentials.oauth2_client();
        assert_eq!((id.as_ref(), secret.as_ref()), ("%64emo", "a+b"));
        let decoded = credentials.decoded().unwrap();
        assert_eq!((decoded.username(), decoded.password()), ("%64emo", "a+b"));
        assert_eq!(presented(&parse("client_id=svc"), None).unwrap(), None);
    }

    #[test]
    fn rfc6749_2_3_1_basic_parts_are_each_one_form_urlencoded_value() {
        use base64::Engine as _;
        // A secret holding `&`, `=` and `+` as the client sends it: each part percent-encoded,
        // then `id:secret` in Basic. Splitting it as a form would cut it at `&`.
        for (id, secret, raw) in [
            ("svc", "a&b=c d+e", "svc:a%26b%3Dc+d%2Be"),
            ("svc", "a&b", "svc:a&b"),
            ("my client", "p:w", "my+client:p%3Aw"),
            ("svc", "p:w", "svc:p:w"),
        ] {
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            let header = HeaderValue::from_str(&format!("Basic {encoded}")).unwrap();
            let credentials = presented(&TokenRequestForm::default(), Some(&header))
                .unwrap()
                .unwrap();
            assert_eq!(credentials.client_id, id, "{raw}");
            assert_eq!(credentials.credentials.oauth2_client().1, secret, "{raw}");
            assert_eq!(
                credentials.credentials.username(),
                raw.split(':').next().unwrap()
            );
        }
        // A part that is no form encoding is read as it came, as the layer reads it.
        let bad_utf8 = base64::engine::general_purpose::STANDARD.encode("svc:%FF");
        let header = HeaderValue::from_str(&format!("Basic {bad_utf8}")).unwrap();
        let credentials = presented(&TokenRequestForm::default(), Some(&header))
            .unwrap()
            .unwrap();
        assert_eq!(credentials.credentials.oauth2_client().1, "%FF");
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        for value in ["Basic !!!", "Basic", "Basic Og=="] {
            let header = HeaderValue::from_static(value);
            let error = presented(&TokenRequestForm::default(), Some(&header));
            assert_eq!(
                error.unwrap_err().error,
                ErrorCode::InvalidClient,
                "{value}"
            );
        }
    }
}

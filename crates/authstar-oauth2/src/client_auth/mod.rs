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

use authstar::credentials::ClientCertificate;
use authstar::throttle::FailureThrottle;
use authstar::{
    AuthMethod, Authenticator, AuthstarLayer, BasicCredentials, Client, Failure, LayerInfo,
    MethodSet, Outcome, Verdict,
};
use http::HeaderValue;
use http::request::Parts;

use crate::assertion::{ClientAssertions, ErasedAssertions};
use crate::certificate::{ClientCertificates, ErasedCertificates};
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
    /// A JWT signed with the client's private key (RFC 7523 §2.2), in `client_assertion`.
    PrivateKeyJwt,
    /// A TLS client certificate issued by a trusted authority, with the client's registered
    /// subject (RFC 8705 §2.1).
    TlsClientAuth,
    /// A self-signed TLS client certificate the client registered (RFC 8705 §2.2).
    SelfSignedTlsClientAuth,
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
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::TlsClientAuth => "tls_client_auth",
            Self::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }
}

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's credentials presented to an endpoint. `Debug` never shows a secret or an
/// assertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Presented {
    /// The client id, decoded; for an assertion, the body's `client_id` (empty without one:
    /// the assertion's `sub` names the client).
    pub(crate) client_id: String,
    pub(crate) method: ClientAuthMethod,
    proof: Proof,
}

/// What proves the client.
#[derive(Clone, PartialEq, Eq)]
enum Proof {
    /// A secret, as the layer's Basic authenticator reads it: Basic credentials as they came,
    /// body ones form-encoded (RFC 6749 §2.3.1), so that its one decoding
    /// ([`BasicCredentials::oauth2_client`]) reads what the client sent, either way.
    Secret(BasicCredentials),
    /// A signed JWT (RFC 7523 §2.2).
    Assertion(String),
    /// Only a `client_id`: the connection's TLS client certificate may prove it (RFC 8705 §2).
    Certificate,
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(credentials) => f.debug_tuple("Secret").field(credentials).finish(),
            Self::Assertion(_) => f.write_str("Assertion(<redacted>)"),
            Self::Certificate => f.write_str("Certificate"),
        }
    }
}

/// The credentials decoded, for an authenticator given to the endpoint. `None` for an id that
/// no Basic credential can carry (a colon, control characters).
fn decoded(credentials: &BasicCredentials) -> Option<BasicCredentials> {
    let (client_id, secret) = credentials.oauth2_client();
    BasicCredentials::new(&client_id, &secret).ok()
}

fn invalid_client(description: impl Into<String>) -> TokenError {
    TokenError::new(ErrorCode::InvalidClient, description)
}

/// The client credentials a request presents, from `Authorization: Basic` (each part
/// form-urlencoded, RFC 6749 §2.3.1), from the body, or as a JWT assertion (RFC 7521 §4.2);
/// `None` when the client did not authenticate. One method per request.
pub(crate) fn presented(
    form: &TokenRequestForm,
    authorization: Option<&HeaderValue>,
) -> Result<Option<Presented>, TokenError> {
    match (&form.client_assertion_type, &form.client_assertion) {
        (None, None) => {}
        (Some(kind), Some(assertion)) => {
            if kind != JWT_BEARER_ASSERTION {
                return Err(invalid_client("unsupported client_assertion_type"));
            }
            if authorization.is_some() || form.client_secret.is_some() {
                return Err(invalid_request(
                    "use one client authentication method: a client assertion, HTTP Basic or \
                     client_secret",
                ));
            }
            return Ok(Some(Presented {
                client_id: form.client_id.clone().unwrap_or_default(),
                method: ClientAuthMethod::PrivateKeyJwt,
                proof: Proof::Assertion(assertion.clone()),
            }));
        }
        _ => {
            return Err(invalid_request(
                "client_assertion and client_assertion_type are sent together",
            ));
        }
    }
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
                proof: Proof::Secret(credentials),
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
            proof: Proof::Secret(
                BasicCredentials::from_oauth2_client(client_id, secret)
                    .map_err(|_| invalid_client("malformed client credentials"))?,
            ),
        })),
        (None, None, Some(_)) => Err(invalid_request("client_secret without client_id")),
        // A client id alone: a TLS client certificate may prove it (RFC 8705 §2).
        (None, Some(client_id), None) => Ok(Some(Presented {
            client_id: client_id.clone(),
            method: ClientAuthMethod::TlsClientAuth,
            proof: Proof::Certificate,
        })),
        (None, None, None) => Ok(None),
    }
}

/// The identity the throttle counts `client_id` under: the layer reads a client id as a Basic
/// user name (form-encoded), so encoded here it is the very id a secret of this client is
/// counted under, whichever way the client authenticates.
fn throttled_as(client_id: &str) -> String {
    form_urlencoded::byte_serialize(client_id.as_bytes()).collect()
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

/// How an endpoint authenticates clients: its layer, the check of their secrets, and of their
/// assertions.
pub(crate) struct Clients<C> {
    layer: LayerInfo,
    check: Option<CheckFn<C>>,
    /// Whether the check is the layer's own, so its verdict on the same credentials stands.
    layers_check: bool,
    assertions: Option<Arc<dyn ErasedAssertions<C>>>,
    certificates: Option<Arc<dyn ErasedCertificates<C>>>,
    /// Whether secrets are refused by design (not merely unconfigured).
    secrets_refused: bool,
}

impl<C> Clone for Clients<C> {
    fn clone(&self) -> Self {
        Self {
            layer: self.layer.clone(),
            check: self.check.clone(),
            layers_check: self.layers_check,
            assertions: self.assertions.clone(),
            certificates: self.certificates.clone(),
            secrets_refused: self.secrets_refused,
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
            assertions: None,
            certificates: None,
            secrets_refused: false,
        }
    }

    /// No client authenticates with a secret (FAPI 2.0 allows only `private_key_jwt` and mutual
    /// TLS): a secret presented is `invalid_client`.
    pub(crate) fn without_secrets(mut self) -> Self {
        self.check = None;
        self.layers_check = false;
        self.secrets_refused = true;
        self
    }

    /// Clients may also authenticate with assertions `assertions` verifies.
    pub(crate) fn with_assertions(mut self, assertions: impl ClientAssertions<C>) -> Self {
        self.assertions = Some(Arc::new(assertions));
        self
    }

    /// Clients may also authenticate with TLS certificates `certificates` recognizes.
    pub(crate) fn with_certificates(mut self, certificates: impl ClientCertificates<C>) -> Self {
        self.certificates = Some(Arc::new(certificates));
        self
    }

    /// The `alg` values client assertions may use, when they are accepted.
    pub(crate) fn assertion_algorithms(&self) -> Option<Vec<String>> {
        self.assertions.as_ref().map(|a| a.algorithms())
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
        let mut methods = match self.check {
            Some(_) => vec![
                ClientAuthMethod::ClientSecretBasic,
                ClientAuthMethod::ClientSecretPost,
            ],
            None => Vec::new(),
        };
        if self.assertions.is_some() {
            methods.push(ClientAuthMethod::PrivateKeyJwt);
        }
        if let Some(certificates) = &self.certificates {
            methods.extend(certificates.methods());
        }
        methods
    }

    /// Authenticates the client of a request that presented `presented`.
    pub(crate) async fn authenticate(
        &self,
        presented: Option<Presented>,
        parts: &Parts,
    ) -> Result<C, Refused> {
        let presented = presented.ok_or_else(missing_credentials)?;
        let credentials = match presented.proof {
            Proof::Secret(credentials) => credentials,
            Proof::Assertion(assertion) => {
                return self
                    .authenticate_assertion(&presented.client_id, &assertion, parts)
                    .await;
            }
            Proof::Certificate => {
                return self
                    .authenticate_certificate(&presented.client_id, parts)
                    .await;
            }
        };
        if self.secrets_refused {
            return Err(invalid_client("client secrets are not accepted here").into());
        }
        // Basic credentials the layer read (it has a Basic method and recorded what it made of
        // them): counted there already.
        let seen_by_layer = presented.method == ClientAuthMethod::ClientSecretBasic
            && self.layer.methods().contains(&AuthMethod::Basic)
            && self.layer.outcome::<C>(&parts.extensions).is_some();
        if seen_by_layer && let Some(verdict) = self.layer_verdict(presented.method, parts) {
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
        let id = credentials.username().to_owned();
        let credentials = match self.layers_check {
            true => Some(credentials),
            false => decoded(&credentials),
        };
        // A client id with a colon or control characters is no client of a Basic authenticator.
        let credentials = credentials.ok_or_else(wrong_credentials)?;
        self.counted(throttle, parts, &id, || check(credentials))
            .await
    }

    /// Authenticates a client by its assertion, as `client_id` (the body's), else as the
    /// client the assertion claims to be; counted as a secret of that client would be.
    async fn authenticate_assertion(
        &self,
        client_id: &str,
        assertion: &str,
        parts: &Parts,
    ) -> Result<C, Refused> {
        let Some(assertions) = &self.assertions else {
            return Err(invalid_client("client assertions are not accepted here").into());
        };
        let client_id = match client_id {
            "" => assertions
                .claimed_client(assertion)
                .ok_or_else(|| invalid_client("malformed client assertion"))?,
            given => given.to_owned(),
        };
        self.counted(
            self.layer.throttle(),
            parts,
            &throttled_as(&client_id),
            || assertions.verify(assertion, &client_id),
        )
        .await
    }

    /// Authenticates a client that sent only its id by the request's TLS client certificate
    /// (RFC 8705 §2), counted as a secret of that client would be. Without a certificate, or
    /// where certificates are not accepted, the client did not authenticate.
    async fn authenticate_certificate(&self, client_id: &str, parts: &Parts) -> Result<C, Refused> {
        let (Some(certificates), Some(certificate)) = (
            &self.certificates,
            parts.extensions.get::<ClientCertificate>(),
        ) else {
            return Err(missing_credentials().into());
        };
        self.counted(
            self.layer.throttle(),
            parts,
            &throttled_as(client_id),
            || certificates.verify(certificate, client_id),
        )
        .await
    }

    /// The client `check` finds, the request checked against `throttle` first (a locked-out
    /// client costs no check) and counted as a failure of `id` when refused.
    async fn counted<F: Future<Output = Verdict<C>>>(
        &self,
        throttle: Option<&FailureThrottle>,
        parts: &Parts,
        id: &str,
        check: impl FnOnce() -> F,
    ) -> Result<C, Refused> {
        if let Some(throttle) = throttle {
            throttle
                .check_client(&parts.extensions, &parts.headers, id)
                .map_err(Refused::Throttled)?;
        }
        match check().await {
            Verdict::Authenticated(client) if client.is_authenticated() => Ok(client),
            Verdict::Unavailable(error) => {
                tracing::warn!(%error, "authstar-oauth2: the client authenticator failed");
                Err(unavailable().into())
            }
            Verdict::Authenticated(_) | Verdict::Rejected => {
                if let Some(throttle) = throttle {
                    throttle.failed_client(&parts.extensions, &parts.headers, id);
                }
                Err(wrong_credentials().into())
            }
        }
    }

    /// The layer's verdict on Basic credentials, when it stands for the endpoint's: the layer
    /// checked them as they came with the very authenticator the endpoint would use.
    fn layer_verdict(
        &self,
        method: ClientAuthMethod,
        parts: &Parts,
    ) -> Option<Result<C, TokenError>> {
        if !self.layers_check || method != ClientAuthMethod::ClientSecretBasic {
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
mod tests;

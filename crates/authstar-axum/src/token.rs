//! The OAuth 2.0 endpoints that authenticate clients: token (`client_credentials`, RFC 6749
//! §4.4), revocation (RFC 7009) and introspection (RFC 7662). The rules live in
//! [`authstar::oauth2`]; this module adapts them to axum. The three share one type,
//! [`TokenEndpoint`], whose second parameter is what it does once the client is authenticated:
//! [`Issue`], [`Revoke`] or [`Introspect`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authstar::credentials::authorization::{self, Authorization};
use authstar::credentials::dpop::{
    DPOP, DPOP_NONCE, ProofError, ProofRequest, ProofVerifier, proof_of,
};
use authstar::oauth2::{
    ClientAuthMethod, ClientCredentials, ErrorCode, OAuth2TokenRequest, OAuth2TokenResponse,
    TokenError, TokenIntrospection, TokenRequestForm,
};
use authstar::throttle::{BASIC_IDENTITY, too_many_requests};
use authstar::{
    AuthMethod, Authenticator, BasicCredentials, BoxError, Client, Failure, LayerInfo, Outcome,
    Verdict,
};
use axum::Json;
use axum::extract::Request;
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};

use crate::RouteSecurity;

/// The largest request body the endpoint reads (a token request is a few hundred bytes).
pub const TOKEN_REQUEST_BODY_LIMIT: usize = 16 * 1024;

/// Builds the token response for a validated request and its authenticated client (the seed's
/// `token_builder(request, client)`). Implemented for every
/// `Fn(OAuth2TokenRequest, C) -> impl Future<Output = Result<OAuth2TokenResponse, E>>`.
pub trait TokenBuilder<C>: Send + Sync + 'static {
    /// Builds the response. An error that is a [`TokenError`] is the client's answer (e.g.
    /// `invalid_client` for a client the builder finds revoked: 401 with the Basic challenge);
    /// any other error becomes a 500 `server_error`, logged.
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

/// Revokes a token for the authenticated client that presented it (RFC 7009 §2.1): the token
/// as sent and the client. Implemented for every
/// `Fn(String, C) -> impl Future<Output = Result<(), E>>`.
///
/// Answer `Ok(())` for a token that is unknown, invalid or already expired too: RFC 7009 §2.2
/// treats those as revoked. A [`TokenError`] error is the client's answer (e.g.
/// `unauthorized_client` for another client's token); any other error is a 500.
pub trait TokenRevoker<C>: Send + Sync + 'static {
    /// Revokes `token`.
    fn revoke(&self, token: String, client: C)
    -> impl Future<Output = Result<(), BoxError>> + Send;
}

impl<C, F, Fut, E> TokenRevoker<C> for F
where
    C: Send,
    F: Fn(String, C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Into<BoxError>,
{
    async fn revoke(&self, token: String, client: C) -> Result<(), BoxError> {
        self(token, client).await.map_err(Into::into)
    }
}

/// Tells an authenticated caller (a resource server) what a token stands for (RFC 7662 §2.2).
/// Implemented for every `Fn(String, C) -> impl Future<Output = Result<TokenIntrospection, E>>`.
///
/// Answer [`TokenIntrospection::inactive`] for a token that is unknown, invalid, expired or
/// revoked. A [`TokenError`] error is the caller's answer; any other error is a 500.
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

/// The token endpoint's work: issue a token with a [`TokenBuilder`].
#[derive(Clone, Copy, Debug)]
pub struct Issue<B>(B);

/// The revocation endpoint's work: revoke with a [`TokenRevoker`]; `200` with an empty body.
#[derive(Clone, Copy, Debug)]
pub struct Revoke<R>(R);

/// The introspection endpoint's work: answer with a [`TokenIntrospector`].
#[derive(Clone, Copy, Debug)]
pub struct Introspect<I>(I);

mod sealed {
    pub trait Sealed {}
    impl<B> Sealed for super::Issue<B> {}
    impl<R> Sealed for super::Revoke<R> {}
    impl<I> Sealed for super::Introspect<I> {}
}

/// What a [`TokenEndpoint`] does once the client is authenticated: [`Issue`], [`Revoke`] or
/// [`Introspect`] (sealed).
pub trait EndpointAction<C>: sealed::Sealed + Send + Sync + 'static {
    /// The endpoint's name in logs.
    #[doc(hidden)]
    const NAME: &'static str;

    /// Checks the form before the client is authenticated (a wrong grant type, a missing token).
    #[doc(hidden)]
    fn check(&self, form: &TokenRequestForm) -> Result<(), TokenError>;

    /// Does the endpoint's work for the authenticated `client`; `dpop_jkt` is the key of the
    /// request's valid DPoP proof, when the endpoint checks them.
    #[doc(hidden)]
    fn answer(
        &self,
        form: TokenRequestForm,
        client: C,
        dpop_jkt: Option<String>,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send;
}

impl<C: Client, B: TokenBuilder<C>> EndpointAction<C> for Issue<B> {
    const NAME: &'static str = "token";

    fn check(&self, form: &TokenRequestForm) -> Result<(), TokenError> {
        form.check_grant_type()
    }

    async fn answer(
        &self,
        form: TokenRequestForm,
        client: C,
        dpop_jkt: Option<String>,
    ) -> Result<Response, BoxError> {
        let mut request = form.authorize(&client)?;
        request.dpop_jkt = dpop_jkt;
        let token = self.0.build(request, client).await?;
        Ok(Json(token).into_response())
    }
}

impl<C: Client, R: TokenRevoker<C>> EndpointAction<C> for Revoke<R> {
    const NAME: &'static str = "revocation";

    fn check(&self, form: &TokenRequestForm) -> Result<(), TokenError> {
        form.require_token().map(|_| ())
    }

    async fn answer(
        &self,
        mut form: TokenRequestForm,
        client: C,
        _: Option<String>,
    ) -> Result<Response, BoxError> {
        let token = form.token.take().unwrap_or_default();
        self.0.revoke(token, client).await?;
        Ok(StatusCode::OK.into_response())
    }
}

impl<C: Client, I: TokenIntrospector<C>> EndpointAction<C> for Introspect<I> {
    const NAME: &'static str = "introspection";

    fn check(&self, form: &TokenRequestForm) -> Result<(), TokenError> {
        form.require_token().map(|_| ())
    }

    async fn answer(
        &self,
        mut form: TokenRequestForm,
        client: C,
        _: Option<String>,
    ) -> Result<Response, BoxError> {
        let token = form.token.take().unwrap_or_default();
        let answer = self.0.introspect(token, client).await?;
        Ok(Json(answer).into_response())
    }
}

/// No form-field client authentication: clients authenticate with HTTP Basic through the
/// middleware's `on_auth_basic`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThroughMiddleware;

/// An OAuth 2.0 endpoint that authenticates clients: the token endpoint (the seed's
/// `route_security.oauth2_token_endpoint(...)`), made by
/// [`RouteSecurity::oauth2_token_endpoint`]; the revocation and introspection endpoints, made by
/// [`RouteSecurity::oauth2_revocation_endpoint`] and
/// [`RouteSecurity::oauth2_introspection_endpoint`]. Mounted with
/// [`into_method_router`](Self::into_method_router).
///
/// Client authentication, as in the seed:
/// * by default, HTTP Basic only, verified by the middleware's `on_auth_basic`;
/// * with [`on_auth_basic`](Self::on_auth_basic), the endpoint verifies clients itself, from
///   `Authorization: Basic` (`client_secret_basic`, id and secret form-urlencoded as RFC 6749
///   §2.3.1 requires) or from `client_id`/`client_secret` body fields (`client_secret_post`).
///
/// ```
/// use authstar::oauth2::{OAuth2TokenRequest, OAuth2TokenResponse};
/// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
/// use authstar_axum::RouteSecurity;
/// use axum::Router;
///
/// async fn verify(credentials: BasicCredentials) -> Option<AuthstarClient> {
///     (credentials.username() == "svc" && credentials.password() == "secret")
///         .then(|| AuthstarClient::new("svc", ["reports:read"]))
/// }
/// async fn token_builder(
///     request: OAuth2TokenRequest,
///     client: AuthstarClient,
/// ) -> Result<OAuth2TokenResponse, std::convert::Infallible> {
///     Ok(OAuth2TokenResponse::bearer(format!("token-for-{}", client.client_id()))
///         .scope(request.scope()))
/// }
///
/// let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
/// let security = RouteSecurity::new(&layer);
/// let app: Router = Router::new()
///     .route(
///         "/oauth2/token",
///         security.oauth2_token_endpoint(token_builder).on_auth_basic(verify).into_method_router(),
///     )
///     .layer(layer);
/// ```
pub struct TokenEndpoint<C, A, V = ThroughMiddleware> {
    security: RouteSecurity<C>,
    action: Arc<A>,
    verifier: Arc<V>,
    reuse_layer_verdict: bool,
    dpop: Option<Arc<EndpointDpop>>,
}

/// How a token endpoint checks DPoP proofs: the verifier and the endpoint's public URL (`htu`).
struct EndpointDpop {
    proofs: Box<dyn ProofVerifier>,
    url: String,
}

impl<C, A, V> Clone for TokenEndpoint<C, A, V> {
    fn clone(&self) -> Self {
        Self {
            security: self.security.clone(),
            action: Arc::clone(&self.action),
            verifier: Arc::clone(&self.verifier),
            reuse_layer_verdict: self.reuse_layer_verdict,
            dpop: self.dpop.clone(),
        }
    }
}

impl<C, A, V> fmt::Debug for TokenEndpoint<C, A, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field(
                "client_secret_post",
                &(std::any::type_name::<V>() != std::any::type_name::<ThroughMiddleware>()),
            )
            .field("dpop_url", &self.dpop.as_ref().map(|dpop| &dpop.url))
            .finish()
    }
}

impl<C: Client> RouteSecurity<C> {
    /// The token endpoint for the `client_credentials` grant, answering with `token_builder`.
    pub fn oauth2_token_endpoint<B: TokenBuilder<C>>(
        &self,
        token_builder: B,
    ) -> TokenEndpoint<C, Issue<B>> {
        self.client_endpoint(Issue(token_builder))
    }

    /// The RFC 7009 revocation endpoint (`POST`, form `token=...`, client-authenticated like
    /// the token endpoint): `200` once `revoker` has revoked the token, or found nothing to
    /// revoke. Mount it at `/oauth2/revoke` and advertise it as `revocation_endpoint`.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, Client};
    /// use authstar_axum::RouteSecurity;
    /// use axum::Router;
    ///
    /// async fn verify(credentials: BasicCredentials) -> Option<AuthstarClient> {
    ///     (credentials.username() == "svc" && credentials.password() == "secret")
    ///         .then(|| AuthstarClient::new("svc", ["reports:read"]))
    /// }
    /// async fn revoke(token: String, client: AuthstarClient) -> Result<(), std::convert::Infallible> {
    ///     // Look the token up; forget it if `client` owns it.
    ///     let _ = (token, client.client_id());
    ///     Ok(())
    /// }
    ///
    /// let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
    /// let security = RouteSecurity::new(&layer);
    /// let app: Router = Router::new()
    ///     .route("/oauth2/revoke", security.oauth2_revocation_endpoint(revoke).into_method_router())
    ///     .layer(layer);
    /// ```
    pub fn oauth2_revocation_endpoint<R: TokenRevoker<C>>(
        &self,
        revoker: R,
    ) -> TokenEndpoint<C, Revoke<R>> {
        self.client_endpoint(Revoke(revoker))
    }

    /// The RFC 7662 introspection endpoint (`POST`, form `token=...`): the caller must
    /// authenticate as a client, like at the token endpoint. Mount it at `/oauth2/introspect`
    /// and advertise it as `introspection_endpoint`.
    ///
    /// ```
    /// use authstar::oauth2::TokenIntrospection;
    /// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
    /// use authstar_axum::RouteSecurity;
    /// use axum::Router;
    ///
    /// async fn verify(credentials: BasicCredentials) -> Option<AuthstarClient> {
    ///     (credentials.username() == "resource-server" && credentials.password() == "secret")
    ///         .then(|| AuthstarClient::new("resource-server", [""; 0]))
    /// }
    /// async fn introspect(
    ///     token: String,
    ///     _caller: AuthstarClient,
    /// ) -> Result<TokenIntrospection, std::convert::Infallible> {
    ///     Ok(if token == "known" { TokenIntrospection::active("svc") } else { TokenIntrospection::inactive() })
    /// }
    ///
    /// let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
    /// let security = RouteSecurity::new(&layer);
    /// let app: Router = Router::new()
    ///     .route(
    ///         "/oauth2/introspect",
    ///         security.oauth2_introspection_endpoint(introspect).into_method_router(),
    ///     )
    ///     .layer(layer);
    /// ```
    pub fn oauth2_introspection_endpoint<I: TokenIntrospector<C>>(
        &self,
        introspector: I,
    ) -> TokenEndpoint<C, Introspect<I>> {
        self.client_endpoint(Introspect(introspector))
    }

    fn client_endpoint<A>(&self, action: A) -> TokenEndpoint<C, A> {
        TokenEndpoint {
            security: self.clone(),
            action: Arc::new(action),
            verifier: Arc::new(ThroughMiddleware),
            reuse_layer_verdict: false,
            dpop: None,
        }
    }
}

/// How the endpoint authenticates clients: [`ThroughMiddleware`] or a basic authenticator.
pub trait ClientVerifier<C>: Send + Sync + 'static {
    /// Authenticates the client of a token request, behind the layer `layer`.
    fn verify(
        &self,
        presented: Option<authstar::oauth2::ClientCredentials>,
        parts: &Parts,
        layer: &LayerInfo,
    ) -> impl Future<Output = Result<C, TokenError>> + Send;
}

impl<C: Client> ClientVerifier<C> for ThroughMiddleware {
    fn verify(
        &self,
        presented: Option<authstar::oauth2::ClientCredentials>,
        parts: &Parts,
        layer: &LayerInfo,
    ) -> impl Future<Output = Result<C, TokenError>> + Send {
        let result = match (presented, layer.outcome::<C>(&parts.extensions)) {
            (Some(credentials), _) if credentials.method == ClientAuthMethod::ClientSecretPost => {
                Err(TokenError::new(
                    ErrorCode::InvalidClient,
                    "client_secret_post is not enabled: authenticate with HTTP Basic",
                ))
            }
            (
                _,
                Some(Outcome::Authenticated {
                    client,
                    method: AuthMethod::Basic,
                    ..
                }),
            ) if client.is_authenticated() => Ok(client.clone()),
            (_, Some(Outcome::Failed(attempt)))
                if attempt.method == AuthMethod::Basic
                    && attempt.failure == Failure::Unavailable =>
            {
                Err(unavailable())
            }
            (Some(_), _) => Err(wrong_credentials()),
            (None, _) => Err(missing_credentials()),
        };
        std::future::ready(result)
    }
}

impl<C, A> ClientVerifier<C> for A
where
    C: Client,
    A: Authenticator<BasicCredentials, Client = C>,
{
    async fn verify(
        &self,
        presented: Option<authstar::oauth2::ClientCredentials>,
        _: &Parts,
        _: &LayerInfo,
    ) -> Result<C, TokenError> {
        let presented = presented.ok_or_else(missing_credentials)?;
        let basic = presented.to_basic().ok_or_else(wrong_credentials)?;
        match self.authenticate(basic).await {
            Verdict::Authenticated(client) => Ok(client),
            Verdict::Rejected => Err(wrong_credentials()),
            Verdict::Unavailable(error) => {
                tracing::warn!(error = %error, "authstar: token endpoint client verifier failed");
                Err(unavailable())
            }
        }
    }
}

fn missing_credentials() -> TokenError {
    TokenError::new(
        ErrorCode::InvalidClient,
        "client authentication is required",
    )
}

fn wrong_credentials() -> TokenError {
    TokenError::new(
        ErrorCode::InvalidClient,
        "unknown client or wrong client secret",
    )
}

fn unavailable() -> TokenError {
    TokenError::new(
        ErrorCode::TemporarilyUnavailable,
        "client authentication is temporarily unavailable",
    )
}

impl<C, A> TokenEndpoint<C, A, ThroughMiddleware> {
    /// Verifies clients in the endpoint itself with `verifier` (the seed's `on_auth_basic`
    /// argument), which enables `client_id`/`client_secret` body fields besides HTTP Basic.
    pub fn on_auth_basic<V>(self, verifier: V) -> TokenEndpoint<C, A, V>
    where
        V: Authenticator<BasicCredentials, Client = C>,
    {
        TokenEndpoint {
            security: self.security,
            action: self.action,
            verifier: Arc::new(verifier),
            reuse_layer_verdict: self.reuse_layer_verdict,
            dpop: self.dpop,
        }
    }
}

impl<C, B, V> TokenEndpoint<C, Issue<B>, V> {
    /// Issues DPoP-bound tokens (RFC 9449 §5) to requests that carry a `DPoP` proof, checked
    /// by `proofs` (authstar-jwt's `DpopVerifier`) against `POST` and `url`, this endpoint's
    /// public URL (`https://as.example.com/oauth2/token`). A valid proof's key thumbprint
    /// reaches the token builder as `OAuth2TokenRequest::dpop_jkt` (authstar-jwt's
    /// `JwtIssuer::token_response` binds the token to it and answers `token_type: DPoP`); an
    /// invalid or repeated proof is `400 invalid_dpop_proof`. Requests without a proof get
    /// bearer tokens as before.
    pub fn dpop(mut self, proofs: impl ProofVerifier, url: impl Into<String>) -> Self {
        self.dpop = Some(Arc::new(EndpointDpop {
            proofs: Box::new(proofs),
            url: url.into(),
        }));
        self
    }
}

impl<C: Client, A, V> TokenEndpoint<C, A, V> {
    /// The key thumbprint of the request's DPoP proof: `None` without a proof (or when the
    /// endpoint does not check them), `Err` for a repeated or invalid one.
    fn dpop_jkt(&self, parts: &Parts) -> Result<Option<String>, TokenError> {
        let Some(dpop) = &self.dpop else {
            return Ok(None);
        };
        if !parts.headers.contains_key(&DPOP) {
            return Ok(None);
        }
        let refused = |reason: ProofError| {
            let code = match reason {
                ProofError::UseNonce => ErrorCode::UseDpopNonce,
                _ => ErrorCode::InvalidDpopProof,
            };
            TokenError::new(code, reason.description())
        };
        let proof =
            proof_of(&parts.headers, authstar::DEFAULT_MAX_CREDENTIAL_LEN).map_err(refused)?;
        let request = ProofRequest::new(proof, &parts.method, &dpop.url, None);
        dpop.proofs
            .verify_proof(&request)
            .map(Some)
            .map_err(refused)
    }

    /// The layer's `on_auth_basic` checks the same clients as this endpoint's verifier: take
    /// its verdict on `Authorization: Basic` instead of checking the secret a second time
    /// (with a password-hashed secret, a second check doubles the cost of every token). Only
    /// when the layer saw exactly the id and secret the endpoint decoded (RFC 6749 §2.3.1
    /// escapes make them differ otherwise); `client_secret_post` is always checked here.
    pub fn reuse_layer_verdict(mut self) -> Self {
        self.reuse_layer_verdict = true;
        self
    }

    /// The layer's verdict on the presented `client_secret_basic` credentials, when it may
    /// stand for the endpoint's.
    fn layer_verdict(
        &self,
        presented: Option<&ClientCredentials>,
        parts: &Parts,
    ) -> Option<Result<C, TokenError>> {
        let presented = presented.filter(|p| p.method == ClientAuthMethod::ClientSecretBasic)?;
        if !self.reuse_layer_verdict {
            return None;
        }
        let raw = parts.headers.get(AUTHORIZATION)?;
        let Ok(Authorization::Basic(token)) = authorization::parse(raw.as_bytes()) else {
            return None;
        };
        let seen = BasicCredentials::decode(token).ok()?;
        if seen.username() != presented.client_id || seen.password() != presented.client_secret() {
            return None;
        }
        match self.security.info().outcome::<C>(&parts.extensions)? {
            Outcome::Authenticated {
                client,
                method: AuthMethod::Basic,
                ..
            } if client.is_authenticated() => Some(Ok(client.clone())),
            Outcome::Failed(attempt) if attempt.method == AuthMethod::Basic => {
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

/// Why a token request was not answered with a token.
enum Refusal {
    Token(TokenError),
    /// The layer's throttle locked out the client's address or id.
    Throttled(Duration),
}

impl From<TokenError> for Refusal {
    fn from(error: TokenError) -> Self {
        Self::Token(error)
    }
}

impl<C, A, V> TokenEndpoint<C, A, V>
where
    C: Client,
    A: EndpointAction<C>,
    V: ClientVerifier<C>,
{
    /// A `POST` method router for the endpoint; other methods get 405 with `Allow: POST`.
    pub fn into_method_router<S>(self) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        post(move |request: Request| {
            let endpoint = self.clone();
            async move { endpoint.handle(request).await }
        })
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request) -> Response {
        let challenge = self.security.info().challenges().basic();
        let answer = self.answer(request).await;
        #[cfg(feature = "metrics")]
        metrics::counter!(
            "authstar_token_endpoint_requests_total",
            "endpoint" => A::NAME,
            "result" => match &answer {
                Ok(_) => "ok",
                Err(Refusal::Throttled(_)) => "throttled",
                Err(Refusal::Token(error)) => error.error.as_str(),
            }
        )
        .increment(1);
        match answer {
            Ok(response) => no_store(response),
            Err(Refusal::Throttled(wait)) => no_store(too_many_requests(wait)),
            Err(Refusal::Token(error)) => {
                let mut response = (error.status(), Json(&error)).into_response();
                match error.error {
                    ErrorCode::InvalidClient => {
                        response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
                    }
                    ErrorCode::TemporarilyUnavailable => {
                        response
                            .headers_mut()
                            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                    }
                    // RFC 9449 §8: the nonce to use.
                    ErrorCode::UseDpopNonce => {
                        if let Some(nonce) = self.dpop_nonce() {
                            response.headers_mut().insert(&DPOP_NONCE, nonce);
                        }
                    }
                    _ => {}
                }
                no_store(response)
            }
        }
    }

    /// The server nonce DPoP proofs must carry, when they need one.
    fn dpop_nonce(&self) -> Option<HeaderValue> {
        let nonce = self.dpop.as_ref()?.proofs.nonce()?;
        HeaderValue::try_from(nonce).ok()
    }

    async fn answer(&self, request: Request) -> Result<Response, Refusal> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, TOKEN_REQUEST_BODY_LIMIT)
            .await
            .map_err(|_| {
                TokenError::new(ErrorCode::InvalidRequest, "the request body is too large")
            })?;
        let form =
            TokenRequestForm::parse(parts.headers.get(CONTENT_TYPE), parts.uri.query(), &body)?;
        self.action.check(&form)?;
        let authorization =
            authstar::credentials::single(&parts.headers, &AUTHORIZATION).map_err(|_| {
                TokenError::new(
                    ErrorCode::InvalidRequest,
                    "the Authorization header is repeated",
                )
            })?;
        let presented = form.client_credentials(authorization)?;
        let client = match self.layer_verdict(presented.as_ref(), &parts) {
            Some(verdict) => verdict?,
            None => self.verify(presented, &parts).await?,
        };
        let dpop_jkt = self.dpop_jkt(&parts)?;
        let proven = dpop_jkt.is_some();
        let client_id = client.client_id().to_owned();
        let endpoint = A::NAME;
        match self.action.answer(form, client, dpop_jkt).await {
            Ok(mut response) => {
                // RFC 9449 §8.2: a fresh nonce with the token, so the client's next proofs
                // need no refusal to learn it.
                if proven && let Some(nonce) = self.dpop_nonce() {
                    response.headers_mut().insert(&DPOP_NONCE, nonce);
                }
                // Debug, not info: a line per token costs more than a fifth of the ES256
                // signature (5.5 µs of CPU on the demo); refusals and failures stay at info/error.
                tracing::debug!(client_id = %client_id, endpoint, "authstar: request answered");
                Ok(response)
            }
            Err(error) => match error.downcast::<TokenError>() {
                Ok(refusal) => {
                    tracing::info!(client_id = %client_id, endpoint, error = %refusal.error, "authstar: request refused");
                    Err((*refusal).into())
                }
                Err(error) => {
                    tracing::error!(client_id = %client_id, endpoint, error = %error, "authstar: endpoint failed");
                    Err(TokenError::new(
                        ErrorCode::ServerError,
                        "the request could not be completed",
                    )
                    .into())
                }
            },
        }
    }

    /// Checks the client with the endpoint's verifier, under the layer's throttle: body
    /// credentials (`client_secret_post`) never pass the layer, and neither does
    /// `Authorization: Basic` when the layer does not read Basic, so the endpoint checks and
    /// counts those itself, by address and by the client id it checks (decoded, RFC 6749
    /// §2.3.1). Basic credentials the layer reads were counted by the layer, under the same
    /// decoded id.
    async fn verify(
        &self,
        presented: Option<ClientCredentials>,
        parts: &Parts,
    ) -> Result<C, Refusal> {
        let info = self.security.info();
        let layer_reads_basic = info.methods().contains(&authstar::AuthMethod::Basic);
        let counted_here = presented
            .as_ref()
            .filter(|p| match p.method {
                ClientAuthMethod::ClientSecretBasic => !layer_reads_basic,
                _ => true,
            })
            .map(|p| p.client_id.clone());
        let watch = info.throttle().zip(counted_here.as_deref());
        if let Some((throttle, id)) = watch {
            throttle
                .check(
                    &parts.extensions,
                    &parts.headers,
                    Some((BASIC_IDENTITY, id)),
                )
                .map_err(Refusal::Throttled)?;
        }
        let verified = self.verifier.verify(presented, parts, info).await;
        if let (Some((throttle, id)), Err(error)) = (watch, &verified)
            && error.error == ErrorCode::InvalidClient
        {
            throttle.failed(
                &parts.extensions,
                &parts.headers,
                Some((BASIC_IDENTITY, id)),
            );
        }
        Ok(verified?)
    }
}

/// RFC 6749 §5.1: token responses, and their errors, must not be cached.
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

//! [`Endpoint`]: the token, revocation and introspection endpoints as tower services.
//!
//! One request, in order: `POST` only (405 otherwise); the body, at most
//! [`DEFAULT_BODY_LIMIT`] bytes, read as a strict form; the action's own checks (a grant type,
//! a token); the client authenticated ([`client_auth`](crate::client_auth)); the DPoP proof
//! checked (token endpoint, RFC 9449 §5); the action. Every answer is `Cache-Control: no-store`
//! (RFC 6749 §5.1); errors are RFC 6749 §5.2 JSON, `invalid_client` with the layer's Basic
//! challenge, `temporarily_unavailable` with `Retry-After`, `use_dpop_nonce` with the nonce.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use authstar::credentials::ClientCertificate;
use authstar::credentials::dpop::ProofVerifier;
use authstar::throttle::FailureThrottle;
use authstar::{Authenticator, AuthstarLayer, BasicCredentials, Client, MethodSet, RequestHead};
use bytes::Bytes;
use http::header::{
    ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use tower_service::Service;

use crate::BoxError;
use crate::action::{Action, Answer, Holds};
use crate::assertion::ClientAssertions;
use crate::certificate::ClientCertificates;
use crate::client_auth::{self, ClientAuthMethod, Clients, Refused};
use crate::form::{TokenRequestForm, invalid_request};
use crate::introspection::{Introspect, TokenIntrospector};
use crate::revocation::{Revoke, TokenRevoker};
use crate::token::{Issue, TokenBuilder};
use crate::{ErrorCode, TokenError};

/// The largest request body an endpoint reads by default (a token request is a few hundred
/// bytes).
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// The longest DPoP proof the token endpoint reads.
const MAX_PROOF_LEN: usize = 8 * 1024;

/// A boxed answer.
pub(crate) type BoxResponse = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

/// An OAuth 2.0 endpoint that authenticates its clients: the token endpoint
/// ([`token_endpoint`]), the revocation endpoint ([`revocation_endpoint`]) or the
/// introspection endpoint ([`introspection_endpoint`]). A tower
/// [`Service`](tower_service::Service) for any request body: mount it in axum with
/// `route_service`, serve it from hyper, or put it in an
/// [`AuthorizationServer`](crate::AuthorizationServer) with the others. Behind the
/// [`AuthstarLayer`] it was made from.
pub struct Endpoint<C, A> {
    shared: Arc<Shared<C, A>>,
}

struct Shared<C, A> {
    action: Arc<A>,
    clients: Clients<C>,
    dpop: Option<Arc<EndpointDpop>>,
    body_limit: usize,
    /// Whether tokens are bound to the request's client certificate (RFC 8705 §3).
    bind_certificates: bool,
    /// Rate limits for the clients the endpoint authenticates itself.
    limits: Option<authstar::ratelimit::RateLimitLayer<C>>,
    /// Whether a token request must bind its token (FAPI 2.0).
    constrained_only: bool,
}

impl<C, A> Clone for Shared<C, A> {
    fn clone(&self) -> Self {
        Self {
            action: Arc::clone(&self.action),
            clients: self.clients.clone(),
            dpop: self.dpop.clone(),
            body_limit: self.body_limit,
            bind_certificates: self.bind_certificates,
            limits: self.limits.clone(),
            constrained_only: self.constrained_only,
        }
    }
}

/// How the token endpoint checks DPoP proofs: the verifier and the endpoint's public URL.
struct EndpointDpop {
    proofs: Box<dyn ProofVerifier>,
    url: String,
}

impl<C, A> Clone for Endpoint<C, A> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Client, A: Action<C>> fmt::Debug for Endpoint<C, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("endpoint", &A::NAME)
            .field("client_auth", &self.client_auth_methods())
            .field("dpop_url", &self.shared.dpop.as_ref().map(|dpop| &dpop.url))
            .finish()
    }
}

/// The token endpoint for the `client_credentials` grant (RFC 6749 §4.4; the Python package's
/// `oauth2_token_endpoint`), answering with `token_builder`, behind `layer`. Clients
/// authenticate as RFC 6749 §2.3.1 says, with HTTP Basic or body credentials, checked by the
/// layer's own Basic authenticator (or [`client_authenticator`](Endpoint::client_authenticator)).
///
/// ```
/// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
/// use authstar_oauth2::{OAuth2TokenRequest, OAuth2TokenResponse, token_endpoint};
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
/// let token = token_endpoint(&layer, token_builder);
/// // axum: Router::new().route_service("/oauth2/token", token).layer(layer)
/// # let _ = token;
/// ```
pub fn token_endpoint<C, M, B>(
    layer: &AuthstarLayer<C, M>,
    token_builder: B,
) -> Endpoint<C, Issue<B>>
where
    C: Client,
    M: MethodSet<C>,
    B: TokenBuilder<C>,
{
    Endpoint::new(layer, Issue(token_builder))
}

/// The RFC 7009 revocation endpoint (`POST`, form `token=...`, clients authenticated as at the
/// token endpoint): `200` once `revoker` has revoked the token, or found nothing to revoke.
/// Mount it at `/oauth2/revoke` and advertise it as `revocation_endpoint`.
///
/// ```
/// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, Client};
///
/// async fn verify(credentials: BasicCredentials) -> Option<AuthstarClient> {
///     (credentials.password() == "secret").then(|| AuthstarClient::new(credentials.username(), ["read"]))
/// }
/// async fn revoke(token: String, client: AuthstarClient) -> Result<(), std::convert::Infallible> {
///     // Look the token up; forget it if `client` owns it.
///     let _ = (token, client.client_id());
///     Ok(())
/// }
///
/// let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
/// let revocation = authstar_oauth2::revocation_endpoint(&layer, revoke);
/// # let _ = revocation;
/// ```
pub fn revocation_endpoint<C, M, R>(
    layer: &AuthstarLayer<C, M>,
    revoker: R,
) -> Endpoint<C, Revoke<R>>
where
    C: Client,
    M: MethodSet<C>,
    R: TokenRevoker<C>,
{
    Endpoint::new(layer, Revoke(revoker))
}

/// The RFC 7662 introspection endpoint (`POST`, form `token=...`): the caller authenticates as
/// a client, as at the token endpoint. Mount it at `/oauth2/introspect` and advertise it as
/// `introspection_endpoint`.
///
/// ```
/// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
/// use authstar_oauth2::TokenIntrospection;
///
/// async fn verify(credentials: BasicCredentials) -> Option<AuthstarClient> {
///     (credentials.password() == "secret").then(|| AuthstarClient::new(credentials.username(), ["read"]))
/// }
/// async fn introspect(
///     token: String,
///     _caller: AuthstarClient,
/// ) -> Result<TokenIntrospection, std::convert::Infallible> {
///     Ok(if token == "known" { TokenIntrospection::active("svc") } else { TokenIntrospection::inactive() })
/// }
///
/// let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
/// let introspection = authstar_oauth2::introspection_endpoint(&layer, introspect);
/// # let _ = introspection;
/// ```
pub fn introspection_endpoint<C, M, I>(
    layer: &AuthstarLayer<C, M>,
    introspector: I,
) -> Endpoint<C, Introspect<I>>
where
    C: Client,
    M: MethodSet<C>,
    I: TokenIntrospector<C>,
{
    Endpoint::new(layer, Introspect(introspector))
}

impl<C: Client, A: Action<C>> Endpoint<C, A> {
    fn new<M: MethodSet<C>>(layer: &AuthstarLayer<C, M>, action: A) -> Self {
        Self {
            shared: Arc::new(Shared {
                action: Arc::new(action),
                clients: Clients::of_layer(layer),
                dpop: None,
                body_limit: DEFAULT_BODY_LIMIT,
                bind_certificates: false,
                limits: None,
                constrained_only: false,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Shared<C, A>)) -> Self {
        change(Arc::make_mut(&mut self.shared));
        self
    }

    /// Checks client secrets with `authenticator` instead of the layer's Basic authenticator:
    /// for a layer without Basic, or clients kept apart from the layer's users. The layer's
    /// verdict on `Authorization: Basic` is then not taken.
    pub fn client_authenticator<V>(self, authenticator: V) -> Self
    where
        V: Authenticator<BasicCredentials, Client = C>,
    {
        self.with(|shared| shared.clients = shared.clients.clone().checked_by(authenticator))
    }

    /// Accepts `private_key_jwt` (RFC 7523 §2.2): a client may authenticate with a JWT
    /// assertion signed by its private key (`client_assertion_type` =
    /// [`JWT_BEARER_ASSERTION`](crate::JWT_BEARER_ASSERTION), `client_assertion`), checked by
    /// `assertions` (authstar-jwt's `ClientAssertionVerifier`). Refusals are `invalid_client`
    /// with no detail, counted by the layer's throttle under the client's id, as wrong secrets
    /// are.
    pub fn client_assertions(self, assertions: impl ClientAssertions<C>) -> Self {
        self.with(|shared| shared.clients = shared.clients.clone().with_assertions(assertions))
    }

    /// Accepts client authentication by TLS certificate (RFC 8705 §2: `tls_client_auth`,
    /// `self_signed_tls_client_auth`): a client sends its `client_id` and no secret, and the
    /// request's [`ClientCertificate`](authstar::credentials::ClientCertificate) (its
    /// connection's, or a trusted proxy's `Client-Cert`) is checked by `certificates`.
    /// Refusals are `invalid_client`, counted by the layer's throttle under the client's id.
    /// Combine with [`certificate_bound_tokens`](Self::certificate_bound_tokens) so the tokens
    /// are bound to the certificate that authenticated the client.
    pub fn client_certificates(self, certificates: impl ClientCertificates<C>) -> Self {
        self.with(|shared| shared.clients = shared.clients.clone().with_certificates(certificates))
    }

    /// Counts each request of a client the endpoint authenticates against `limits` (429 with
    /// `Retry-After` beyond): clients that authenticate in the body, with an assertion or a
    /// certificate, which the layer's [`RateLimitLayer`](authstar::ratelimit::RateLimitLayer)
    /// never sees. A request the layer authenticated was counted there, and is not again.
    pub fn rate_limited(self, limits: authstar::ratelimit::RateLimitLayer<C>) -> Self {
        self.with(|shared| shared.limits = Some(limits))
    }

    /// Refuses client secrets (`client_secret_basic`, `client_secret_post`): clients
    /// authenticate with [`client_assertions`](Self::client_assertions) or
    /// [`client_certificates`](Self::client_certificates) only, as FAPI 2.0 requires
    /// (§5.3.2.1); the metadata lists only those methods.
    pub fn without_client_secrets(self) -> Self {
        self.with(|shared| shared.clients = shared.clients.clone().without_secrets())
    }

    /// The `alg` values client assertions may use (RFC 8414
    /// `token_endpoint_auth_signing_alg_values_supported`), when they are accepted.
    pub fn client_assertion_algorithms(&self) -> Option<Vec<String>> {
        self.shared.clients.assertion_algorithms()
    }

    /// Reads at most `bytes` of a request's body (default [`DEFAULT_BODY_LIMIT`]); a larger
    /// one is `invalid_request`.
    pub fn body_limit(self, bytes: usize) -> Self {
        self.with(|shared| shared.body_limit = bytes)
    }

    /// How clients may authenticate here (RFC 8414 `*_auth_methods_supported`): none when the
    /// layer has no Basic method and no [`client_authenticator`](Self::client_authenticator)
    /// was given.
    pub fn client_auth_methods(&self) -> Vec<ClientAuthMethod> {
        self.shared.clients.methods()
    }

    /// Whether tokens are bound to client certificates.
    pub(crate) fn binds_certificates(&self) -> bool {
        self.shared.bind_certificates
    }

    /// The accepted DPoP proof algorithms, when the endpoint checks proofs.
    pub(crate) fn dpop_algorithms(&self) -> Option<Vec<String>> {
        self.shared
            .dpop
            .as_ref()
            .map(|dpop| dpop.proofs.algorithms())
    }

    pub(crate) fn body_limit_bytes(&self) -> usize {
        self.shared.body_limit
    }

    /// The answer to a request whose body is too large or was cut off.
    pub(crate) fn body_refused(&self) -> Response<Full<Bytes>> {
        let refused = invalid_request("the request body is too large or was cut off");
        self.shared.render(Err(refused.into()))
    }

    /// Answers a request whose body has been read.
    pub(crate) fn handle(&self, parts: Parts, body: Bytes) -> BoxResponse {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let answered = shared.answer(&parts, &body).await;
            #[cfg(feature = "metrics")]
            metrics::counter!(
                "authstar_token_endpoint_requests_total",
                "endpoint" => A::NAME,
                "result" => match &answered {
                    Ok(_) => "ok",
                    Err(Refused::Throttled(_)) => "throttled",
                    Err(Refused::Token(error)) => error.error.as_str(),
                }
            )
            .increment(1);
            shared.render(answered)
        })
    }
}

impl<C: Client, B: TokenBuilder<C>> Endpoint<C, Issue<B>> {
    /// Binds the tokens of requests that came over mutual TLS (a
    /// [`ClientCertificate`] in the request's extensions, put there by the TLS server or from a
    /// trusted proxy's `Client-Cert`) to that certificate: `cnf.x5t#S256`
    /// ([`OAuth2TokenRequest::certificate_x5t`](crate::OAuth2TokenRequest)), RFC 8705 §3.
    /// A resource server then accepts such a token only over the same certificate. A request
    /// with a DPoP proof is bound to the proof's key instead. The metadata says
    /// `tls_client_certificate_bound_access_tokens: true`.
    pub fn certificate_bound_tokens(self) -> Self {
        self.with(|shared| shared.bind_certificates = true)
    }

    /// Issues sender-constrained tokens only (FAPI 2.0 §5.3.2.1): a token request that carries
    /// neither a DPoP proof nor a client certificate (with
    /// [`certificate_bound_tokens`](Self::certificate_bound_tokens)) is `invalid_request`.
    pub fn sender_constrained_only(self) -> Self {
        self.with(|shared| shared.constrained_only = true)
    }

    /// Issues DPoP-bound tokens (RFC 9449 §5) to requests that carry a `DPoP` proof, checked
    /// by `proofs` (authstar-jwt's `DpopVerifier`) against `POST` and `url`, this endpoint's
    /// public URL (`https://as.example.com/oauth2/token`). A valid proof's key thumbprint
    /// reaches the token builder as [`OAuth2TokenRequest::dpop_jkt`](crate::OAuth2TokenRequest)
    /// (authstar-jwt's `JwtIssuer::token_response` binds the token to it); an invalid or
    /// repeated proof is `400 invalid_dpop_proof`, one without the server's nonce
    /// `use_dpop_nonce` with the nonce. Requests without a proof get bearer tokens.
    pub fn dpop(self, proofs: impl ProofVerifier, url: impl Into<String>) -> Self {
        let dpop = Arc::new(EndpointDpop {
            proofs: Box::new(proofs),
            url: url.into(),
        });
        self.with(|shared| shared.dpop = Some(dpop))
    }
}

/// A request that was answered: its body, and whether a DPoP proof came with it.
struct Answered {
    answer: Answer,
    proven: bool,
}

impl<C: Client, A: Action<C>> Shared<C, A> {
    async fn answer(&self, parts: &Parts, body: &[u8]) -> Result<Answered, Refused> {
        let form =
            TokenRequestForm::parse(parts.headers.get(CONTENT_TYPE), parts.uri.query(), body)?;
        self.action.check(&form)?;
        let mut authorizations = parts.headers.get_all(AUTHORIZATION).iter();
        let authorization = authorizations.next();
        if authorizations.next().is_some() {
            return Err(invalid_request("the Authorization header is repeated").into());
        }
        // FAPI 2.0: nothing to bind a token to, nothing issued; said before the client's
        // assertion is checked (and its `jti` spent).
        let may_bind = parts.headers.contains_key("dpop")
            || (self.bind_certificates && parts.extensions.get::<ClientCertificate>().is_some());
        if self.constrained_only && !may_bind {
            return Err(invalid_request(
                "only sender-constrained tokens are issued: send a DPoP proof, or use mutual TLS",
            )
            .into());
        }
        let presented = client_auth::presented(&form, authorization)?;
        let client = self.clients.authenticate(presented, parts).await?;
        if let Some(limits) = &self.limits {
            limits
                .check_client(&parts.extensions, &client)
                .map_err(Refused::Throttled)?;
        }
        let dpop_jkt = self.dpop_jkt(parts)?;
        let proven = dpop_jkt.is_some();
        // Without a proof, a certificate-bound token when the endpoint binds them (RFC 8705 §3).
        let certificate_x5t = match (&dpop_jkt, self.bind_certificates) {
            (None, true) => parts
                .extensions
                .get::<ClientCertificate>()
                .map(|certificate| certificate.thumbprint().to_owned()),
            _ => None,
        };
        if self.constrained_only && dpop_jkt.is_none() && certificate_x5t.is_none() {
            return Err(invalid_request(
                "only sender-constrained tokens are issued: send a DPoP proof, or use mutual TLS",
            )
            .into());
        }
        let holds = Holds {
            dpop_jkt,
            certificate_x5t,
        };
        let client_id = client.client_id().to_owned();
        let endpoint = A::NAME;
        match self.action.answer(form, client, holds).await {
            Ok(answer) => {
                // Debug, not info: a line per token costs more than a fifth of the ES256
                // signature; refusals and failures stay at info and error.
                tracing::debug!(client_id = %client_id, endpoint, "authstar: request answered");
                Ok(Answered { answer, proven })
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

    /// The key thumbprint of the request's DPoP proof: `None` without a proof (or when the
    /// endpoint does not check them), `Err` for a repeated or invalid one.
    fn dpop_jkt(&self, parts: &Parts) -> Result<Option<String>, TokenError> {
        let Some(dpop) = &self.dpop else {
            return Ok(None);
        };
        let head = RequestHead::from_parts(parts);
        dpop.proofs
            .check_request(&head, &dpop.url, MAX_PROOF_LEN)
            .map_err(|reason| {
                let code = match reason {
                    authstar::credentials::dpop::ProofError::UseNonce => ErrorCode::UseDpopNonce,
                    _ => ErrorCode::InvalidDpopProof,
                };
                TokenError::new(code, reason.description())
            })
    }

    fn dpop_nonce(&self) -> Option<(http::HeaderName, HeaderValue)> {
        self.dpop.as_ref()?.proofs.nonce_header()
    }

    fn render(&self, answered: Result<Answered, Refused>) -> Response<Full<Bytes>> {
        let response = match answered {
            Ok(Answered { answer, proven }) => {
                let mut response = match answer {
                    Answer::Json(json) => json_response(StatusCode::OK, json),
                    Answer::Empty => Response::new(Full::default()),
                };
                // RFC 9449 §8.2: a fresh nonce with the token, so the client's next proofs need
                // no refusal to learn it.
                if proven && let Some((name, value)) = self.dpop_nonce() {
                    response.headers_mut().insert(name, value);
                }
                response
            }
            Err(Refused::Throttled(wait)) => FailureThrottle::too_many_requests(wait),
            Err(Refused::Token(error)) => self.error_response(&error),
        };
        no_store(response)
    }

    fn error_response(&self, error: &TokenError) -> Response<Full<Bytes>> {
        let body = serde_json::to_vec(error).unwrap_or_default();
        let mut response = json_response(error.status(), body.into());
        let headers = response.headers_mut();
        match error.error {
            // RFC 6749 §5.2: a 401 names how to authenticate.
            ErrorCode::InvalidClient => {
                headers.insert(WWW_AUTHENTICATE, self.clients.layer().basic_challenge());
            }
            ErrorCode::TemporarilyUnavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            // RFC 9449 §8: the nonce to use.
            ErrorCode::UseDpopNonce => {
                if let Some((name, value)) = self.dpop_nonce() {
                    headers.insert(name, value);
                }
            }
            _ => {}
        }
        response
    }
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// RFC 6749 §5.1: token responses, and their errors, must not be cached.
fn no_store(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `405 Method Not Allowed` with the methods a path allows.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// Reads a request's body, at most `limit` bytes.
pub(crate) async fn read_body<B>(body: B, limit: usize) -> Option<Bytes>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Limited::new(body, limit)
        .collect()
        .await
        .ok()
        .map(|collected| collected.to_bytes())
}

impl<C, A, B> Service<Request<B>> for Endpoint<C, A>
where
    C: Client,
    A: Action<C>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let endpoint = self.clone();
        Box::pin(async move {
            if request.method() != Method::POST {
                return Ok(method_not_allowed("POST"));
            }
            let (parts, body) = request.into_parts();
            let Some(body) = read_body(body, endpoint.shared.body_limit).await else {
                return Ok(endpoint.body_refused());
            };
            Ok(endpoint.handle(parts, body).await)
        })
    }
}

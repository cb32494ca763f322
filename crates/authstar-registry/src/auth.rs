//! The registry as authstar authenticators, each plugged into the layer in one line: client
//! secrets for `Authorization: Basic` (and so for the token endpoint), API keys for
//! `X-API-Key`; its tokens: the signing key, a token endpoint builder ([`RegistryTokens`]) and
//! the verifier of what it issued.
//!
//! ```
//! use authstar::{AuthstarClient, AuthstarLayer};
//! use authstar_registry::Registry;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = std::env::temp_dir().join(format!("authstar-registry-auth-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let registry = Registry::open(&dir.join("clients.db")).await.unwrap();
//! let layer = AuthstarLayer::builder()
//!     .on_auth_basic_with(registry.client_secrets())
//!     .on_auth_header(registry.api_keys())
//!     .build()
//!     .unwrap();
//! let tokens = authstar_oauth2::token_endpoint(&layer, registry.tokens("https://as.example").unwrap());
//! let verifier = registry.token_verifier("https://as.example").unwrap().build();
//! # let _ = (tokens, verifier);
//! # drop(registry);
//! # let _ = std::fs::remove_dir_all(dir);
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;

use authstar::{
    Authenticator, AuthstarClient, BasicCredentials, HeaderAuth, HeaderCredential, Started, Verdict,
};
use authstar_jwt::{Algorithm, JwtIssuer, JwtVerifier, JwtVerifierBuilder, SigningKey};
use authstar_oauth2::{
    BoxError, ErrorCode, OAuth2TokenRequest, OAuth2TokenResponse, TokenBuilder, TokenError,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Registry, RegistryError, api_key_id};

/// The future of a registry authenticator that has to ask the database.
type BoxVerdict = Pin<Box<dyn Future<Output = Verdict<AuthstarClient>> + Send>>;

/// A registry answer as a verdict. A registry that is busy (too many password checks) or
/// failing is `Unavailable` (the layer answers 503 with `Retry-After` under
/// `unavailable_on_backend_error`): never a false refusal.
fn verdict(answer: Result<Option<AuthstarClient>, RegistryError>) -> Verdict<AuthstarClient> {
    match answer {
        Ok(Some(client)) => Verdict::Authenticated(client),
        Ok(None) => Verdict::Rejected,
        Err(error) => Verdict::Unavailable(error.into()),
    }
}

/// The registry's clients, checked by id and secret: an [`Authenticator`] of
/// [`BasicCredentials`] for [`on_auth_basic_with`](authstar::AuthstarLayerBuilder::on_auth_basic_with),
/// and through the layer for the token, revocation and introspection endpoints of
/// authstar-oauth2.
///
/// OAuth 2.0 clients form-encode their id and secret inside Basic (RFC 6749 §2.3.1): the id is
/// read decoded (as the layer's failure throttle counts it), the secret both ways when it holds
/// an escape (an imported secret with `%` or `+`, sent encoded or not). A cache hit answers at
/// once; anything else asks the database.
#[derive(Clone, Debug)]
pub struct ClientSecrets(Registry);

impl ClientSecrets {
    /// The id and the readings of the secret.
    fn readings(credentials: &BasicCredentials) -> (String, Vec<String>) {
        let secret = credentials.password();
        let mut secrets = vec![secret.to_owned()];
        let (id, decoded) = credentials.oauth2_client();
        if decoded != secret {
            secrets.push(decoded.into_owned());
        }
        (id.into_owned(), secrets)
    }
}

impl Authenticator<BasicCredentials> for ClientSecrets {
    type Client = AuthstarClient;
    type Future = BoxVerdict;

    fn authenticate(&self, credentials: BasicCredentials) -> BoxVerdict {
        let registry = self.0.clone();
        Box::pin(async move {
            let (id, secrets) = Self::readings(&credentials);
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            verdict(registry.check_client_any(&id, &secrets).await)
        })
    }

    fn start(&self, credentials: BasicCredentials) -> Started<BoxVerdict, AuthstarClient> {
        let (id, _) = Self::readings(&credentials);
        match self.0.cached_client(&id, credentials.password()) {
            Some(client) => Started::Done(Verdict::Authenticated(client)),
            // Missed the cache: straight to the database.
            None => Started::Running(self.authenticate(credentials)),
        }
    }
}

/// The registry's API keys, for [`HeaderAuth`]: a cache hit answers at once; anything else
/// asks the database. A key's client comes with its key id as its credential
/// ([`AuthstarClient::credential_id`]).
#[derive(Clone, Debug)]
pub struct ApiKeys(Registry);

impl Authenticator<HeaderCredential> for ApiKeys {
    type Client = AuthstarClient;
    type Future = BoxVerdict;

    fn authenticate(&self, key: HeaderCredential) -> BoxVerdict {
        let registry = self.0.clone();
        Box::pin(async move { verdict(registry.check_key(key.as_str()).await) })
    }

    fn start(&self, key: HeaderCredential) -> Started<BoxVerdict, AuthstarClient> {
        match self.0.cached_key(key.as_str()) {
            Some(client) => Started::Done(Verdict::Authenticated(client)),
            None => Started::Running(self.authenticate(key)),
        }
    }
}

impl Registry {
    /// The registry's clients as a Basic authenticator ([`ClientSecrets`]).
    pub fn client_secrets(&self) -> ClientSecrets {
        ClientSecrets(self.clone())
    }

    /// The registry's API keys in `X-API-Key`, their failures counted by the failure throttle
    /// against the key's id ([`api_key_id`]), never the secret.
    pub fn api_keys(&self) -> HeaderAuth<ApiKeys> {
        HeaderAuth::x_api_key_with(ApiKeys(self.clone())).identity(api_key_id)
    }

    /// The key the registry's tokens are signed with (ES256, from the secrets file), with its
    /// `kid`: the same on every instance that shares the file.
    pub fn signing_key(&self) -> Result<SigningKey, RegistryError> {
        let secrets = self.secrets();
        let broken = |message: String| RegistryError::Secrets {
            path: std::path::PathBuf::from("(the secrets file)"),
            message,
        };
        let der = URL_SAFE_NO_PAD
            .decode(&secrets.jwt_key)
            .map_err(|_| broken("its JWT key is not base64".into()))?;
        SigningKey::from_pkcs8(Algorithm::ES256, secrets.jwt_kid.clone(), &der)
            .map_err(|error| broken(format!("its JWT key does not load: {error}")))
    }

    /// An issuer of RFC 9068 access tokens signed with [`signing_key`](Self::signing_key),
    /// whose `iss` (and `aud`) is `issuer_url`: what a token endpoint's builder signs with.
    pub fn issuer(&self, issuer_url: &str) -> Result<JwtIssuer, RegistryError> {
        Ok(JwtIssuer::new(self.signing_key()?, issuer_url, issuer_url))
    }

    /// The token endpoint's builder (for `authstar_oauth2::token_endpoint`): tokens from
    /// [`issuer`](Self::issuer) for the clients the layer authenticated, never for a client this
    /// registry knows to be revoked, nor while it cannot tell ([`RegistryTokens`]).
    pub fn tokens(&self, issuer_url: &str) -> Result<RegistryTokens, RegistryError> {
        Ok(RegistryTokens {
            registry: self.clone(),
            issuer: self.issuer(issuer_url)?,
        })
    }

    /// A verifier of the tokens [`issuer`](Self::issuer) signs (`iss` and `aud` `issuer_url`,
    /// RFC 9068), refusing revoked tokens and every token of a revoked client from memory
    /// ([`Revocations`](authstar_jwt::Revocations)); add a cache before
    /// [`build`](JwtVerifierBuilder::build).
    pub fn token_verifier(&self, issuer_url: &str) -> Result<JwtVerifierBuilder, RegistryError> {
        let key = self.signing_key()?.verification_key();
        Ok(JwtVerifier::builder([key], issuer_url, issuer_url).revocations(self.clone()))
    }
}

/// The registry's token endpoint builder ([`Registry::tokens`]): RFC 9068 access tokens
/// (DPoP-bound when the request proved a key) for the client the layer has just authenticated
/// (against the database or its cache, which every instance drops when a revocation is seen).
/// The revoked clients in memory close the rest without a database read: a client revoked on
/// another instance gets no token here once this one has seen it (the poll), and while this
/// registry has not heard from its database for longer than it may
/// ([`Registry::revocations_current`]) the answer is `temporarily_unavailable`, never a token it
/// cannot vouch for.
#[derive(Clone, Debug)]
pub struct RegistryTokens {
    registry: Registry,
    issuer: JwtIssuer,
}

impl RegistryTokens {
    /// The issuer that signs.
    pub fn issuer(&self) -> &JwtIssuer {
        &self.issuer
    }
}

impl TokenBuilder<AuthstarClient> for RegistryTokens {
    async fn build(
        &self,
        request: OAuth2TokenRequest,
        _client: AuthstarClient,
    ) -> Result<OAuth2TokenResponse, BoxError> {
        if !self.registry.revocations_current() {
            return Err(TokenError::new(
                ErrorCode::TemporarilyUnavailable,
                "the registry is unreachable; try again shortly",
            )
            .into());
        }
        if self.registry.is_revoked_client(&request.client_id) {
            return Err(TokenError::new(
                ErrorCode::InvalidClient,
                "unknown client or wrong client secret",
            )
            .into());
        }
        Ok(self.issuer.token_response(&request)?)
    }
}

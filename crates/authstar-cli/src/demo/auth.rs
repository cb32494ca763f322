//! The demo's authenticators on the registry: Basic client credentials, API keys and the
//! session cookie. Cache hits answer at once; everything else asks the registry's database.

use std::future::Future;
use std::pin::Pin;

use authstar::oauth2::form_decoded;
use authstar::{
    Authenticator, AuthstarClient, BasicCredentials, HeaderCredential, RequestAuthenticator,
    Started, Verdict,
};
use axum::http::request::Parts;
use axum_extra::extract::cookie::Key;

use super::session;
use crate::registry::{Registry, RegistryError};

pub(super) type BoxVerdict = Pin<Box<dyn Future<Output = Verdict<AuthstarClient>> + Send>>;

/// A registry answer as a verdict. A registry that is busy (too many password checks) or
/// failing is `Unavailable`: the layer answers 503 with `Retry-After`.
fn verdict(answer: Result<Option<AuthstarClient>, RegistryError>) -> Verdict<AuthstarClient> {
    match answer {
        Ok(Some(client)) => Verdict::Authenticated(client),
        Ok(None) => Verdict::Rejected,
        Err(error) => Verdict::Unavailable(error.into()),
    }
}

/// Basic client credentials.
#[derive(Clone)]
pub(super) struct RegistryBasic(pub(super) Registry);

impl Authenticator<BasicCredentials> for RegistryBasic {
    type Client = AuthstarClient;
    type Future = BoxVerdict;

    fn authenticate(&self, credentials: BasicCredentials) -> BoxVerdict {
        let registry = self.0.clone();
        Box::pin(async move {
            // `start` has just missed the cache: straight to the database.
            let (id, secret) = (credentials.username(), credentials.password());
            let found = registry.check_client(id, secret).await;
            // OAuth2 clients form-urlencode id and secret inside Basic (RFC 6749 §2.3.1); an
            // imported secret with `%` or `+` arrives escaped. Only those pay a second check.
            verdict(match (found, rfc6749_decoded(id, secret)) {
                (Ok(None), Some((id, secret))) => registry.check_client(&id, &secret).await,
                (found, _) => found,
            })
        })
    }

    fn start(&self, credentials: BasicCredentials) -> Started<BoxVerdict, AuthstarClient> {
        match self
            .0
            .cached_client(credentials.username(), credentials.password())
        {
            Some(client) => Started::Done(Verdict::Authenticated(client)),
            None => Started::Running(self.authenticate(credentials)),
        }
    }
}

/// The RFC 6749 §2.3.1 reading of Basic credentials, when it differs from the plain one.
fn rfc6749_decoded(id: &str, secret: &str) -> Option<(String, String)> {
    if !(id.contains(['%', '+']) || secret.contains(['%', '+'])) {
        return None;
    }
    Some((form_decoded(id)?, form_decoded(secret)?))
}

/// API keys.
#[derive(Clone)]
pub(super) struct RegistryKey(pub(super) Registry);

impl Authenticator<HeaderCredential> for RegistryKey {
    type Client = AuthstarClient;
    type Future = BoxVerdict;

    fn authenticate(&self, key: HeaderCredential) -> BoxVerdict {
        let registry = self.0.clone();
        // `start` has just missed the cache: straight to the database.
        Box::pin(async move { verdict(registry.check_key(key.as_str()).await) })
    }

    fn start(&self, key: HeaderCredential) -> Started<BoxVerdict, AuthstarClient> {
        match self.0.cached_key(key.as_str()) {
            Some(client) => Started::Done(Verdict::Authenticated(client)),
            None => Started::Running(self.authenticate(key)),
        }
    }
}

/// The signed session cookie, honoured only while its client is active (checked through the
/// registry's cache, which every instance drops within 250 ms of a revocation anywhere).
#[derive(Clone)]
pub(super) struct RegistrySession {
    pub(super) registry: Registry,
    pub(super) key: Key,
}

impl RequestAuthenticator for RegistrySession {
    type Client = AuthstarClient;
    type Future = BoxVerdict;

    fn authenticate(&self, parts: &Parts) -> BoxVerdict {
        let session = session::read(&parts.headers, &self.key);
        let registry = self.registry.clone();
        Box::pin(async move {
            let Some(client) = session else {
                return Verdict::Rejected;
            };
            let active = registry.is_active_cached(client.client_id()).await;
            verdict(active.map(|active| active.then_some(client)))
        })
    }

    fn start(&self, parts: &Parts) -> Started<BoxVerdict, AuthstarClient> {
        let Some(client) = session::read(&parts.headers, &self.key) else {
            return Started::Done(Verdict::Rejected);
        };
        match self.registry.cached_active(client.client_id()) {
            Some(true) => Started::Done(Verdict::Authenticated(client)),
            Some(false) => Started::Done(Verdict::Rejected),
            None => Started::Running(self.authenticate(parts)),
        }
    }
}

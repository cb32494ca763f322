//! The demo's session-cookie authenticator on the registry (Basic client credentials and API
//! keys are the registry's own: `Registry::client_secrets`, `Registry::api_keys`), and what
//! stands behind a request for a websocket to check again. Cache hits answer at once;
//! everything else asks the registry's database.

use std::future::Future;
use std::pin::Pin;

use authstar::{AuthMethod, AuthstarClient, RequestAuthenticator, Started, Verdict};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum_extra::extract::cookie::Key;

use super::session::{self, MintedBy};
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

/// The signed session cookie, honoured only while its client is active and the key or token
/// that minted it is still valid (checked through the registry's caches and its revocations in
/// memory, which follow every revocation anywhere within the poll interval).
#[derive(Clone)]
pub(super) struct RegistrySession {
    pub(super) registry: Registry,
    pub(super) key: Key,
}

/// Whether a client, and the key or token that stands behind it, are still valid: `None` when
/// the caches cannot tell at once.
fn still_valid_cached(
    registry: &Registry,
    client: &AuthstarClient,
    minted_by: Option<&MintedBy>,
) -> Option<bool> {
    let minted = match minted_by {
        None => Some(true),
        Some(MintedBy::Key(key_id)) => registry.cached_key_active(key_id),
        Some(MintedBy::Token(jti)) => Some(!token_revoked(registry, client, jti)),
    };
    match (minted, registry.cached_active(client.client_id())) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn token_revoked(registry: &Registry, client: &AuthstarClient, jti: &str) -> bool {
    use authstar_jwt::Revocations as _;
    registry.is_revoked(&authstar_jwt::TokenStamp {
        jti,
        client_id: client.client_id(),
        iat: 0,
    })
}

/// [`still_valid_cached`], asking the database where the caches cannot tell.
async fn still_valid(
    registry: &Registry,
    client: &AuthstarClient,
    minted_by: Option<&MintedBy>,
) -> Result<bool, RegistryError> {
    let minted = match minted_by {
        None => true,
        Some(MintedBy::Key(key_id)) => registry.is_key_active_cached(key_id).await?,
        Some(MintedBy::Token(jti)) => !token_revoked(registry, client, jti),
    };
    Ok(minted && registry.is_active_cached(client.client_id()).await?)
}

/// What stands behind an authenticated request, as far as it can be checked again later (by a
/// websocket it opened): its client, and the API key or token that authenticated it, or that
/// minted its session; and when that expires.
#[derive(Clone, Debug)]
pub(super) struct Standing {
    minted_by: Option<MintedBy>,
    expires_at: Option<u64>,
}

impl Standing {
    /// What stands behind a request authenticated as `client` by `method`.
    pub(super) fn of(
        method: &AuthMethod,
        client: &AuthstarClient,
        headers: &HeaderMap,
        cookie_key: &Key,
    ) -> Self {
        let credential = client.credential_id();
        let expires_at = client.credential_expiry();
        match method {
            AuthMethod::Header(_) => Self {
                minted_by: credential.map(|id| MintedBy::Key(id.to_owned())),
                expires_at,
            },
            AuthMethod::Bearer | AuthMethod::Dpop => Self {
                minted_by: credential.map(|id| MintedBy::Token(id.to_owned())),
                expires_at,
            },
            AuthMethod::Request => match session::read(headers, cookie_key) {
                Some(session) => Self {
                    minted_by: session.minted_by,
                    expires_at: Some(session.exp),
                },
                None => Self {
                    minted_by: None,
                    expires_at: Some(0),
                },
            },
            _ => Self {
                minted_by: None,
                expires_at: None,
            },
        }
    }

    /// Whether it is still valid: unexpired, its client and its key or token not revoked. A
    /// database that does not answer keeps it valid only while the registry's view of
    /// revocations is current.
    pub(super) async fn still_valid(&self, registry: &Registry, client: &AuthstarClient) -> bool {
        if self
            .expires_at
            .is_some_and(|exp| exp <= authstar_jwt::unix_now())
        {
            return false;
        }
        match still_valid(registry, client, self.minted_by.as_ref()).await {
            Ok(valid) => valid,
            Err(_) => registry.revocations_current(),
        }
    }
}

impl RequestAuthenticator for RegistrySession {
    type Client = AuthstarClient;
    type Future = BoxVerdict;

    fn authenticate(&self, parts: &Parts) -> BoxVerdict {
        let session = session::read(&parts.headers, &self.key);
        let registry = self.registry.clone();
        Box::pin(async move {
            let Some(session) = session else {
                return Verdict::Rejected;
            };
            let valid = still_valid(&registry, &session.client, session.minted_by.as_ref()).await;
            verdict(valid.map(|valid| valid.then_some(session.client)))
        })
    }

    fn start(&self, parts: &Parts) -> Started<BoxVerdict, AuthstarClient> {
        let Some(session) = session::read(&parts.headers, &self.key) else {
            return Started::Done(Verdict::Rejected);
        };
        match still_valid_cached(&self.registry, &session.client, session.minted_by.as_ref()) {
            Some(true) => Started::Done(Verdict::Authenticated(session.client)),
            Some(false) => Started::Done(Verdict::Rejected),
            None => Started::Running(self.authenticate(parts)),
        }
    }
}

/// An authenticator that can be switched off: then it refuses every credential without asking
/// `A` (the FAPI 2.0 profile's Basic and API keys on the resource routes: only
/// sender-constrained tokens open them).
#[derive(Clone, Debug)]
pub(super) struct Switched<A> {
    pub(super) inner: A,
    pub(super) on: bool,
}

impl<Credential, A> authstar::Authenticator<Credential> for Switched<A>
where
    A: authstar::Authenticator<Credential>,
    A::Client: Send + 'static,
{
    type Client = A::Client;
    type Future = SwitchedFuture<A::Future>;

    fn authenticate(&self, credential: Credential) -> Self::Future {
        match self.on {
            true => SwitchedFuture::On {
                future: self.inner.authenticate(credential),
            },
            false => SwitchedFuture::Off,
        }
    }

    fn start(&self, credential: Credential) -> Started<Self::Future, Self::Client> {
        match self.on {
            true => self
                .inner
                .start(credential)
                .map(|future| SwitchedFuture::On { future }),
            false => Started::Done(Verdict::Rejected),
        }
    }
}

impl<A> RequestAuthenticator for Switched<A>
where
    A: RequestAuthenticator,
    A::Client: Send + 'static,
{
    type Client = A::Client;
    type Future = SwitchedFuture<A::Future>;

    fn authenticate(&self, parts: &Parts) -> Self::Future {
        match self.on {
            true => SwitchedFuture::On {
                future: self.inner.authenticate(parts),
            },
            false => SwitchedFuture::Off,
        }
    }

    fn start(&self, parts: &Parts) -> Started<Self::Future, Self::Client> {
        match self.on {
            true => self
                .inner
                .start(parts)
                .map(|future| SwitchedFuture::On { future }),
            false => Started::Done(Verdict::Rejected),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`Switched`] authenticator.
    #[project = SwitchedProj]
    pub(super) enum SwitchedFuture<F> {
        On { #[pin] future: F },
        Off,
    }
}

impl<F, C> Future for SwitchedFuture<F>
where
    F: Future<Output = Verdict<C>>,
{
    type Output = Verdict<C>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Verdict<C>> {
        match self.project() {
            SwitchedProj::On { future } => future.poll(cx),
            SwitchedProj::Off => std::task::Poll::Ready(Verdict::Rejected),
        }
    }
}

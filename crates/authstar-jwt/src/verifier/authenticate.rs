//! The verifier as an authenticator: synchronous when the keys are at hand, a future only for
//! a remote key set's refresh; what a bearer or DPoP request proves it holds.

use std::future::Future;
use std::pin::Pin;

use authstar::credentials::dpop::DpopToken;
use authstar::{Authenticator, BearerToken, Client, Started, Verdict};

use super::cache::Proven;
use super::{JwtVerifier, KeySource};
use crate::claims::InvalidToken;

pub(crate) fn verdict<C>(result: Result<C, InvalidToken>) -> Verdict<C> {
    match result {
        Ok(client) => Verdict::Authenticated(client),
        Err(InvalidToken::RevocationsUnknown) => {
            Verdict::Unavailable(InvalidToken::RevocationsUnknown.to_string().into())
        }
        Err(rejection) => {
            tracing::debug!(reason = %rejection, "authstar-jwt: token refused");
            Verdict::Rejected
        }
    }
}

/// The future of a verification that waits for a JWKS refresh.
pub(crate) type VerifyFuture<C> = Pin<Box<dyn Future<Output = Verdict<C>> + Send>>;

impl<C: Client> JwtVerifier<C> {
    /// Verifies `token` (proven by the key `jkt`, if any), waiting for a JWKS refresh.
    fn verify_async(&self, token: Box<str>, proven: Proven<'_>) -> VerifyFuture<C> {
        let verifier = self.clone();
        let (dpop, certificate) = proven.owned();
        Box::pin(async move {
            let proven = Proven {
                dpop: dpop.as_deref(),
                certificate: certificate.as_deref(),
            };
            match &verifier.inner.source {
                KeySource::Local(keys) => verdict(verifier.verify_with(keys, &token, proven)),
                #[cfg(feature = "remote")]
                KeySource::Remote(remote) => {
                    let keys = remote.keys_for(&token).await;
                    verdict(verifier.verify_with(&keys, &token, proven))
                }
            }
        })
    }

    /// Verifies at once when the keys are at hand; waits only for a remote set's refresh.
    pub(crate) fn start_verify(
        &self,
        token: &str,
        proven: Proven<'_>,
    ) -> Started<VerifyFuture<C>, C> {
        match &self.inner.source {
            KeySource::Local(keys) => Started::Done(verdict(self.verify_with(keys, token, proven))),
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => {
                let keys = remote.current();
                match self.verify_with(&keys, token, proven) {
                    // An unknown kid may be a rotated key: wait for a (rate-limited) refresh.
                    Err(InvalidToken::UnknownKey) if remote.may_refresh() => {
                        Started::Running(self.verify_async(token.into(), proven))
                    }
                    result => Started::Done(verdict(result)),
                }
            }
        }
    }
}

impl<C: Client> Authenticator<BearerToken> for JwtVerifier<C> {
    type Client = C;
    type Future = VerifyFuture<C>;

    fn authenticate(&self, token: BearerToken) -> Self::Future {
        self.verify_async(token.as_str().into(), bearer_proves(&token))
    }

    #[inline]
    fn start(&self, token: BearerToken) -> Started<Self::Future, C> {
        self.start_verify(token.as_str(), bearer_proves(&token))
    }
}

/// What a bearer request proves: the client certificate of its TLS connection, if any.
#[inline]
pub(crate) fn bearer_proves(token: &BearerToken) -> Proven<'_> {
    Proven {
        dpop: None,
        certificate: token.certificate_thumbprint(),
    }
}

/// What a DPoP request proves: its proof's key.
pub(crate) fn dpop_proves(token: &DpopToken) -> Proven<'_> {
    Proven {
        dpop: Some(token.jkt()),
        certificate: None,
    }
}

/// DPoP-bound tokens (with `AuthstarLayerBuilder::on_auth_dpop`): the token's `cnf.jkt` must be
/// the thumbprint of the key that signed the request's proof.
impl<C: Client> Authenticator<DpopToken> for JwtVerifier<C> {
    type Client = C;
    type Future = VerifyFuture<C>;

    fn authenticate(&self, token: DpopToken) -> Self::Future {
        self.verify_async(token.as_str().into(), dpop_proves(&token))
    }

    fn start(&self, token: DpopToken) -> Started<Self::Future, C> {
        self.start_verify(token.as_str(), dpop_proves(&token))
    }
}

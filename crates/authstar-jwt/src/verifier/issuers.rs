//! [`Issuers`]: one authenticator for the tokens of several issuers (your own and an identity
//! provider's), each verified by its own [`JwtVerifier`].

use std::fmt;

use authstar::credentials::dpop::DpopToken;
use authstar::{Authenticator, BearerToken, Client, Started};

use super::cache::Proven;
use super::{JwtVerifier, VerifyFuture, bearer_proves, dpop_proves, verdict};
use crate::claims::InvalidToken;

/// Tokens of several issuers behind one `on_auth_bearer_with` (and `on_auth_dpop`): a token
/// is verified by the verifier of the issuer its `iss` names, and by no other; an issuer
/// nobody here verifies is refused. A token any verifier has cached is answered from there
/// first, so a cache hit costs what it costs with one issuer.
///
/// ```
/// use authstar_jwt::{Issuers, JwtIssuer, JwtVerifier, SigningKey, TokenProfile};
///
/// let ours = SigningKey::generate_ed25519("ours").unwrap();
/// let sso = SigningKey::generate_ed25519("sso").unwrap();
/// let verifiers = Issuers::new([
///     JwtVerifier::builder([ours.verification_key()], "https://as.example", "api").cache(1000).build(),
///     JwtVerifier::builder([sso.verification_key()], "https://sso.example", "api").cache(1000).build(),
/// ]);
/// let token = JwtIssuer::new(sso, "https://sso.example", "api").issue("alice", &[]).unwrap();
/// assert_eq!(verifiers.verify(&token).unwrap().client_id(), "alice");
/// let layer = authstar::AuthstarLayer::builder().on_auth_bearer_with(verifiers).build();
/// # let _ = layer;
/// ```
pub struct Issuers<C> {
    verifiers: Vec<JwtVerifier<C>>,
}

impl<C> Clone for Issuers<C> {
    fn clone(&self) -> Self {
        Self {
            verifiers: self.verifiers.clone(),
        }
    }
}

impl<C> fmt::Debug for Issuers<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers: Vec<&str> = self.verifiers.iter().map(JwtVerifier::issuer).collect();
        f.debug_struct("Issuers")
            .field("issuers", &issuers)
            .finish()
    }
}

/// The `iss` a token names, read without verifying anything: only to pick the verifier that
/// will check it (and its signature, and its `iss` again).
fn claimed_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: String,
    }
    crate::claims::unverified_claims::<Claims>(token).map(|claims| claims.iss)
}

impl<C: Client> Issuers<C> {
    /// Verifiers of different issuers; a token goes to the one of its `iss`.
    ///
    /// # Panics
    ///
    /// When two verifiers have the same issuer: tokens would only ever reach the first (a
    /// configuration error, found at start-up rather than as refused tokens).
    ///
    /// ```should_panic
    /// use authstar_jwt::{Issuers, JwtVerifier, SigningKey};
    /// let key = SigningKey::generate_ed25519("k").unwrap();
    /// let verifier = || {
    ///     JwtVerifier::<authstar::AuthstarClient>::builder([key.verification_key()], "https://as.example", "api")
    ///         .build()
    /// };
    /// let _ = Issuers::new([verifier(), verifier()]);
    /// ```
    pub fn new(verifiers: impl IntoIterator<Item = JwtVerifier<C>>) -> Self {
        let verifiers: Vec<JwtVerifier<C>> = verifiers.into_iter().collect();
        for (at, verifier) in verifiers.iter().enumerate() {
            let issuer = verifier.issuer();
            assert!(
                !verifiers[..at]
                    .iter()
                    .any(|earlier| earlier.issuer() == issuer),
                "Issuers::new: two verifiers for the issuer {issuer:?}; the second would never \
                 be asked (give one verifier every key of an issuer)"
            );
        }
        Self { verifiers }
    }

    fn verifier_of(&self, token: &str) -> Result<&JwtVerifier<C>, InvalidToken> {
        let issuer = claimed_issuer(token).ok_or(InvalidToken::Malformed)?;
        self.verifiers
            .iter()
            .find(|verifier| verifier.issuer() == issuer)
            .ok_or_else(|| InvalidToken::Invalid("no verifier for this issuer".into()))
    }

    /// Verifies a bearer token with the verifier of its issuer (the keys at hand; a remote set
    /// is not refreshed here).
    pub fn verify(&self, token: &str) -> Result<C, InvalidToken> {
        self.verifier_of(token)?.verify(token)
    }

    fn start_verify(&self, token: &str, proven: Proven<'_>) -> Started<VerifyFuture<C>, C> {
        for verifier in &self.verifiers {
            if let Some(hit) = verifier.cached(token, proven) {
                return Started::Done(verdict(hit));
            }
        }
        match self.verifier_of(token) {
            Ok(verifier) => verifier.start_verify(token, proven),
            Err(reason) => Started::Done(verdict(Err(reason))),
        }
    }
}

fn finished<C: Send + 'static>(started: Started<VerifyFuture<C>, C>) -> VerifyFuture<C> {
    match started {
        Started::Done(verdict) => Box::pin(std::future::ready(verdict)),
        Started::Running(future) => future,
    }
}

impl<C: Client> Authenticator<BearerToken> for Issuers<C> {
    type Client = C;
    type Future = VerifyFuture<C>;

    fn authenticate(&self, token: BearerToken) -> Self::Future {
        finished(self.start_verify(token.as_str(), bearer_proves(&token)))
    }

    #[inline]
    fn start(&self, token: BearerToken) -> Started<Self::Future, C> {
        self.start_verify(token.as_str(), bearer_proves(&token))
    }
}

impl<C: Client> Authenticator<DpopToken> for Issuers<C> {
    type Client = C;
    type Future = VerifyFuture<C>;

    fn authenticate(&self, token: DpopToken) -> Self::Future {
        finished(self.start_verify(token.as_str(), dpop_proves(&token)))
    }

    fn start(&self, token: DpopToken) -> Started<Self::Future, C> {
        self.start_verify(token.as_str(), dpop_proves(&token))
    }
}

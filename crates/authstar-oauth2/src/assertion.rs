//! `private_key_jwt` (RFC 7523 §2.2, with RFC 7521): a client authenticates with a JWT signed
//! by a private key the server never sees. The endpoints read the assertion from the form and
//! count failures as they count wrong secrets; the signature, the claims and the replay memory
//! are a [`ClientAssertions`]' (authstar-jwt's `ClientAssertionVerifier`).

use std::future::Future;
use std::pin::Pin;

use authstar::Verdict;

/// Verifies client assertions for the token, revocation and introspection endpoints
/// ([`Endpoint::client_assertions`](crate::Endpoint::client_assertions)). authstar-jwt's
/// `ClientAssertionVerifier` is one: `iss` = `sub` = the client, `aud` the issuer identifier
/// and nothing else, a bounded `exp`, an asymmetric algorithm from an allow-list, the client's
/// registered keys, and a `jti` used once.
pub trait ClientAssertions<C>: Send + Sync + 'static {
    /// The client an assertion claims to be (its `sub`), read without verifying anything:
    /// whom the failure throttle counts, when the request has no `client_id`.
    fn claimed_client(&self, assertion: &str) -> Option<String>;

    /// The client `assertion` authenticates as `client_id`: [`Verdict::Rejected`] for any
    /// flaw (the answer is `invalid_client`, with no detail), [`Verdict::Unavailable`] when the
    /// client's keys cannot be read.
    fn verify<'a>(
        &'a self,
        assertion: &'a str,
        client_id: &'a str,
    ) -> impl Future<Output = Verdict<C>> + Send + 'a;

    /// The `alg` values accepted (RFC 8414 `token_endpoint_auth_signing_alg_values_supported`).
    fn algorithms(&self) -> Vec<String>;
}

/// A [`ClientAssertions`] behind a pointer, its future boxed.
pub(crate) trait ErasedAssertions<C>: Send + Sync + 'static {
    fn claimed_client(&self, assertion: &str) -> Option<String>;
    fn verify<'a>(
        &'a self,
        assertion: &'a str,
        client_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Verdict<C>> + Send + 'a>>;
    fn algorithms(&self) -> Vec<String>;
}

impl<C, A: ClientAssertions<C>> ErasedAssertions<C> for A {
    fn claimed_client(&self, assertion: &str) -> Option<String> {
        ClientAssertions::claimed_client(self, assertion)
    }
    fn verify<'a>(
        &'a self,
        assertion: &'a str,
        client_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Verdict<C>> + Send + 'a>> {
        Box::pin(ClientAssertions::verify(self, assertion, client_id))
    }
    fn algorithms(&self) -> Vec<String> {
        ClientAssertions::algorithms(self)
    }
}

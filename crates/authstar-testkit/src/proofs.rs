//! A scripted [`ProofVerifier`], for tests of the layer, the guards and the endpoints that are
//! not about a proof's cryptography: proofs are names, each proving a key or failing as told.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use authstar::credentials::dpop::{ProofError, ProofVerifier};

/// What a proof was checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The request's method.
    pub method: http::Method,
    /// The URL the proof must name.
    pub url: String,
    /// The access token it must be bound to, if any.
    pub access_token: Option<String>,
}

/// A scripted proof verifier. Each proof named by [`proves`](Self::proves) proves its key,
/// each named by [`stale`](Self::stale) lacks the server's nonce (`use_dpop_nonce`), anything
/// else has a bad signature; a proof for another method or URL than required is refused as
/// such. Every check is counted and remembered.
///
/// ```
/// use authstar::credentials::dpop::{ProofError, ProofVerifier};
/// use authstar_testkit::proofs::FakeProofs;
///
/// let proofs = FakeProofs::new().proves("good", "k1").stale("old").nonce("n-1");
/// let get = http::Method::GET;
/// assert_eq!(proofs.verify_proof("good", &get, "https://a/x", None), Ok("k1".to_owned()));
/// assert_eq!(proofs.verify_proof("old", &get, "https://a/x", None), Err(ProofError::UseNonce));
/// assert_eq!(proofs.verify_proof("forged", &get, "https://a/x", None), Err(ProofError::Signature));
/// assert_eq!(proofs.checks(), 3);
/// ```
#[derive(Clone, Debug, Default)]
pub struct FakeProofs {
    keys: HashMap<String, String>,
    stale: Vec<String>,
    method: Option<http::Method>,
    url: Option<String>,
    url_prefix: Option<String>,
    /// `Some(None)`: no access token; `Some(Some(t))`: exactly `t`.
    access_token: Option<Option<String>>,
    nonce: Option<String>,
    checks: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<Checked>>>,
}

impl FakeProofs {
    /// A verifier that refuses every proof until told otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// The proof `proof` proves the key whose thumbprint is `jkt`.
    pub fn proves(mut self, proof: &str, jkt: &str) -> Self {
        self.keys.insert(proof.to_owned(), jkt.to_owned());
        self
    }

    /// The proof `proof` lacks the server's nonce.
    pub fn stale(mut self, proof: &str) -> Self {
        self.stale.push(proof.to_owned());
        self
    }

    /// Proofs for another method are refused ([`ProofError::Method`]).
    pub fn method(mut self, method: http::Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Proofs for another URL are refused ([`ProofError::Uri`]).
    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(url.to_owned());
        self
    }

    /// Proofs for a URL not starting with `prefix` are refused ([`ProofError::Uri`]).
    pub fn url_prefix(mut self, prefix: &str) -> Self {
        self.url_prefix = Some(prefix.to_owned());
        self
    }

    /// Proofs bound to another access token than `token` (`None`: proofs bound to any token,
    /// as a token endpoint must see none) are refused ([`ProofError::AccessTokenHash`]).
    pub fn access_token(mut self, token: Option<&str>) -> Self {
        self.access_token = Some(token.map(str::to_owned));
        self
    }

    /// The nonce the verifier hands out.
    pub fn nonce(mut self, nonce: &str) -> Self {
        self.nonce = Some(nonce.to_owned());
        self
    }

    /// How many proofs were checked (shared by clones).
    pub fn checks(&self) -> usize {
        self.checks.load(Ordering::SeqCst)
    }

    /// What the last proof was checked against.
    pub fn last(&self) -> Option<Checked> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ProofVerifier for FakeProofs {
    fn verify_proof(
        &self,
        proof: &str,
        method: &http::Method,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, ProofError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Checked {
            method: method.clone(),
            url: url.to_owned(),
            access_token: access_token.map(str::to_owned),
        });
        if self.stale.iter().any(|stale| stale == proof) {
            return Err(ProofError::UseNonce);
        }
        let jkt = self.keys.get(proof).ok_or(ProofError::Signature)?;
        if self.method.as_ref().is_some_and(|wanted| wanted != method) {
            return Err(ProofError::Method);
        }
        let url_ok = self.url.as_deref().is_none_or(|wanted| wanted == url)
            && self
                .url_prefix
                .as_deref()
                .is_none_or(|prefix| url.starts_with(prefix));
        if !url_ok {
            return Err(ProofError::Uri);
        }
        if self
            .access_token
            .as_ref()
            .is_some_and(|wanted| wanted.as_deref() != access_token)
        {
            return Err(ProofError::AccessTokenHash);
        }
        Ok(jkt.clone())
    }

    fn algorithms(&self) -> Vec<String> {
        vec!["ES256".to_owned()]
    }

    fn nonce(&self) -> Option<String> {
        self.nonce.clone()
    }
}

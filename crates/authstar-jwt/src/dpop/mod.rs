//! DPoP proofs (RFC 9449 §4.3): a client proves, per request, that it holds the private key its
//! access token is bound to. [`DpopVerifier::verify`] checks one proof against the request it
//! came with and returns the key's RFC 7638 thumbprint (`jkt`), which a bound token carries in
//! `cnf.jkt`.
//!
//! The checks: one compact JWS; `typ` is `dpop+jwt`; `alg` is asymmetric and on the allow-list
//! (never `none`, never HMAC); `jwk` is a public key (no private member); with
//! [`DpopVerifier::require_nonces`], the server's nonce (§8), checked before the signature (an
//! HMAC before a public-key operation: a proof without the current nonce is the handshake, and
//! costs no signature check); the `jwk` verifies the signature; `jti`, `htm`, `htu` and `iat`
//! are present; `htm` is the request's method; `htu` is the request's URI without query and
//! fragment, both normalised (RFC 3986 §6.2.2 and §6.2.3: case of scheme and host, default
//! port, percent-encoding, empty path); `iat` is within the window; with an access token,
//! `ath` is the base64url SHA-256 of it; the `jti` was not seen within the window (replay).
//!
//! The replay memory is bounded ([`DpopVerifier::replay_capacity`]). A flood of proofs past
//! its capacity within the window (proofs are checked before the token, so a flood needs no
//! token) would make it forget proofs still in their window, which could then be replayed;
//! instead it remembers how recent the newest proof it had to forget was, and refuses every
//! proof not newer than that ([`DpopError::Time`]): the flood shortens the window, it never
//! reopens a used proof.
//!
//! ```
//! use authstar_jwt::dpop::DpopVerifier;
//!
//! let verifier = DpopVerifier::new();
//! let refused = verifier.verify("not.a.proof", "GET", "https://api.example/me", None);
//! assert!(refused.is_err());
//! ```

mod nonce;
mod proof;
pub(crate) mod replay;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

pub use nonce::DpopNonces;
pub use proof::{access_token_hash, normalized_htu, thumbprint};
use proof::{header, unverified_nonce};
pub use replay::{HearsReplays, OneTimeKind, ProofId, ReplayShare};
use replay::{ReplayMemory, proof_id};

use crate::unix_now;

/// `typ` of a DPoP proof.
pub const DPOP_TYPE: &str = "dpop+jwt";

/// The default accepted algorithms: the asymmetric ones this crate verifies.
pub const DEFAULT_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
];

/// Why a proof was refused; each is an `invalid_dpop_proof` (RFC 9449 §7.1) for the client. The
/// core's [`ProofError`](authstar::credentials::dpop::ProofError), under the name this module
/// has always used.
pub use authstar::credentials::dpop::ProofError as DpopError;

/// What a verified proof says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DpopProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: the `cnf.jkt` of tokens
    /// bound to it.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: u64,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: u64,
    #[serde(default)]
    ath: Option<String>,
}

/// Verifies DPoP proofs and remembers their `jti`s for the window. Cheap to clone (the replay
/// memory is shared).
#[derive(Clone)]
pub struct DpopVerifier {
    algorithms: Vec<Algorithm>,
    /// How far `iat` may be in the past.
    max_age: Duration,
    /// How far `iat` may be in the future (clock skew).
    leeway: Duration,
    seen: ReplayMemory,
    /// Other instances to tell about accepted proofs.
    share: Option<std::sync::Arc<dyn ReplayShare>>,
    /// Server-provided nonces, when required.
    nonces: Option<DpopNonces>,
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl Default for DpopVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopVerifier {
    /// [`DEFAULT_ALGORITHMS`]; `iat` at most 60 s old and 5 s ahead; up to 100 000 `jti`s
    /// remembered (the oldest go first beyond that, so size it above your proofs per window).
    pub fn new() -> Self {
        Self {
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            max_age: Duration::from_secs(60),
            leeway: Duration::from_secs(5),
            seen: ReplayMemory::new(100_000),
            share: None,
            nonces: None,
        }
    }

    /// The accepted algorithms (symmetric ones and `none` are ignored: a proof's key is public).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms
            .into_iter()
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        self
    }

    /// How old (`max_age`) and how far ahead (`leeway`) a proof's `iat` may be.
    pub fn window(mut self, max_age: Duration, leeway: Duration) -> Self {
        self.max_age = max_age;
        self.leeway = leeway;
        self
    }

    /// How many `jti`s are remembered. Beyond that many proofs within one window, the oldest
    /// are forgotten and every proof not newer than them is refused ([`DpopError::Time`]):
    /// size it above the proofs of one window (`max_age` + `leeway`) at your peak.
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.seen = ReplayMemory::new(capacity);
        self
    }

    /// Requires proofs to carry a nonce from `nonces` (RFC 9449 §8, §9); a proof without one,
    /// or with an expired one, is refused [`DpopError::UseNonce`] and the refusal carries a
    /// fresh nonce (`DPoP-Nonce`).
    pub fn require_nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Announces every accepted proof to `share` (other instances), beside remembering it here.
    pub fn share_replays(mut self, share: impl ReplayShare) -> Self {
        self.share = Some(std::sync::Arc::new(share));
        self
    }

    /// Remembers a proof accepted by another instance until `until` (Unix seconds): it is
    /// refused here as a replay.
    pub fn heard(&self, id: &ProofId, until: u64) {
        self.seen.remember(id, until);
    }

    /// The `alg` values accepted, for `dpop_signing_alg_values_supported` and the
    /// `WWW-Authenticate: DPoP algs="..."` challenge.
    pub fn algorithm_names(&self) -> Vec<String> {
        // `Algorithm`'s variants are named as JOSE names them (`ES256`, `EdDSA`...).
        self.algorithms.iter().map(|a| format!("{a:?}")).collect()
    }

    /// Verifies `proof` for a request with `method` to `url` (scheme, host and path as the
    /// client addressed them: behind a proxy, as the proxy received them), and, when the
    /// request carries one, for `access_token` (`ath`). The `jti` counts as used once
    /// everything else holds.
    pub fn verify(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<DpopProof, DpopError> {
        let header = header(proof)?;
        let jwk = header.jwk.as_ref().ok_or(DpopError::Key)?;
        if header.typ.as_deref() != Some(DPOP_TYPE) {
            return Err(DpopError::WrongType);
        }
        let algorithm: Algorithm = header
            .alg
            .as_deref()
            .and_then(|a| a.parse().ok())
            .filter(|a| self.algorithms.contains(a))
            .ok_or(DpopError::Algorithm)?;
        // The server's nonce first (RFC 9449 §9): an HMAC, where the signature costs a public-key
        // operation. A proof without the current nonce is the protocol's handshake, not counted
        // as a failure; checked after the signature, it let anyone make the server verify
        // signatures of their own keys without ever meeting the throttle.
        if let Some(nonces) = &self.nonces
            && !unverified_nonce(proof).is_some_and(|nonce| nonces.accepts(&nonce))
        {
            return Err(DpopError::UseNonce);
        }
        let key = jsonwebtoken::jwk::Jwk::deserialize(jwk).map_err(|_| DpopError::Key)?;
        let decoding = DecodingKey::from_jwk(&key).map_err(|_| DpopError::Key)?;
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(proof, &decoding, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => DpopError::Signature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
                | jsonwebtoken::errors::ErrorKind::InvalidAlgorithmName => DpopError::Algorithm,
                jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
                | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
                | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_) => DpopError::Key,
                _ => DpopError::Malformed,
            })?
            .claims;
        // Methods are case-sensitive (RFC 9110 §9.1).
        if claims.htm != method {
            return Err(DpopError::Method);
        }
        match (normalized_htu(&claims.htu), normalized_htu(url)) {
            (Some(claimed), Some(actual)) if claimed == actual => {}
            _ => return Err(DpopError::Uri),
        }
        let now = unix_now();
        if claims.iat > now + self.leeway.as_secs() || claims.iat + self.max_age.as_secs() < now {
            return Err(DpopError::Time);
        }
        if let Some(token) = access_token {
            let expected = access_token_hash(token);
            if claims.ath.as_deref() != Some(expected.as_str()) {
                return Err(DpopError::AccessTokenHash);
            }
        }
        let jkt = thumbprint(jwk).ok_or(DpopError::Key)?;
        // Remembered until its window has passed: after that, `iat` refuses it anyway. The end
        // is the proof's own (from its `iat`), so a replay is compared with the very end the
        // proof was stored (and, if the memory overflowed, forgotten) under. Counting it from
        // the clock instead let a proof dated ahead come back with a later end than the one
        // it was evicted with, above the horizon, and be served again (issue 20, item 5).
        // The price: while the memory overflows, proofs dated ahead raise the horizon up to
        // `leeway` above fresh proofs, which are then refused for at most that long.
        let until = claims.iat + self.max_age.as_secs() + self.leeway.as_secs();
        let id = proof_id(&jkt, &claims.jti);
        self.seen
            .first_use(&id, until, now)
            .map_err(|reuse| match reuse {
                replay::Reuse::Seen => DpopError::Replayed,
                replay::Reuse::Forgotten => DpopError::Time,
            })?;
        if let Some(share) = &self.share {
            share.accepted(OneTimeKind::DpopProof, &id, until);
        }
        Ok(DpopProof {
            jkt,
            jti: claims.jti,
            iat: claims.iat,
        })
    }
}

/// The layer's proof check (`authstar::credentials::dpop`), and the token endpoint's.
impl authstar::credentials::dpop::ProofVerifier for DpopVerifier {
    fn verify_proof(
        &self,
        proof: &str,
        method: &http::Method,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, DpopError> {
        self.verify(proof, method.as_str(), url, access_token)
            .map(|proof| proof.jkt)
            .inspect_err(
                |error| tracing::debug!(reason = %error, "authstar-jwt: DPoP proof refused"),
            )
    }

    fn algorithms(&self) -> Vec<String> {
        self.algorithm_names()
    }

    fn nonce(&self) -> Option<String> {
        self.nonces.as_ref().map(DpopNonces::current)
    }
}

impl HearsReplays for DpopVerifier {
    const KIND: OneTimeKind = OneTimeKind::DpopProof;

    fn heard(&self, id: &ProofId, until: u64) {
        DpopVerifier::heard(self, id, until);
    }
}

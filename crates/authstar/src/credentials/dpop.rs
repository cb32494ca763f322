//! DPoP-bound access tokens (RFC 9449 §7): `Authorization: DPoP <token>` with a `DPoP` proof
//! header.
//!
//! A DPoP-bound token is useless without the private key it is bound to: each request carries a
//! fresh proof, a JWT signed by that key over the request's method and URL and the token's hash.
//! The layer splits the work in two, so a refusal names the right cause (RFC 9449 §7.1):
//!
//! 1. a [`ProofVerifier`] (authstar-jwt's `DpopVerifier`) checks the proof against the request
//!    and returns the key's thumbprint; a missing, repeated or invalid proof is
//!    [`Failure::InvalidProof`](crate::Failure::InvalidProof), answered
//!    `WWW-Authenticate: DPoP error="invalid_dpop_proof"`;
//! 2. the token's authenticator gets a [`DpopToken`] (the token and the proven thumbprint) and
//!    must check that the token is bound to that key (`cnf.jkt`); a refusal is
//!    `error="invalid_token"`.
//!
//! The URL a proof must name (`htu`) is the request's scheme, host and path as the client
//! addressed them. Behind a proxy or a TLS terminator the server cannot see them: configure the
//! public origin ([`DpopAuth::origin`](crate::DpopAuth::origin)), or let the proxy report it: with the layer's
//! [`trusted_proxies`](crate::AuthstarLayerBuilder::trusted_proxies) and
//! [`peer_address`](crate::AuthstarLayerBuilder::peer_address), the origin a trusted proxy
//! names (`X-Forwarded-Proto` and `X-Forwarded-Host`, or `Forwarded`) is believed; or derive it
//! yourself ([`DpopAuth::origin_from`](crate::DpopAuth::origin_from)). Otherwise the request's own URI (HTTP/2's `:scheme`
//! and `:authority`) or `http://` and its `Host` are used. The path is the request's,
//! unless a router shortened it (axum's `nest`): then say where the client's path is
//! ([`DpopAuth::path_from`](crate::DpopAuth::path_from)).
//!
//! ```
//! use authstar::DpopAuth;
//! use authstar::credentials::dpop::{DpopToken, ProofError, ProofVerifier};
//! use authstar::{AuthstarClient, AuthstarLayer};
//!
//! struct Proofs;
//! impl ProofVerifier for Proofs {
//!     fn verify_proof(
//!         &self,
//!         proof: &str,
//!         _method: &http::Method,
//!         _url: &str,
//!         _access_token: Option<&str>,
//!     ) -> Result<String, ProofError> {
//!         // authstar-jwt's `DpopVerifier` does this for real.
//!         (proof == "proof-by-key-1")
//!             .then(|| "key-1".to_owned())
//!             .ok_or(ProofError::Signature)
//!     }
//!     fn algorithms(&self) -> Vec<String> {
//!         vec!["ES256".to_owned()]
//!     }
//! }
//!
//! let tokens = |token: DpopToken| async move {
//!     // The token must be bound to the proven key.
//!     (token.as_str() == "t" && token.jkt() == "key-1").then(|| AuthstarClient::new("svc", ["read"]))
//! };
//! let layer = AuthstarLayer::builder()
//!     .on_auth_dpop(DpopAuth::new(Proofs, tokens).origin("https://api.example.com"))
//!     .build()
//!     .unwrap();
//! // A request without a credential learns which proof algorithms are accepted:
//! let _service = tower_layer::Layer::layer(&layer, ());
//! let refusal = authstar::Guards::new(&layer).client(&http::Extensions::new()).unwrap_err();
//! assert_eq!(refusal.challenges()[0], r#"DPoP realm="authstar", algs="ES256""#);
//! ```

use std::fmt;
use std::sync::Arc;

use http::header::HOST;
use http::{HeaderName, HeaderValue, Method};

use crate::RequestHead;
use crate::credentials::bearer::BearerToken;

/// The `DPoP` request header carrying the proof (RFC 9449 §4.1).
pub(crate) static DPOP: HeaderName = HeaderName::from_static("dpop");

/// Checks DPoP proofs (RFC 9449 §4.3). authstar-jwt's `DpopVerifier` implements it; the core
/// knows the protocol (headers, URL, errors, challenges), not the cryptography.
pub trait ProofVerifier: Send + Sync + 'static {
    /// The RFC 7638 thumbprint (`jkt`) of the key of a valid proof for `request`, or why it is
    /// not valid. A valid proof's `jti` counts as used.
    fn verify_proof(
        &self,
        proof: &str,
        method: &Method,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, ProofError>;

    /// The accepted `alg` values, for `WWW-Authenticate: DPoP algs="..."` and
    /// `dpop_signing_alg_values_supported`.
    fn algorithms(&self) -> Vec<String>;

    /// A nonce for clients to put in their next proofs, when this verifier requires them;
    /// `None` by default. The layer sends it as `DPoP-Nonce` with a [`ProofError::UseNonce`]
    /// refusal and with every response to a DPoP request it let through (RFC 9449 §8.2), so
    /// that clients move to a new nonce before theirs expires.
    fn nonce(&self) -> Option<String> {
        None
    }

    /// Checks the proof a request to `url` carries (`url` being the endpoint's public URL,
    /// `htu`), for an endpoint without a token, such as a token endpoint (RFC 9449 §5):
    /// `Ok(None)` when the request has no `DPoP` header, the proven key's thumbprint when its
    /// one proof is valid, the reason otherwise (a repeated header, a proof over `max_len`
    /// bytes, an invalid proof).
    fn check_request(
        &self,
        head: &RequestHead<'_>,
        url: &str,
        max_len: usize,
    ) -> Result<Option<String>, ProofError> {
        if !head.headers.contains_key(&DPOP) {
            return Ok(None);
        }
        let proof = proof_of(head.headers, max_len)?;
        self.verify_proof(proof, head.method, url, None).map(Some)
    }

    /// The `DPoP-Nonce` header (RFC 9449 §8.1) carrying a fresh [`nonce`](Self::nonce), when
    /// this verifier requires nonces.
    fn nonce_header(&self) -> Option<(HeaderName, HeaderValue)> {
        let nonce = HeaderValue::try_from(self.nonce()?).ok()?;
        Some((DPOP_NONCE.clone(), nonce))
    }
}

/// The `DPoP-Nonce` response header (RFC 9449 §8.1).
pub(crate) static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

impl<P: ProofVerifier> ProofVerifier for Arc<P> {
    fn verify_proof(
        &self,
        proof: &str,
        method: &Method,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, ProofError> {
        (**self).verify_proof(proof, method, url, access_token)
    }

    fn algorithms(&self) -> Vec<String> {
        (**self).algorithms()
    }

    fn nonce(&self) -> Option<String> {
        (**self).nonce()
    }
}

/// A DPoP-bound access token whose proof verified: what a DPoP token authenticator receives.
/// Its authenticator must check the token is bound to [`jkt`](Self::jkt). `Debug` never shows
/// the token.
#[derive(Clone)]
pub struct DpopToken {
    token: BearerToken,
    jkt: String,
}

impl DpopToken {
    /// A token whose proof was made with the key whose thumbprint is `jkt`.
    pub fn new(token: BearerToken, jkt: String) -> Self {
        Self { token, jkt }
    }

    /// The access token.
    pub fn as_str(&self) -> &str {
        self.token.as_str()
    }

    /// The RFC 7638 thumbprint of the key that signed the request's proof.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }
}

impl fmt::Debug for DpopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopToken")
            .field("token", &"<redacted>")
            .field("jkt", &self.jkt)
            .finish()
    }
}

/// The origin a request names itself: its URI's scheme and authority (HTTP/2, absolute-form),
/// else `http://` and its `Host`. What a server with no proxy in front sees.
pub(crate) fn request_origin(head: &RequestHead<'_>) -> Option<String> {
    match (head.uri.scheme_str(), head.uri.authority()) {
        (Some(scheme), Some(authority)) => Some(format!("{scheme}://{authority}")),
        _ => {
            let host = head.headers.get(HOST)?.to_str().ok()?;
            Some(format!("http://{host}"))
        }
    }
}

/// The request's one `DPoP` header as text (RFC 9449 §4.3 check 1: exactly one).
pub(crate) fn proof_of(headers: &http::HeaderMap, max_len: usize) -> Result<&str, ProofError> {
    let value: &HeaderValue = match super::single(headers, &DPOP) {
        Ok(Some(value)) => value,
        Ok(None) => return Err(ProofError::Missing),
        Err(_) => return Err(ProofError::Repeated),
    };
    if value.len() > max_len {
        return Err(ProofError::Malformed);
    }
    value.to_str().map_err(|_| ProofError::Malformed)
}

/// Why a DPoP proof was refused: each is `invalid_dpop_proof` for the client (RFC 9449 §7.1 at a
/// resource, §5 at a token endpoint). One byte, so an [`Attempt`](crate::Attempt) stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProofError {
    /// The request has no `DPoP` header.
    Missing,
    /// The request has more than one `DPoP` header (RFC 9449 §4.3 check 1).
    Repeated,
    /// The request's URL cannot be known (no origin configured and no `Host`).
    UnknownUrl,
    /// Not a compact JWS, too long, or its header or claims are not the JSON expected.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is `none`, symmetric or not allowed.
    Algorithm,
    /// The `jwk` header is missing, not a usable public key, or holds private members.
    Key,
    /// The signature does not verify with the `jwk`.
    Signature,
    /// `htm` is not the request's method.
    Method,
    /// `htu` is not the request's URI.
    Uri,
    /// `iat` is outside the accepted window.
    Time,
    /// The proof was already used within the window.
    Replayed,
    /// `ath` is missing or is not the hash of the access token presented.
    AccessTokenHash,
    /// The server requires a nonce it provided (RFC 9449 §8, §9) and the proof carries none,
    /// or an expired one: answered `use_dpop_nonce` with a fresh `DPoP-Nonce`.
    UseNonce,
}

impl ProofError {
    /// The reason as a fixed text, safe to log and to show the client.
    ///
    /// ```
    /// use authstar::credentials::dpop::ProofError;
    /// assert_eq!(ProofError::Replayed.description(), "the DPoP proof was already used");
    /// ```
    pub fn description(self) -> &'static str {
        match self {
            Self::Missing => "the request has no DPoP proof",
            Self::Repeated => "the request has more than one DPoP proof",
            Self::UnknownUrl => "the request's URL is unknown, so no DPoP proof can match it",
            Self::Malformed => "the DPoP proof is not a well-formed JWT",
            Self::WrongType => "the DPoP proof's typ is not dpop+jwt",
            Self::Algorithm => "the DPoP proof's algorithm is not accepted",
            Self::Key => "the DPoP proof's jwk is not a public key",
            Self::Signature => "the DPoP proof's signature does not verify",
            Self::Method => "the DPoP proof is for another method",
            Self::Uri => "the DPoP proof is for another URI",
            Self::Time => "the DPoP proof was not issued recently",
            Self::Replayed => "the DPoP proof was already used",
            Self::AccessTokenHash => "the DPoP proof is not for this access token",
            Self::UseNonce => "the DPoP proof must carry the nonce the server provides",
        }
    }
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for ProofError {}

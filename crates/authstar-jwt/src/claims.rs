//! The claims of an access token and what a verifier says of one: the types the profile, the
//! verifier and the issuer share (this module imports none of them).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The claims of an RFC 9068 access token (§2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: for `client_credentials`, the client.
    pub sub: String,
    /// Audience: one value or several.
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Not before, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-delimited scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Confirmation (RFC 7800): present on a sender-constrained token (`jkt` for DPoP, RFC
    /// 9449; `x5t#S256` for mTLS, RFC 8705), which must not be accepted as a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The `aud` claim: a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// Why a token was refused (the causes behind RFC 6750's `invalid_token`); logged at debug
/// level, never sent to the client in detail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not a JWT, or its header names an algorithm this library does not know (including `none`).
    Malformed,
    /// The `typ` header is not `at+jwt` (RFC 9068 §4).
    WrongType,
    /// No key with the token's `kid`.
    UnknownKey,
    /// The header's `alg` is not the key's algorithm (algorithm confusion).
    WrongAlgorithm,
    /// Signature, `exp`, `nbf`, `iss` or `aud` failed: the reason from the JOSE library.
    Invalid(String),
    /// The claims map to no client.
    NoClient,
    /// The header has a `crit` member: it names extensions this library does not understand
    /// (RFC 7515 §4.1.11).
    CriticalExtension,
    /// Revoked: the token itself, or its client (see [`JwtVerifierBuilder::revocations`](crate::JwtVerifierBuilder::revocations)).
    Revoked,
    /// A sender-constrained token (a `cnf` claim: DPoP or mTLS-bound) presented as a bearer
    /// token: whoever holds it without the key must not use it (RFC 9449 §7.2).
    SenderConstrained,
    /// A token bound to nothing, where only sender-constrained tokens are accepted
    /// ([`JwtVerifierBuilder::sender_constrained_only`](crate::JwtVerifierBuilder::sender_constrained_only): FAPI 2.0).
    Unconstrained,
    /// A DPoP proof came with a token that is not bound to its key (`cnf.jkt` is another key's
    /// thumbprint, or the token is not DPoP-bound).
    KeyMismatch,
    /// Not a verdict on the token: the revocations the verifier consults are out of date
    /// ([`Revocations::is_current`](crate::Revocations::is_current)), so no token is vouched for. As an authenticator the
    /// verifier answers this as a backend error (`Verdict::Unavailable`: 503), never a 401.
    RevocationsUnknown,
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("not a JWT with a supported algorithm"),
            Self::WrongType => f.write_str("typ is not at+jwt"),
            Self::UnknownKey => f.write_str("no key for this kid"),
            Self::WrongAlgorithm => f.write_str("alg does not match the key"),
            Self::Invalid(reason) => write!(f, "invalid: {reason}"),
            Self::NoClient => f.write_str("the claims name no client"),
            Self::CriticalExtension => f.write_str("crit names an extension not understood"),
            Self::Revoked => f.write_str("revoked"),
            Self::SenderConstrained => {
                f.write_str("a sender-constrained token used as a bearer token")
            }
            Self::Unconstrained => {
                f.write_str("a token bound to nothing where binding is required")
            }
            Self::KeyMismatch => {
                f.write_str("the token is not bound to the proof's key or the client certificate")
            }
            Self::RevocationsUnknown => f.write_str("the revocation list is out of date"),
        }
    }
}

/// The claims as they came, for a mapping to your own type.
pub type RawClaims = serde_json::Map<String, serde_json::Value>;

/// What a revocation check is asked about a verified token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenStamp<'a> {
    /// The token's `jti`.
    pub jti: &'a str,
    /// The client it was issued to (`client_id`, else `sub`).
    pub client_id: &'a str,
    /// When it was issued (`iat`).
    pub iat: u64,
}

/// The longest clock leeway a verifier takes ([`JwtVerifierBuilder::leeway`](crate::JwtVerifierBuilder::leeway)): 5 minutes, what a
/// revocation store keeps a revoked token past its `exp` (`authstar-registry` does).
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// A JWT's claims read without verifying anything: only to pick who verifies it (the issuer's
/// verifier, the client whose keys check an assertion), which then checks everything again.
pub(crate) fn unverified_claims<T: serde::de::DeserializeOwned>(token: &str) -> Option<T> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Seconds since the Unix epoch: an RFC 7519 `NumericDate` for now (0 if the clock is before
/// 1970). The one clock helper of the authstar crates.
///
/// ```
/// assert!(authstar_jwt::unix_now() > 1_700_000_000);
/// ```
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The client a token was issued to: `client_id`, else `sub`.
pub(crate) fn client_of(claims: &AccessTokenClaims) -> &str {
    if claims.client_id.is_empty() {
        &claims.sub
    } else {
        &claims.client_id
    }
}

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

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

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

/// Server-provided nonces (RFC 9449 §8, §9): a client must put a recent one in each proof, so a
/// proof cannot be made ahead of time. Stateless: a nonce is a time window and its HMAC, so every
/// instance built with the same secret accepts the nonces of the others. A nonce is accepted in
/// its window and the next one (one lifetime to two).
///
/// ```
/// use std::time::Duration;
/// use authstar_jwt::dpop::DpopNonces;
///
/// let nonces = DpopNonces::new(b"a secret shared by the instances", Duration::from_secs(300));
/// let nonce = nonces.current();
/// assert!(nonces.accepts(&nonce));
/// assert!(!nonces.accepts("made-up"));
/// ```
#[derive(Clone)]
pub struct DpopNonces {
    key: aws_lc_rs::hmac::Key,
    lifetime: u64,
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl DpopNonces {
    /// Nonces keyed by `secret` (share it between instances), each valid for `lifetime` to
    /// twice that.
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            lifetime: lifetime.as_secs().max(1),
        }
    }

    /// The nonce to hand out now.
    pub fn current(&self) -> String {
        self.for_window(unix_now() / self.lifetime)
    }

    /// Whether `nonce` is this window's or the previous one's.
    pub fn accepts(&self, nonce: &str) -> bool {
        let window = unix_now() / self.lifetime;
        let matches = |window: u64| {
            let expected = self.for_window(window);
            // Both are public-length base64; compare in constant time all the same.
            expected.len() == nonce.len()
                && aws_lc_rs::constant_time::verify_slices_are_equal(
                    expected.as_bytes(),
                    nonce.as_bytes(),
                )
                .is_ok()
        };
        matches(window) || matches(window.saturating_sub(1))
    }

    fn for_window(&self, window: u64) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.key, &window.to_be_bytes());
        let mut bytes = window.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tag.as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }
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

/// A proof's identity in the replay memory: SHA-256 of its key's thumbprint and its `jti`
/// (fixed size, whatever the client put in `jti`; what instances exchange).
pub type ProofId = [u8; 32];

/// The proofs accepted within their window (each until its `until`, Unix seconds), and the
/// newest `until` among those it had to forget early, past its capacity.
#[derive(Clone)]
struct ReplayMemory {
    proofs: std::sync::Arc<
        quick_cache::sync::Cache<
            ProofId,
            u64,
            quick_cache::UnitWeighter,
            quick_cache::DefaultHashBuilder,
            Forgetting,
        >,
    >,
    forgotten: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ReplayMemory {
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let forgotten = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        // One queue, oldest out first (by `until`, nearly: proofs arrive in their window's
        // order). quick_cache's default keeps 97 % of its capacity for the first entries
        // (here long expired: proofs are never read again) and cycles the rest through the
        // remaining 3 %, which would hold a few seconds of proofs, not the capacity.
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(capacity)
            .weight_capacity(capacity as u64)
            .hot_allocation(0.0)
            .build()
            // `build` fails only when a capacity is left unset.
            .expect("both capacities are set");
        let proofs = quick_cache::sync::Cache::with_options(
            options,
            quick_cache::UnitWeighter,
            quick_cache::DefaultHashBuilder::default(),
            Forgetting {
                until: forgotten.clone(),
            },
        );
        Self {
            proofs: std::sync::Arc::new(proofs),
            forgotten,
        }
    }

    /// Proofs whose window ends at or before this may have been forgotten.
    fn forgotten_until(&self) -> u64 {
        self.forgotten.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Told of every proof the memory evicts: one evicted before its window ended raises the
/// horizon below which proofs are refused.
#[derive(Clone)]
struct Forgetting {
    until: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl quick_cache::Lifecycle<ProofId, u64> for Forgetting {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: ProofId, until: u64) {
        let now = unix_now();
        if until < now {
            return;
        }
        let before = self
            .until
            .fetch_max(until, std::sync::atomic::Ordering::Relaxed);
        if before < now {
            tracing::warn!(
                "authstar-jwt: the DPoP replay memory is full within its window; older proofs \
                 are refused until it is not (raise DpopVerifier::replay_capacity if this is \
                 your load, not a flood)"
            );
        }
    }
}

/// Where a [`DpopVerifier`] announces the proofs it accepted, so that other instances refuse
/// them too (authstar-redis's `RedisProofReplays` publishes them); they hand what they hear to
/// [`DpopVerifier::heard`].
pub trait ReplayShare: Send + Sync + 'static {
    /// A proof was accepted here; it stays unusable until `until` (Unix seconds). Called on
    /// the request path: queue it, never wait.
    fn accepted(&self, id: &ProofId, until: u64);
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
        match self.seen.proofs.get(id) {
            Some(known) if known >= until => {}
            _ => self.seen.proofs.insert(*id, until),
        }
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
        // Not found: new, unless the memory may have forgotten it (it cannot tell a replay from
        // a first use then). Asked after the lookup: an eviction raises the horizon under the
        // lock of the entry's shard, so a lookup that missed an evicted entry sees the raise.
        let forgotten = || until <= self.seen.forgotten_until();
        match self.seen.proofs.get_value_or_guard(&id, None) {
            quick_cache::sync::GuardResult::Value(seen_until) if seen_until >= now => {
                return Err(DpopError::Replayed);
            }
            quick_cache::sync::GuardResult::Value(_) if forgotten() => return Err(DpopError::Time),
            quick_cache::sync::GuardResult::Value(_) => self.seen.proofs.insert(id, until),
            quick_cache::sync::GuardResult::Guard(_) if forgotten() => return Err(DpopError::Time),
            quick_cache::sync::GuardResult::Guard(guard) => {
                let _ = guard.insert(until);
            }
            quick_cache::sync::GuardResult::Timeout => return Err(DpopError::Replayed),
        }
        if let Some(share) = &self.share {
            share.accepted(&id, until);
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

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    jwk: Option<serde_json::Value>,
}

/// The longest proof read (a P-521 or RSA-4096 `jwk` fits well under it).
const MAX_PROOF: usize = 8 * 1024;

/// The `nonce` claim of a proof, read before its signature is checked (then checked with the
/// signature: the payload verified is the same bytes).
fn unverified_nonce(proof: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Nonce {
        #[serde(default)]
        nonce: Option<String>,
    }
    let payload = proof.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Nonce>(&bytes).ok()?.nonce
}

/// Members of a JWK that only a private (or symmetric) key has (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The proof's header, refused when its `jwk` is missing or holds a private member.
fn header(proof: &str) -> Result<Header, DpopError> {
    if proof.len() > MAX_PROOF || proof.split('.').count() != 3 {
        return Err(DpopError::Malformed);
    }
    let encoded = proof.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| DpopError::Malformed)?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|_| DpopError::Malformed)?;
    let jwk = header
        .jwk
        .as_ref()
        .filter(|jwk| jwk.is_object())
        .ok_or(DpopError::Key)?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some())
        || jwk.get("kty").and_then(serde_json::Value::as_str) == Some("oct")
    {
        return Err(DpopError::Key);
    }
    Ok(header)
}

/// The replay memory's key of a proof by the key `jkt` with `jti`.
fn proof_id(jkt: &str, jti: &str) -> ProofId {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(jkt.as_bytes());
    context.update(b".");
    context.update(jti.as_bytes());
    let mut id = [0u8; 32];
    id.copy_from_slice(context.finish().as_ref());
    id
}

/// `base64url(SHA-256(access_token))`, the `ath` claim (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: its required members, in
/// lexicographic order, as JSON without whitespace. `None` for another key type.
pub fn thumbprint(jwk: &serde_json::Value) -> Option<String> {
    let member = |name: &str| jwk.get(name)?.as_str();
    let json = |pairs: &[(&str, &str)]| -> Option<String> {
        let members: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                Some(format!(
                    "{}:{}",
                    serde_json::to_string(k).ok()?,
                    serde_json::to_string(v).ok()?
                ))
            })
            .collect::<Option<_>>()?;
        Some(format!("{{{}}}", members.join(",")))
    };
    let canonical = match member("kty")? {
        "EC" => json(&[
            ("crv", member("crv")?),
            ("kty", "EC"),
            ("x", member("x")?),
            ("y", member("y")?),
        ])?,
        "OKP" => json(&[("crv", member("crv")?), ("kty", "OKP"), ("x", member("x")?)])?,
        "RSA" => json(&[("e", member("e")?), ("kty", "RSA"), ("n", member("n")?)])?,
        _ => return None,
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    Some(URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// An `htu` or request URL without query and fragment, normalised for comparison (RFC 9449
/// §4.3 point 9, RFC 3986 §6.2.2–6.2.3): scheme and host lowercased, the scheme's default port
/// dropped, percent-encodings of unreserved characters decoded and the others uppercased, an
/// empty path as `/`. `None` for what is not an absolute http(s) URL, or holds user info.
pub fn normalized_htu(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next()?;
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = match authority.rsplit_once(':') {
        // Not the colon of an IPv6 literal: a port.
        Some((host, port)) if !port.contains(']') => {
            if port == default_port || port.is_empty() {
                host.to_owned()
            } else if port.bytes().all(|b| b.is_ascii_digit()) {
                format!("{host}:{port}")
            } else {
                return None;
            }
        }
        _ => authority,
    };
    let path = if path.is_empty() { "/" } else { path };
    Some(format!("{scheme}://{authority}{}", normalized_path(path)?))
}

/// Percent-encodings of unreserved characters decoded, the others uppercased (RFC 3986 §6.2.2).
fn normalized_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(value));
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;
    use serde_json::json;

    const URL: &str = "https://api.example/reports?x=1";

    fn encode(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    /// A proof signed by `signer`, with `header` and `claims` merged over valid defaults.
    fn proof_with(
        signer: &SigningKey,
        jwk_of: &SigningKey,
        header: serde_json::Value,
        claims: serde_json::Value,
    ) -> String {
        let alg = match signer.algorithm() {
            Algorithm::EdDSA => "EdDSA",
            _ => "ES256",
        };
        let mut h = json!({"typ": DPOP_TYPE, "alg": alg, "jwk": jwk_of.public_jwk().unwrap()});
        let mut c = json!({
            "jti": format!("{:x}", rand_id()),
            "htm": "POST",
            "htu": "https://api.example/reports",
            "iat": unix_now(),
        });
        for (target, extra) in [(&mut h, header), (&mut c, claims)] {
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() {
                    target.as_object_mut().unwrap().remove(k);
                } else {
                    target[k] = v.clone();
                }
            }
        }
        let input = format!("{}.{}", encode(&h), encode(&c));
        let signature = signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{signature}")
    }

    fn rand_id() -> u64 {
        use aws_lc_rs::rand::SecureRandom as _;
        let mut bytes = [0u8; 8];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .unwrap();
        u64::from_le_bytes(bytes)
    }

    fn key() -> SigningKey {
        SigningKey::generate_es256("k").unwrap()
    }

    fn proof(key: &SigningKey, claims: serde_json::Value) -> String {
        proof_with(key, key, json!({}), claims)
    }

    #[test]
    fn rfc9449_8_nonces_are_required_when_configured_and_expire() {
        let nonces = DpopNonces::new(b"shared secret", Duration::from_secs(60));
        let verifier = DpopVerifier::new().require_nonces(nonces.clone());
        let key = key();
        assert_eq!(
            verifier.verify(&proof(&key, json!({})), "POST", URL, None),
            Err(DpopError::UseNonce)
        );
        let current = nonces.current();
        let with_nonce = proof(&key, json!({ "nonce": current }));
        assert!(verifier.verify(&with_nonce, "POST", URL, None).is_ok());
        // A forged signature is a signature error, not a nonce hint.
        let other = SigningKey::generate_es256("other").unwrap();
        let forged = proof_with(&other, &key, json!({}), json!({ "nonce": current }));
        assert_eq!(
            verifier.verify(&forged, "POST", URL, None),
            Err(DpopError::Signature)
        );
        // Without the nonce, the signature is never checked (issue 20's review: a proof that
        // needs the handshake is not a throttled failure, so it must cost no public-key
        // operation either): a forged one is answered with the nonce to use.
        let forged = proof_with(&other, &key, json!({}), json!({}));
        assert_eq!(
            verifier.verify(&forged, "POST", URL, None),
            Err(DpopError::UseNonce)
        );
        // This window and the one before; not older, not another secret's.
        let window = unix_now() / 60;
        assert!(nonces.accepts(&nonces.for_window(window - 1)));
        assert!(!nonces.accepts(&nonces.for_window(window - 2)));
        let elsewhere = DpopNonces::new(b"another secret", Duration::from_secs(60));
        assert!(!elsewhere.accepts(&current));
        assert!(!nonces.accepts(""));
        // The layer's view: the verifier hands out the current nonce.
        use authstar::credentials::dpop::ProofVerifier as _;
        assert_eq!(verifier.nonce(), Some(nonces.current()));
        assert_eq!(DpopVerifier::new().nonce(), None);
    }

    #[test]
    fn a_valid_proof_gives_the_keys_thumbprint_once() {
        let key = key();
        let verifier = DpopVerifier::new();
        let p = proof(&key, json!({}));
        let verified = verifier.verify(&p, "POST", URL, None).unwrap();
        let jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
        assert_eq!(verified.jkt, thumbprint(&jwk).unwrap());
        // Replayed: refused, however often.
        for _ in 0..2 {
            assert_eq!(
                verifier.verify(&p, "POST", URL, None),
                Err(DpopError::Replayed)
            );
        }
        // A clone shares the memory.
        assert_eq!(
            verifier.clone().verify(&p, "POST", URL, None),
            Err(DpopError::Replayed)
        );
        let ed = SigningKey::generate_ed25519("e").unwrap();
        assert!(
            verifier
                .verify(&proof(&ed, json!({})), "POST", URL, None)
                .is_ok()
        );
    }

    /// `verifier` whose memory has heard `proofs` proofs whose window has passed: the state it
    /// stays in once it has been running a while.
    fn in_steady_state(verifier: DpopVerifier, proofs: u32) -> DpopVerifier {
        for n in 0..proofs {
            verifier.heard(&proof_id("old", &n.to_string()), 1);
        }
        verifier
    }

    /// The memory holds `replay_capacity` proofs in its window, not a fraction of it: a cache
    /// that keeps its first entries (long expired) and cycles the rest through a small queue
    /// would forget a proof after a few percent of the capacity.
    #[test]
    fn the_replay_memory_remembers_its_whole_capacity() {
        let key = key();
        let verifier = in_steady_state(DpopVerifier::new().replay_capacity(2_000), 2_000);
        let used = proof(&key, json!({}));
        verifier.verify(&used, "POST", URL, None).unwrap();
        // Half the capacity of other proofs, all within their window.
        let until = unix_now() + 60;
        for n in 0..1_000u32 {
            verifier.heard(&proof_id("recent", &n.to_string()), until);
        }
        assert_eq!(
            verifier.verify(&used, "POST", URL, None),
            Err(DpopError::Replayed),
            "the proof is still remembered"
        );
        assert_eq!(
            verifier.seen.forgotten_until(),
            0,
            "nothing in its window was forgotten"
        );
    }

    /// A flood past the replay memory's capacity (anyone can send proofs: they are checked
    /// before the token) must not make it forget a used proof still in its window.
    #[test]
    fn a_flood_past_the_replay_capacity_does_not_reopen_used_proofs() {
        let victim = key();
        let attacker = key();
        // A one-second leeway (a 60 s window), so the test waits for the clock at most that.
        let verifier = in_steady_state(
            DpopVerifier::new()
                .window(Duration::from_secs(60), Duration::from_secs(1))
                .replay_capacity(16),
            100,
        );
        let used = proof(&victim, json!({}));
        verifier.verify(&used, "POST", URL, None).unwrap();
        for _ in 0..500 {
            // The attacker's own proofs are valid (their `iat` within the leeway ahead); once
            // the memory overflows, they are refused too.
            let flood = proof(&attacker, json!({"iat": unix_now() + 1}));
            let _ = verifier.verify(&flood, "POST", URL, None);
        }
        assert!(
            verifier.seen.forgotten_until() > 0,
            "the memory did forget proofs within their window"
        );
        assert_eq!(
            verifier.verify(&used, "POST", URL, None),
            Err(DpopError::Time),
            "a used proof the memory may have forgotten is refused"
        );
        // The flood's `iat`s ahead of the clock raise the horizon by at most the leeway:
        // fresh proofs are served again once the clock passes them. The window shrank for
        // a few seconds; it did not close.
        let flooded_until = verifier.seen.forgotten_until();
        assert!(
            flooded_until <= unix_now() + 1 + 61,
            "the horizon is at most the leeway ahead of the clock"
        );
        while unix_now() + 61 <= flooded_until {
            std::thread::sleep(Duration::from_millis(50));
        }
        let fresh = proof(&victim, json!({}));
        assert!(verifier.verify(&fresh, "POST", URL, None).is_ok());
    }

    #[test]
    fn method_and_uri_must_match_the_request() {
        let key = key();
        let verifier = DpopVerifier::new();
        let verify = |claims, method, url| verifier.verify(&proof(&key, claims), method, url, None);
        assert_eq!(verify(json!({}), "GET", URL), Err(DpopError::Method));
        assert_eq!(
            verify(json!({"htm": "post"}), "POST", URL),
            Err(DpopError::Method)
        );
        assert_eq!(
            verify(json!({}), "POST", "https://api.example/other"),
            Err(DpopError::Uri)
        );
        assert_eq!(
            verify(json!({}), "POST", "http://api.example/reports"),
            Err(DpopError::Uri)
        );
        assert_eq!(
            verify(json!({}), "POST", "https://api.example:8443/reports"),
            Err(DpopError::Uri)
        );
        // Same resource, written differently: accepted.
        for url in [
            "HTTPS://API.EXAMPLE:443/reports",
            "https://api.example/reports#frag",
            "https://api.example/%72eports",
        ] {
            assert!(verify(json!({}), "POST", url).is_ok(), "{url}");
        }
        assert!(
            verify(
                json!({"htu": "https://api.example/reports?ignored=1"}),
                "POST",
                URL
            )
            .is_ok()
        );
    }

    #[test]
    fn iat_must_be_recent() {
        let key = key();
        let verifier = DpopVerifier::new();
        let now = unix_now();
        for iat in [now - 61, now + 30, 0] {
            assert_eq!(
                verifier.verify(&proof(&key, json!({"iat": iat})), "POST", URL, None),
                Err(DpopError::Time),
                "{iat}"
            );
        }
        assert!(
            verifier
                .verify(&proof(&key, json!({"iat": now - 30})), "POST", URL, None)
                .is_ok()
        );
    }

    #[test]
    fn ath_binds_the_proof_to_the_access_token() {
        let key = key();
        let verifier = DpopVerifier::new();
        let token = "an.access.token";
        let cases = [
            (json!({}), Err(DpopError::AccessTokenHash)),
            (
                json!({"ath": access_token_hash("another")}),
                Err(DpopError::AccessTokenHash),
            ),
            (json!({"ath": access_token_hash(token)}), Ok(())),
        ];
        for (claims, expected) in cases {
            let answer = verifier
                .verify(&proof(&key, claims), "POST", URL, Some(token))
                .map(|_| ());
            assert_eq!(answer, expected);
        }
    }

    #[test]
    fn header_rules_none_symmetric_private_keys_wrong_typ_wrong_key() {
        let key = key();
        let other = SigningKey::generate_es256("o").unwrap();
        let verifier = DpopVerifier::new();
        let verify = |p: String| verifier.verify(&p, "POST", URL, None);
        assert_eq!(
            verify(proof_with(&key, &key, json!({"alg": "none"}), json!({}))),
            Err(DpopError::Algorithm)
        );
        assert_eq!(
            verify(proof_with(&key, &key, json!({"alg": "HS256"}), json!({}))),
            Err(DpopError::Algorithm)
        );
        assert_eq!(
            verify(proof_with(&key, &key, json!({"typ": "JWT"}), json!({}))),
            Err(DpopError::WrongType)
        );
        assert_eq!(
            verify(proof_with(&key, &key, json!({"typ": null}), json!({}))),
            Err(DpopError::WrongType)
        );
        let mut private = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
        private["d"] = json!("AAAA");
        assert_eq!(
            verify(proof_with(&key, &key, json!({"jwk": private}), json!({}))),
            Err(DpopError::Key)
        );
        assert_eq!(
            verify(proof_with(
                &key,
                &key,
                json!({"jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
                json!({})
            )),
            Err(DpopError::Key)
        );
        assert_eq!(
            verify(proof_with(&key, &key, json!({"jwk": null}), json!({}))),
            Err(DpopError::Key)
        );
        // Signed by another key than the one in the header.
        assert_eq!(
            verify(proof_with(&other, &key, json!({}), json!({}))),
            Err(DpopError::Signature)
        );
        for claim in ["jti", "htm", "htu", "iat"] {
            assert_eq!(
                verify(proof(&key, json!({ claim: null }))),
                Err(DpopError::Malformed),
                "{claim}"
            );
        }
        for garbage in ["", "a.b", "a.b.c", "....", &"x".repeat(10_000)] {
            assert!(verify(garbage.to_owned()).is_err());
        }
    }

    #[test]
    fn thumbprints_use_the_required_members_in_order() {
        let jwk = json!({"y": "b", "x": "a", "kty": "EC", "crv": "P-256", "kid": "ignored"});
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            br#"{"crv":"P-256","kty":"EC","x":"a","y":"b"}"#,
        );
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            URL_SAFE_NO_PAD.encode(digest.as_ref())
        );
        assert!(thumbprint(&json!({"kty": "oct", "k": "x"})).is_none());
    }

    #[test]
    fn urls_normalise_as_rfc_3986_says() {
        let cases = [
            (
                "https://Example.COM:443/a/b?q#f",
                Some("https://example.com/a/b"),
            ),
            ("http://example.com:80", Some("http://example.com/")),
            (
                "http://example.com:8080/%7euser/%2f",
                Some("http://example.com:8080/~user/%2F"),
            ),
            ("https://[::1]:8443/x", Some("https://[::1]:8443/x")),
            ("https://[::1]/x", Some("https://[::1]/x")),
            ("https://user@example.com/", None),
            ("ftp://example.com/", None),
            ("/relative", None),
            ("https://example.com/%zz", None),
            ("https://example.com:port/", None),
        ];
        for (url, expected) in cases {
            assert_eq!(normalized_htu(url).as_deref(), expected, "{url}");
        }
    }
}

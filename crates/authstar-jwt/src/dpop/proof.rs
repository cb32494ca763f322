//! A proof's parts, read before and after its signature is checked: its header and `jwk`, its
//! `nonce`, the key's thumbprint (RFC 7638), the access token's hash (`ath`) and the URL it
//! names (`htu`, normalised).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::DpopError;

#[derive(Deserialize)]
pub(super) struct Header {
    #[serde(default)]
    pub(super) typ: Option<String>,
    #[serde(default)]
    pub(super) alg: Option<String>,
    #[serde(default)]
    pub(super) jwk: Option<serde_json::Value>,
}

/// The longest proof read (a P-521 or RSA-4096 `jwk` fits well under it).
pub(super) const MAX_PROOF: usize = 8 * 1024;

/// The `nonce` claim of a proof, read before its signature is checked (then checked with the
/// signature: the payload verified is the same bytes).
pub(super) fn unverified_nonce(proof: &str) -> Option<String> {
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
pub(super) const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The proof's header, refused when its `jwk` is missing or holds a private member.
pub(super) fn header(proof: &str) -> Result<Header, DpopError> {
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

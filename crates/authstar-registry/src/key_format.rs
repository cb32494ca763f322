//! The API key's format, `ask_<key id>_<secret><checksum>`, read with no database.
//!
//! The last six characters are a CRC-32 of the rest in base 62, as GitHub's tokens carry one: a
//! secret scanner, and the layer before any database read, tell a key from a mistyped or made-up
//! string. Keys made before the checksum (a 43-character secret) keep working.

use crate::API_KEY_PREFIX;

/// A generated secret's length (32 random bytes, base64url), and the checksum's.
const SECRET_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;

/// `ask_<key id>_<secret>` into its id and secret (the checksum, when the key has one, is part
/// of the secret); `None` for anything else, a wrong checksum included.
pub(crate) fn split_key(key: &str) -> Option<(&str, &str)> {
    if !key.is_ascii() {
        return None;
    }
    let (id, secret) = key.strip_prefix(API_KEY_PREFIX)?.split_once('_')?;
    match secret.len() {
        SECRET_LEN => Some((id, secret)),
        n if n == SECRET_LEN + CHECKSUM_LEN => {
            let (body, checksum) = key.split_at(key.len() - CHECKSUM_LEN);
            (checksum_of(body) == checksum.as_bytes()).then_some((id, secret))
        }
        _ => None,
    }
}

/// CRC-32 of `body` in base 62, six ASCII characters (bytes: checked on every request, so no
/// allocation).
pub(crate) fn checksum_of(body: &str) -> [u8; CHECKSUM_LEN] {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut value = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// Whether `key` has the form of an API key of this registry and, when it carries one, the
/// right checksum: what a secret scanner, or a client before sending it, can check with no
/// database.
///
/// ```
/// use authstar_registry::is_well_formed_api_key;
/// assert!(!is_well_formed_api_key("ask_0a1b2c_not-a-key"));
/// assert!(!is_well_formed_api_key("another-key"));
/// ```
pub fn is_well_formed_api_key(key: &str) -> bool {
    split_key(key).is_some()
}

/// The public id of an API key `ask_<id>_<secret>` (never its secret): what the failure
/// throttle counts a key's failures against
/// ([`HeaderAuth::identity`](authstar::HeaderAuth::identity)).
///
/// ```
/// assert_eq!(authstar_registry::api_key_id("ask_0a1b2c_secretpart"), Some("0a1b2c"));
/// assert_eq!(authstar_registry::api_key_id("another-key"), None);
/// ```
pub fn api_key_id(key: &str) -> Option<&str> {
    // The id whatever the rest: a guesser's made-up secrets count against the id they name.
    key.strip_prefix(API_KEY_PREFIX)?
        .split_once('_')
        .map(|(id, _)| id)
}

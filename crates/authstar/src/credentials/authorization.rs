//! The `Authorization` request header (RFC 9110 §11.6.2).
//!
//! ```text
//! credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! authstar understands the `Bearer` and `Basic` schemes, both of which carry a `token68`.
//! Scheme names are compared case-insensitively (RFC 9110 §11.1). A header with any other scheme
//! is not authstar's to judge: it is [`Authorization::Other`] and the next method is tried.

use crate::Malformed;

/// The scheme and credential of an `Authorization` header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// `Bearer <token68>`.
    Bearer(&'a str),
    /// `Basic <token68>`; the credential is still base64.
    Basic(&'a str),
    /// Some other scheme (Digest, Negotiate, ...), or a value that is not a credential at all.
    Other,
}

/// Which of the two understood schemes a malformed value claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `Bearer`.
    Bearer,
    /// `Basic`.
    Basic,
}

/// Splits an `Authorization` value into scheme and `token68`.
///
/// Returns the scheme the value claimed with the reason when its credential is malformed, so the
/// caller can report the failure against the right method.
///
/// ```
/// use authstar::credentials::authorization::{parse, Authorization, Scheme};
/// use authstar::Malformed;
///
/// assert_eq!(parse(b"bEaReR abc.def"), Ok(Authorization::Bearer("abc.def")));
/// assert_eq!(parse(b"Basic dTpw"), Ok(Authorization::Basic("dTpw")));
/// assert_eq!(parse(b"Digest username=x"), Ok(Authorization::Other));
/// assert_eq!(parse(b"Bearer"), Err((Scheme::Bearer, Malformed::Empty)));
/// assert_eq!(parse(b"Bearer a b"), Err((Scheme::Bearer, Malformed::Syntax)));
/// ```
pub fn parse(value: &[u8]) -> Result<Authorization<'_>, (Scheme, Malformed)> {
    let Some((scheme, start)) = locate(value)? else {
        return Ok(Authorization::Other);
    };
    // `locate` validated the token as token68, so it is ASCII and this cannot fail.
    let token = std::str::from_utf8(&value[start..]).map_err(|_| (scheme, Malformed::Syntax))?;
    Ok(match scheme {
        Scheme::Bearer => Authorization::Bearer(token),
        Scheme::Basic => Authorization::Basic(token),
    })
}

/// The scheme and the offset of a valid `token68` credential in `value`; `None` for another
/// scheme. The middleware uses the offset directly, converting to `&str` only when an
/// authenticator asks.
pub(crate) fn locate(value: &[u8]) -> Result<Option<(Scheme, usize)>, (Scheme, Malformed)> {
    // The scheme is a prefix compared case-insensitively; no search for the space is needed.
    let (scheme, rest) = if starts_with_ignore_case(value, b"bearer") {
        (Scheme::Bearer, 6)
    } else if starts_with_ignore_case(value, b"basic") {
        (Scheme::Basic, 5)
    } else {
        return Ok(None);
    };
    match value.get(rest) {
        None => return Err((scheme, Malformed::Empty)),
        Some(b' ') => {}
        Some(_) => return Ok(None), // `Bearerx ...`: another scheme
    }
    // 1*SP between scheme and credential.
    let mut start = rest + 1;
    while value.get(start) == Some(&b' ') {
        start += 1;
    }
    match value.get(start..) {
        None | Some([]) => Err((scheme, Malformed::Empty)),
        Some(token) if is_token68(token) => Ok(Some((scheme, start))),
        Some(_) => Err((scheme, Malformed::Syntax)),
    }
}

/// [`parse`] for a value already held as text.
pub fn parse_str(value: &str) -> Result<Authorization<'_>, (Scheme, Malformed)> {
    parse(value.as_bytes())
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `bytes` as a `&str` if it matches the `token68` grammar (RFC 9110 §11.2), which is also RFC
/// 6750's `b64token`.
///
/// ```
/// use authstar::credentials::authorization::token68;
/// assert_eq!(token68(b"a-b._~+/c=="), Some("a-b._~+/c=="));
/// assert_eq!(token68(b"=abc"), None);
/// assert_eq!(token68(b"ab=c"), None);
/// assert_eq!(token68(b""), None);
/// ```
pub fn token68(bytes: &[u8]) -> Option<&str> {
    if is_token68(bytes) {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// The `token68` characters other than `=`, as a table: one load per byte on the hot path.
const TOKEN68: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

fn is_token68(bytes: &[u8]) -> bool {
    // `*"="` padding at the end, at least one token character before it.
    let padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &bytes[..bytes.len() - padding];
    if body.is_empty() {
        return false;
    }
    // Eight bytes at a time, branch-free within a chunk: a JWT is hundreds of bytes.
    let valid = |chunk: &[u8]| {
        chunk
            .iter()
            .fold(true, |ok, &b| ok & TOKEN68[usize::from(b)])
    };
    let mut chunks = body.chunks_exact(8);
    chunks.by_ref().all(valid) && valid(chunks.remainder())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9110_11_1_scheme_is_case_insensitive() {
        for value in ["Bearer t", "bearer t", "BEARER t", "BeArEr t"] {
            assert_eq!(parse(value.as_bytes()), Ok(Authorization::Bearer("t")));
        }
        assert_eq!(parse(b"bAsIc dTpw"), Ok(Authorization::Basic("dTpw")));
    }

    #[test]
    fn rfc9110_11_6_2_several_spaces_separate_scheme_and_credential() {
        assert_eq!(parse(b"Bearer   t"), Ok(Authorization::Bearer("t")));
    }

    #[test]
    fn other_schemes_and_prefixes_are_not_ours() {
        assert_eq!(parse(b"Bearerx t"), Ok(Authorization::Other));
        assert_eq!(parse(b"Token t"), Ok(Authorization::Other));
        assert_eq!(parse(b""), Ok(Authorization::Other));
        assert_eq!(parse(b" Bearer t"), Ok(Authorization::Other));
    }

    #[test]
    fn rfc6750_2_1_b64token_rejects_other_characters() {
        for bad in [
            "Bearer a,b",
            "Bearer a\tb",
            "Bearer \"t\"",
            "Bearer t t",
            "Bearer t=a",
        ] {
            assert_eq!(
                parse(bad.as_bytes()),
                Err((Scheme::Bearer, Malformed::Syntax)),
                "{bad}"
            );
        }
    }

    #[test]
    fn empty_credentials_are_malformed() {
        assert_eq!(parse(b"Bearer "), Err((Scheme::Bearer, Malformed::Empty)));
        assert_eq!(parse(b"Basic"), Err((Scheme::Basic, Malformed::Empty)));
        assert_eq!(parse(b"Bearer ="), Err((Scheme::Bearer, Malformed::Syntax)));
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_defined_answer(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(Authorization::Bearer(t) | Authorization::Basic(t)) = parse(&bytes) {
                prop_assert!(!t.is_empty());
                prop_assert!(token68(t.as_bytes()).is_some());
            }
        }

        #[test]
        fn every_token68_round_trips(token in "[A-Za-z0-9._~+/-]{1,64}={0,2}") {
            let header = format!("Bearer {token}");
            prop_assert_eq!(parse(header.as_bytes()), Ok(Authorization::Bearer(token.as_str())));
        }
    }
}

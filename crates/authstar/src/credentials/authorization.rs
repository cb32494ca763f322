//! The `Authorization` request header (RFC 9110 §11.6.2).
//!
//! ```text
//! credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! authstar understands the `Bearer`, `Basic` and `DPoP` (RFC 9449 §7.1) schemes, all of which
//! carry a `token68`.
//! Scheme names are compared case-insensitively (RFC 9110 §11.1). A header with any other scheme
//! is not authstar's to judge: it is [`Authorization::Other`] and the next method is tried.

use crate::Malformed;

/// The scheme and credential of an `Authorization` header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Authorization<'a> {
    /// `Bearer <token68>`.
    Bearer(&'a str),
    /// `Basic <token68>`; the credential is still base64.
    Basic(&'a str),
    /// `DPoP <token68>`: an access token bound to a key, sent with a `DPoP` proof header.
    Dpop(&'a str),
    /// Some other scheme (Digest, Negotiate, ...), or a value that is not a credential at all.
    Other,
}

/// Which of the understood schemes a value claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `Bearer`.
    Bearer,
    /// `Basic`.
    Basic,
    /// `DPoP` (RFC 9449).
    Dpop,
}

/// Splits an `Authorization` value into scheme and `token68`.
///
/// Returns the scheme the value claimed with the reason when its credential is malformed, so the
/// caller can report the failure against the right method.
pub(crate) fn parse(value: &[u8]) -> Result<Authorization<'_>, (Scheme, Malformed)> {
    let Some((scheme, start)) = locate(value)? else {
        return Ok(Authorization::Other);
    };
    // `locate` validated the token as token68, so it is ASCII and this cannot fail.
    let token = std::str::from_utf8(&value[start..]).map_err(|_| (scheme, Malformed::Syntax))?;
    Ok(match scheme {
        Scheme::Bearer => Authorization::Bearer(token),
        Scheme::Basic => Authorization::Basic(token),
        Scheme::Dpop => Authorization::Dpop(token),
    })
}

/// The scheme and the offset of a valid `token68` credential in `value`; `None` for another
/// scheme. The middleware uses the offset directly, converting to `&str` only when an
/// authenticator asks.
pub(crate) fn locate(value: &[u8]) -> Result<Option<(Scheme, usize)>, (Scheme, Malformed)> {
    let Some((scheme, mut start)) = scheme(value)? else {
        return Ok(None);
    };
    // 1*SP between scheme and credential.
    while value.get(start) == Some(&b' ') {
        start += 1;
    }
    match value.get(start..) {
        None | Some([]) => Err((scheme, Malformed::Empty)),
        Some(token) if is_token68(token) => Ok(Some((scheme, start))),
        Some(_) => Err((scheme, Malformed::Syntax)),
    }
}

/// The scheme and the offset just past the space that ends it; `None` for another scheme.
#[inline(always)]
fn scheme(value: &[u8]) -> Result<Option<(Scheme, usize)>, (Scheme, Malformed)> {
    // The common case in one comparison: the first eight bytes, the scheme's letters folded to
    // lowercase (bit 5), compared with `bearer ` or `basic ` (the lanes past the space ignored).
    const BEARER: u64 = u64::from_le_bytes(*b"bearer \0");
    const BASIC: u64 = u64::from_le_bytes(*b"basic \0\0");
    if let Some(head) = value
        .get(..8)
        .and_then(|head| <[u8; 8]>::try_from(head).ok())
    {
        let word = u64::from_le_bytes(head);
        if (word | 0x0000_2020_2020_2020) & 0x00ff_ffff_ffff_ffff == BEARER {
            return Ok(Some((Scheme::Bearer, 7)));
        }
        if (word | 0x0000_0020_2020_2020) & 0x0000_ffff_ffff_ffff == BASIC {
            return Ok(Some((Scheme::Basic, 6)));
        }
    }
    // Short values, `DPoP`, and what is not `Bearer `/`Basic `: the scheme is a prefix compared
    // case-insensitively (no search for the space is needed), then exactly one space.
    let (scheme, rest) = if starts_with_ignore_case(value, b"bearer") {
        (Scheme::Bearer, 6)
    } else if starts_with_ignore_case(value, b"basic") {
        (Scheme::Basic, 5)
    } else if starts_with_ignore_case(value, b"dpop") {
        (Scheme::Dpop, 4)
    } else {
        return Ok(None);
    };
    match value.get(rest) {
        None => Err((scheme, Malformed::Empty)),
        Some(b' ') => Ok(Some((scheme, rest + 1))),
        Some(_) => Ok(None), // `Bearerx ...`: another scheme
    }
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `bytes` as a `&str` if it matches the `token68` grammar (RFC 9110 §11.2), which is also RFC
/// 6750's `b64token`.
#[cfg(test)]
fn token68(bytes: &[u8]) -> Option<&str> {
    if is_token68(bytes) {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// 1 for every byte that is not a `token68` character other than `=`, as a table: one load per
/// byte on the hot path.
const NOT_TOKEN: [u8; 256] = {
    let mut table = [1; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/') {
            table[b] = 0;
        }
        b += 1;
    }
    table
};

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(bytes: &[u8]) -> bool {
    // Trailing `=` padding (usually none), then at least one token character and nothing else.
    let body = &bytes[..bytes
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |last| last + 1)];
    // The table entries OR-ed: four independent loads per chunk and no early exit (a JWT is
    // hundreds of bytes). The tail is the last four bytes again: OR does not mind the overlap.
    let bad = |b: u8| NOT_TOKEN[usize::from(b)];
    let any_bad = |chunk: &[u8]| chunk.iter().fold(0, |found, &b| found | bad(b));
    let bad = match body.len().checked_sub(4) {
        None => any_bad(body),
        Some(tail) => body
            .chunks_exact(4)
            .fold(any_bad(&body[tail..]), |found, chunk| {
                found | any_bad(chunk)
            }),
    };
    !body.is_empty() && bad == 0
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
        fn token68_matches_the_grammar(bytes in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'='), Just(b'a')], 0..40
        )) {
            // The grammar, read literally: a non-empty run of token characters, then only `=`.
            let token_char = |b: &u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(b);
            let run = bytes.iter().take_while(|b| token_char(b)).count();
            let expected = run > 0 && bytes[run..].iter().all(|&b| b == b'=');
            prop_assert_eq!(is_token68(&bytes), expected);
        }

        #[test]
        fn scheme_matches_a_literal_reading(
            name in "[bB][eE][aA][rR][eE][rR]|[bB][aA][sS][iI][cC]|[bB][eE][aA][rR][eE][xX]|Digest|[bB]\\x00sic",
            gap in "[ \\x00\\t]{0,3}",
            rest in "[a-z=]{0,9}",
        ) {
            let value = format!("{name}{gap}{rest}");
            let lower = name.to_ascii_lowercase();
            let expected = match lower.as_str() {
                "bearer" => Some(Scheme::Bearer),
                "basic" => Some(Scheme::Basic),
                _ => None,
            };
            let got = scheme(value.as_bytes());
            match expected {
                None => prop_assert_eq!(got, Ok(None)),
                Some(expected) if gap.is_empty() && rest.is_empty() => {
                    prop_assert_eq!(got, Err((expected, Malformed::Empty)));
                }
                Some(_) if !gap.starts_with(' ') => prop_assert_eq!(got, Ok(None)),
                Some(expected) => prop_assert_eq!(got, Ok(Some((expected, name.len() + 1)))),
            }
        }

        #[test]
        fn every_token68_round_trips(token in "[A-Za-z0-9._~+/-]{1,64}={0,2}") {
            let header = format!("Bearer {token}");
            prop_assert_eq!(parse(header.as_bytes()), Ok(Authorization::Bearer(token.as_str())));
        }
    }
}

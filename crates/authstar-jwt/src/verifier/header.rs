//! Reading a token's header before the JOSE library does: `crit` (RFC 7515 §4.1.11), which it
//! does not check, and the library's errors as reasons.

use crate::claims::InvalidToken;

/// RFC 7515 §4.1.11: a `crit` header member names extensions that must be understood; this
/// library understands none, so any `crit` refuses the token. The header is decoded on the
/// stack and searched first: only a header holding `"crit"` or a backslash (a member name can
/// be written with escapes, `"\u0063rit"`) is parsed as JSON.
pub(crate) fn check_crit(token: &str) -> Result<(), InvalidToken> {
    use base64::Engine as _;
    let encoded = token.split('.').next().unwrap_or_default();
    let mut buffer = [0u8; 768];
    let header =
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(encoded, &mut buffer) {
            Ok(length) => &buffer[..length],
            // Too long for the buffer (or not base64): the slow path decides.
            Err(_) => return check_crit_slowly(encoded),
        };
    static CRIT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"crit\""));
    if CRIT.find(header).is_none() && memchr::memchr(b'\\', header).is_none() {
        return Ok(());
    }
    parsed_crit(header)
}

fn check_crit_slowly(encoded: &str) -> Result<(), InvalidToken> {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| InvalidToken::Malformed)?;
    parsed_crit(&header)
}

fn parsed_crit(header: &[u8]) -> Result<(), InvalidToken> {
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|_| InvalidToken::Malformed)?;
    if parsed.contains_key("crit") {
        Err(InvalidToken::CriticalExtension)
    } else {
        Ok(())
    }
}

pub(crate) fn rejection(error: jsonwebtoken::errors::Error) -> InvalidToken {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => InvalidToken::Malformed,
        ErrorKind::InvalidAlgorithm => InvalidToken::WrongAlgorithm,
        _ => InvalidToken::Invalid(error.to_string()),
    }
}

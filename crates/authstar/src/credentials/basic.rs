//! HTTP Basic credentials (RFC 7617).
//!
//! Decisions, each pinned by a test:
//! * base64 is strict (RFC 4648 §4 alphabet, canonical padding, no trailing bits);
//! * the decoded bytes must be UTF-8: authstar announces `charset="UTF-8"` in its challenge
//!   (RFC 7617 §2.1) and has no Latin-1 fallback, because guessing an encoding would let two byte
//!   strings name the same user;
//! * user-id and password are split at the **first** colon: a user-id cannot contain `:`, a
//!   password can (RFC 7617 §2);
//! * control characters (U+0000–U+001F, U+007F) anywhere are refused (RFC 7617 §2);
//! * an empty user-id is refused; an empty password is passed on (the authenticator decides).

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Malformed;

/// A decoded Basic user-id and password, as handed to a basic authenticator. `Debug` shows the
/// user-id and never the password.
///
/// ```
/// use authstar::credentials::basic::BasicCredentials;
///
/// // "alice:pa:ss" in base64
/// let credentials = BasicCredentials::decode("YWxpY2U6cGE6c3M=").unwrap();
/// assert_eq!(credentials.username(), "alice");
/// assert_eq!(credentials.password(), "pa:ss");
/// assert_eq!(
///     format!("{credentials:?}"),
///     r#"BasicCredentials { username: "alice", password: "<redacted>" }"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    decoded: String,
    colon: usize,
}

impl BasicCredentials {
    /// Decodes the `token68` of a `Basic` credential.
    pub fn decode(token: &str) -> Result<Self, Malformed> {
        Self::decode_bytes(token.as_bytes())
    }

    /// The credentials of an `Authorization: Basic` header value: `None` for another scheme,
    /// the reason for credentials that cannot be read.
    ///
    /// ```
    /// use authstar::credentials::basic::BasicCredentials;
    /// use http::HeaderValue;
    /// let basic = BasicCredentials::from_authorization(&HeaderValue::from_static("Basic YTpi"));
    /// assert_eq!(basic.unwrap().unwrap().username(), "a");
    /// assert!(BasicCredentials::from_authorization(&HeaderValue::from_static("Bearer t")).is_none());
    /// assert!(BasicCredentials::from_authorization(&HeaderValue::from_static("Basic !")).unwrap().is_err());
    /// ```
    pub fn from_authorization(value: &http::HeaderValue) -> Option<Result<Self, Malformed>> {
        match super::authorization::parse(value.as_bytes()) {
            Ok(super::authorization::Authorization::Basic(token)) => Some(Self::decode(token)),
            Err((super::authorization::Scheme::Basic, reason)) => Some(Err(reason)),
            _ => None,
        }
    }

    pub(crate) fn decode_bytes(token: &[u8]) -> Result<Self, Malformed> {
        let bytes = STANDARD.decode(token).map_err(|_| Malformed::Base64)?;
        let decoded = String::from_utf8(bytes).map_err(|_| Malformed::Utf8)?;
        // U+0000–U+001F and U+007F are single bytes in UTF-8 that never occur inside a longer
        // sequence, so a byte scan finds exactly them; no early exit, so it vectorises.
        if decoded
            .bytes()
            .fold(false, |control, b| control | b.is_ascii_control())
        {
            return Err(Malformed::ControlCharacter);
        }
        let colon = decoded.find(':').ok_or(Malformed::MissingColon)?;
        if colon == 0 {
            return Err(Malformed::EmptyUserId);
        }
        Ok(Self { decoded, colon })
    }

    /// Builds credentials from a user-id and password (for tests and clients), enforcing the
    /// same rules as [`decode`](Self::decode).
    ///
    /// ```
    /// use authstar::credentials::basic::BasicCredentials;
    /// assert!(BasicCredentials::new("a:b", "c").is_err()); // user-id with a colon
    /// assert_eq!(BasicCredentials::new("a", "b").unwrap().encode(), "YTpi");
    /// ```
    pub fn new(username: &str, password: &str) -> Result<Self, Malformed> {
        if username.contains(':') {
            return Err(Malformed::Syntax);
        }
        Self::decode(&STANDARD.encode(format!("{username}:{password}")))
    }

    /// The user-id (for OAuth2 clients, the `client_id`).
    #[inline]
    pub fn username(&self) -> &str {
        &self.decoded[..self.colon]
    }

    /// The password (for OAuth2 clients, the `client_secret`).
    #[inline]
    pub fn password(&self) -> &str {
        &self.decoded[self.colon + 1..]
    }

    /// The client id and secret these credentials carry for an OAuth 2.0 server: RFC 6749
    /// §2.3.1 has clients form-encode each before putting them in Basic (`my+client` is
    /// `my client`, `s%3Acret` is `s:cret`). Each part is decoded on its own; one that does not
    /// decode to UTF-8 is read as it came. The one reading of a Basic client id in authstar:
    /// the failure throttle counts by it, and the registry checks by it.
    ///
    /// ```
    /// use authstar::BasicCredentials;
    /// let credentials = BasicCredentials::new("my+client", "s%3Acret").unwrap();
    /// let (id, secret) = credentials.oauth2_client();
    /// assert_eq!((id.as_ref(), secret.as_ref()), ("my client", "s:cret"));
    /// // A part that is no form encoding is read as it came.
    /// let credentials = BasicCredentials::new("svc", "x%FF").unwrap();
    /// assert_eq!(credentials.oauth2_client().1, "x%FF");
    /// ```
    pub fn oauth2_client(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        (oauth2_part(self.username()), oauth2_part(self.password()))
    }

    /// Basic credentials for an OAuth 2.0 client id and secret, each form-encoded as RFC 6749
    /// §2.3.1 has clients do: [`oauth2_client`](Self::oauth2_client) reads them back exactly.
    /// How a token endpoint hands a `client_secret_post` (given decoded, in the body) to the
    /// Basic authenticator that reads `client_secret_basic`.
    ///
    /// ```
    /// use authstar::BasicCredentials;
    /// let credentials = BasicCredentials::from_oauth2_client("my client", "a+b:c").unwrap();
    /// assert_eq!(credentials.username(), "my+client");
    /// let (id, secret) = credentials.oauth2_client();
    /// assert_eq!((id.as_ref(), secret.as_ref()), ("my client", "a+b:c"));
    /// ```
    pub fn from_oauth2_client(client_id: &str, secret: &str) -> Result<Self, Malformed> {
        let encode =
            |part: &str| form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
        Self::new(&encode(client_id), &encode(secret))
    }

    /// The base64 `token68` for an `Authorization: Basic` header.
    pub fn encode(&self) -> String {
        STANDARD.encode(&self.decoded)
    }
}

/// One `application/x-www-form-urlencoded` value decoded (`+` for a space, percent escapes),
/// never split at `&` or `=`: how RFC 6749 §2.3.1 encodes a client id or secret inside HTTP
/// Basic. Borrowed when there is nothing to decode; `None` when the result is not UTF-8.
fn form_decoded(part: &str) -> Option<Cow<'_, str>> {
    if !part.contains(['%', '+']) {
        return Some(Cow::Borrowed(part));
    }
    let plus_as_space = part.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|decoded| Cow::Owned(decoded.into_owned()))
}

/// A Basic user name or password read as RFC 6749 §2.3.1 has OAuth 2.0 clients encode it
/// ([`BasicCredentials::oauth2_client`]).
pub(crate) fn oauth2_part(part: &str) -> Cow<'_, str> {
    form_decoded(part).unwrap_or(Cow::Borrowed(part))
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username())
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn rfc7617_2_splits_at_the_first_colon() {
        let c = BasicCredentials::decode(&b64(b"user:a:b:c")).unwrap();
        assert_eq!((c.username(), c.password()), ("user", "a:b:c"));
    }

    #[test]
    fn rfc7617_2_1_utf8_is_decoded() {
        let c = BasicCredentials::decode(&b64("test:123£".as_bytes())).unwrap();
        assert_eq!(c.password(), "123£");
    }

    #[test]
    fn rfc7617_2_1_non_utf8_is_refused_without_fallback() {
        // "test:123\xA3": Latin-1 pound sign
        assert_eq!(
            BasicCredentials::decode(&b64(b"test:123\xa3")),
            Err(Malformed::Utf8)
        );
    }

    #[test]
    fn rfc7617_2_control_characters_are_refused() {
        for raw in [
            &b"us\x00er:p"[..],
            b"user:p\x7f",
            b"user:p\r\nx",
            b"u\tser:p",
        ] {
            assert_eq!(
                BasicCredentials::decode(&b64(raw)),
                Err(Malformed::ControlCharacter)
            );
        }
    }

    #[test]
    fn missing_colon_and_empty_user_id_are_refused() {
        assert_eq!(
            BasicCredentials::decode(&b64(b"user")),
            Err(Malformed::MissingColon)
        );
        assert_eq!(
            BasicCredentials::decode(&b64(b":secret")),
            Err(Malformed::EmptyUserId)
        );
        let empty_password = BasicCredentials::decode(&b64(b"user:")).unwrap();
        assert_eq!(empty_password.password(), "");
    }

    #[test]
    fn rfc4648_base64_is_strict() {
        // unpadded, URL-safe alphabet, non-canonical trailing bits, stray characters
        for bad in ["dXNlcjpwYQ", "dXNl-jpw", "dXNlcjpx=", "dXNlcjp*", "===="] {
            assert_eq!(
                BasicCredentials::decode(bad),
                Err(Malformed::Base64),
                "{bad}"
            );
        }
        assert!(BasicCredentials::decode("dXNlcjpwYQ==").is_ok());
    }

    proptest! {
        #[test]
        fn any_token_gives_a_defined_answer(token in "[A-Za-z0-9+/=]{0,64}") {
            if let Ok(c) = BasicCredentials::decode(&token) {
                prop_assert!(!c.username().is_empty());
                prop_assert!(!c.username().contains(':'));
            }
        }

        #[test]
        fn user_and_password_round_trip(user in "[^:\\x00-\\x1f\\x7f]{1,20}", password in "[^\\x00-\\x1f\\x7f]{0,20}") {
            let c = BasicCredentials::decode(&b64(format!("{user}:{password}").as_bytes())).unwrap();
            prop_assert_eq!(c.username(), user.as_str());
            prop_assert_eq!(c.password(), password.as_str());
        }
    }
}

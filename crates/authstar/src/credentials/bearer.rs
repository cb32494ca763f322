//! Bearer tokens in the `Authorization` header (RFC 6750 §2.1).

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

/// A syntactically valid bearer token (`b64token`, RFC 6750 §2.1), as handed to a bearer
/// authenticator.
///
/// It shares the request's header bytes instead of copying them, and its `Debug` output never
/// shows the token.
///
/// ```
/// use authstar::credentials::bearer::BearerToken;
/// use http::HeaderValue;
///
/// let token = BearerToken::from_authorization(&HeaderValue::from_static("Bearer abc")).unwrap();
/// assert_eq!(token.as_str(), "abc");
/// assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
/// ```
#[derive(Clone)]
pub struct BearerToken {
    value: HeaderValue,
    start: usize,
    /// The `x5t#S256` of the client certificate the request came with (RFC 8705 §3).
    certificate: Option<Arc<str>>,
}

impl BearerToken {
    /// A token that `authorization::locate` found at `start` in `value`.
    #[inline]
    pub(crate) fn at(value: &HeaderValue, start: usize) -> Self {
        Self {
            value: value.clone(),
            start,
            certificate: None,
        }
    }

    /// The same token, presented over a TLS connection with the client certificate whose
    /// thumbprint is `thumbprint`.
    #[inline]
    pub(crate) fn with_certificate(mut self, thumbprint: Option<Arc<str>>) -> Self {
        self.certificate = thumbprint;
        self
    }

    /// The `x5t#S256` thumbprint of the client certificate the request was sent with (RFC 8705
    /// §3), when it came over mutual TLS (or a trusted proxy that terminated it said so): a
    /// certificate-bound token is valid only with this certificate.
    #[inline]
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.certificate.as_deref()
    }

    /// Reads a bearer token from a whole `Authorization` header value; `None` unless it is a valid
    /// `Bearer` credential.
    pub fn from_authorization(value: &HeaderValue) -> Option<Self> {
        match super::authorization::parse(value.as_bytes()) {
            Ok(super::authorization::Authorization::Bearer(token)) => {
                Some(Self::at(value, value.len() - token.len()))
            }
            _ => None,
        }
    }

    /// The token.
    #[inline]
    pub fn as_str(&self) -> &str {
        // Validated as token68 (ASCII) when this value was made; the fallback is unreachable.
        std::str::from_utf8(&self.value.as_bytes()[self.start..]).unwrap_or_default()
    }
}

impl AsRef<str> for BearerToken {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::ops::Deref for BearerToken {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

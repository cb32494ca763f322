//! A credential carried in a named header, such as `X-API-Key: <key>` (read by the
//! [`HeaderAuth`](crate::HeaderAuth) method, the Python package's `HeaderAuth`).

use std::fmt;

use http::{HeaderName, HeaderValue};

use crate::Malformed;

/// The value of a credential header, as handed to a header authenticator: non-empty visible
/// ASCII without spaces (`%x21-7E`). `Debug` shows the header's name, never the value.
///
/// ```
/// use authstar::HeaderCredential;
/// use http::{HeaderName, HeaderValue};
///
/// let name = HeaderName::from_static("x-api-key");
/// let key = HeaderCredential::read(&name, &HeaderValue::from_static("as_k1_abc")).unwrap();
/// assert_eq!(key.as_str(), "as_k1_abc");
/// assert_eq!(format!("{key:?}"), r#"HeaderCredential("x-api-key", <redacted>)"#);
/// assert!(HeaderCredential::read(&name, &HeaderValue::from_static("a b")).is_err());
/// ```
#[derive(Clone)]
pub struct HeaderCredential {
    name: HeaderName,
    value: HeaderValue,
}

impl HeaderCredential {
    /// Validates a header value as a credential.
    #[inline]
    pub fn read(name: &HeaderName, value: &HeaderValue) -> Result<Self, Malformed> {
        let bytes = value.as_bytes();
        if bytes.is_empty() {
            return Err(Malformed::Empty);
        }
        if !super::ascii::all_visible(bytes) {
            return Err(Malformed::Syntax);
        }
        Ok(Self {
            name: name.clone(),
            value: value.clone(),
        })
    }

    /// The credential.
    #[inline]
    pub fn as_str(&self) -> &str {
        // Validated as visible ASCII when this value was made, so the fast ASCII path of
        // `from_utf8` applies and the fallback is unreachable.
        std::str::from_utf8(self.value.as_bytes()).unwrap_or_default()
    }

    /// The header it came from.
    #[inline]
    pub fn header_name(&self) -> &HeaderName {
        &self.name
    }
}

impl AsRef<str> for HeaderCredential {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::ops::Deref for HeaderCredential {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for HeaderCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeaderCredential({:?}, <redacted>)", self.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_header_bytes_give_a_defined_answer(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let name = HeaderName::from_static("x-api-key");
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                match HeaderCredential::read(&name, &value) {
                    Ok(credential) => prop_assert_eq!(credential.as_str().as_bytes(), &bytes[..]),
                    Err(reason) => prop_assert!(matches!(reason, Malformed::Empty | Malformed::Syntax)),
                }
            }
        }
    }
}

//! A credential carried in a named header, such as `X-API-Key: <key>` (the seed's `HeaderAuth`).

use std::fmt;
use std::future::Future;

use http::{HeaderName, HeaderValue};

use crate::Malformed;

/// An authenticator bound to a header name; pass it to
/// [`AuthstarLayerBuilder::on_auth_header`](crate::AuthstarLayerBuilder::on_auth_header).
///
/// ```
/// use authstar::{AuthstarClient, HeaderAuth, HeaderCredential};
///
/// let api_key = HeaderAuth::x_api_key(|key: HeaderCredential| async move {
///     (key.as_str() == "k-123").then(|| AuthstarClient::new("reporting", ["reports:read"]))
/// });
/// assert_eq!(api_key.name().map(|n| n.as_str()), Some("x-api-key"));
///
/// // An invalid name is reported when the layer is built, not here.
/// let bad = HeaderAuth::new("not a header", |_: HeaderCredential| async { None::<AuthstarClient> });
/// assert!(bad.name().is_none());
/// ```
pub struct HeaderAuth<A> {
    pub(crate) name: Result<HeaderName, String>,
    pub(crate) authenticator: A,
}

impl<F> HeaderAuth<F> {
    /// Authenticates with the value of the header `name`, by an async closure (its argument's
    /// type is inferred). An invalid header name makes
    /// [`AuthstarLayerBuilder::build`](crate::AuthstarLayerBuilder::build) fail.
    pub fn new<Fut>(name: &str, authenticate: F) -> Self
    where
        F: Fn(HeaderCredential) -> Fut,
        Fut: Future,
    {
        Self::with(name, authenticate)
    }

    /// Authenticates with the `X-API-Key` header, by an async closure.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, HeaderAuth};
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_header(HeaderAuth::x_api_key(|key| async move {
    ///         (key.as_str() == "k1").then(|| AuthstarClient::new("svc", ["read"]))
    ///     }))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn x_api_key<Fut>(authenticate: F) -> Self
    where
        F: Fn(HeaderCredential) -> Fut,
        Fut: Future,
    {
        Self::x_api_key_with(authenticate)
    }
}

impl<A> HeaderAuth<A> {
    /// [`new`](HeaderAuth::new) with any [`Authenticator`](crate::Authenticator) of
    /// [`HeaderCredential`]s (a type of yours, a [`sync_fn`](crate::sync_fn)).
    pub fn with(name: &str, authenticator: A) -> Self {
        Self {
            name: HeaderName::try_from(name).map_err(|_| name.to_owned()),
            authenticator,
        }
    }

    /// [`x_api_key`](HeaderAuth::x_api_key) with any [`Authenticator`](crate::Authenticator).
    pub fn x_api_key_with(authenticator: A) -> Self {
        Self {
            name: Ok(HeaderName::from_static("x-api-key")),
            authenticator,
        }
    }

    /// The header's name, `None` if the name given was not a valid header name.
    pub fn name(&self) -> Option<&HeaderName> {
        self.name.as_ref().ok()
    }
}

impl<A> fmt::Debug for HeaderAuth<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match &self.name {
            Ok(name) => name.as_str(),
            Err(invalid) => invalid.as_str(),
        };
        f.debug_tuple("HeaderAuth").field(&name).finish()
    }
}

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

//! What a verifier remembers of the tokens it verified: the client until the token's `exp`, and
//! what a hit must check again (its revocation stamp, the key it is bound to, the remote key that
//! verified it).

use std::sync::Arc;

use crate::claims::{AccessTokenClaims, InvalidToken, TokenStamp};
use crate::keys::KeySet;

/// What a cached token keeps for its revocation check.
pub(crate) struct Stamp {
    pub(crate) jti: Box<str>,
    pub(crate) client_id: Box<str>,
    pub(crate) iat: u64,
}

impl Stamp {
    pub(crate) fn as_stamp(&self) -> TokenStamp<'_> {
        TokenStamp {
            jti: &self.jti,
            client_id: &self.client_id,
            iat: self.iat,
        }
    }
}

/// A cached verification: the client, the token's `exp`, and what a hit must check again.
pub(crate) type Cached<C> = (C, u64, Option<Arc<Kept>>);

/// What a hit checks: the stamp when revocations are consulted, the key the token is bound to,
/// the `kid` it was verified with when keys come from a remote set. Absent for a bearer token on
/// a verifier with local keys and without revocations, which a hit only clones.
pub(crate) struct Kept {
    pub(crate) stamp: Option<Stamp>,
    pub(crate) binding: Binding,
    /// For a remote key set: the key that verified the token. A hit is honoured only while the
    /// set still holds it: a key the provider withdrew (rotated out after a compromise) stops
    /// verifying the tokens it signed at the next refresh, not at their `exp`.
    pub(crate) key: Option<KeyRef>,
}

/// A key of a remote set, as a cached verification remembers it.
pub(crate) enum KeyRef {
    /// By its `kid`.
    Kid(Box<str>),
    /// A set's only key, for tokens without a `kid`: that very key (a weak reference keeps its
    /// allocation, so a later key can never be mistaken for it). Every refresh makes new keys,
    /// so such tokens are verified again after one.
    Only(std::sync::Weak<jsonwebtoken::DecodingKey>),
}

impl KeyRef {
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn for_token(keys: &KeySet, token: &str) -> Option<Self> {
        match jsonwebtoken::decode_header(token).ok()?.kid {
            Some(kid) => Some(Self::Kid(kid.into_boxed_str())),
            None => Some(Self::Only(Arc::downgrade(&keys.only()?.decoding))),
        }
    }

    pub(crate) fn held_by(&self, keys: &KeySet) -> bool {
        match self {
            Self::Kid(kid) => keys.find(Some(kid)).is_some(),
            Self::Only(key) => keys
                .only()
                .is_some_and(|only| std::sync::Weak::ptr_eq(key, &Arc::downgrade(&only.decoding))),
        }
    }
}

/// What a token is bound to (its `cnf`, RFC 7800).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Nothing: a bearer token.
    Bearer,
    /// A DPoP key, by its RFC 7638 thumbprint (`cnf.jkt`).
    Key(Box<str>),
    /// A TLS client certificate, by its SHA-256 thumbprint (`cnf.x5t#S256`, RFC 8705 §3.1).
    Certificate(Box<str>),
    /// Something this library cannot check (another confirmation method, or two at once).
    Unsupported,
}

/// What a request proves it holds besides its token: the key of its DPoP proof (RFC 9449), the
/// certificate of its TLS connection (RFC 8705), by their thumbprints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Proven<'a> {
    pub(crate) dpop: Option<&'a str>,
    pub(crate) certificate: Option<&'a str>,
}

impl Proven<'_> {
    /// Owned, for a verification that waits.
    pub(crate) fn owned(self) -> (Option<Box<str>>, Option<Box<str>>) {
        (self.dpop.map(Into::into), self.certificate.map(Into::into))
    }
}

impl Binding {
    pub(crate) fn of(claims: &AccessTokenClaims) -> Self {
        let Some(cnf) = &claims.cnf else {
            return Self::Bearer;
        };
        let member = |name| cnf.get(name).and_then(serde_json::Value::as_str);
        match (member("jkt"), member("x5t#S256"), cnf.len()) {
            (Some(jkt), None, 1) => Self::Key(jkt.into()),
            (None, Some(x5t), 1) => Self::Certificate(x5t.into()),
            _ => Self::Unsupported,
        }
    }

    /// Whether a token bound to this may be used by a request that proves `proven`. A DPoP
    /// proof asks for a token bound to its key; without one, a certificate-bound token needs its
    /// certificate, and a bearer token needs nothing (over mutual TLS or not).
    #[inline]
    pub(crate) fn admits(&self, proven: Proven<'_>) -> Result<(), InvalidToken> {
        match (self, proven.dpop) {
            (Self::Bearer, None) => Ok(()),
            (Self::Key(jkt), Some(key)) if **jkt == *key => Ok(()),
            (_, Some(_)) => Err(InvalidToken::KeyMismatch),
            (Self::Certificate(x5t), None) => match proven.certificate {
                Some(certificate) if **x5t == *certificate => Ok(()),
                Some(_) => Err(InvalidToken::KeyMismatch),
                None => Err(InvalidToken::SenderConstrained),
            },
            (Self::Key(_) | Self::Unsupported, None) => Err(InvalidToken::SenderConstrained),
        }
    }
}

/// Verified tokens and their clients with each token's `exp`, bounded by count. A hit is
/// honoured only before its `exp` (and dropped after), so nothing is served past it.
pub(crate) type TokenCache<C> = quick_cache::sync::Cache<
    Box<str>,
    Cached<C>,
    quick_cache::UnitWeighter,
    foldhash::fast::RandomState,
    quick_cache::sync::DefaultLifecycle<Box<str>, Cached<C>>,
>;

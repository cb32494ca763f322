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
    /// Something this library cannot check (an mTLS certificate, `cnf.x5t#S256`).
    Unsupported,
}

impl Binding {
    pub(crate) fn of(claims: &AccessTokenClaims) -> Self {
        match &claims.cnf {
            None => Self::Bearer,
            Some(cnf) => match cnf.get("jkt").and_then(serde_json::Value::as_str) {
                Some(jkt) => Self::Key(jkt.into()),
                None => Self::Unsupported,
            },
        }
    }

    /// Whether a token bound to this may be used by a request whose DPoP proof was made with
    /// the key `proven` (`None`: no proof, a bearer request).
    #[inline]
    pub(crate) fn admits(&self, proven: Option<&str>) -> Result<(), InvalidToken> {
        match (self, proven) {
            (Self::Bearer, None) => Ok(()),
            (Self::Key(jkt), Some(proven)) if **jkt == *proven => Ok(()),
            (_, Some(_)) => Err(InvalidToken::KeyMismatch),
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

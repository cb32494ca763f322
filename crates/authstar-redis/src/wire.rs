//! What goes over the wire to Redis: counters named by digests (never an id or an address),
//! in hex, and durations in milliseconds.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

/// A counter's digest: what failures, the set of locks and lock messages carry, and what
/// buckets are named by (never the client id or address it counts).
pub(crate) type Digest = [u8; 16];

#[derive(Clone)]
pub(crate) struct Names {
    pub(crate) bucket: String,
    pub(crate) channel: String,
    pub(crate) locks: String,
}

/// How counters are named in Redis.
pub(crate) enum Digests {
    /// HMAC-SHA256 under the shared key (its key blocks hashed once; each digest clones it).
    Keyed(Hmac<Sha256>),
    /// SHA-256.
    Plain,
}

impl Digests {
    pub(crate) fn new(key: Option<&[u8]>) -> Self {
        match key.and_then(|key| <Hmac<Sha256> as Mac>::new_from_slice(key).ok()) {
            Some(mac) => Self::Keyed(mac),
            None => Self::Plain,
        }
    }

    pub(crate) fn of(&self, canonical: &[u8]) -> Digest {
        let full: [u8; 32] = match self {
            Self::Keyed(mac) => {
                let mut mac = mac.clone();
                mac.update(canonical);
                mac.finalize().into_bytes().into()
            }
            Self::Plain => Sha256::digest(canonical).into(),
        };
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&full[..16]);
        digest
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn parse_digest(text: &str) -> Option<Digest> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 16];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

/// The bucket's name in Redis: the counter's digest.
pub(crate) fn bucket_name(prefix: &str, key: &Digest) -> String {
    format!("{prefix}{}", hex(key))
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

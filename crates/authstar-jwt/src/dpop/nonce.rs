//! Server-provided nonces (RFC 9449 §8): a proof must carry the current one, so a proof made
//! ahead of time (on a stolen device, for later) goes stale.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::unix_now;

/// Server-provided nonces (RFC 9449 §8, §9): a client must put a recent one in each proof, so a
/// proof cannot be made ahead of time. Stateless: a nonce is a time window and its HMAC, so every
/// instance built with the same secret accepts the nonces of the others. A nonce is accepted in
/// its window and the next one (one lifetime to two).
///
/// ```
/// use std::time::Duration;
/// use authstar_jwt::dpop::DpopNonces;
///
/// let nonces = DpopNonces::new(b"a secret shared by the instances", Duration::from_secs(300));
/// let nonce = nonces.current();
/// assert!(nonces.accepts(&nonce));
/// assert!(!nonces.accepts("made-up"));
/// ```
#[derive(Clone)]
pub struct DpopNonces {
    key: aws_lc_rs::hmac::Key,
    lifetime: u64,
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl DpopNonces {
    /// Nonces keyed by `secret` (share it between instances), each valid for `lifetime` to
    /// twice that.
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            lifetime: lifetime.as_secs().max(1),
        }
    }

    /// The nonce to hand out now.
    pub fn current(&self) -> String {
        self.for_window(unix_now() / self.lifetime)
    }

    /// Whether `nonce` is this window's or the previous one's.
    pub fn accepts(&self, nonce: &str) -> bool {
        let window = unix_now() / self.lifetime;
        let matches = |window: u64| {
            let expected = self.for_window(window);
            // Both are public-length base64; compare in constant time all the same.
            expected.len() == nonce.len()
                && aws_lc_rs::constant_time::verify_slices_are_equal(
                    expected.as_bytes(),
                    nonce.as_bytes(),
                )
                .is_ok()
        };
        matches(window) || matches(window.saturating_sub(1))
    }

    pub(super) fn for_window(&self, window: u64) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.key, &window.to_be_bytes());
        let mut bytes = window.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tag.as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

//! The visible-ASCII check on header values, eight bytes at a time.
//!
//! An API key is tens of bytes and every byte must be checked on every request. Treating a `u64`
//! as eight lanes ("SWAR") checks a chunk in four integer operations instead of a comparison
//! per byte. The per-byte definition sits next to it, and the tests compare the two on every
//! byte in every lane and on random input.

const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each lane whose byte is `>= k`. Exact when every lane is ASCII (< 0x80):
/// `x + (0x80 - k)` stays below 0x100, so no lane carries into the next. Non-ASCII lanes are
/// caught by their own high bit, so what they do to the other lanes does not matter.
#[inline(always)]
const fn at_least(word: u64, k: u8) -> u64 {
    word.wrapping_add(LANES * (0x80 - k as u64))
}

/// Visible ASCII, `%x21-7E` (RFC 5234 `VCHAR`).
#[cfg(test)]
const fn is_visible(b: u8) -> bool {
    matches!(b, 0x21..=0x7e)
}

/// The high bit of each lane of `word` that is visible ASCII; only the high bits are meaningful.
#[inline(always)]
const fn visible_lanes(word: u64) -> u64 {
    at_least(word, 0x21) & !at_least(word, 0x7f)
}

/// Every byte of `bytes` is visible ASCII (`true` for no bytes). Each chunk of eight, then the
/// last eight bytes again (overlapping) for the tail, or one chunk padded with `!` when there are
/// fewer than eight. Marks and high bits are accumulated: the loop has no branch but its own.
pub(crate) fn all_visible(bytes: &[u8]) -> bool {
    let load = |chunk: &[u8]| <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
    let Some(tail) = bytes.len().checked_sub(8) else {
        let mut padded = [b'!'; 8];
        for (lane, &b) in padded.iter_mut().zip(bytes) {
            *lane = b;
        }
        let word = u64::from_le_bytes(padded);
        return word & HIGH == 0 && visible_lanes(word) & HIGH == HIGH;
    };
    let last = load(&bytes[tail..]);
    let (mut seen, mut marked) = (last, visible_lanes(last));
    for chunk in bytes.chunks_exact(8) {
        let word = load(chunk);
        seen |= word;
        marked &= visible_lanes(word);
    }
    seen & HIGH == 0 && marked & HIGH == HIGH
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_byte_in_every_lane_matches_the_per_byte_definition() {
        for len in [1, 7, 8, 9, 16, 21] {
            for b in 0..=255u8 {
                for at in 0..len {
                    let mut bytes = vec![b'~'; len];
                    bytes[at] = b;
                    assert_eq!(all_visible(&bytes), is_visible(b), "{b:#04x} at {at}/{len}");
                }
            }
        }
        assert!(all_visible(b""));
    }

    proptest! {
        #[test]
        fn matches_the_per_byte_definition(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(all_visible(&bytes), bytes.iter().all(|&b| is_visible(b)));
        }

        #[test]
        fn one_bad_byte_anywhere_is_found(s in "[!-~]{1,40}", bad in any::<u8>(), at in any::<prop::sample::Index>()) {
            prop_assert!(all_visible(s.as_bytes()));
            let mut bytes = s.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = bad;
            prop_assert_eq!(all_visible(&bytes), is_visible(bad));
        }
    }
}

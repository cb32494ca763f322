//! Where failure counters live: [`ThrottleStore`], and [`MemoryStore`], counters in this
//! process's bounded memory. A counter is a leaky bucket (GCRA) under a [`Budget`], named by a
//! [`ThrottleKey`].

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many failures a key may have: `burst` at once, then one more every `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub(super) burst: u32,
    pub(super) period: Duration,
}

impl Budget {
    /// `burst` failures at once, then one more every `period`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let budget = authstar::throttle::Budget::per_period(1, Duration::from_secs(600));
    /// assert_eq!(budget.period(), Duration::from_secs(600));
    /// ```
    pub const fn per_period(burst: u32, period: Duration) -> Self {
        let least = Duration::from_millis(1);
        Self {
            burst: if burst == 0 { 1 } else { burst },
            period: if period.as_nanos() < least.as_nanos() {
                least
            } else {
                period
            },
        }
    }

    /// `burst` failures at once, refilled at `per_minute` a minute.
    ///
    /// ```
    /// let budget = authstar::throttle::Budget::new(10, 5);
    /// assert_eq!(budget.burst(), 10);
    /// assert_eq!(budget.period(), std::time::Duration::from_secs(12));
    /// ```
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: burst.max(1),
            period: Duration::from_secs(60) / per_minute.max(1),
        }
    }

    /// Failures allowed at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time one more failure takes to refill.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// How far ahead of `now` the bucket may be before it is locked.
    fn tolerance(&self) -> Duration {
        self.period.saturating_mul(self.burst - 1)
    }
}

/// What a counter is kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ThrottleKey<'a> {
    /// A client address; IPv6 addresses are counted by their /64, which one host usually owns
    /// entirely.
    Address(IpAddr),
    /// A claimed identity within a scheme: `("basic", user name)`, `("x-api-key", key id)`.
    Identity {
        /// The scheme or header name.
        scheme: &'a str,
        /// The identity claimed.
        id: &'a str,
    },
    /// An identity claimed from one address (IPv6 by /64): marks the addresses a locked
    /// identity refuses.
    Pair {
        /// The scheme or header name.
        scheme: &'a str,
        /// The identity claimed.
        id: &'a str,
        /// Where from.
        address: IpAddr,
    },
}

impl ThrottleKey<'_> {
    /// Bytes that name this counter the same way in every process (an IPv6 address by its
    /// /64, every part length-prefixed): what a store shared by several instances keys it by.
    ///
    /// ```
    /// use authstar::throttle::ThrottleKey;
    /// let a = ThrottleKey::Address("2001:db8::1".parse().unwrap());
    /// let b = ThrottleKey::Address("2001:db8::2".parse().unwrap());
    /// assert_eq!(a.canonical_bytes(), b.canonical_bytes(), "one /64");
    /// let id = ThrottleKey::Identity { scheme: "basic", id: "svc" };
    /// assert_ne!(id.canonical_bytes(), ThrottleKey::Identity { scheme: "basic", id: "svc2" }.canonical_bytes());
    /// ```
    pub fn canonical_bytes(&self) -> Vec<u8> {
        fn part(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        fn address(out: &mut Vec<u8>, address: IpAddr) {
            match prefix(address) {
                IpAddr::V4(v4) => part(out, &v4.octets()),
                IpAddr::V6(v6) => part(out, &v6.octets()),
            }
        }
        let mut out = Vec::with_capacity(64);
        match self {
            Self::Address(ip) => {
                out.push(0);
                address(&mut out, *ip);
            }
            Self::Identity { scheme, id } => {
                out.push(1);
                part(&mut out, scheme.as_bytes());
                part(&mut out, id.as_bytes());
            }
            Self::Pair {
                scheme,
                id,
                address: ip,
            } => {
                out.push(2);
                part(&mut out, scheme.as_bytes());
                part(&mut out, id.as_bytes());
                address(&mut out, *ip);
            }
        }
        out
    }
}

/// How a claimed identity is written in logs: a digest keyed by this process's random key,
/// never the value. An identity is what a client *claims* (a Basic user name, a key's id), and
/// clients put secrets there (a whole API key sent as a Basic user name, a password typed into
/// the user field); the digest lets an operator see that one identity is being guessed, and
/// check a suspect (`FailureThrottle::identity_digest`), without the log holding the value.
pub(super) struct Digest<'a>(pub(super) &'a str);

/// The key of identity digests: random per process, so a log cannot be searched offline with a
/// dictionary of likely values.
fn digest_key() -> &'static RandomState {
    static KEY: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    KEY.get_or_init(RandomState::new)
}

impl fmt::Display for Digest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:016x}", digest_key().hash_one(self.0))
    }
}

impl fmt::Display for ThrottleKey<'_> {
    /// An address as it is; an identity by its [digest](super::FailureThrottle::identity_digest),
    /// never its value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(address) => write!(f, "address {address}"),
            Self::Identity { scheme, id } => write!(f, "{scheme} identity {}", Digest(id)),
            Self::Pair {
                scheme,
                id,
                address,
            } => write!(f, "{scheme} identity {} from {address}", Digest(id)),
        }
    }
}

/// How long an address stays marked after failing for an identity: one failure, ten minutes.
pub(super) const PAIR_MEMORY: Budget = Budget {
    burst: 1,
    period: Duration::from_secs(600),
};

/// Where failure counters live: in memory ([`MemoryStore`]) or a shared store.
///
/// Both calls are synchronous and on the request path, so an implementation backed by a
/// remote store answers from a local view and synchronises in the background.
pub trait ThrottleStore: Send + Sync + 'static {
    /// `Some(wait)` when `key` has spent `budget` and must wait; `None` when it may try.
    fn locked(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration>;

    /// Counts one failure against `key`: how long it is now locked, if it is.
    fn fail(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration>;
}

/// Counters in this process's memory, in at most `capacity` entries. When full, buckets that
/// have drained are dropped first, then unlocked counters (the least-loaded first), then the
/// marks of addresses that failed for an identity, and locks in force last (the one ending
/// soonest first): a flood of made-up addresses or identities neither grows memory nor frees a
/// key an attacker has locked or nearly locked.
pub struct MemoryStore {
    shards: Box<[Mutex<HashMap<u64, Entry>>]>,
    per_shard: usize,
    hasher: RandomState,
}

/// One counter: its theoretical arrival time, and what eviction needs to rank it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    tat: Instant,
    /// Its budget's tolerance: locked while `tat` is more than this ahead of now.
    tolerance: Duration,
    /// A [`ThrottleKey::Pair`] mark.
    pair: bool,
}

impl Entry {
    /// The order of eviction, lowest first: an unlocked counter by its load (`tat`), a pair
    /// mark by its age, a lock in force by its end. Budgets differ (an address's, an
    /// identity's, a pair's), so entries are never compared by `tat` alone across classes.
    fn eviction_rank(&self, now: Instant) -> (u8, Instant) {
        let locked = self.tat.saturating_duration_since(now) > self.tolerance;
        match (locked, self.pair) {
            (false, _) => (0, self.tat),
            (true, true) => (1, self.tat),
            (true, false) => (2, self.tat.checked_sub(self.tolerance).unwrap_or(now)),
        }
    }
}

const SHARDS: usize = 16;

impl MemoryStore {
    /// A store of at most `capacity` counters (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
        }
    }

    /// How many counters are held now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, key: &ThrottleKey<'_>) -> (&Mutex<HashMap<u64, Entry>>, u64) {
        let mut hasher = self.hasher.build_hasher();
        match key {
            ThrottleKey::Address(address) => (0u8, prefix(*address)).hash(&mut hasher),
            ThrottleKey::Identity { scheme, id } => (1u8, scheme, id).hash(&mut hasher),
            ThrottleKey::Pair {
                scheme,
                id,
                address,
            } => (2u8, scheme, id, prefix(*address)).hash(&mut hasher),
        }
        let hash = hasher.finish();
        (&self.shards[(hash as usize) % SHARDS], hash)
    }
}

impl Default for MemoryStore {
    /// 65 536 counters: a few MiB at most.
    fn default() -> Self {
        Self::new(65_536)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The counted part of an address: IPv4 whole, IPv6 by its /64.
fn prefix(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// GCRA: the bucket is locked while its theoretical arrival time is more than the tolerance
/// ahead of now.
fn wait(tat: Instant, budget: Budget, now: Instant) -> Option<Duration> {
    let ahead = tat.saturating_duration_since(now);
    ahead
        .checked_sub(budget.tolerance())
        .filter(|wait| !wait.is_zero())
}

impl ThrottleStore for MemoryStore {
    fn locked(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration> {
        let (shard, hash) = self.slot(key);
        let tat = lock(shard).get(&hash)?.tat;
        wait(tat, budget, now)
    }

    fn fail(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration> {
        let (shard, hash) = self.slot(key);
        let mut counters = lock(shard);
        if counters.len() >= self.per_shard && !counters.contains_key(&hash) {
            counters.retain(|_, entry| entry.tat > now);
            if counters.len() >= self.per_shard
                && let Some(victim) = counters
                    .iter()
                    .min_by_key(|(_, entry)| entry.eviction_rank(now))
                    .map(|(k, _)| *k)
            {
                counters.remove(&victim);
            }
        }
        let entry = counters.entry(hash).or_insert(Entry {
            tat: now,
            tolerance: budget.tolerance(),
            pair: matches!(key, ThrottleKey::Pair { .. }),
        });
        // A period so long the clock cannot hold it saturates: locked "forever", no panic.
        let from = entry.tat.max(now);
        entry.tat = from.checked_add(budget.period).unwrap_or(from);
        wait(entry.tat, budget, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_budget_allows_its_burst_then_refills_one_per_period() {
        let store = MemoryStore::new(64);
        let budget = Budget::new(3, 60); // 3 at once, then one a second
        let key = ThrottleKey::Address(ip("192.0.2.1"));
        let t0 = Instant::now();
        for n in 1..=2 {
            assert_eq!(store.fail(&key, budget, t0), None, "failure {n}");
        }
        assert_eq!(store.locked(&key, budget, t0), None);
        // The failure that starts a lockout is locked for at most one period.
        assert_eq!(store.fail(&key, budget, t0), Some(Duration::from_secs(1)));
        assert_eq!(store.locked(&key, budget, t0), Some(Duration::from_secs(1)));
        let fourth = store.fail(&key, budget, t0);
        assert!(
            fourth > Some(budget.period()),
            "one lockout start, not one per failure"
        );
        // A period later exactly one more try is allowed.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(store.locked(&key, budget, later), None);
        assert!(store.fail(&key, budget, later).is_some());
        // Fully drained after burst periods.
        let much_later = later + Duration::from_secs(10);
        assert_eq!(store.locked(&key, budget, much_later), None);
        assert_eq!(store.fail(&key, budget, much_later), None);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let store = MemoryStore::new(64);
        let budget = Budget::new(1, 1);
        let now = Instant::now();
        store.fail(&ThrottleKey::Address(ip("2001:db8:1:2::1")), budget, now);
        assert!(
            store
                .locked(&ThrottleKey::Address(ip("2001:db8:1:2::ffff")), budget, now)
                .is_some()
        );
        assert!(
            store
                .locked(&ThrottleKey::Address(ip("2001:db8:1:3::1")), budget, now)
                .is_none()
        );
        store.fail(&ThrottleKey::Address(ip("::ffff:192.0.2.9")), budget, now);
        assert!(
            store
                .locked(&ThrottleKey::Address(ip("192.0.2.9")), budget, now)
                .is_some()
        );
    }

    #[test]
    fn identities_are_kept_apart_by_scheme() {
        let store = MemoryStore::new(64);
        let budget = Budget::new(1, 1);
        let now = Instant::now();
        let basic = ThrottleKey::Identity {
            scheme: "basic",
            id: "svc",
        };
        let key = ThrottleKey::Identity {
            scheme: "x-api-key",
            id: "svc",
        };
        store.fail(&basic, budget, now);
        assert!(store.locked(&basic, budget, now).is_some());
        assert!(store.locked(&key, budget, now).is_none());
    }

    #[test]
    fn memory_stays_bounded_and_keeps_the_most_loaded_keys() {
        let store = MemoryStore::new(SHARDS * 8);
        let budget = Budget::new(5, 1);
        let now = Instant::now();
        let target = ThrottleKey::Identity {
            scheme: "basic",
            id: "victim",
        };
        for _ in 0..4 {
            store.fail(&target, budget, now);
        }
        for n in 0..100_000u32 {
            let address = IpAddr::from(n.to_be_bytes());
            store.fail(&ThrottleKey::Address(address), budget, now);
        }
        assert!(store.len() <= SHARDS * 8, "{}", store.len());
        // The nearly locked key survived the flood: one more failure locks it.
        let locked_for = store.fail(&target, budget, now);
        assert!(locked_for.is_some_and(|wait| wait <= budget.period()));
    }

    #[test]
    fn a_lock_in_force_survives_a_flood_of_other_budgets() {
        // Issue 20, item 10: eviction compared `tat` across budgets, so an identity lock (a
        // tat ~2 minutes ahead) went before the 10-minute marks of a flood's addresses.
        let store = MemoryStore::new(SHARDS * 8);
        let identity = Budget::new(10, 5);
        let now = Instant::now();
        let victim = ThrottleKey::Identity {
            scheme: "basic",
            id: "victim",
        };
        for _ in 0..11 {
            store.fail(&victim, identity, now);
        }
        assert!(store.locked(&victim, identity, now).is_some());
        for n in 0..20_000u32 {
            let id = format!("made-up-{n}");
            let address = IpAddr::from((0xfd00_0000u32 + n).to_be_bytes());
            store.fail(
                &ThrottleKey::Identity {
                    scheme: "basic",
                    id: &id,
                },
                identity,
                now,
            );
            let pair = ThrottleKey::Pair {
                scheme: "basic",
                id: &id,
                address,
            };
            store.fail(&pair, PAIR_MEMORY, now);
        }
        assert!(store.len() <= SHARDS * 8);
        assert!(
            store.locked(&victim, identity, now).is_some(),
            "the lock in force was evicted by the flood"
        );
    }
}

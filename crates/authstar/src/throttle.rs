//! Failed-authentication throttling: the brute-force protection RFC 6749 §2.3.1 asks of a
//! server that checks passwords, for every credential the layer reads.
//!
//! Only **failures** count (a credential the authenticator rejected), twice: per client
//! address and per claimed identity (the Basic user name, an API key's id). When either budget
//! is spent, the layer answers `429 Too Many Requests` with `Retry-After` **without calling the
//! authenticator**, so a password-guessing flood costs a hash-table lookup, not a password hash.
//! Successful requests are never slowed, and a client that is locked out gets in again as soon
//! as its budget refills.
//!
//! Each budget is a leaky bucket (GCRA): `burst` failures at once, then one more every
//! `period`. The defaults are meant not to punish normal use:
//!
//! * **per address: 100 failures, then 100 a minute.** Many clients share one address behind a
//!   NAT or a corporate proxy, and a few of them with a stale key must not lock out the rest; an
//!   attacker on one address still gets at most 144 000 guesses a day, spread over every
//!   identity, instead of ~8 000 a second.
//! * **per identity: 10 failures, then 5 a minute.** A person or a deploy script that mistypes a
//!   secret a few times is not locked out; guessing one client's secret from many addresses is
//!   held to 7 200 tries a day. Generated secrets (256 random bits) are out of reach anyway; the
//!   budget protects the low-entropy secrets users import.
//!
//! **A locked identity is not a denial of service.** Client ids are not secrets (RFC 6749 §2.2),
//! so a lock that refused every request for an id would let anyone shut a client out by sending
//! a few wrong secrets for it. While an identity is locked, only addresses that recently failed
//! *for that identity* are refused (a failure marks the pair for ten minutes); a client calling
//! from a clean address still gets its secret checked. A guesser spread over many addresses
//! gets one try per address per ten minutes for that identity, each address also held by its
//! own budget. Without [`client_address`](FailureThrottle::client_address) a locked identity
//! is refused from everywhere.
//!
//! The identity a credential claims comes from its method: a Basic user name, or what a named
//! header's [`identity`](crate::HeaderAuth::identity) function finds (an API key's id); a
//! bearer token claims none, so only its address is counted.
//!
//! Counters live behind [`ThrottleStore`]; [`MemoryStore`] (the default) keeps them in bounded
//! memory, whatever the number of addresses and identities an attacker makes up.
//!
//! ```
//! use std::net::SocketAddr;
//! use authstar::throttle::FailureThrottle;
//! use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
//!
//! let throttle = FailureThrottle::new()
//!     // Where the client's address is: here a `SocketAddr` an outer layer inserted
//!     // (authstar-axum's `client_address` reads axum's `ConnectInfo` and trusted proxies).
//!     .client_address(|extensions, _headers| extensions.get::<SocketAddr>().map(|a| a.ip()));
//! let layer = AuthstarLayer::builder()
//!     .on_auth_basic(|c: BasicCredentials| async move {
//!         (c.password() == "right").then(|| AuthstarClient::new(c.username(), ["read"]))
//!     })
//!     .throttle(throttle)
//!     .build()
//!     .unwrap();
//! # let _ = layer;
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::header::{CACHE_CONTROL, RETRY_AFTER};
use http::{Extensions, HeaderMap, HeaderValue, Response, StatusCode};

use crate::network::Addresses;

/// How many failures a key may have: `burst` at once, then one more every `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    burst: u32,
    period: Duration,
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
        self.period * (self.burst - 1)
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
struct Digest<'a>(&'a str);

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
    /// An address as it is; an identity by its [digest](FailureThrottle::identity_digest),
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

/// A failure recorded by [`ThrottleStore::fail`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Set when the key is now locked: how long until it may try again.
    pub locked_for: Option<Duration>,
    /// Whether this failure started the lockout (it was not locked before).
    pub started: bool,
}

/// Where failure counters live: in memory ([`MemoryStore`]) or a shared store.
///
/// Both calls are synchronous and on the request path, so an implementation backed by a
/// remote store answers from a local view and synchronises in the background.
pub trait ThrottleStore: Send + Sync + 'static {
    /// `Some(wait)` when `key` has spent `budget` and must wait; `None` when it may try.
    fn locked(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration>;

    /// Counts one failure against `key`.
    fn fail(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Recorded;
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

    fn fail(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Recorded {
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
        let before = wait(entry.tat, budget, now);
        entry.tat = entry.tat.max(now) + budget.period;
        let after = wait(entry.tat, budget, now);
        Recorded {
            locked_for: after,
            started: before.is_none() && after.is_some(),
        }
    }
}

/// How long an address stays marked after failing for an identity: one failure, ten minutes.
const PAIR_MEMORY: Budget = Budget {
    burst: 1,
    period: Duration::from_secs(600),
};

/// The counters one request touches.
struct Keys<'a> {
    address: Option<(ThrottleKey<'a>, Budget)>,
    identity: Option<(ThrottleKey<'a>, Budget)>,
    pair: Option<(ThrottleKey<'a>, Budget)>,
}

type AddressFn = Arc<dyn Fn(&Extensions, &HeaderMap) -> Option<IpAddr> + Send + Sync>;

/// Failed-authentication throttling for [`AuthstarLayerBuilder::throttle`](crate::AuthstarLayerBuilder::throttle);
/// see the [module documentation](self).
#[derive(Clone)]
pub struct FailureThrottle {
    per_address: Option<Budget>,
    per_identity: Option<Budget>,
    address: Option<AddressFn>,
    store: Arc<dyn ThrottleStore>,
}

impl fmt::Debug for FailureThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureThrottle")
            .field("per_address", &self.per_address)
            .field("per_identity", &self.per_identity)
            .field("client_address", &self.address.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for FailureThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl FailureThrottle {
    /// The default budgets (per address 100 then 100/min, per identity 10 then 5/min) in a
    /// [`MemoryStore`]. Per-address counting needs [`client_address`](Self::client_address).
    pub fn new() -> Self {
        Self {
            per_address: Some(Budget::new(100, 100)),
            per_identity: Some(Budget::new(10, 5)),
            address: None,
            store: Arc::new(MemoryStore::default()),
        }
    }

    /// The per-address budget; `None` turns per-address counting off.
    pub fn per_address(mut self, budget: Option<Budget>) -> Self {
        self.per_address = budget;
        self
    }

    /// The per-identity budget; `None` turns per-identity counting off.
    pub fn per_identity(mut self, budget: Option<Budget>) -> Self {
        self.per_identity = budget;
        self
    }

    /// Where the counters live (default: a [`MemoryStore`] of 65 536 entries).
    pub fn store(mut self, store: impl ThrottleStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// How to find the client's address in a request (the peer, or the address trusted proxies
    /// name). Without it only identities are counted.
    pub fn client_address<F>(mut self, address: F) -> Self
    where
        F: Fn(&Extensions, &HeaderMap) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.address = Some(Arc::new(address));
        self
    }

    /// How an identity appears in this process's log lines (`basic identity #…`): a digest
    /// under a key random to the process, never the value, which may be a secret a client
    /// sent in the wrong place. To see whether a lockout in the log is about a given client,
    /// compare this, in the same process, with what was logged.
    ///
    /// ```
    /// use authstar::throttle::FailureThrottle;
    /// let digest = FailureThrottle::identity_digest("demo-client");
    /// assert!(digest.starts_with('#') && !digest.contains("demo"));
    /// assert_eq!(digest, FailureThrottle::identity_digest("demo-client"));
    /// ```
    pub fn identity_digest(id: &str) -> String {
        Digest(id).to_string()
    }

    /// This throttle, counting the addresses `addresses` finds unless it was given its own
    /// [`client_address`](Self::client_address).
    pub(crate) fn inherit_addresses(mut self, addresses: &Addresses) -> Self {
        if self.address.is_none() && addresses.peer.is_some() {
            let addresses = addresses.clone();
            self.address = Some(Arc::new(move |extensions, headers| {
                addresses.accountable(extensions, headers)
            }));
        }
        self
    }

    fn address_of(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        self.address
            .as_ref()
            .and_then(|address| address(extensions, headers))
    }

    /// For an endpoint that checks client credentials itself (an OAuth 2.0 token endpoint's
    /// `client_secret_post`): `Err(wait)` when the request's address is locked out, or the
    /// client is and this address recently failed for it. `client_id` is the user name as the
    /// endpoint hands it to a Basic authenticator; it is counted as the layer counts a Basic
    /// user name (decoded as RFC 6749 §2.3.1 has clients encode it), so every way of
    /// presenting one client spends one budget.
    ///
    /// ```
    /// use authstar::throttle::{Budget, FailureThrottle};
    /// let throttle = FailureThrottle::new().per_identity(Some(Budget::new(1, 1)));
    /// let (extensions, headers) = (http::Extensions::new(), http::HeaderMap::new());
    /// throttle.failed_client(&extensions, &headers, "demo+client");
    /// assert!(throttle.check_client(&extensions, &headers, "demo client").is_err());
    /// assert!(throttle.check_client(&extensions, &headers, "another").is_ok());
    /// ```
    pub fn check_client(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        client_id: &str,
    ) -> Result<(), Duration> {
        let identity = basic_identity(client_id);
        self.check(extensions, headers, Some((BASIC_IDENTITY, &identity)))
    }

    /// Counts a failed client authentication at an endpoint that checks client credentials
    /// itself; see [`check_client`](Self::check_client).
    pub fn failed_client(&self, extensions: &Extensions, headers: &HeaderMap, client_id: &str) {
        let identity = basic_identity(client_id);
        self.failed(extensions, headers, Some((BASIC_IDENTITY, &identity)));
    }

    /// `429 Too Many Requests` (RFC 6585 §4) with `Retry-After` in whole seconds, rounded up,
    /// and `Cache-Control: no-store`: what the layer answers a locked-out request, and what an
    /// endpoint that applies [`check_client`](Self::check_client) itself should answer.
    ///
    /// ```
    /// use authstar::throttle::FailureThrottle;
    /// let response: http::Response<()> =
    ///     FailureThrottle::too_many_requests(std::time::Duration::from_millis(1_200));
    /// assert_eq!(response.status(), 429);
    /// assert_eq!(response.headers()["retry-after"], "2");
    /// ```
    pub fn too_many_requests<B: Default>(wait: Duration) -> Response<B> {
        too_many_requests(wait)
    }

    /// Checks the keys of a request about to be authenticated, `identity` being what the
    /// credential claims. `Err(wait)` when its address is locked out, or its identity is and
    /// this address recently failed for it.
    pub fn check(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        identity: Option<(&str, &str)>,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let keys = self.keys(extensions, headers, identity);
        let mut longest = None;
        if let Some((key, budget)) = keys.address {
            longest = self.store.locked(&key, budget, now);
        }
        if let Some((key, budget)) = keys.identity
            && let Some(wait) = self.store.locked(&key, budget, now)
        {
            let suspect = keys
                .pair
                .is_none_or(|(pair, budget)| self.store.locked(&pair, budget, now).is_some());
            if suspect {
                longest = longest.max(Some(wait));
            }
        }
        longest.map_or(Ok(()), Err)
    }

    /// Counts a failed authentication; logs one warning when it starts a lockout.
    pub fn failed(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        identity: Option<(&str, &str)>,
    ) {
        let now = Instant::now();
        let keys = self.keys(extensions, headers, identity);
        for (key, budget) in [keys.address, keys.identity, keys.pair]
            .into_iter()
            .flatten()
        {
            let recorded = self.store.fail(&key, budget, now);
            let counted = !matches!(key, ThrottleKey::Pair { .. });
            if let (true, true, Some(wait)) = (counted, recorded.started, recorded.locked_for) {
                tracing::warn!(
                    key = %key,
                    retry_after_secs = wait.as_secs_f64().ceil(),
                    "authstar: too many failed authentications, locking out"
                );
            }
        }
    }

    fn keys<'a>(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        identity: Option<(&'a str, &'a str)>,
    ) -> Keys<'a> {
        let address = (self.per_address.is_some() || self.per_identity.is_some())
            .then(|| self.address_of(extensions, headers))
            .flatten();
        let identity = self.per_identity.zip(identity);
        Keys {
            address: self
                .per_address
                .zip(address)
                .map(|(budget, address)| (ThrottleKey::Address(address), budget)),
            identity: identity
                .map(|(budget, (scheme, id))| (ThrottleKey::Identity { scheme, id }, budget)),
            pair: identity.zip(address).map(|((_, (scheme, id)), address)| {
                let key = ThrottleKey::Pair {
                    scheme,
                    id,
                    address,
                };
                (key, PAIR_MEMORY)
            }),
        }
    }
}

/// The identity a Basic user name claims: the name decoded as RFC 6749 §2.3.1 has OAuth 2.0
/// clients encode it (`%64emo-client` and `demo-client` are one client, and the token endpoint
/// and registry authenticators check the decoded one), or the name itself when it holds no
/// escape or does not decode. Counting the raw name would give each of an id's spellings a
/// budget of its own.
///
pub(crate) fn basic_identity(user: &str) -> std::borrow::Cow<'_, str> {
    crate::credentials::basic::form_decoded(user).unwrap_or(std::borrow::Cow::Borrowed(user))
}

/// The scheme Basic user names (OAuth2 client ids) are counted under, by the layer and by an
/// endpoint that reads client credentials itself alike.
pub(crate) const BASIC_IDENTITY: &str = "basic";

/// See [`FailureThrottle::too_many_requests`].
pub(crate) fn too_many_requests<B: Default>(wait: Duration) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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
            let recorded = store.fail(&key, budget, t0);
            assert_eq!(recorded.locked_for, None, "failure {n}");
        }
        assert_eq!(store.locked(&key, budget, t0), None);
        let third = store.fail(&key, budget, t0);
        assert!(third.started && third.locked_for == Some(Duration::from_secs(1)));
        assert_eq!(store.locked(&key, budget, t0), Some(Duration::from_secs(1)));
        let fourth = store.fail(&key, budget, t0);
        assert!(!fourth.started, "one lockout start, not one per failure");
        // A period later exactly one more try is allowed.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(store.locked(&key, budget, later), None);
        assert!(store.fail(&key, budget, later).locked_for.is_some());
        // Fully drained after burst periods.
        let much_later = later + Duration::from_secs(10);
        assert_eq!(store.locked(&key, budget, much_later), None);
        assert_eq!(store.fail(&key, budget, much_later).locked_for, None);
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
        assert!(store.fail(&target, budget, now).started);
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

    #[test]
    fn a_locked_identity_refuses_only_addresses_that_failed_for_it() {
        use std::net::SocketAddr;
        let throttle = FailureThrottle::new()
            .client_address(|extensions, _| extensions.get::<SocketAddr>().map(|a| a.ip()))
            .per_identity(Some(Budget::new(2, 1)));
        let from = |last: u8| {
            let mut extensions = Extensions::new();
            extensions.insert(SocketAddr::from(([198, 51, 100, last], 1)));
            extensions
        };
        let headers = HeaderMap::new();
        let victim = Some(("basic", "victim"));
        throttle.failed(&from(1), &headers, victim);
        throttle.failed(&from(2), &headers, victim);
        assert!(throttle.check(&from(1), &headers, victim).is_err());
        assert!(throttle.check(&from(2), &headers, victim).is_err());
        assert!(
            throttle.check(&from(3), &headers, victim).is_ok(),
            "clean address"
        );
        throttle.failed(&from(3), &headers, victim);
        assert!(throttle.check(&from(3), &headers, victim).is_err());
        // Without an address the identity lock holds everywhere.
        let anywhere = FailureThrottle::new().per_identity(Some(Budget::new(1, 1)));
        anywhere.failed(&from(1), &headers, victim);
        assert!(anywhere.check(&from(9), &headers, victim).is_err());
    }

    #[test]
    fn a_basic_identity_is_the_user_name_decoded_as_oauth_clients_encode_it() {
        assert_eq!(basic_identity("%64emo-client"), "demo-client");
        assert_eq!(basic_identity("d%65mo+client"), "demo client");
        assert_eq!(basic_identity("plain"), "plain");
        assert_eq!(basic_identity("bad%ff"), "bad%ff");
    }

    #[test]
    fn retry_after_is_rounded_up_to_a_whole_second() {
        let response: Response<()> = too_many_requests(Duration::from_millis(1_200));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        let response: Response<()> = too_many_requests(Duration::from_millis(10));
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }
}

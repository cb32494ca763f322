//! # authstar-redis
//!
//! Failed-authentication throttle counters shared by every instance of a service through Redis:
//! [`RedisThrottle`] is a [`ThrottleStore`] for [`FailureThrottle::store`](authstar::throttle::FailureThrottle::store), so five wrong
//! passwords on one instance and five on another spend one budget.
//!
//! ```no_run
//! use authstar::throttle::FailureThrottle;
//! use authstar_redis::RedisThrottle;
//!
//! # async fn run() -> Result<(), authstar_redis::RedisThrottleError> {
//! let shared = RedisThrottle::builder("redis://redis.internal:6379").start()?;
//! let throttle = FailureThrottle::new().store(shared);
//! # let _ = throttle;
//! # Ok(()) }
//! ```
//!
//! ## How it stays off the request path
//!
//! The layer asks its store synchronously, on every request that presents a credential, so this
//! store never waits for Redis there:
//!
//! * **Every failure counts locally at once** (an in-process [`MemoryStore`]) and is queued for
//!   Redis; a background task applies it with one atomic script (GCRA on Redis's clock: the
//!   same leaky bucket as the local one, `burst` then one per `period`).
//! * **When the shared bucket locks**, the script publishes the lock on a channel every instance
//!   subscribes to; each keeps the locks it has heard of in memory until they expire. A check
//!   is the local answer, or the longer of it and a lock heard from Redis: two hash-table
//!   lookups, no network.
//!
//! ## When Redis is unreachable
//!
//! Throttling falls back to the local counters (each instance its own budget, as without
//! Redis): never an open door, never a wait. That is the default, and the only sound choice for
//! a failure throttle; a store of rate limits for valid clients may be told to stop limiting
//! instead while Redis is unreachable ([`WhenUnreachable::Unlimited`]), where a per-instance
//! budget would refuse traffic the fleet as a whole allows. With the `metrics` feature, every
//! failed call to Redis (a flush, a subscription) counts in `authstar_redis_errors_total`. A call to Redis is bounded by the call timeout
//! (default 500 ms); after a failed call, failures are counted locally and kept for Redis,
//! which is tried again every second and then given them all; the subscription reconnects by
//! itself. Locks heard before the outage are kept until they expire. Locks in force are also
//! kept in a sorted set in Redis (scored by their end), which a new or reconnected instance
//! reads right after it subscribes: it refuses those keys at once, and a lock published while
//! it was away is not missed.
//!
//! Nothing in Redis names a client id or an address: buckets, the set of locks in force and
//! the lock messages all carry a 16-byte digest of the counter's
//! [`canonical_bytes`](ThrottleKey::canonical_bytes), an HMAC-SHA256 under the key the
//! instances share ([`RedisThrottleBuilder::digest_key`]; the demo derives it from its secrets
//! file). Without a key the digest is a plain SHA-256, which hides ids from a casual reader but
//! not from someone who hashes every IPv4 address or a list of likely client ids. Buckets expire
//! when they drain. Each instance keys the locks it heard by a hash of the digest with its own
//! random seed; a check while locks are in force costs one digest and one lookup. Identities
//! longer than 512 bytes are counted locally only.
//! With the `dpop` feature, [`RedisProofReplays`] shares the DPoP proofs each instance accepted,
//! so a proof is used once across all of them (see the [`dpop`] module).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[cfg(feature = "dpop")]
pub mod dpop;
#[cfg(feature = "dpop")]
pub use dpop::RedisProofReplays;
mod flush;
mod locks;
mod wire;

use authstar::throttle::{Budget, MemoryStore, ThrottleKey, ThrottleStore};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use flush::{Failure, flush};
use locks::{RemoteLocks, listen};
use wire::{Digests, Names};

/// Counters whose canonical bytes are longer are counted locally only (an identity that long is
/// made up; sharing it would only grow messages).
const MAX_SHARED_KEY: usize = 512;

/// Failures waiting for the background task; beyond this, failures count locally only.
const QUEUE: usize = 4096;

/// Locks heard from Redis, kept in memory at most.
pub(crate) const REMOTE_CAPACITY: usize = 65_536;

/// Why the store could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisThrottleError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(#[source] redis::RedisError),
    /// Not inside a tokio runtime: the background tasks need one.
    #[error("RedisThrottle::start must run inside a tokio runtime")]
    NoRuntime,
}

/// Builds a [`RedisThrottle`].
#[derive(Clone)]
pub struct RedisThrottleBuilder {
    url: String,
    prefix: String,
    call_timeout: Duration,
    local: Option<usize>,
    digest_key: Option<Vec<u8>>,
    when_unreachable: WhenUnreachable,
}

/// What a [`RedisThrottle`] answers while Redis is unreachable (from a failed call until one
/// succeeds again).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenUnreachable {
    /// Each instance counts on its own (its budget, as without Redis): never an open door.
    #[default]
    CountHere,
    /// Nothing is refused (neither by this instance's count nor by locks heard before the
    /// outage): for rate limits of valid clients, where the operator prefers serving everyone
    /// to refusing on one instance's partial count. **Never for a failure throttle**: it would
    /// let guessers through while Redis is down. Nothing is counted here meanwhile; what was
    /// sent is kept for Redis (at most a budget per key is applied when it answers again).
    ///
    /// ```no_run
    /// # fn run() -> Result<(), authstar_redis::RedisThrottleError> {
    /// use authstar_redis::{RedisThrottle, WhenUnreachable};
    /// // The rate limits' own store (never the failure throttle's).
    /// let rate_limits = RedisThrottle::builder("redis://127.0.0.1:6379")
    ///     .prefix("myservice-rate")
    ///     .when_unreachable(WhenUnreachable::Unlimited)
    ///     .start()?;
    /// # let _ = rate_limits; Ok(()) }
    /// ```
    Unlimited,
}

impl fmt::Debug for RedisThrottleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisThrottleBuilder")
            .field("url", &masked(&self.url))
            .field("prefix", &self.prefix)
            .field("call_timeout", &self.call_timeout)
            .field("when_unreachable", &self.when_unreachable)
            .finish_non_exhaustive()
    }
}

/// A URL with its password hidden, for logs and `Debug`.
fn masked(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{}{user}{hidden}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl RedisThrottleBuilder {
    /// Names keys and the channel `PREFIX:throttle:...` (default `authstar`): one prefix per
    /// service sharing a Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a call to Redis may take (default 500 ms).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many counters the local store holds (default: [`MemoryStore::default`]'s).
    pub fn local_capacity(mut self, capacity: usize) -> Self {
        self.local = Some(capacity);
        self
    }

    /// The key every instance names counters with in Redis (an HMAC-SHA256 digest of the
    /// counter): give all instances the same secret, at least 16 random bytes. Without it the
    /// digest is unkeyed, and a client id or an IPv4 address can be found again from it by
    /// hashing candidates.
    pub fn digest_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.digest_key = Some(key.as_ref().to_vec());
        self
    }

    /// What to answer while Redis is unreachable (default: [`WhenUnreachable::CountHere`]).
    pub fn when_unreachable(mut self, choice: WhenUnreachable) -> Self {
        self.when_unreachable = choice;
        self
    }

    /// Starts the background tasks (inside a tokio runtime) and returns the store. Connects
    /// lazily: an unreachable Redis is not an error here; it is retried in the background.
    pub fn start(self) -> Result<RedisThrottle, RedisThrottleError> {
        let (runtime, client, manager) = connect(&self.url, self.call_timeout)?;
        let shared = Arc::new(Shared {
            local: self
                .local
                .map_or_else(MemoryStore::default, MemoryStore::new),
            remote: RemoteLocks::default(),
            dropped: AtomicU64::new(0),
            digests: Digests::new(self.digest_key.as_deref()),
            unlimited_when_down: self.when_unreachable == WhenUnreachable::Unlimited,
            down: Arc::new(AtomicBool::new(false)),
        });
        let (sender, receiver) = mpsc::channel(QUEUE);
        let names = Names {
            bucket: format!("{}:throttle:", self.prefix),
            channel: format!("{}:throttle:locks", self.prefix),
            locks: format!("{}:throttle:in-force", self.prefix),
        };
        runtime.spawn(flush(
            manager,
            receiver,
            names.clone(),
            self.call_timeout,
            masked(&self.url),
            Arc::clone(&shared.down),
        ));
        runtime.spawn(listen(
            client,
            Arc::downgrade(&shared),
            names,
            self.call_timeout,
        ));
        Ok(RedisThrottle { shared, sender })
    }
}

/// The current runtime, a client for `url`, and a lazily connecting manager whose calls give up
/// after `timeout` (retried once, then every second at most).
pub(crate) fn connect(
    url: &str,
    timeout: Duration,
) -> Result<(tokio::runtime::Handle, redis::Client, ConnectionManager), RedisThrottleError> {
    let runtime =
        tokio::runtime::Handle::try_current().map_err(|_| RedisThrottleError::NoRuntime)?;
    let client = redis::Client::open(url).map_err(RedisThrottleError::Url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(RedisThrottleError::Url)?;
    Ok((runtime, client, manager))
}

/// Throttle counters shared through Redis; see the [crate documentation](crate).
#[derive(Clone)]
pub struct RedisThrottle {
    shared: Arc<Shared>,
    sender: mpsc::Sender<Failure>,
}

struct Shared {
    local: MemoryStore,
    remote: RemoteLocks,
    /// Failures that found the queue full (counted locally only).
    dropped: AtomicU64,
    digests: Digests,
    /// [`WhenUnreachable::Unlimited`].
    unlimited_when_down: bool,
    /// Set by the flush task from a failed call to Redis until one succeeds.
    down: Arc<AtomicBool>,
}
impl fmt::Debug for RedisThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisThrottle")
            .field("local", &self.shared.local)
            .field("remote_locks", &self.shared.remote.len())
            .finish_non_exhaustive()
    }
}

impl RedisThrottle {
    /// A builder for a store on the Redis at `url` (`redis://[user:password@]host:port[/db]`).
    pub fn builder(url: impl Into<String>) -> RedisThrottleBuilder {
        RedisThrottleBuilder {
            url: url.into(),
            prefix: "authstar".to_owned(),
            call_timeout: Duration::from_millis(500),
            local: None,
            digest_key: None,
            when_unreachable: WhenUnreachable::default(),
        }
    }

    /// Whether Redis is unreachable now: a call carrying counts found it gone (refused, dropped,
    /// or twice in a row no answer within the call timeout) and none has succeeded since. An
    /// error Redis answers with (out of memory) is not an outage.
    ///
    /// ```no_run
    /// # fn run(store: authstar_redis::RedisThrottle) {
    /// if store.is_unreachable() {
    ///     eprintln!("rate limits are counted on this instance alone");
    /// }
    /// # }
    /// ```
    pub fn is_unreachable(&self) -> bool {
        self.shared.down.load(Ordering::Relaxed)
    }

    /// How many locks heard from Redis are in force here.
    pub fn remote_locks(&self) -> usize {
        self.shared.remote.len()
    }
}

impl ThrottleStore for RedisThrottle {
    fn locked(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration> {
        if self.shared.unlimited_when_down && self.is_unreachable() {
            return None;
        }
        let local = self.shared.local.locked(key, budget, now);
        if self.shared.remote.is_empty() {
            return local;
        }
        let digest = self.shared.digests.of(&key.canonical_bytes());
        local.max(self.shared.remote.wait(&digest, now))
    }

    fn fail(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration> {
        // Unlimited while Redis is away: nothing is counted here (a busy client would find its
        // local bucket hours ahead when Redis returns); Redis gets at most a budget per key
        // when it is back.
        let recorded = if self.shared.unlimited_when_down && self.is_unreachable() {
            None
        } else {
            self.shared.local.fail(key, budget, now)
        };
        let canonical = key.canonical_bytes();
        if canonical.len() > MAX_SHARED_KEY {
            return recorded;
        }
        let failure = Failure {
            key: self.shared.digests.of(&canonical),
            budget,
        };
        if self.sender.try_send(failure).is_err() {
            let dropped = self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = dropped + 1,
                    "authstar-redis: failures arrive faster than Redis takes them; counting locally"
                );
            }
        }
        recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(masked("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(masked("redis://u:pw@h"), "redis://u:***@h");
        assert_eq!(masked("redis://h:6379"), "redis://h:6379");
    }
}

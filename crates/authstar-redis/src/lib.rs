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
//! Redis): never an open door, never a wait. A call to Redis is bounded by the call timeout
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

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[cfg(feature = "dpop")]
pub mod dpop;
#[cfg(feature = "dpop")]
pub use dpop::RedisProofReplays;

use authstar::throttle::{Budget, MemoryStore, ThrottleKey, ThrottleStore};
use futures_util::StreamExt as _;
use hmac::{Hmac, Mac};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

/// A counter's digest: what failures, the set of locks and lock messages carry, and what
/// buckets are named by (never the client id or address it counts).
type Digest = [u8; 16];

/// Counters whose canonical bytes are longer are counted locally only (an identity that long is
/// made up; sharing it would only grow messages).
const MAX_SHARED_KEY: usize = 512;

/// Failures waiting for the background task; beyond this, failures count locally only.
const QUEUE: usize = 4096;

/// Locks heard from Redis, kept in memory at most.
const REMOTE_CAPACITY: usize = 65_536;
const SHARDS: usize = 16;

/// The GCRA step on Redis's clock, atomic. KEYS[1]: the bucket, KEYS[2]: the sorted set of
/// locks in force. ARGV: period ms, tolerance ms, the channel, the counter's digest in hex, how
/// many failures. Returns the lock's length in ms (0: not locked); a lock is
/// published, and recorded in the set (scored by its end) for instances that subscribe later.
const FAIL_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local period = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
tat = tat + period * tonumber(ARGV[5])
redis.call('SET', KEYS[1], tat, 'PX', tat - now + 1000)
local wait = tat - now - tolerance
if wait > 0 then
  redis.call('ZADD', KEYS[2], now + wait, ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. wait)
  return wait
end
return 0
";

/// The locks in force, for an instance that has just subscribed: KEYS[1] the sorted set;
/// returns counter (hex), remaining ms, ... for at most ARGV[1] of them, on Redis's clock.
const LOCKS_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local found = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for i = 1, #found, 2 do
  out[#out + 1] = found[i]
  out[#out + 1] = tostring(tonumber(found[i + 1]) - now)
end
return out
";

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
}

impl fmt::Debug for RedisThrottleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisThrottleBuilder")
            .field("url", &masked(&self.url))
            .field("prefix", &self.prefix)
            .field("call_timeout", &self.call_timeout)
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

#[derive(Clone)]
struct Names {
    bucket: String,
    channel: String,
    locks: String,
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
}

/// How counters are named in Redis.
enum Digests {
    /// HMAC-SHA256 under the shared key (its key blocks hashed once; each digest clones it).
    Keyed(Hmac<Sha256>),
    /// SHA-256.
    Plain,
}

impl Digests {
    fn new(key: Option<&[u8]>) -> Self {
        match key.and_then(|key| <Hmac<Sha256> as Mac>::new_from_slice(key).ok()) {
            Some(mac) => Self::Keyed(mac),
            None => Self::Plain,
        }
    }

    fn of(&self, canonical: &[u8]) -> Digest {
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
        }
    }

    /// How many locks heard from Redis are in force here.
    pub fn remote_locks(&self) -> usize {
        self.shared.remote.len()
    }
}

/// A failure on its way to Redis.
struct Failure {
    key: Digest,
    budget: Budget,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_digest(text: &str) -> Option<Digest> {
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
fn bucket_name(prefix: &str, key: &Digest) -> String {
    format!("{prefix}{}", hex(key))
}

impl ThrottleStore for RedisThrottle {
    fn locked(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration> {
        let local = self.shared.local.locked(key, budget, now);
        if self.shared.remote.is_empty() {
            return local;
        }
        let digest = self.shared.digests.of(&key.canonical_bytes());
        local.max(self.shared.remote.wait(&digest, now))
    }

    fn fail(&self, key: &ThrottleKey<'_>, budget: Budget, now: Instant) -> Option<Duration> {
        let recorded = self.shared.local.fail(key, budget, now);
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

/// Locks heard from Redis: counter digest → until when, sharded by a hash of the digest with
/// this process's own random seed.
struct RemoteLocks {
    shards: Box<[Mutex<HashMap<Digest, Instant>>]>,
    len: AtomicUsize,
    hasher: foldhash::fast::RandomState,
}

impl Default for RemoteLocks {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            len: AtomicUsize::new(0),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl RemoteLocks {
    fn shard(&self, key: &Digest) -> std::sync::MutexGuard<'_, HashMap<Digest, Instant>> {
        let hash = self.hasher.hash_one(key);
        self.shards[(hash as usize) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn wait(&self, key: &Digest, now: Instant) -> Option<Duration> {
        let until = *self.shard(key).get(key)?;
        let wait = until.saturating_duration_since(now);
        (!wait.is_zero()).then_some(wait)
    }

    /// Records a lock until `until`; when the shard is full, expired locks go first, then the
    /// one ending soonest.
    fn insert(&self, key: &Digest, until: Instant) {
        let now = Instant::now();
        let mut shard = self.shard(key);
        let before = shard.len();
        if before >= REMOTE_CAPACITY / SHARDS && !shard.contains_key(key) {
            shard.retain(|_, until| *until > now);
            if shard.len() >= REMOTE_CAPACITY / SHARDS
                && let Some(soonest) = shard
                    .iter()
                    .min_by_key(|(_, until)| **until)
                    .map(|(k, _)| *k)
            {
                shard.remove(&soonest);
            }
        }
        let entry = shard.entry(*key).or_insert(until);
        *entry = (*entry).max(until);
        let after = shard.len();
        drop(shard);
        if after >= before {
            self.len.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.len.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// The locks in force, with what is left of each.
    fn in_force(&self, now: Instant) -> Vec<(Digest, Duration)> {
        let mut locks = Vec::new();
        for shard in &*self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            locks.extend(shard.iter().filter_map(|(key, until)| {
                let left = until.saturating_duration_since(now);
                (!left.is_zero()).then_some((*key, left))
            }));
        }
        locks
    }

    /// Drops expired locks so an idle store goes back to the lookup-free path.
    fn sweep(&self) {
        let now = Instant::now();
        for shard in &*self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let before = shard.len();
            shard.retain(|_, until| *until > now);
            self.len.fetch_sub(before - shard.len(), Ordering::Relaxed);
        }
    }
}

/// Puts locks back into the set of locks in force (after Redis restarted empty, say), and
/// publishes them (an instance that resubscribed first hears them too): KEYS[1] the set;
/// ARGV[1] the channel, then pairs of digest (hex) and remaining ms, on Redis's clock. A lock
/// the set already holds (to within a second) is left as it is and not published again, so
/// reconnecting instances do not echo every lock to each other (plain `ZSCORE`/`ZADD`: any
/// Redis version).
const REPUBLISH_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i = 2, #ARGV, 2 do
  local ends = now + tonumber(ARGV[i + 1])
  local known = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not known or tonumber(known) + 1000 < ends then
    redis.call('ZADD', KEYS[1], ends, ARGV[i])
    redis.call('PUBLISH', ARGV[1], ARGV[i] .. ' ' .. ARGV[i + 1])
  end
end
return (#ARGV - 1) / 2
";

/// Locks republished per script call.
const REPUBLISH_BATCH: usize = 512;

/// Puts the locks this instance knows back into the set of locks in force, so that an instance
/// starting later learns them even though Redis lost them (a restart without persistence).
async fn republish(
    connection: &mut redis::aio::MultiplexedConnection,
    names: &Names,
    locks: Vec<(Digest, Duration)>,
    timeout: Duration,
) -> Result<(), String> {
    let script = redis::Script::new(REPUBLISH_SCRIPT);
    for batch in locks.chunks(REPUBLISH_BATCH) {
        let mut invocation = script.key(&names.locks);
        invocation.arg(&names.channel);
        for (key, left) in batch {
            invocation.arg(hex(key)).arg(millis(*left));
        }
        match tokio::time::timeout(timeout, invocation.invoke_async::<u64>(connection)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(error.to_string()),
            Err(_) => return Err(format!("no answer within {timeout:?}")),
        }
    }
    Ok(())
}

/// Failures not yet applied to Redis: counter → budget and count.
type Pending = HashMap<Digest, (Budget, u32)>;

/// Applies queued failures to Redis, one atomic script per key (several failures of one key in
/// one call). When a call fails, the failures wait (counted, at most [`REMOTE_CAPACITY`] keys)
/// and are applied once Redis answers again, tried every second: an outage delays sharing,
/// it does not lose the failures made meanwhile.
async fn flush(
    mut manager: ConnectionManager,
    mut receiver: mpsc::Receiver<Failure>,
    names: Names,
    timeout: Duration,
    url: String,
) {
    let script = redis::Script::new(FAIL_SCRIPT);
    let mut pending = Pending::new();
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let received = match retry_at {
            Some(at) => tokio::select! {
                failure = receiver.recv() => failure.map(Some),
                () = tokio::time::sleep_until(at) => Some(None),
            },
            None => receiver.recv().await.map(Some),
        };
        let Some(received) = received else {
            return; // the store is gone
        };
        for failure in received
            .into_iter()
            .chain(std::iter::from_fn(|| receiver.try_recv().ok()))
        {
            note(&mut pending, failure);
        }
        if retry_at.is_some_and(|at| tokio::time::Instant::now() < at) {
            continue;
        }
        let was_down = retry_at.take().is_some();
        let mut batch = std::mem::take(&mut pending).into_iter();
        while let Some((key, (budget, count))) = batch.next() {
            let period = budget.period();
            let tolerance = period * (budget.burst() - 1);
            let mut invocation = script.key(bucket_name(&names.bucket, &key));
            invocation.key(&names.locks);
            invocation
                .arg(millis(period))
                .arg(millis(tolerance))
                .arg(&names.channel)
                .arg(hex(&key))
                // Failures held through an outage happened over time, while their bucket was
                // draining: at most one budget's worth is applied at once.
                .arg(count.min(budget.burst()));
            let call = invocation.invoke_async::<u64>(&mut manager);
            let reason = match tokio::time::timeout(timeout, call).await {
                Ok(Ok(_)) => continue,
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no answer within {timeout:?}"),
            };
            if !was_down {
                tracing::warn!(redis = %url, %reason, "authstar-redis: Redis unreachable; throttling on local counters until it is back");
            }
            note_many(&mut pending, key, budget, count);
            for (key, (budget, count)) in batch.by_ref() {
                note_many(&mut pending, key, budget, count);
            }
            retry_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
        }
        if was_down && retry_at.is_none() {
            tracing::info!(redis = %url, "authstar-redis: Redis is back; sharing throttle counters again");
        }
    }
}

fn note(pending: &mut Pending, failure: Failure) {
    note_many(pending, failure.key, failure.budget, 1);
}

/// Adds `count` failures of a key; a key beyond the bound is left to the local counters.
fn note_many(pending: &mut Pending, key: Digest, budget: Budget, count: u32) {
    if pending.len() >= REMOTE_CAPACITY && !pending.contains_key(&key) {
        return;
    }
    let entry = pending.entry(key).or_insert((budget, 0));
    entry.1 = entry.1.saturating_add(count);
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Listens for locks until the store is dropped, reconnecting after a second when the
/// subscription breaks.
async fn listen(
    client: redis::Client,
    shared: std::sync::Weak<Shared>,
    names: Names,
    timeout: Duration,
) {
    loop {
        if shared.strong_count() == 0 {
            return;
        }
        // Subscribe first, then read the locks already in force: none falls in between.
        let held = shared
            .upgrade()
            .map(|shared| shared.remote.in_force(Instant::now()))
            .unwrap_or_default();
        let subscribed = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&names.channel).await?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            let in_force: Vec<String> = redis::Script::new(LOCKS_SCRIPT)
                .key(&names.locks)
                .arg(REMOTE_CAPACITY)
                .invoke_async(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>((pubsub, in_force, connection))
        })
        .await;
        if let Ok(Ok((_, _, connection))) = &subscribed
            && !held.is_empty()
        {
            // After an outage Redis may have come back empty: the locks this instance holds go
            // back into the set, for instances that start later. In the background, a batch at
            // a time, each within the call timeout: many locks must not keep the subscription
            // from coming back.
            let (mut connection, names) = (connection.clone(), names.clone());
            tokio::spawn(async move {
                if let Err(error) = republish(&mut connection, &names, held, timeout).await {
                    tracing::debug!(%error, "authstar-redis: republishing the locks held failed");
                }
            });
        }
        let subscribed = subscribed.map(|ok| ok.map(|(pubsub, in_force, _)| (pubsub, in_force)));
        if let Ok(Ok((pubsub, in_force))) = subscribed {
            if let Some(shared) = shared.upgrade() {
                let now = Instant::now();
                for pair in in_force.chunks_exact(2) {
                    let message = format!("{} {}", pair[0], pair[1]);
                    if let Some((key, wait)) = parse_lock(message.as_bytes()) {
                        shared.remote.insert(&key, now + wait);
                    }
                }
            }
            let mut messages = pubsub.into_on_message();
            let mut sweep = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    message = messages.next() => {
                        let Some(message) = message else { break };
                        let Some(shared) = shared.upgrade() else { return };
                        if let Some((key, wait)) = parse_lock(message.get_payload_bytes()) {
                            shared.remote.insert(&key, Instant::now() + wait);
                        }
                    }
                    _ = sweep.tick() => {
                        let Some(shared) = shared.upgrade() else { return };
                        shared.remote.sweep();
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `"<digest in hex> <milliseconds>"`; anything else is ignored.
fn parse_lock(payload: &[u8]) -> Option<(Digest, Duration)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (id, wait) = text.split_once(' ')?;
    let wait: u64 = wait.parse().ok()?;
    Some((
        parse_digest(id)?,
        Duration::from_millis(wait.min(86_400_000)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_messages_parse_strictly() {
        let id = [0xab; 16];
        let message = format!("{} 1500", hex(&id));
        assert_eq!(
            parse_lock(message.as_bytes()),
            Some((id, Duration::from_millis(1500)))
        );
        let too_long = format!("{} 1", "ab".repeat(17));
        for bad in [
            "",
            "x 1",
            "abc 1",
            "zz 1",
            &format!("{} -1", hex(&id)),
            &hex(&id),
            &too_long,
            &format!("{} 1", "zz".repeat(16)),
        ] {
            assert_eq!(parse_lock(bad.as_bytes()), None, "{bad:?}");
        }
        let huge = format!("{} 99999999999", hex(&id));
        assert_eq!(
            parse_lock(huge.as_bytes()).unwrap().1,
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(masked("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(masked("redis://u:pw@h"), "redis://u:***@h");
        assert_eq!(masked("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn remote_locks_are_bounded_and_expire() {
        let locks = RemoteLocks::default();
        let now = Instant::now();
        for n in 0..(REMOTE_CAPACITY as u128 + 100) {
            locks.insert(&n.to_be_bytes(), now + Duration::from_secs(60));
        }
        assert!(locks.len() <= REMOTE_CAPACITY, "{}", locks.len());
        let id = [7u8; 16];
        locks.insert(&id, now + Duration::from_millis(1));
        assert!(locks.in_force(now).iter().any(|(key, _)| *key == id));
        assert!(locks.wait(&id, now).is_some());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(locks.wait(&id, Instant::now()), None);
        let before = locks.len();
        locks.sweep();
        assert!(locks.len() < before);
    }
}

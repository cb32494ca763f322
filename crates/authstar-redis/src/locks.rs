//! Locks heard from Redis: the subscription that hears them, the locks in force read on
//! (re)subscribing and put back after Redis lost them, and the sharded map a check reads.

use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

use crate::wire::{Digest, Names, hex, millis, parse_digest};
use crate::{REMOTE_CAPACITY, Shared};

const SHARDS: usize = 16;

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

/// Locks heard from Redis: counter digest → until when, sharded by a hash of the digest with
/// this process's own random seed.
pub(crate) struct RemoteLocks {
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

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn wait(&self, key: &Digest, now: Instant) -> Option<Duration> {
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

/// Listens for locks until the store is dropped, reconnecting after a second when the
/// subscription breaks.
pub(crate) async fn listen(
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
        // A failed subscription counts as an error; whether Redis is unreachable is the flush
        // task's to say, from the calls that carry the counts (a Redis that refuses pub/sub to
        // this user, or answers it slowly, still takes them).
        if !matches!(subscribed, Ok(Ok(_))) {
            crate::flush::count_error();
        }
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
    use crate::wire::hex;

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

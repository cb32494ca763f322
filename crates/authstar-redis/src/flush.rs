//! Failures on their way to Redis: queued by the store, applied by one background task with an
//! atomic script per counter, held through an outage.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authstar::throttle::Budget;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use crate::REMOTE_CAPACITY;
use crate::wire::{Digest, Names, bucket_name, hex, millis};

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

/// A failure on its way to Redis.
pub(crate) struct Failure {
    pub(crate) key: Digest,
    pub(crate) budget: Budget,
}

/// Failures not yet applied to Redis: counter → budget and count.
type Pending = HashMap<Digest, (Budget, u32)>;

/// Applies queued failures to Redis, one atomic script per key (several failures of one key in
/// one call). When a call fails, the failures wait (counted, at most [`REMOTE_CAPACITY`] keys)
/// and are applied once Redis answers again, tried every second: an outage delays sharing,
/// it does not lose the failures made meanwhile.
pub(crate) async fn flush(
    mut manager: ConnectionManager,
    mut receiver: mpsc::Receiver<Failure>,
    names: Names,
    timeout: Duration,
    url: String,
    down: Arc<AtomicBool>,
) {
    let script = redis::Script::new(FAIL_SCRIPT);
    let mut pending = Pending::new();
    let mut retry_at: Option<tokio::time::Instant> = None;
    // Calls in a row that found no answer within the timeout: one slow answer (a fork for a
    // snapshot, a busy neighbour) is not an outage; two are.
    let mut slow = 0u32;
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
        retry_at = None;
        let mut batch = std::mem::take(&mut pending).into_iter();
        while let Some((key, (budget, count))) = batch.next() {
            let period = budget.period();
            let tolerance = period.saturating_mul(budget.burst() - 1);
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
            let outcome = tokio::time::timeout(timeout, call).await;
            let reason = match outcome {
                Ok(Ok(_)) => {
                    slow = 0;
                    if down.swap(false, Ordering::Relaxed) {
                        tracing::info!(redis = %url, "authstar-redis: Redis is back; sharing counters again");
                    }
                    continue;
                }
                Ok(Err(error)) if error.is_timeout() => {
                    slow += 1;
                    error.to_string()
                }
                Ok(Err(error)) if !lost(&error) => {
                    // Redis answered, with an error about this call (out of memory, a value it
                    // cannot take): Redis is there; this key's failures stay counted here only.
                    count_error();
                    tracing::warn!(redis = %url, %error, "authstar-redis: Redis refused a counter update; it stays local");
                    continue;
                }
                Ok(Err(error)) => {
                    slow = 0;
                    error.to_string()
                }
                Err(_) => {
                    slow += 1;
                    format!("no answer within {timeout:?}")
                }
            };
            count_error();
            if slow != 1 && !down.swap(true, Ordering::Relaxed) {
                tracing::warn!(redis = %url, %reason, "authstar-redis: Redis unreachable; counting on each instance until it is back (a store told WhenUnreachable::Unlimited refuses nobody meanwhile)");
            }
            note_many(&mut pending, key, budget, count);
            for (key, (budget, count)) in batch.by_ref() {
                note_many(&mut pending, key, budget, count);
            }
            retry_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
        }
    }
}

/// Whether a call's error says Redis cannot be reached (rather than that it refused the call).
fn lost(error: &redis::RedisError) -> bool {
    error.is_io_error() || error.is_connection_refusal() || error.is_connection_dropped()
}

/// A failed call to Redis, for `authstar_redis_errors_total` (feature `metrics`).
pub(crate) fn count_error() {
    #[cfg(feature = "metrics")]
    metrics::counter!("authstar_redis_errors_total").increment(1);
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

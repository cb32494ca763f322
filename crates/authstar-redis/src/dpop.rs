//! DPoP proofs and client assertions used once across every instance (feature `dpop`):
//! [`RedisProofReplays`] tells the other instances about each proof a `DpopVerifier` accepts
//! (and each `jti` a `ClientAssertionVerifier` accepts), and hands theirs to it, so a proof or
//! an assertion replayed to another instance is refused there too (RFC 9449 §11.1, RFC 7523
//! §3). Each kind stays in its own memory.
//!
//! ```no_run
//! use authstar_jwt::dpop::DpopVerifier;
//! use authstar_redis::RedisProofReplays;
//!
//! # async fn run() -> Result<(), authstar_redis::RedisThrottleError> {
//! let replays = RedisProofReplays::builder("redis://redis.internal:6379").start()?;
//! let proofs = DpopVerifier::new().share_replays(replays.clone());
//! replays.listen(&proofs); // what other instances accept reaches `proofs`
//! # Ok(()) }
//! ```
//!
//! Like the throttle, it stays off the request path: the verifier checks its own memory
//! synchronously, and an accepted proof is queued and published by a background task (one
//! script: added to a sorted set scored by the end of its window, then published). Each
//! instance subscribes and remembers what it hears; one that (re)subscribes first reads the
//! set, so it also refuses proofs accepted while it was away. What is left: a proof replayed to
//! another instance within the publication's delay (a round trip to Redis, about a millisecond
//! on a LAN) is accepted there once; and while Redis is unreachable each instance refuses only
//! the replays it saw itself, as without Redis. Messages carry the proof's id (a SHA-256 of the
//! key's thumbprint and the `jti`), never the proof.

use std::fmt;
use std::time::Duration;

use authstar_jwt::dpop::{HearsReplays, OneTimeKind, ProofId, ReplayShare};
use authstar_jwt::unix_now;
use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use crate::wire::hex;
use crate::{RedisThrottleError, connect, masked};

/// Accepted proofs waiting to be published; beyond this, they are remembered locally only.
const QUEUE: usize = 8192;

/// The most ids read from the set on (re)subscribing.
const BACKLOG: usize = 100_000;

/// KEYS[1] the sorted set of proofs in their window; ARGV: the channel, the message
/// (`<id hex> <until>`), the member (`<id hex>`), `until`, now (Unix seconds). Drops ended
/// windows, adds this one, publishes it.
const ACCEPTED_SCRIPT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], math.max(1, tonumber(ARGV[4]) - tonumber(ARGV[5])))
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
";

/// Builds a [`RedisProofReplays`]; start with [`RedisProofReplays::builder`].
#[must_use]
pub struct RedisProofReplaysBuilder {
    url: String,
    prefix: String,
    call_timeout: Duration,
}

impl fmt::Debug for RedisProofReplaysBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisProofReplaysBuilder")
            .field("url", &masked(&self.url))
            .field("prefix", &self.prefix)
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

impl RedisProofReplaysBuilder {
    /// Names the set and the channel `PREFIX:dpop:...` (default `authstar`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a call to Redis may take (default 500 ms).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Starts the publisher (inside a tokio runtime). Connects lazily: an unreachable Redis is
    /// not an error here.
    pub fn start(self) -> Result<RedisProofReplays, RedisThrottleError> {
        let (runtime, client, manager) = connect(&self.url, self.call_timeout)?;
        let names = Names {
            set: format!("{}:dpop:seen", self.prefix),
            channel: format!("{}:dpop:accepted", self.prefix),
        };
        let (sender, receiver) = mpsc::channel(QUEUE);
        runtime.spawn(publish(manager, receiver, names.clone(), masked(&self.url)));
        Ok(RedisProofReplays {
            sender,
            client,
            names,
            timeout: self.call_timeout,
            runtime,
        })
    }
}

#[derive(Clone, Debug)]
struct Names {
    set: String,
    channel: String,
}

/// Shares DPoP proof replays through Redis; see the [module](self).
#[derive(Clone)]
pub struct RedisProofReplays {
    sender: mpsc::Sender<(OneTimeKind, ProofId, u64)>,
    client: redis::Client,
    names: Names,
    timeout: Duration,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for RedisProofReplays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisProofReplays")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl RedisProofReplays {
    /// A builder for the Redis at `url` (`redis://host:port`).
    pub fn builder(url: impl Into<String>) -> RedisProofReplaysBuilder {
        RedisProofReplaysBuilder {
            url: url.into(),
            prefix: "authstar".to_owned(),
            call_timeout: Duration::from_millis(500),
        }
    }

    /// Hands what other instances accept to `verifier` (a clone sharing its memory): DPoP
    /// proofs to a `DpopVerifier`, client assertions to a `ClientAssertionVerifier` (each kind
    /// has a memory of its own), for as long as the runtime runs; reconnects after a second
    /// when the subscription breaks.
    pub fn listen<H: HearsReplays>(&self, verifier: &H) {
        self.runtime.spawn(listen(
            self.client.clone(),
            verifier.clone(),
            self.names.clone(),
            self.timeout,
        ));
    }
}

impl ReplayShare for RedisProofReplays {
    fn accepted(&self, kind: OneTimeKind, id: &ProofId, until: u64) {
        // Full queue (Redis far behind or away): remembered here only.
        let _ = self.sender.try_send((kind, *id, until));
    }
}

/// The set's member for an id of `kind`: the id in hex, client assertions prefixed `a:` (a
/// proof's member is as it always was).
fn member_of(kind: OneTimeKind, id: &ProofId) -> String {
    match kind {
        OneTimeKind::ClientAssertion => format!("a:{}", hex(id)),
        _ => hex(id),
    }
}

/// The kind and id of a set member.
fn parse_member(member: &str) -> Option<(OneTimeKind, ProofId)> {
    match member.strip_prefix("a:") {
        Some(id) => Some((OneTimeKind::ClientAssertion, parse_id(id)?)),
        None => Some((OneTimeKind::DpopProof, parse_id(member)?)),
    }
}

/// `<member> <until>`; anything else is ignored.
fn parse(message: &[u8]) -> Option<(OneTimeKind, ProofId, u64)> {
    let text = std::str::from_utf8(message).ok()?;
    let (member, until) = text.split_once(' ')?;
    let (kind, id) = parse_member(member)?;
    Some((kind, id, until.parse().ok()?))
}

fn parse_id(text: &str) -> Option<ProofId> {
    if text.len() != 64 {
        return None;
    }
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

/// Publishes accepted proofs until every handle is dropped; one that cannot be published within
/// the timeout is dropped (it is still refused where it was accepted).
async fn publish(
    mut manager: ConnectionManager,
    mut receiver: mpsc::Receiver<(OneTimeKind, ProofId, u64)>,
    names: Names,
    url: String,
) {
    let script = redis::Script::new(ACCEPTED_SCRIPT);
    let mut failing = false;
    while let Some((kind, id, until)) = receiver.recv().await {
        let member = member_of(kind, &id);
        let message = format!("{member} {until}");
        let result: Result<i64, redis::RedisError> = script
            .key(&names.set)
            .arg(&names.channel)
            .arg(&message)
            .arg(&member)
            .arg(until)
            .arg(unix_now())
            .invoke_async(&mut manager)
            .await;
        match result {
            Ok(_) if failing => {
                tracing::info!(redis = %url, "authstar-redis: DPoP replays shared again");
                failing = false;
            }
            Ok(_) => {}
            Err(error) if !failing => {
                tracing::warn!(redis = %url, %error, "authstar-redis: DPoP replays not shared (each instance refuses its own)");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Hears accepted proofs; on each (re)subscription, reads those still in their window first.
async fn listen<H: HearsReplays>(
    client: redis::Client,
    verifier: H,
    names: Names,
    timeout: Duration,
) {
    loop {
        let subscribed = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&names.channel).await?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            let backlog: Vec<(String, u64)> = redis::cmd("ZRANGEBYSCORE")
                .arg(&names.set)
                .arg(unix_now())
                .arg("+inf")
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(BACKLOG)
                .query_async(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>((pubsub, backlog))
        })
        .await;
        if let Ok(Ok((pubsub, backlog))) = subscribed {
            for (member, until) in backlog {
                if let Some((kind, id)) = parse_member(&member)
                    && kind == H::KIND
                {
                    verifier.heard(&id, until);
                }
            }
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                if let Some((kind, id, until)) = parse(message.get_payload_bytes())
                    && kind == H::KIND
                {
                    verifier.heard(&id, until);
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_strictly() {
        let id = [0xab; 32];
        let message = format!("{} 1700000000", hex(&id));
        assert_eq!(
            parse(message.as_bytes()),
            Some((OneTimeKind::DpopProof, id, 1_700_000_000))
        );
        // A client assertion's id is marked: it never reaches the proofs' memory.
        let message = format!("a:{} 1700000000", hex(&id));
        assert_eq!(
            parse(message.as_bytes()),
            Some((OneTimeKind::ClientAssertion, id, 1_700_000_000))
        );
        assert_eq!(
            member_of(OneTimeKind::ClientAssertion, &id),
            format!("a:{}", hex(&id))
        );
        for bad in [
            "",
            "zz 1",
            &format!("{} x", hex(&id)),
            &"a".repeat(64),
            &format!("b:{} 1", hex(&id)),
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
    }
}

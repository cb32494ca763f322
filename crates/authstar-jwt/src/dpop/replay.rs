//! The replay memory: proofs accepted within their window, bounded, shared between instances
//! through a [`ReplayShare`].

use crate::unix_now;

/// A proof's identity in the replay memory: SHA-256 of its key's thumbprint and its `jti`
/// (fixed size, whatever the client put in `jti`; what instances exchange).
pub type ProofId = [u8; 32];

/// The proofs accepted within their window (each until its `until`, Unix seconds), and the
/// newest `until` among those it had to forget early, past its capacity.
#[derive(Clone)]
pub(crate) struct ReplayMemory {
    pub(super) proofs: std::sync::Arc<
        quick_cache::sync::Cache<
            ProofId,
            u64,
            quick_cache::UnitWeighter,
            quick_cache::DefaultHashBuilder,
            Forgetting,
        >,
    >,
    forgotten: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ReplayMemory {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let forgotten = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        // One queue, oldest out first (by `until`, nearly: proofs arrive in their window's
        // order). quick_cache's default keeps 97 % of its capacity for the first entries
        // (here long expired: proofs are never read again) and cycles the rest through the
        // remaining 3 %, which would hold a few seconds of proofs, not the capacity.
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(capacity)
            .weight_capacity(capacity as u64)
            .hot_allocation(0.0)
            .build()
            // `build` fails only when a capacity is left unset.
            .expect("both capacities are set");
        let proofs = quick_cache::sync::Cache::with_options(
            options,
            quick_cache::UnitWeighter,
            quick_cache::DefaultHashBuilder::default(),
            Forgetting {
                until: forgotten.clone(),
            },
        );
        Self {
            proofs: std::sync::Arc::new(proofs),
            forgotten,
        }
    }

    /// Remembers `id` until `until`, unless it is remembered longer already.
    pub(crate) fn remember(&self, id: &ProofId, until: u64) {
        match self.proofs.get(id) {
            Some(known) if known >= until => {}
            _ => self.proofs.insert(*id, until),
        }
    }

    /// Proofs whose window ends at or before this may have been forgotten.
    pub(super) fn forgotten_until(&self) -> u64 {
        self.forgotten.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records the first use of `id`, valid until `until` (Unix seconds, the window's end
    /// named by the credential itself, so a replay is compared with the very end it was stored,
    /// and, if the memory overflowed, forgotten under). Refused when it was used within its
    /// window, or when the memory may have forgotten it (it cannot tell a replay from a first
    /// use then).
    pub(crate) fn first_use(&self, id: &ProofId, until: u64, now: u64) -> Result<(), Reuse> {
        // Asked after the lookup: an eviction raises the horizon under the lock of the entry's
        // shard, so a lookup that missed an evicted entry sees the raise.
        let forgotten = || until <= self.forgotten_until();
        match self.proofs.get_value_or_guard(id, None) {
            quick_cache::sync::GuardResult::Value(seen_until) if seen_until >= now => {
                Err(Reuse::Seen)
            }
            quick_cache::sync::GuardResult::Value(_) if forgotten() => Err(Reuse::Forgotten),
            quick_cache::sync::GuardResult::Value(_) => {
                self.proofs.insert(*id, until);
                Ok(())
            }
            quick_cache::sync::GuardResult::Guard(_) if forgotten() => Err(Reuse::Forgotten),
            quick_cache::sync::GuardResult::Guard(guard) => {
                let _ = guard.insert(until);
                Ok(())
            }
            quick_cache::sync::GuardResult::Timeout => Err(Reuse::Seen),
        }
    }
}

/// Why a one-time credential was refused by the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Used within its window.
    Seen,
    /// Perhaps used: the memory forgot credentials this recent (a flood past its capacity).
    Forgotten,
}

/// Told of every proof the memory evicts: one evicted before its window ended raises the
/// horizon below which proofs are refused.
#[derive(Clone)]
pub(super) struct Forgetting {
    until: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl quick_cache::Lifecycle<ProofId, u64> for Forgetting {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: ProofId, until: u64) {
        let now = unix_now();
        if until < now {
            return;
        }
        let before = self
            .until
            .fetch_max(until, std::sync::atomic::Ordering::Relaxed);
        if before < now {
            tracing::warn!(
                "authstar-jwt: a replay memory (DPoP proofs or client assertions) is full \
                 within its window; older ones are refused until it is not (raise its \
                 replay_capacity if this is your load, not a flood)"
            );
        }
    }
}

/// The kinds of one-time credentials: each has a memory of its own, so that a flood of one
/// never shortens the other's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OneTimeKind {
    /// A DPoP proof's `jti` (RFC 9449 §11.1).
    DpopProof,
    /// A client assertion's `jti` (RFC 7523 §3, `private_key_jwt`).
    ClientAssertion,
}

/// Where a verifier announces the one-time credentials it accepted, so that other instances
/// refuse them too (authstar-redis's `RedisProofReplays` publishes them); they hand what they
/// hear to the verifier of that kind ([`HearsReplays`]).
pub trait ReplayShare: Send + Sync + 'static {
    /// A credential of `kind` was accepted here; it stays unusable until `until` (Unix
    /// seconds). Called on the request path: queue it, never wait.
    fn accepted(&self, kind: OneTimeKind, id: &ProofId, until: u64);
}

/// A verifier that remembers what other instances accepted: a
/// [`DpopVerifier`](super::DpopVerifier) (proofs) or a
/// [`ClientAssertionVerifier`](crate::ClientAssertionVerifier) (assertions).
pub trait HearsReplays: Clone + Send + Sync + 'static {
    /// The kind it remembers.
    const KIND: OneTimeKind;
    /// Remembers an id another instance accepted, until `until` (Unix seconds).
    fn heard(&self, id: &ProofId, until: u64);
}

/// The replay memory's key of a proof by the key `jkt` with `jti`.
pub(super) fn proof_id(jkt: &str, jti: &str) -> ProofId {
    digest(&["dpop", jkt, jti])
}

/// The replay memory's key of another one-time credential: a client assertion's `jti`, under
/// its `kind` and issuer, never equal to a proof's (whose parts are a thumbprint and a `jti`).
pub(crate) fn one_time_id(kind: &str, issuer: &str, jti: &str) -> ProofId {
    digest(&[kind, issuer, jti])
}

/// SHA-256 of `parts`, each preceded by its length: no two lists of parts give the same bytes
/// (joined by a separator, client `a` with `jti` `b.x` was client `a.b` with `jti` `x`).
fn digest(parts: &[&str]) -> ProofId {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(context.finish().as_ref());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_different_parts_never_collide() {
        // Joined by a separator, client `a` with `jti` `b.x` was client `a.b` with `jti` `x`.
        assert_ne!(
            one_time_id("private_key_jwt", "a", "b.x"),
            one_time_id("private_key_jwt", "a.b", "x")
        );
        // A proof's id and an assertion's never meet: their first part differs.
        assert_ne!(proof_id("k", "j"), one_time_id("private_key_jwt", "k", "j"));
    }
}

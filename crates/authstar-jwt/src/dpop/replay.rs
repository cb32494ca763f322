//! The replay memory: proofs accepted within their window, bounded, shared between instances
//! through a [`ReplayShare`].

use crate::unix_now;

/// A proof's identity in the replay memory: SHA-256 of its key's thumbprint and its `jti`
/// (fixed size, whatever the client put in `jti`; what instances exchange).
pub type ProofId = [u8; 32];

/// The proofs accepted within their window (each until its `until`, Unix seconds), and the
/// newest `until` among those it had to forget early, past its capacity.
#[derive(Clone)]
pub(super) struct ReplayMemory {
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
    pub(super) fn new(capacity: usize) -> Self {
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

    /// Proofs whose window ends at or before this may have been forgotten.
    pub(super) fn forgotten_until(&self) -> u64 {
        self.forgotten.load(std::sync::atomic::Ordering::Relaxed)
    }
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
                "authstar-jwt: the DPoP replay memory is full within its window; older proofs \
                 are refused until it is not (raise DpopVerifier::replay_capacity if this is \
                 your load, not a flood)"
            );
        }
    }
}

/// Where a [`DpopVerifier`](super::DpopVerifier) announces the proofs it accepted, so that other instances refuse
/// them too (authstar-redis's `RedisProofReplays` publishes them); they hand what they hear to
/// [`DpopVerifier::heard`](super::DpopVerifier::heard).
pub trait ReplayShare: Send + Sync + 'static {
    /// A proof was accepted here; it stays unusable until `until` (Unix seconds). Called on
    /// the request path: queue it, never wait.
    fn accepted(&self, id: &ProofId, until: u64);
}

/// The replay memory's key of a proof by the key `jkt` with `jti`.
pub(super) fn proof_id(jkt: &str, jti: &str) -> ProofId {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(jkt.as_bytes());
    context.update(b".");
    context.update(jti.as_bytes());
    let mut id = [0u8; 32];
    id.copy_from_slice(context.finish().as_ref());
    id
}

//! Following the database's revocations: each registry polls the revision, reads the change log
//! since the revision it saw and applies exactly those changes (a token refused, a key's or a
//! client's cache entries dropped, a client's or key's rate limit read again). A full reload
//! (every cache dropped, everything revoked read again) happens only when a registry fell
//! further behind than the log reaches, or the log holds a change a newer authstar wrote.
//!
//! The poll also tells how current this process's view is: a registry that has not heard from
//! its database for longer than its cache TTL cannot vouch for what was revoked elsewhere since,
//! and says so ([`Registry::revocations_current`](crate::Registry::revocations_current)).

use std::sync::Weak;

use std::time::Duration;

use crate::now;
use crate::registry::Shared;
use crate::store::{ChangeKind, REVOKED_KEPT_PAST_EXP};

/// How many changes one read of the log brings at most.
const BATCH: u32 = 1_000;

/// How often (in polls) expired revoked tokens are dropped from memory.
const SWEEP_EVERY: u32 = 240;

/// The `exp` from which revoked tokens still matter: a verifier with leeway accepts a token
/// that long after its `exp`, so a revocation is kept that much longer.
pub(crate) fn kept_since(now: u64) -> u64 {
    now.saturating_sub(REVOKED_KEPT_PAST_EXP)
}

/// Polls the revision until the registry is dropped, and applies what changed. A failed step
/// is retried at the next tick: a revision counts as seen only once its changes are applied.
pub(crate) async fn watch_revisions(shared: Weak<Shared>, interval: Duration, mut seen: u64) {
    // The revision was just read by `open`: the first look is one interval later.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(SWEEP_EVERY) {
            shared.revoked.forget_expired(now());
        }
        let revision = match shared.store.revision().await {
            Ok(revision) => revision,
            Err(error) => {
                tracing::warn!(%error, "authstar registry: revocation poll failed");
                continue;
            }
        };
        if revision != seen {
            match catch_up(&shared, seen, revision).await {
                Ok(applied) => seen = applied,
                Err(error) => {
                    tracing::warn!(%error, "authstar registry: reading revocations failed");
                    continue;
                }
            }
        }
        shared.sync.synced();
    }
}

/// Applies the changes after `seen` up to (at least) `revision`; the revision now applied.
async fn catch_up(
    shared: &Shared,
    mut seen: u64,
    revision: u64,
) -> Result<u64, crate::store::StoreError> {
    if revision < seen {
        // The revision went backwards: a restored database. Start over from its list.
        return reload(shared, revision).await;
    }
    while seen < revision {
        let changes = shared.store.changes_since(seen, BATCH).await?;
        let continues = changes
            .first()
            .is_some_and(|first| first.revision == seen + 1);
        let unknown = changes
            .iter()
            .any(|change| change.kind == ChangeKind::Unknown);
        if unknown {
            // Each such change costs every instance a reload (caches dropped): upgrade them
            // all before a newer one writes changes of new kinds.
            tracing::warn!(
                "authstar registry: the change log holds a change a newer authstar wrote; reloading everything"
            );
        }
        if !continues || unknown {
            // The log no longer reaches back to what this process saw, or holds a change a
            // newer authstar logged: start over from the whole list.
            return reload(shared, revision).await;
        }
        for change in &changes {
            match change.kind {
                ChangeKind::Limits => shared.reload_limit(&change.id).await?,
                ChangeKind::KeyLimits => shared.reload_key_limit(&change.id).await?,
                // A revoked (or rotated) key with a limit: read again, to drop it with the key.
                ChangeKind::Key if shared.limits.has_key(&change.id) => {
                    shared.reload_key_limit(&change.id).await?;
                }
                _ => {}
            }
            shared.apply(change);
            seen = change.revision;
        }
        tracing::debug!(
            revision = seen,
            changes = changes.len(),
            "authstar registry: revocations applied"
        );
    }
    Ok(seen.max(revision))
}

/// Drops every cache and reloads everything revoked, as of (at least) `revision`.
async fn reload(shared: &Shared, revision: u64) -> Result<u64, crate::store::StoreError> {
    shared.drop_caches();
    let list = shared.store.revocations(kept_since(now())).await?;
    shared.revoked.replace(list);
    shared.limits.replace(shared.store.rate_limits().await?);
    tracing::info!(
        revision,
        "authstar registry: behind the change log, reloaded every revocation"
    );
    Ok(revision)
}

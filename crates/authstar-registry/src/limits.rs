//! Each client's and each API key's own rate limit: stored in the registry, held in memory by
//! every instance (read at open, and again for a client or key whose limit the change log says
//! changed; dropped with a revoked key or client), and asked synchronously by a
//! [`RateLimitLayer`](authstar::ratelimit::RateLimitLayer)'s `per_client` and
//! `per_credential`.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use authstar::throttle::Budget;
use serde::{Deserialize, Serialize};

use crate::registry::Shared;
use crate::store::{LimitRow, StoreError};
use crate::{Registry, RegistryError};

/// A budget as stored: a burst, then one more request every `period_ms`.
#[derive(Serialize, Deserialize)]
struct Stored {
    burst: u32,
    period_ms: u64,
}

pub(crate) fn to_stored(budget: Budget) -> String {
    let period_ms = u64::try_from(budget.period().as_millis()).unwrap_or(u64::MAX);
    serde_json::json!({ "burst": budget.burst(), "period_ms": period_ms }).to_string()
}

pub(crate) fn from_stored(text: &str) -> Option<Budget> {
    let stored: Stored = serde_json::from_str(text).ok()?;
    let budget = Budget::per_period(stored.burst, Duration::from_millis(stored.period_ms));
    // A row written by hand beyond the bounds is no budget (never a clock overflow later).
    storable(budget).then_some(budget)
}

/// The most a stored budget may hold: a billion at once, refilled within a year (the stores'
/// clocks and Redis's millisecond expiries hold that with room to spare).
pub(crate) fn storable(budget: Budget) -> bool {
    const YEAR: Duration = Duration::from_secs(366 * 86_400);
    budget.burst() <= 1_000_000_000
        && budget
            .period()
            .checked_mul(budget.burst())
            .is_some_and(|window| window <= YEAR)
}

/// `Err(InvalidRateLimit)` for a budget [`storable`] refuses.
pub(crate) fn check_storable(budget: Option<Budget>) -> Result<(), RegistryError> {
    match budget {
        Some(budget) if !storable(budget) => Err(RegistryError::InvalidRateLimit),
        _ => Ok(()),
    }
}

/// The clients' own budgets, by client id, and the keys', by key id (with the key's client).
#[derive(Default)]
pub(crate) struct Limits {
    clients: RwLock<HashMap<Box<str>, Budget>>,
    keys: RwLock<HashMap<Box<str>, Owned>>,
}

/// A key's budget and the client it belongs to.
type Owned = (Box<str>, Budget);

impl Limits {
    pub(crate) fn get(&self, client_id: &str) -> Option<Budget> {
        let map = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        if map.is_empty() {
            return None;
        }
        map.get(client_id).copied()
    }

    /// Key `key_id`'s own budget, when it is a key of `client_id`.
    pub(crate) fn key(&self, client_id: &str, key_id: &str) -> Option<Budget> {
        let map = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        if map.is_empty() {
            return None;
        }
        match map.get(key_id) {
            Some((owner, budget)) if **owner == *client_id => Some(*budget),
            _ => None,
        }
    }

    pub(crate) fn has_key(&self, key_id: &str) -> bool {
        let map = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        !map.is_empty() && map.contains_key(key_id)
    }

    pub(crate) fn set(&self, client_id: &str, budget: Option<Budget>) {
        let mut map = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        match budget {
            Some(budget) => map.insert(client_id.into(), budget),
            None => map.remove(client_id),
        };
    }

    pub(crate) fn set_key(&self, key_id: &str, owned: Option<(&str, Budget)>) {
        let mut map = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        match owned {
            Some((client_id, budget)) => map.insert(key_id.into(), (client_id.into(), budget)),
            None => map.remove(key_id),
        };
    }

    /// A revoked client's budget and its keys'.
    pub(crate) fn forget_client(&self, client_id: &str) {
        self.set(client_id, None);
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.retain(|_, (owner, _)| **owner != *client_id);
    }

    pub(crate) fn replace(&self, rows: Vec<LimitRow>) {
        let (mut clients, mut keys) = (HashMap::new(), HashMap::new());
        for row in rows {
            let Some(budget) = from_stored(&row.limit) else {
                continue;
            };
            match row.key_id {
                None => clients.insert(row.client_id.into_boxed_str(), budget),
                Some(key_id) => keys
                    .insert(
                        key_id.into_boxed_str(),
                        (row.client_id.into_boxed_str(), budget),
                    )
                    .map(|(_, budget)| budget),
            };
        }
        *self.clients.write().unwrap_or_else(PoisonError::into_inner) = clients;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }
}

impl Shared {
    /// Reads a client's limit again (the change log said it changed).
    pub(crate) async fn reload_limit(&self, client_id: &str) -> Result<(), StoreError> {
        let row = self.store.client(client_id).await?;
        let budget = row
            .filter(|row| row.revoked_at.is_none())
            .and_then(|row| row.rate_limit.as_deref().and_then(from_stored));
        self.limits.set(client_id, budget);
        Ok(())
    }

    /// Reads a key's limit again (the change log said it, or the key, changed): gone with the
    /// key.
    pub(crate) async fn reload_key_limit(&self, key_id: &str) -> Result<(), StoreError> {
        let row = self.store.active_key(key_id).await?;
        let owned = row.as_ref().and_then(|row| {
            let budget = row.rate_limit.as_deref().and_then(from_stored)?;
            Some((row.client_id.as_str(), budget))
        });
        self.limits.set_key(key_id, owned);
        Ok(())
    }
}

impl Registry {
    /// A client's own rate limit, from memory (what a `RateLimitLayer`'s `per_client` asks on
    /// every request); `None` when it has none (the service's default applies).
    ///
    /// ```no_run
    /// # fn run(registry: authstar_registry::Registry, layer: &authstar::AuthstarLayer<authstar::AuthstarClient, impl authstar::MethodSet<authstar::AuthstarClient>>) {
    /// use authstar::{AuthstarClient, Client as _};
    /// let limits = authstar::ratelimit::RateLimitLayer::unlimited_by_default(layer)
    ///     .per_client(move |client: &AuthstarClient| registry.client_rate_limit(client.client_id()));
    /// # let _ = limits; }
    /// ```
    pub fn client_rate_limit(&self, client_id: &str) -> Option<Budget> {
        self.shared.limits.get(client_id)
    }

    /// Gives a client its own rate limit (or, with `None`, takes it away): here at once, on
    /// every other instance at its next poll. [`RegistryError::InvalidRateLimit`] for a burst
    /// over a billion or a window over a year.
    pub async fn set_client_rate_limit(
        &self,
        client_id: &str,
        budget: Option<Budget>,
    ) -> Result<(), RegistryError> {
        check_storable(budget)?;
        let stored = budget.map(to_stored);
        if !self
            .shared
            .store
            .set_client_rate_limit(client_id, stored.as_deref())
            .await?
        {
            return Err(RegistryError::UnknownClient(client_id.to_owned()));
        }
        self.shared.limits.set(client_id, budget);
        self.audit(
            "client.rate_limit",
            Some(client_id),
            client_id,
            detail(budget),
        )
        .await;
        Ok(())
    }

    /// An API key's own rate limit, from memory (what a `RateLimitLayer`'s `per_credential`
    /// asks on every request): `None` when the key has none, or is not a key of `client_id`.
    ///
    /// ```no_run
    /// # fn run(registry: authstar_registry::Registry, layer: &authstar::AuthstarLayer<authstar::AuthstarClient, impl authstar::MethodSet<authstar::AuthstarClient>>) {
    /// use authstar::{AuthstarClient, Client as _};
    /// let limits = authstar::ratelimit::RateLimitLayer::unlimited_by_default(layer)
    ///     .per_credential(move |client: &AuthstarClient, key_id: &str| {
    ///         registry.key_rate_limit(client.client_id(), key_id)
    ///     });
    /// # let _ = limits; }
    /// ```
    pub fn key_rate_limit(&self, client_id: &str, key_id: &str) -> Option<Budget> {
        self.shared.limits.key(client_id, key_id)
    }
}

/// A limit as the audit trail records it.
pub(crate) fn detail(budget: Option<Budget>) -> serde_json::Value {
    match budget {
        Some(budget) => serde_json::json!({
            "burst": budget.burst(),
            "period_ms": u64::try_from(budget.period().as_millis()).unwrap_or(u64::MAX),
        }),
        None => serde_json::json!({ "rate_limit": null }),
    }
}

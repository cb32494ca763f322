//! Each client's own rate limit: stored in the registry, held in memory by every instance (read
//! at open, and again for a client whose limit the change log says changed), and asked
//! synchronously by a [`RateLimitLayer`](authstar::ratelimit::RateLimitLayer)'s `per_client`.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use authstar::throttle::Budget;
use serde::{Deserialize, Serialize};

use crate::registry::Shared;
use crate::store::StoreError;
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
    Some(Budget::per_period(
        stored.burst,
        Duration::from_millis(stored.period_ms),
    ))
}

/// The clients' own budgets, by client id.
#[derive(Default)]
pub(crate) struct Limits(RwLock<HashMap<Box<str>, Budget>>);

impl Limits {
    pub(crate) fn get(&self, client_id: &str) -> Option<Budget> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if map.is_empty() {
            return None;
        }
        map.get(client_id).copied()
    }

    pub(crate) fn set(&self, client_id: &str, budget: Option<Budget>) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match budget {
            Some(budget) => map.insert(client_id.into(), budget),
            None => map.remove(client_id),
        };
    }

    pub(crate) fn replace(&self, rows: Vec<(String, String)>) {
        let fresh = rows
            .into_iter()
            .filter_map(|(id, text)| Some((id.into_boxed_str(), from_stored(&text)?)))
            .collect();
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = fresh;
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
    /// every other instance at its next poll.
    pub async fn set_client_rate_limit(
        &self,
        client_id: &str,
        budget: Option<Budget>,
    ) -> Result<(), RegistryError> {
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
        let detail = match budget {
            Some(budget) => serde_json::json!({
                "burst": budget.burst(),
                "period_ms": u64::try_from(budget.period().as_millis()).unwrap_or(u64::MAX),
            }),
            None => serde_json::json!({ "rate_limit": null }),
        };
        self.audit("client.rate_limit", Some(client_id), client_id, detail)
            .await;
        Ok(())
    }
}

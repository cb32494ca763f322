//! Changes to an API key that keeps working: its own rate limit and its expiry. Each is one
//! transaction with its change-log entry (every instance reads the limit again, or drops the
//! key's cached checks), applied here at once, and recorded in the audit trail.

use authstar::throttle::Budget;

use crate::keys::KeyEnd;
use crate::limits::{check_storable, detail, to_stored};
use crate::store::{KeyRow, KeyUpdate};
use crate::{Registry, RegistryError, now};

impl Registry {
    /// Gives an active API key its own rate limit, counted besides its client's (or, with
    /// `None`, takes it away): here at once, on every other instance at its next poll. A key
    /// rotated from it keeps it. [`RegistryError::UnknownKey`] for a key that is unknown,
    /// revoked or expired, or whose client is revoked; [`RegistryError::InvalidRateLimit`] for
    /// a burst over a billion or a window over a year.
    ///
    /// ```no_run
    /// # async fn run(registry: authstar_registry::Registry) -> Result<(), authstar_registry::RegistryError> {
    /// use std::time::Duration;
    /// use authstar::throttle::Budget;
    /// // The nightly job's key: 60 at once, then one a second, whatever its client may do.
    /// let budget = Budget::per_period(60, Duration::from_secs(1));
    /// registry.set_key_rate_limit("3f2a9c1d7b44", Some(budget)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_key_rate_limit(
        &self,
        key_id: &str,
        budget: Option<Budget>,
    ) -> Result<(), RegistryError> {
        check_storable(budget)?;
        let stored = budget.map(to_stored);
        let key = self
            .update_working_key(key_id, KeyUpdate::RateLimit(stored.as_deref()))
            .await?;
        let client_id = key.client_id.as_str();
        self.shared
            .limits
            .set_key(key_id, budget.map(|budget| (client_id, budget)));
        self.audit("key.rate_limit", Some(client_id), key_id, detail(budget))
            .await;
        Ok(())
    }

    /// Sets when an active API key stops working, at `end` (a lifetime from now or a Unix
    /// time, within [`MAX_KEY_LIFETIME`](crate::MAX_KEY_LIFETIME) of now), or with `None` lets it work until revoked: sooner or later than
    /// it was to end. Here at once, on every other instance at its next poll (each drops the
    /// key's cached checks). [`RegistryError::InvalidKeyLifetime`] for an end not in the
    /// future or too far in it; [`RegistryError::UnknownKey`] for a key that is unknown, revoked or expired
    /// (an expired key stays expired: create or rotate another), whose client is revoked, or
    /// that a rotation replaced (it keeps the overlap's end: revoke it to end it sooner).
    ///
    /// ```no_run
    /// # async fn run(registry: authstar_registry::Registry) -> Result<(), authstar_registry::RegistryError> {
    /// use std::time::Duration;
    /// // The contractor's key ends in a week, whatever it was set to before.
    /// let expires_at = registry
    ///     .set_key_expiry("3f2a9c1d7b44", Some(Duration::from_secs(7 * 86_400).into()))
    ///     .await?;
    /// # let _ = expires_at; Ok(()) }
    /// ```
    pub async fn set_key_expiry(
        &self,
        key_id: &str,
        end: Option<KeyEnd>,
    ) -> Result<Option<u64>, RegistryError> {
        let expires_at = end.map(|end| end.at(now())).transpose()?;
        let key = self
            .update_working_key(key_id, KeyUpdate::Expiry(expires_at))
            .await?;
        self.shared.drop_key(key_id);
        let detail = serde_json::json!({ "expires_at": expires_at });
        self.audit("key.expiry", Some(&key.client_id), key_id, detail)
            .await;
        Ok(expires_at)
    }

    /// Applies `update` to a key that works now (active, unexpired, its client active): the
    /// key as it was, or `UnknownKey`.
    async fn update_working_key(
        &self,
        key_id: &str,
        update: KeyUpdate<'_>,
    ) -> Result<KeyRow, RegistryError> {
        let unknown = || RegistryError::UnknownKey(key_id.to_owned());
        let Some(key) = self.shared.store.active_key(key_id).await? else {
            return Err(unknown());
        };
        if key.expires_at.is_some_and(|at| at <= now()) {
            return Err(unknown());
        }
        if !self.shared.store.update_key(key_id, update).await? {
            return Err(unknown());
        }
        Ok(key)
    }
}

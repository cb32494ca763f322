//! The audit trail: every change to a client or key and every token revocation, appended to
//! the registry's `audit_log` with who made it (the handle's actor, [`Registry::acting_as`]),
//! what and when, and emitted as a structured log event (target `authstar::audit`). Never a
//! secret: ids, scopes, methods, expiries.

use std::sync::Arc;

use serde_json::Value;

use crate::store::{AuditQuery, AuditRow};
use crate::{Registry, RegistryError, now};

/// The actor of a registry handle nobody named.
pub const LIBRARY_ACTOR: &str = "library";

/// The longest page of the audit log, of clients or of keys.
pub const MAX_PAGE: u32 = 1_000;

impl Registry {
    /// This registry, its changes recorded as made by `actor` (`cli`, `admin:<client id>`,
    /// `client:<client id>`, or your own); cheap (the registry is shared).
    ///
    /// ```no_run
    /// # async fn run(registry: authstar_registry::Registry) -> Result<(), authstar_registry::RegistryError> {
    /// registry.acting_as("admin:ops").revoke_client("reports-job").await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn acting_as(&self, actor: impl AsRef<str>) -> Registry {
        Registry {
            shared: Arc::clone(&self.shared),
            actor: Arc::from(actor.as_ref()),
        }
    }

    /// Who this handle's changes are recorded as.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Records `action` on `target` (of `client_id`) with `detail`, after the change was made:
    /// a structured log event always, and a row of the audit log. A row that cannot be written
    /// (the database failing right after the change) is logged as an error, not returned: the
    /// change itself stands.
    pub(crate) async fn audit(
        &self,
        action: &str,
        client_id: Option<&str>,
        target: &str,
        detail: Value,
    ) {
        let detail = detail.to_string();
        tracing::info!(
            target: "authstar::audit",
            actor = %self.actor,
            action,
            client_id = client_id.unwrap_or(""),
            target_id = target,
            detail = %detail,
            "authstar-registry: audit"
        );
        let row = AuditRow {
            seq: 0,
            at: now(),
            actor: self.actor.to_string(),
            action: action.to_owned(),
            client_id: client_id.map(str::to_owned),
            target: target.to_owned(),
            detail,
        };
        if let Err(error) = self.shared.store.append_audit(&row).await {
            tracing::error!(%error, action, target, "authstar-registry: the audit row was not written");
        }
    }

    /// A page of the audit log in the order it was written: from `query.since`, after the
    /// entry numbered `query.after` (the last `seq` of the previous page), of
    /// `query.client_id` only if given; at most `query.limit` entries (capped at
    /// [`MAX_PAGE`]). A reader that follows the numbers misses nothing: an entry is numbered
    /// when it commits.
    pub async fn audit_log(&self, mut query: AuditQuery) -> Result<Vec<AuditRow>, RegistryError> {
        query.limit = query.limit.clamp(1, MAX_PAGE);
        // Stored as signed 64-bit: anything beyond is "the end of time".
        let end = i64::MAX as u64;
        query.since = query.since.min(end);
        query.after = query.after.map(|after| after.min(end));
        Ok(self.shared.store.audit_page(&query).await?)
    }
}

//! `authstar audit`: the audit trail, oldest first, a page at a time.

use std::time::Duration;

use authstar_cli::registry::Registry;
use authstar_cli::registry::store::AuditQuery;
use clap::Args;

use crate::{CliError, duration, print_json};

#[derive(Args)]
pub(crate) struct AuditArgs {
    /// Only what happened within this long (90s, 15m, 24h, 30d).
    #[arg(long, value_parser = duration)]
    since: Option<Duration>,
    /// Only what concerns this client (and its keys and tokens).
    #[arg(long)]
    client: Option<String>,
    /// Start after this entry (`AT:ID`, the last of the previous page, as printed).
    #[arg(long)]
    after: Option<String>,
    /// At most this many (default 100).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn audit(args: AuditArgs, registry: &Registry) -> Result<(), CliError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut query = AuditQuery::default();
    query.since = args
        .since
        .map_or(0, |ago| now.saturating_sub(ago.as_secs()));
    query.client_id = args.client;
    query.limit = args.limit;
    if let Some(after) = args.after {
        let cursor = after
            .split_once(':')
            .and_then(|(at, id)| Some((at.parse().ok()?, id.to_owned())));
        let Some(cursor) = cursor else {
            return Err(CliError::Message(format!(
                "--after {after:?}: write AT:ID, as printed"
            )));
        };
        query.after = Some(cursor);
    }
    let entries = registry.audit_log(query).await?;
    if args.json {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "at": e.at, "id": e.id, "actor": e.actor, "action": e.action,
                    "client_id": e.client_id, "target": e.target,
                    "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default(),
                })
            })
            .collect();
        return print_json(&rows);
    }
    for e in &entries {
        let client = e.client_id.as_deref().unwrap_or("");
        println!(
            "{}:{}\t{}\t{}\t{client}\t{}\t{}",
            e.at, e.id, e.actor, e.action, e.target, e.detail
        );
    }
    Ok(())
}

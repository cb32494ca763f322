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
    /// Start after this entry (its number, the first column, as printed).
    #[arg(long)]
    after: Option<u64>,
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
    query.after = args.after;
    let entries = registry.audit_log(query).await?;
    if args.json {
        let rows: Vec<_> = entries.iter().map(authstar_cli::demo::audit_json).collect();
        return print_json(&rows);
    }
    for e in &entries {
        let client = e.client_id.as_deref().unwrap_or("");
        println!(
            "{}\t{}\t{}\t{}\t{client}\t{}\t{}",
            e.seq, e.at, e.actor, e.action, e.target, e.detail
        );
    }
    Ok(())
}

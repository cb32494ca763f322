//! `authstar keys`: create (with an expiry and a name), list (paged), rotate with an overlap,
//! revoke.

use std::time::Duration;

use authstar_cli::registry::{KeyOptions, KeyRecord, Registry};
use clap::Subcommand;

use crate::{CliError, duration, print_json, show_created};

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create an API key for a client; the key is shown once.
    Create {
        /// The owning client.
        #[arg(long)]
        client_id: String,
        /// A scope (repeat for several; default: the client's).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// How long it works (90s, 15m, 24h, 30d); default: until revoked.
        #[arg(long, value_parser = duration)]
        expires_in: Option<Duration>,
        /// A name for it (never a secret).
        #[arg(long)]
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List API keys (never the keys themselves), by key id, a page at a time.
    List {
        /// Start after this key id (the last of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// At most this many (default: all, read a page at a time).
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON (one array per page read).
        #[arg(long)]
        json: bool,
    },
    /// Replace a key with a new one for the same client, scopes and name; the old one keeps
    /// working for the overlap, so its users switch with no outage.
    Rotate {
        /// The key id.
        key_id: String,
        /// How long the old key keeps working (default 24h).
        #[arg(long, value_parser = duration, default_value = "24h")]
        overlap: Duration,
        /// How long the new key works; default: until revoked.
        #[arg(long, value_parser = duration)]
        expires_in: Option<Duration>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give a key its own rate limit (N requests per window: 600/60s), counted besides its
    /// client's, or take it away (--none); every instance at its next poll. A key rotated from
    /// it keeps it.
    SetRateLimit {
        /// The key id.
        key_id: String,
        /// Its budget: N/WINDOW.
        #[arg(long, value_parser = crate::rate, required_unless_present = "none", conflicts_with = "none")]
        rate: Option<authstar::throttle::Budget>,
        /// No limit of its own.
        #[arg(long)]
        none: bool,
    },
    /// Set when a key stops working (from now), or let it work until revoked (--never);
    /// every instance at its next poll. An expired key stays expired.
    SetExpiry {
        /// The key id.
        key_id: String,
        /// How long it works from now (90s, 15m, 24h, 30d).
        #[arg(long, value_parser = duration, required_unless_present = "never", conflicts_with = "never")]
        expires_in: Option<Duration>,
        /// No end: until revoked.
        #[arg(long)]
        never: bool,
    },
    /// Revoke an API key.
    Revoke {
        /// The key id.
        key_id: String,
    },
}

/// What a client or key's own rate limit now is, as `set-rate-limit` reports it.
pub(crate) fn print_limit(what: &str, rate: Option<authstar::throttle::Budget>) {
    match rate {
        Some(budget) => println!(
            "{what}: {} at once, then one every {:?}",
            budget.burst(),
            budget.period()
        ),
        None => println!("{what}: no limit of its own"),
    }
}

/// A key's state: active, expired or revoked.
fn state_of(key: &KeyRecord) -> &'static str {
    match (key.revoked, key.expired) {
        (true, _) => "revoked",
        (false, true) => "expired",
        (false, false) => "active",
    }
}

pub(crate) async fn keys(command: KeysCommand, registry: &Registry) -> Result<(), CliError> {
    match command {
        KeysCommand::Create {
            client_id,
            scopes,
            expires_in,
            name,
            json,
        } => {
            let mut options = KeyOptions::default().scopes(scopes);
            if let Some(lifetime) = expires_in {
                options = options.expires_in(lifetime);
            }
            if let Some(name) = name {
                options = options.name(name);
            }
            let created = registry.create_key_with(&client_id, options).await?;
            let scopes = created.scopes.join(" ");
            let expires = created
                .expires_at
                .map(|at| at.to_string())
                .unwrap_or_default();
            let fields = [
                ("key_id", created.key_id.as_str()),
                ("key", created.key.as_str()),
                ("client_id", created.client_id.as_str()),
                ("scopes", scopes.as_str()),
                ("expires_at", expires.as_str()),
            ];
            show_created(&created, json, &fields, "key")
        }
        KeysCommand::List { after, limit, json } => {
            // A page at a time: memory stays that of one page, whatever the number of keys.
            let mut after = after;
            let mut left = limit.unwrap_or(u32::MAX);
            while left > 0 {
                let page = registry
                    .key_page(after.as_deref(), left.min(authstar_cli::registry::MAX_PAGE))
                    .await?;
                if json {
                    print_json(&page)?;
                } else {
                    for key in &page {
                        let fields = [
                            key.key_id.as_str(),
                            key.client_id.as_str(),
                            state_of(key),
                            &key.scopes.join(" "),
                            &key.expires_at.map(|at| at.to_string()).unwrap_or_default(),
                            key.name.as_deref().unwrap_or(""),
                            key.replaces.as_deref().unwrap_or(""),
                            &key.rate_limit
                                .as_ref()
                                .map(|limit| limit.to_string())
                                .unwrap_or_default(),
                        ];
                        println!("{}", fields.join("\t"));
                    }
                }
                let read = u32::try_from(page.len()).unwrap_or(u32::MAX);
                match page.last() {
                    Some(last) if read == left.min(authstar_cli::registry::MAX_PAGE) => {
                        after = Some(last.key_id.clone());
                        left -= read;
                    }
                    _ => break,
                }
            }
            Ok(())
        }
        KeysCommand::Rotate {
            key_id,
            overlap,
            expires_in,
            json,
        } => {
            let created = registry
                .rotate_key(&key_id, overlap, expires_in.map(Into::into))
                .await?;
            let until = created
                .replaced_until
                .map(|at| at.to_string())
                .unwrap_or_default();
            let fields = [
                ("key_id", created.key_id.as_str()),
                ("key", created.key.as_str()),
                ("replaces", key_id.as_str()),
                ("old_key_until", until.as_str()),
            ];
            show_created(&created, json, &fields, "key")
        }
        KeysCommand::SetRateLimit { key_id, rate, .. } => {
            registry.set_key_rate_limit(&key_id, rate).await?;
            print_limit(&format!("key {key_id}"), rate);
            Ok(())
        }
        KeysCommand::SetExpiry {
            key_id, expires_in, ..
        } => {
            match registry
                .set_key_expiry(&key_id, expires_in.map(Into::into))
                .await?
            {
                Some(at) => println!("key {key_id}: expires at {at}"),
                None => println!("key {key_id}: works until revoked"),
            }
            Ok(())
        }
        KeysCommand::Revoke { key_id } => {
            registry.revoke_key(&key_id).await?;
            println!("revoked key {key_id}");
            Ok(())
        }
    }
}

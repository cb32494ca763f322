//! What is revoked, in memory: revoked token ids and revoked clients, read from the store
//! whenever the revision moves, so a token verifier asks memory, never the database.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use authstar_jwt::TokenStamp;

use crate::store::RevocationList;

type Map = HashMap<Box<str>, u64, foldhash::fast::RandomState>;
type Set = HashSet<Box<str>, foldhash::fast::RandomState>;

/// One snapshot: replaced whole, read without a lock.
#[derive(Default)]
struct Snapshot {
    /// `jti` → `exp`.
    tokens: Map,
    /// Revoked clients.
    clients: Set,
}

/// The revoked tokens and clients this process knows of.
#[derive(Default)]
pub(crate) struct RevocationSet {
    current: ArcSwap<Snapshot>,
}

fn map(pairs: Vec<(String, u64)>) -> Map {
    pairs
        .into_iter()
        .map(|(id, at)| (id.into_boxed_str(), at))
        .collect()
}

impl RevocationSet {
    /// Replaces what is known with the store's list.
    pub(crate) fn replace(&self, list: RevocationList) {
        self.current.store(Arc::new(Snapshot {
            tokens: map(list.tokens),
            clients: list
                .clients
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
        }));
    }

    /// Adds what this process has just revoked, before the next reload brings it (read your
    /// own writes). A reload already under way may drop it again until the one after: within
    /// the poll interval, as on every other instance.
    pub(crate) fn add_token(&self, jti: &str, expires_at: u64) {
        self.current.rcu(|snapshot| {
            let mut tokens = snapshot.tokens.clone();
            tokens.insert(jti.into(), expires_at);
            Snapshot {
                tokens,
                clients: snapshot.clients.clone(),
            }
        });
    }

    /// Adds a client revoked here.
    pub(crate) fn add_client(&self, client_id: &str) {
        self.current.rcu(|snapshot| {
            let mut clients = snapshot.clients.clone();
            clients.insert(client_id.into());
            Snapshot {
                tokens: snapshot.tokens.clone(),
                clients,
            }
        });
    }

    /// Whether a token is revoked: by its `jti`, or because its client is. A revoked client is
    /// never restored and its id never reused, so every token it holds was issued before the
    /// revocation (or raced it): all are refused, whatever their `iat`.
    pub(crate) fn is_revoked(&self, token: &TokenStamp<'_>) -> bool {
        let snapshot = self.current.load();
        if snapshot.tokens.is_empty() && snapshot.clients.is_empty() {
            return false;
        }
        snapshot.tokens.contains_key(token.jti) || snapshot.clients.contains(token.client_id)
    }

    /// Whether a client is known to be revoked.
    pub(crate) fn is_client_revoked(&self, client_id: &str) -> bool {
        self.current.load().clients.contains(client_id)
    }

    /// How many revoked tokens are remembered.
    #[cfg(test)]
    pub(crate) fn tokens(&self) -> usize {
        self.current.load().tokens.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp<'a>(jti: &'a str, client_id: &'a str, iat: u64) -> TokenStamp<'a> {
        TokenStamp {
            jti,
            client_id,
            iat,
        }
    }

    #[test]
    fn tokens_by_jti_and_every_token_of_a_revoked_client() {
        let set = RevocationSet::default();
        assert!(!set.is_revoked(&stamp("a", "svc", 10)));
        let mut list = RevocationList::default();
        list.tokens.push(("a".into(), 100));
        list.clients.push("gone".into());
        set.replace(list);
        assert!(set.is_revoked(&stamp("a", "svc", 10)));
        assert!(!set.is_revoked(&stamp("b", "svc", 10)));
        assert!(set.is_revoked(&stamp("b", "gone", 49)));
        assert!(set.is_revoked(&stamp("b", "gone", u64::MAX)));
        set.add_token("c", 100);
        set.add_client("later");
        assert!(set.is_revoked(&stamp("c", "svc", 10)));
        assert!(set.is_revoked(&stamp("x", "later", 60)));
        assert_eq!(set.tokens(), 2);
        set.replace(RevocationList::default());
        assert!(!set.is_revoked(&stamp("a", "svc", 10)));
    }
}

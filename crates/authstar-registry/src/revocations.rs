//! What is revoked, in memory: revoked token ids and revoked clients, so a token verifier asks
//! memory, never the database. Loaded whole when a registry opens (or when it fell behind the
//! change log); after that each revocation adds one entry, here or as the change log brings it
//! from another instance, and expired tokens leave on their own.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use authstar_jwt::TokenStamp;

use crate::store::{REVOKED_KEPT_PAST_EXP, RevocationList};

type Map = HashMap<Box<str>, u64, foldhash::fast::RandomState>;
type Set = HashSet<Box<str>, foldhash::fast::RandomState>;

/// Token shards: a revocation write-locks one of them, never the whole set.
const SHARDS: usize = 16;

/// The revoked tokens and clients this process knows of.
pub(crate) struct RevocationSet {
    /// `jti` → `exp`, sharded by the `jti`'s hash.
    tokens: Box<[RwLock<Map>]>,
    /// Revoked clients (never restored, their ids never reused).
    clients: RwLock<Set>,
    /// Whether anything is revoked at all: a verifier with nothing to look up takes no lock.
    any: AtomicBool,
    hasher: foldhash::fast::RandomState,
}

impl Default for RevocationSet {
    fn default() -> Self {
        Self {
            tokens: (0..SHARDS).map(|_| RwLock::new(Map::default())).collect(),
            clients: RwLock::new(Set::default()),
            any: AtomicBool::new(false),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl RevocationSet {
    fn shard(&self, jti: &str) -> &RwLock<Map> {
        &self.tokens[(self.hasher.hash_one(jti) as usize) % SHARDS]
    }

    /// Replaces what is known with the store's whole list (at start, or after falling behind
    /// the change log).
    pub(crate) fn replace(&self, list: RevocationList) {
        let any = !list.tokens.is_empty() || !list.clients.is_empty();
        let mut shards: Vec<Map> = (0..SHARDS).map(|_| Map::default()).collect();
        for (jti, exp) in list.tokens {
            let index = (self.hasher.hash_one(jti.as_str()) as usize) % SHARDS;
            shards[index].insert(jti.into_boxed_str(), exp);
        }
        for (shard, tokens) in self.tokens.iter().zip(shards) {
            *write(shard) = tokens;
        }
        *write(&self.clients) = list
            .clients
            .into_iter()
            .map(String::into_boxed_str)
            .collect();
        self.any.store(any, Ordering::Release);
    }

    /// Adds a revoked token, refused until `exp` plus the margin every verifier's leeway fits
    /// in. One shard is locked for the insert; nothing is copied.
    pub(crate) fn add_token(&self, jti: &str, exp: u64) {
        write(self.shard(jti)).insert(jti.into(), exp);
        self.any.store(true, Ordering::Release);
    }

    /// Adds a revoked client.
    pub(crate) fn add_client(&self, client_id: &str) {
        write(&self.clients).insert(client_id.into());
        self.any.store(true, Ordering::Release);
    }

    /// Drops the tokens whose `exp` is more than the margin behind `now`: a verifier refuses
    /// them anyway. Revoked clients stay.
    pub(crate) fn forget_expired(&self, now: u64) {
        for shard in self.tokens.iter() {
            let expired = read(shard)
                .values()
                .any(|exp| exp.saturating_add(REVOKED_KEPT_PAST_EXP) < now);
            if expired {
                write(shard).retain(|_, exp| exp.saturating_add(REVOKED_KEPT_PAST_EXP) >= now);
            }
        }
    }

    /// Whether a token is revoked: by its `jti`, or because its client is. A revoked client is
    /// never restored and its id never reused, so every token it holds was issued before the
    /// revocation (or raced it): all are refused, whatever their `iat`.
    pub(crate) fn is_revoked(&self, token: &TokenStamp<'_>) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        read(self.shard(token.jti)).contains_key(token.jti)
            || self.is_client_revoked(token.client_id)
    }

    /// Whether a client is known to be revoked.
    pub(crate) fn is_client_revoked(&self, client_id: &str) -> bool {
        self.any.load(Ordering::Acquire) && read(&self.clients).contains(client_id)
    }

    /// How many revoked tokens are remembered.
    #[cfg(test)]
    pub(crate) fn tokens(&self) -> usize {
        self.tokens.iter().map(|shard| read(shard).len()).sum()
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

    #[test]
    fn revoked_tokens_are_kept_past_exp_by_the_margin_then_forgotten() {
        let set = RevocationSet::default();
        set.add_token("t", 1_000);
        set.forget_expired(1_000 + REVOKED_KEPT_PAST_EXP);
        assert!(
            set.is_revoked(&stamp("t", "svc", 0)),
            "a verifier with leeway still accepts it this late"
        );
        set.forget_expired(1_001 + REVOKED_KEPT_PAST_EXP);
        assert!(!set.is_revoked(&stamp("t", "svc", 0)));
        assert_eq!(set.tokens(), 0);
    }
}

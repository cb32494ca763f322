//! What is revoked, in memory: revoked token ids and revoked clients, so a token verifier asks
//! memory, never the database. Loaded whole when a registry opens (or when it fell behind the
//! change log); after that each revocation adds one entry, here or as the change log brings it
//! from another instance, and expired tokens leave on their own.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use authstar_jwt::TokenStamp;

use crate::store::RevokedToken;
use crate::store::{REVOKED_KEPT_PAST_EXP, RevocationList};
use crate::{Registry, RegistryError, now};

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

impl Registry {
    /// Revokes an access token by its `jti` until its `exp` (RFC 7009): at once here, within
    /// the poll interval on every other instance. Revoking twice is not an error.
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: u64,
    ) -> Result<(), RegistryError> {
        let token = RevokedToken::new(jti.to_owned(), client_id.to_owned(), expires_at);
        self.shared.store.revoke_token(&token, now()).await?;
        self.shared.revoked.add_token(jti, expires_at);
        let detail = serde_json::json!({ "expires_at": expires_at });
        self.audit("token.revoke", Some(client_id), jti, detail)
            .await;
        Ok(())
    }

    /// Whether `client_id` is revoked, from memory: at once for a revocation made through this
    /// registry, within the poll interval for one made anywhere else (the moment this
    /// registry's caches drop that client's cached checks too). For a request whose credentials
    /// were just checked (cached or not), this is the revocation check that needs no database
    /// read.
    pub fn is_revoked_client(&self, client_id: &str) -> bool {
        self.shared.revoked.is_client_revoked(client_id)
    }

    /// Whether what this registry knows of revocations is current: it heard from its database
    /// within its cache TTL (at least [`MIN_REVOCATION_STALENESS`](crate::MIN_REVOCATION_STALENESS), and at least one poll
    /// interval plus two call timeouts: what one slow poll may take). While the database is
    /// unreachable, cached client and key checks keep working until their TTL; a token
    /// verifier consulting this registry must not accept tokens longer than that either (a
    /// client revoked on another instance would keep its tokens), so
    /// [`Revocations::is_current`](authstar_jwt::Revocations::is_current) answers this, and
    /// the verifier answers 503 rather than vouch for a token it cannot check.
    pub fn revocations_current(&self) -> bool {
        self.shared.sync.is_current()
    }
}

/// Tokens revoked through [`Registry::revoke_token`] and the tokens of revoked clients, from
/// memory (reloaded when the revision moves): hand a registry to
/// [`JwtVerifierBuilder::revocations`](authstar_jwt::JwtVerifierBuilder::revocations).
impl authstar_jwt::Revocations for Registry {
    fn is_revoked(&self, token: &authstar_jwt::TokenStamp<'_>) -> bool {
        self.shared.revoked.is_revoked(token)
    }

    fn is_current(&self) -> bool {
        self.revocations_current()
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

//! Failed-authentication throttling: the brute-force protection RFC 6749 §2.3.1 asks of a
//! server that checks passwords, for every credential the layer reads.
//!
//! Only **failures** count (a credential the authenticator rejected), twice: per client
//! address and per claimed identity (the Basic user name, an API key's id). When either budget
//! is spent, the layer answers `429 Too Many Requests` with `Retry-After` **without calling the
//! authenticator**, so a password-guessing flood costs a hash-table lookup, not a password hash.
//! Successful requests are never slowed, and a client that is locked out gets in again as soon
//! as its budget refills.
//!
//! Each budget is a leaky bucket (GCRA): `burst` failures at once, then one more every
//! `period`. The defaults are meant not to punish normal use:
//!
//! * **per address: 100 failures, then 100 a minute.** Many clients share one address behind a
//!   NAT or a corporate proxy, and a few of them with a stale key must not lock out the rest; an
//!   attacker on one address still gets at most 144 000 guesses a day, spread over every
//!   identity, instead of ~8 000 a second.
//! * **per identity: 10 failures, then 5 a minute.** A person or a deploy script that mistypes a
//!   secret a few times is not locked out; guessing one client's secret from many addresses is
//!   held to 7 200 tries a day. Generated secrets (256 random bits) are out of reach anyway; the
//!   budget protects the low-entropy secrets users import.
//!
//! **A locked identity is not a denial of service.** Client ids are not secrets (RFC 6749 §2.2),
//! so a lock that refused every request for an id would let anyone shut a client out by sending
//! a few wrong secrets for it. While an identity is locked, only addresses that recently failed
//! *for that identity* are refused (a failure marks the pair for ten minutes); a client calling
//! from a clean address still gets its secret checked. A guesser spread over many addresses
//! gets one try per address per ten minutes for that identity, each address also held by its
//! own budget. Without [`client_address`](FailureThrottle::client_address) a locked identity
//! is refused from everywhere.
//!
//! The identity a credential claims comes from its method: a Basic user name, or what a named
//! header's [`identity`](crate::HeaderAuth::identity) function finds (an API key's id); a
//! bearer token claims none, so only its address is counted.
//!
//! Counters live behind [`ThrottleStore`]; [`MemoryStore`] (the default) keeps them in bounded
//! memory, whatever the number of addresses and identities an attacker makes up.
//!
//! ```
//! use std::net::SocketAddr;
//! use authstar::throttle::FailureThrottle;
//! use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
//!
//! let layer = AuthstarLayer::builder()
//!     .on_auth_basic(|c: BasicCredentials| async move {
//!         (c.password() == "right").then(|| AuthstarClient::new(c.username(), ["read"]))
//!     })
//!     // Where the client's address is, for the throttle and the guards alike: here a
//!     // `SocketAddr` an outer layer inserted (under axum: `authstar_axum::peer_address`).
//!     .peer_address(|extensions| extensions.get::<SocketAddr>().map(|a| a.ip()))
//!     .throttle(FailureThrottle::new())
//!     .build()
//!     .unwrap();
//! # let _ = layer;
//!
//! // A throttle that could not tell addresses apart would let one guesser lock a client out
//! // for everyone: refused.
//! let blind = AuthstarLayer::builder()
//!     .on_auth_basic(|_: BasicCredentials| async { None::<AuthstarClient> })
//!     .throttle(FailureThrottle::new())
//!     .build();
//! assert_eq!(blind.unwrap_err(), authstar::ConfigError::ThrottleWithoutAddresses);
//! ```

mod store;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{CACHE_CONTROL, RETRY_AFTER};
use http::{Extensions, HeaderMap, HeaderValue, Response, StatusCode};

use crate::network::Addresses;

pub use store::{Budget, MemoryStore, ThrottleKey, ThrottleStore};
use store::{Digest, PAIR_MEMORY};

/// The counters one request touches.
struct Keys<'a> {
    address: Option<(ThrottleKey<'a>, Budget)>,
    identity: Option<(ThrottleKey<'a>, Budget)>,
    pair: Option<(ThrottleKey<'a>, Budget)>,
}

type AddressFn = Arc<dyn Fn(&Extensions, &HeaderMap) -> Option<IpAddr> + Send + Sync>;

/// Failed-authentication throttling for [`AuthstarLayerBuilder::throttle`](crate::AuthstarLayerBuilder::throttle);
/// see the [module documentation](self).
#[derive(Clone)]
pub struct FailureThrottle {
    per_address: Option<Budget>,
    per_identity: Option<Budget>,
    address: Option<AddressFn>,
    store: Arc<dyn ThrottleStore>,
}

impl fmt::Debug for FailureThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureThrottle")
            .field("per_address", &self.per_address)
            .field("per_identity", &self.per_identity)
            .field("client_address", &self.address.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for FailureThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl FailureThrottle {
    /// The default budgets (per address 100 then 100/min, per identity 10 then 5/min) in a
    /// [`MemoryStore`], counting the addresses its layer finds.
    pub fn new() -> Self {
        Self {
            per_address: Some(Budget::new(100, 100)),
            per_identity: Some(Budget::new(10, 5)),
            address: None,
            store: Arc::new(MemoryStore::default()),
        }
    }

    /// The per-address budget; `None` turns per-address counting off.
    pub fn per_address(mut self, budget: Option<Budget>) -> Self {
        self.per_address = budget;
        self
    }

    /// The per-identity budget; `None` turns per-identity counting off.
    pub fn per_identity(mut self, budget: Option<Budget>) -> Self {
        self.per_identity = budget;
        self
    }

    /// Where the counters live (default: a [`MemoryStore`] of 65 536 entries).
    pub fn store(mut self, store: impl ThrottleStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// How to find the client's address in a request (the peer, or the address trusted proxies
    /// name). By default the throttle finds it as its layer does
    /// ([`peer_address`](crate::AuthstarLayerBuilder::peer_address) and
    /// [`trusted_proxies`](crate::AuthstarLayerBuilder::trusted_proxies)); a layer whose
    /// throttle counts identities with neither is refused when built
    /// ([`ConfigError::ThrottleWithoutAddresses`](crate::ConfigError::ThrottleWithoutAddresses)).
    pub fn client_address<F>(mut self, address: F) -> Self
    where
        F: Fn(&Extensions, &HeaderMap) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.address = Some(Arc::new(address));
        self
    }

    /// How an identity appears in this process's log lines (`basic identity #…`): a digest
    /// under a key random to the process, never the value, which may be a secret a client
    /// sent in the wrong place. To see whether a lockout in the log is about a given client,
    /// compare this, in the same process, with what was logged.
    ///
    /// ```
    /// use authstar::throttle::FailureThrottle;
    /// let digest = FailureThrottle::identity_digest("demo-client");
    /// assert!(digest.starts_with('#') && !digest.contains("demo"));
    /// assert_eq!(digest, FailureThrottle::identity_digest("demo-client"));
    /// ```
    pub fn identity_digest(id: &str) -> String {
        Digest(id).to_string()
    }

    /// This throttle, counting the addresses `addresses` finds unless it was given its own
    /// [`client_address`](Self::client_address).
    pub(crate) fn inherit_addresses(mut self, addresses: &Addresses) -> Self {
        if self.address.is_none() && addresses.peer.is_some() {
            let addresses = addresses.clone();
            self.address = Some(Arc::new(move |extensions, headers| {
                addresses.accountable(extensions, headers)
            }));
        }
        self
    }

    /// Whether it would lock identities out without telling addresses apart: a locked
    /// identity refused from everywhere, its owner locked out by any guesser.
    pub(crate) fn locks_blindly(&self) -> bool {
        self.per_identity.is_some() && self.address.is_none()
    }

    fn address_of(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        self.address
            .as_ref()
            .and_then(|address| address(extensions, headers))
    }

    /// For an endpoint that checks client credentials itself (an OAuth 2.0 token endpoint's
    /// `client_secret_post`): `Err(wait)` when the request's address is locked out, or the
    /// client is and this address recently failed for it. `client_id` is the user name as the
    /// endpoint hands it to a Basic authenticator; it is counted as the layer counts a Basic
    /// user name (decoded as RFC 6749 §2.3.1 has clients encode it), so every way of
    /// presenting one client spends one budget.
    ///
    /// ```
    /// use authstar::throttle::{Budget, FailureThrottle};
    /// let throttle = FailureThrottle::new().per_identity(Some(Budget::new(1, 1)));
    /// let (extensions, headers) = (http::Extensions::new(), http::HeaderMap::new());
    /// throttle.failed_client(&extensions, &headers, "demo+client");
    /// assert!(throttle.check_client(&extensions, &headers, "demo client").is_err());
    /// assert!(throttle.check_client(&extensions, &headers, "another").is_ok());
    /// ```
    pub fn check_client(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        client_id: &str,
    ) -> Result<(), Duration> {
        let identity = basic_identity(client_id);
        self.check(extensions, headers, Some((BASIC_IDENTITY, &identity)))
    }

    /// Counts a failed client authentication at an endpoint that checks client credentials
    /// itself; see [`check_client`](Self::check_client).
    pub fn failed_client(&self, extensions: &Extensions, headers: &HeaderMap, client_id: &str) {
        let identity = basic_identity(client_id);
        self.failed(extensions, headers, Some((BASIC_IDENTITY, &identity)));
    }

    /// `429 Too Many Requests` (RFC 6585 §4) with `Retry-After` in whole seconds, rounded up,
    /// and `Cache-Control: no-store`: what the layer answers a locked-out request, and what an
    /// endpoint that applies [`check_client`](Self::check_client) itself should answer.
    ///
    /// ```
    /// use authstar::throttle::FailureThrottle;
    /// let response: http::Response<()> =
    ///     FailureThrottle::too_many_requests(std::time::Duration::from_millis(1_200));
    /// assert_eq!(response.status(), 429);
    /// assert_eq!(response.headers()["retry-after"], "2");
    /// ```
    pub fn too_many_requests<B: Default>(wait: Duration) -> Response<B> {
        too_many_requests(wait)
    }

    /// Checks the keys of a request about to be authenticated, `identity` being what the
    /// credential claims. `Err(wait)` when its address is locked out, or its identity is and
    /// this address recently failed for it.
    pub fn check(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        identity: Option<(&str, &str)>,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let keys = self.keys(extensions, headers, identity);
        let mut longest = None;
        if let Some((key, budget)) = keys.address {
            longest = self.store.locked(&key, budget, now);
        }
        if let Some((key, budget)) = keys.identity
            && let Some(wait) = self.store.locked(&key, budget, now)
        {
            let suspect = keys
                .pair
                .is_none_or(|(pair, budget)| self.store.locked(&pair, budget, now).is_some());
            if suspect {
                longest = longest.max(Some(wait));
            }
        }
        longest.map_or(Ok(()), Err)
    }

    /// Counts a failed authentication; logs one warning when it starts a lockout.
    pub fn failed(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        identity: Option<(&str, &str)>,
    ) {
        let now = Instant::now();
        let keys = self.keys(extensions, headers, identity);
        for (key, budget) in [keys.address, keys.identity, keys.pair]
            .into_iter()
            .flatten()
        {
            let locked_for = self.store.fail(&key, budget, now);
            let counted = !matches!(key, ThrottleKey::Pair { .. });
            // This failure started the lockout when it is locked for at most one period: under
            // GCRA, a key that was locked already is locked for longer after one more failure.
            let started = locked_for.is_some_and(|wait| wait <= budget.period());
            if let (true, true, Some(wait)) = (counted, started, locked_for) {
                tracing::warn!(
                    key = %key,
                    retry_after_secs = wait.as_secs_f64().ceil(),
                    "authstar: too many failed authentications, locking out"
                );
            }
        }
    }

    fn keys<'a>(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        identity: Option<(&'a str, &'a str)>,
    ) -> Keys<'a> {
        let address = (self.per_address.is_some() || self.per_identity.is_some())
            .then(|| self.address_of(extensions, headers))
            .flatten();
        let identity = self.per_identity.zip(identity);
        Keys {
            address: self
                .per_address
                .zip(address)
                .map(|(budget, address)| (ThrottleKey::Address(address), budget)),
            identity: identity
                .map(|(budget, (scheme, id))| (ThrottleKey::Identity { scheme, id }, budget)),
            pair: identity.zip(address).map(|((_, (scheme, id)), address)| {
                let key = ThrottleKey::Pair {
                    scheme,
                    id,
                    address,
                };
                (key, PAIR_MEMORY)
            }),
        }
    }
}

/// The identity a Basic user name claims: the name decoded as RFC 6749 §2.3.1 has OAuth 2.0
/// clients encode it (`%64emo-client` and `demo-client` are one client, and the token endpoint
/// and registry authenticators check the decoded one), or the name itself when it holds no
/// escape or does not decode. Counting the raw name would give each of an id's spellings a
/// budget of its own.
///
pub(crate) fn basic_identity(user: &str) -> std::borrow::Cow<'_, str> {
    crate::credentials::basic::oauth2_part(user)
}

/// The scheme Basic user names (OAuth2 client ids) are counted under, by the layer and by an
/// endpoint that reads client credentials itself alike.
pub(crate) const BASIC_IDENTITY: &str = "basic";

/// See [`FailureThrottle::too_many_requests`].
pub(crate) fn too_many_requests<B: Default>(wait: Duration) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_identity_refuses_only_addresses_that_failed_for_it() {
        use std::net::SocketAddr;
        let throttle = FailureThrottle::new()
            .client_address(|extensions, _| extensions.get::<SocketAddr>().map(|a| a.ip()))
            .per_identity(Some(Budget::new(2, 1)));
        let from = |last: u8| {
            let mut extensions = Extensions::new();
            extensions.insert(SocketAddr::from(([198, 51, 100, last], 1)));
            extensions
        };
        let headers = HeaderMap::new();
        let victim = Some(("basic", "victim"));
        throttle.failed(&from(1), &headers, victim);
        throttle.failed(&from(2), &headers, victim);
        assert!(throttle.check(&from(1), &headers, victim).is_err());
        assert!(throttle.check(&from(2), &headers, victim).is_err());
        assert!(
            throttle.check(&from(3), &headers, victim).is_ok(),
            "clean address"
        );
        throttle.failed(&from(3), &headers, victim);
        assert!(throttle.check(&from(3), &headers, victim).is_err());
        // Without an address the identity lock holds everywhere.
        let anywhere = FailureThrottle::new().per_identity(Some(Budget::new(1, 1)));
        anywhere.failed(&from(1), &headers, victim);
        assert!(anywhere.check(&from(9), &headers, victim).is_err());
    }

    #[test]
    fn a_basic_identity_is_the_user_name_decoded_as_oauth_clients_encode_it() {
        assert_eq!(basic_identity("%64emo-client"), "demo-client");
        assert_eq!(basic_identity("d%65mo+client"), "demo client");
        assert_eq!(basic_identity("plain"), "plain");
        assert_eq!(basic_identity("bad%ff"), "bad%ff");
    }

    #[test]
    fn retry_after_is_rounded_up_to_a_whole_second() {
        let response: Response<()> = too_many_requests(Duration::from_millis(1_200));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        let response: Response<()> = too_many_requests(Duration::from_millis(10));
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }
}

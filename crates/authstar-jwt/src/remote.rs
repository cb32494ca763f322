//! Keys from a remote JWKS URL (an external identity provider), cached.
//!
//! * never a fetch per request: verification uses the cached keys;
//! * one refresh in flight at a time (later callers wait for it and share its result);
//! * an unknown `kid` triggers a refresh, at most once per `min_refresh_interval`;
//! * keys older than `max_age` are refreshed in the background while still served;
//! * a failed fetch (timeout, provider down, garbage) keeps the last good keys.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

use crate::JwtError;
use crate::keys::KeySet;

/// A cached remote JWKS; cheap to clone (shared).
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    last_attempt: Mutex<Option<Instant>>,
    fetched_at: Mutex<Option<Instant>>,
    refresh: tokio::sync::Mutex<()>,
    min_refresh_interval: Duration,
    max_age: Duration,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.inner.url)
            .field("keys", &self.current().len())
            .finish()
    }
}

impl RemoteJwks {
    /// Keys from `url`, fetched with a 5 s timeout, refreshed for an unknown `kid` at most every
    /// 30 s, and in the background after 10 minutes.
    pub fn new(url: impl Into<String>) -> Result<Self, JwtError> {
        Self::with_settings(
            url,
            Duration::from_secs(5),
            Duration::from_secs(30),
            Duration::from_secs(600),
        )
    }

    /// Keys from `url` with explicit timeout, minimum interval between refreshes, and maximum age.
    pub fn with_settings(
        url: impl Into<String>,
        timeout: Duration,
        min_refresh_interval: Duration,
        max_age: Duration,
    ) -> Result<Self, JwtError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| JwtError::Fetch(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                url: url.into(),
                http,
                keys: RwLock::new(Arc::new(KeySet::default())),
                last_attempt: Mutex::new(None),
                fetched_at: Mutex::new(None),
                refresh: tokio::sync::Mutex::new(()),
                min_refresh_interval,
                max_age,
            }),
        })
    }

    /// The JWKS URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The cached keys. When they are older than the maximum age, a background refresh starts
    /// (on the current tokio runtime) and the cached keys are served meanwhile.
    pub fn current(&self) -> Arc<KeySet> {
        let stale = lock(&self.inner.fetched_at).is_none_or(|at| at.elapsed() > self.inner.max_age);
        if stale && self.may_refresh() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let this = self.clone();
                runtime.spawn(async move {
                    let _ = this.refresh_once().await;
                });
            }
        }
        match self.inner.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Whether a refresh is allowed now (none attempted within the minimum interval).
    pub(crate) fn may_refresh(&self) -> bool {
        lock(&self.inner.last_attempt)
            .is_none_or(|at| at.elapsed() >= self.inner.min_refresh_interval)
    }

    /// Fetches now (at startup, say), sharing a refresh already in flight. Returns the number of
    /// usable keys; on failure the previous keys stay in use.
    pub async fn refresh(&self) -> Result<usize, JwtError> {
        let _single_flight = self.inner.refresh.lock().await;
        self.fetch().await
    }

    /// Refreshes unless another caller refreshed within the minimum interval.
    async fn refresh_once(&self) -> Result<usize, JwtError> {
        let _single_flight = self.inner.refresh.lock().await;
        if !self.may_refresh() {
            return Ok(self.current_len());
        }
        self.fetch().await
    }

    fn current_len(&self) -> usize {
        self.inner.keys.read().map(|k| k.len()).unwrap_or(0)
    }

    async fn fetch(&self) -> Result<usize, JwtError> {
        *lock(&self.inner.last_attempt) = Some(Instant::now());
        let result = async {
            let response = self
                .inner
                .http
                .get(&self.inner.url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| JwtError::Fetch(e.to_string()))?;
            response
                .json::<JwkSet>()
                .await
                .map_err(|e| JwtError::Fetch(e.to_string()))
        }
        .await;
        match result {
            Ok(document) => {
                let keys = KeySet::from_jwks(&document);
                let count = keys.len();
                if let Ok(mut current) = self.inner.keys.write() {
                    *current = Arc::new(keys);
                }
                *lock(&self.inner.fetched_at) = Some(Instant::now());
                tracing::info!(url = %self.inner.url, keys = count, "authstar-jwt: JWKS refreshed");
                Ok(count)
            }
            Err(error) => {
                tracing::warn!(url = %self.inner.url, %error, "authstar-jwt: JWKS refresh failed; keeping the last good keys");
                Err(error)
            }
        }
    }

    /// The keys to verify `token` with: refreshes first (once, rate-limited) when its `kid` is
    /// unknown.
    pub(crate) async fn keys_for(&self, token: &str) -> Arc<KeySet> {
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let known = self.current().find(kid.as_deref()).is_some();
        if !known {
            let _ = self.refresh_once().await;
        }
        self.current()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

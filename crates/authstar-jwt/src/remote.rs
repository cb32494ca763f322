//! Keys from a remote JWKS URL (an external identity provider), cached.
//!
//! * never a fetch per request: verification uses the cached keys;
//! * one refresh in flight at a time (later callers wait for it and share its result);
//! * an unknown `kid` triggers a refresh, at most once per `min_refresh_interval`;
//! * keys older than `max_age` are refreshed in the background while still served;
//! * a failed fetch (timeout, provider down, garbage) keeps the last good keys;
//! * `https` only, unless [`allow_http`](RemoteJwksBuilder::allow_http) says otherwise (an
//!   attacker on the path could otherwise hand out their own keys); redirects are followed only
//!   within the same origin, at most three; a document larger than
//!   [`max_body_bytes`](RemoteJwksBuilder::max_body_bytes) (default 256 KiB) is refused.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
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
    max_body: usize,
    keys: RwLock<Arc<KeySet>>,
    last_attempt: Mutex<Option<Instant>>,
    /// Fetches started so far: a caller that waited for a refresh in flight uses its result
    /// instead of fetching again.
    attempts: AtomicU64,
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

/// Settings of a [`RemoteJwks`]; start with [`RemoteJwks::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RemoteJwksBuilder {
    url: String,
    timeout: Duration,
    min_refresh_interval: Duration,
    max_age: Duration,
    max_body: usize,
    allow_http: bool,
}

impl RemoteJwksBuilder {
    /// The timeout of one fetch (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The least time between two refreshes caused by unknown `kid`s (default 30 s).
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// After this long the keys are refreshed in the background (default 10 minutes).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The largest JWKS document accepted (default 256 KiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Accepts an `http://` URL: for a provider on loopback or inside a trusted network only.
    pub fn allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Builds it; refuses a URL that is not `https` (unless allowed) or not a URL.
    ///
    /// ```
    /// use authstar_jwt::RemoteJwks;
    ///
    /// assert!(RemoteJwks::builder("https://idp.example/jwks.json").build().is_ok());
    /// assert!(RemoteJwks::builder("http://idp.example/jwks.json").build().is_err());
    /// assert!(RemoteJwks::builder("http://127.0.0.1:8080/jwks.json").allow_http().build().is_ok());
    /// ```
    pub fn build(self) -> Result<RemoteJwks, JwtError> {
        let http = checked_client(&self.url, self.allow_http, self.timeout)
            .ok_or_else(|| JwtError::JwksUrl(self.url.clone()))??;
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                url: self.url,
                http,
                max_body: self.max_body,
                keys: RwLock::new(Arc::new(KeySet::default())),
                last_attempt: Mutex::new(None),
                attempts: AtomicU64::new(0),
                fetched_at: Mutex::new(None),
                refresh: tokio::sync::Mutex::new(()),
                min_refresh_interval: self.min_refresh_interval,
                max_age: self.max_age,
            }),
        })
    }
}

impl RemoteJwks {
    /// Keys from an `https` `url`, fetched with a 5 s timeout, refreshed for an unknown `kid`
    /// at most every 30 s, and in the background after 10 minutes.
    pub fn new(url: impl Into<String>) -> Result<Self, JwtError> {
        Self::builder(url).build()
    }

    /// Settings for keys from `url`.
    pub fn builder(url: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder {
            url: url.into(),
            timeout: Duration::from_secs(5),
            min_refresh_interval: Duration::from_secs(30),
            max_age: Duration::from_secs(600),
            max_body: 256 * 1024,
            allow_http: false,
        }
    }

    /// The JWKS URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The cached keys. When they are older than the maximum age, a background refresh starts
    /// (on the current tokio runtime) and the cached keys are served meanwhile.
    pub fn current(&self) -> Arc<KeySet> {
        let stale = lock(&self.inner.fetched_at).is_none_or(|at| at.elapsed() > self.inner.max_age);
        if stale
            && self.may_refresh()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (this, seen) = (self.clone(), self.attempts());
            runtime.spawn(async move {
                let _ = this.refresh_once(seen).await;
            });
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

    fn attempts(&self) -> u64 {
        self.inner.attempts.load(Ordering::Acquire)
    }

    /// Refreshes unless another caller started a fetch since this one saw `seen` fetches (it
    /// shares that fetch's result), or refreshed within the minimum interval.
    async fn refresh_once(&self, seen: u64) -> Result<usize, JwtError> {
        let _single_flight = self.inner.refresh.lock().await;
        if self.attempts() != seen || !self.may_refresh() {
            return Ok(self.current_len());
        }
        self.fetch().await
    }

    fn current_len(&self) -> usize {
        self.inner.keys.read().map(|k| k.len()).unwrap_or(0)
    }

    async fn fetch(&self) -> Result<usize, JwtError> {
        *lock(&self.inner.last_attempt) = Some(Instant::now());
        self.inner.attempts.fetch_add(1, Ordering::AcqRel);
        let result = fetch_json::<JwkSet>(&self.inner.http, &self.inner.url, self.inner.max_body)
            .await
            .map_err(|e| match e {
                JwtError::Fetch { message, source } if message == NOT_JSON => JwtError::Fetch {
                    message: "not a JWKS document".to_owned(),
                    source,
                },
                other => other,
            });
        match result {
            Ok(document) => {
                let keys = KeySet::from_jwks(&document);
                let count = keys.len();
                if let Ok(mut current) = self.inner.keys.write() {
                    *current = Arc::new(keys);
                }
                *lock(&self.inner.fetched_at) = Some(Instant::now());
                tracing::info!(url = %self.inner.url, keys = count, "authstar-jwt: JWKS refreshed");
                crate::metrics::count(crate::metrics::Event::JwksRefreshed);
                Ok(count)
            }
            Err(error) => {
                tracing::warn!(url = %self.inner.url, %error, "authstar-jwt: JWKS refresh failed; keeping the last good keys");
                crate::metrics::count(crate::metrics::Event::JwksRefreshFailed);
                Err(error)
            }
        }
    }

    /// The keys to verify `token` with: refreshes first (once, rate-limited) when its `kid` is
    /// unknown.
    pub(crate) async fn keys_for(&self, token: &str) -> Arc<KeySet> {
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let seen = self.attempts();
        let known = self.current().find(kid.as_deref()).is_some();
        if !known {
            let _ = self.refresh_once(seen).await;
        }
        self.current()
    }
}

/// An HTTP client for `url`: `None` when it is not a URL or not `https` (unless `allow_http`);
/// redirects followed only within the URL's origin, at most three; every request bounded by
/// `timeout`.
pub(crate) fn checked_client(
    url: &str,
    allow_http: bool,
    timeout: Duration,
) -> Option<Result<reqwest::Client, JwtError>> {
    let url = reqwest::Url::parse(url).ok()?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return None,
    }
    let origin = url.origin();
    Some(
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 3 {
                    attempt.error("too many redirects")
                } else if attempt.url().origin() != origin {
                    attempt.error("a redirect to another origin")
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| JwtError::fetch_from("the HTTP client could not be built", e)),
    )
}

/// The message of a fetch whose body is not the JSON expected.
pub(crate) const NOT_JSON: &str = "not the JSON document expected";

/// GETs `url` and reads its body as JSON, refusing a failed status and a body over `max_body`.
pub(crate) async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    max_body: usize,
) -> Result<T, JwtError> {
    let mut response = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| JwtError::fetch_from("the request failed", e))?;
    let too_large = || JwtError::fetch(format!("larger than {max_body} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > max_body as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| JwtError::fetch_from("reading the document failed", e))?
    {
        if body.len() + chunk.len() > max_body {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice::<T>(&body).map_err(|e| JwtError::fetch_from(NOT_JSON, e))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

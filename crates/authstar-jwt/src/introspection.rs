//! Opaque access tokens, verified by asking the issuer (RFC 7662 token introspection).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstar::{Authenticator, AuthstarClient, BearerToken, Started, Verdict};
use base64::Engine as _;
use serde::Deserialize;

use crate::JwtError;
use crate::claims::unix_now;
use crate::metrics::Event;
use crate::remote::checked_client;

/// The largest introspection answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// What an introspection endpoint answers (RFC 7662 §2.2), as far as a resource server reads it.
#[derive(Debug, Deserialize)]
struct Answer {
    active: bool,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    /// What the token is bound to (RFC 7800; RFC 8705 §3.2, RFC 9449 §6.2).
    #[serde(default)]
    cnf: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What an active token is bound to, as its introspection said.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bound {
    /// Nothing: a bearer token.
    Nothing,
    /// The client certificate with this `x5t#S256`.
    Certificate(Box<str>),
    /// A DPoP key, or anything else: not usable as a bearer token here.
    Elsewhere,
}

impl Bound {
    fn of(cnf: Option<&serde_json::Map<String, serde_json::Value>>) -> Self {
        let Some(cnf) = cnf else {
            return Self::Nothing;
        };
        match (
            cnf.get("x5t#S256").and_then(serde_json::Value::as_str),
            cnf.len(),
        ) {
            (Some(x5t), 1) => Self::Certificate(x5t.into()),
            _ => Self::Elsewhere,
        }
    }

    /// Whether a bearer request over the client certificate `certificate` may use the token.
    fn admits(&self, certificate: Option<&str>) -> bool {
        match self {
            Self::Nothing => true,
            Self::Certificate(x5t) => certificate == Some(&**x5t),
            Self::Elsewhere => false,
        }
    }
}

/// An active answer's client and binding.
type Active = (AuthstarClient, Bound);

/// A cached answer: the client and its binding (or `None`: inactive) and until when it may be
/// reused.
type Cached = (Option<Active>, Instant);

/// The verdict on a token remembered or just answered, presented over `certificate`.
fn admitted(active: Option<Active>, certificate: Option<&str>) -> Verdict<AuthstarClient> {
    match active {
        Some((client, bound)) if bound.admits(certificate) => Verdict::Authenticated(client),
        Some(_) => {
            tracing::debug!(
                "authstar-jwt: a sender-constrained token presented without its binding"
            );
            Verdict::Rejected
        }
        None => Verdict::Rejected,
    }
}

type AnswerCache = quick_cache::sync::Cache<
    Box<str>,
    Cached,
    quick_cache::UnitWeighter,
    foldhash::fast::RandomState,
    quick_cache::sync::DefaultLifecycle<Box<str>, Cached>,
>;

/// A bearer authenticator for opaque tokens: asks the issuer's RFC 7662 introspection endpoint,
/// authenticating as a client (HTTP Basic, RFC 6749 §2.3.1), and remembers the answer.
///
/// * an active token is remembered until its `exp` or the active TTL (default 5 minutes),
///   whichever comes first; an inactive one for the inactive TTL (default 10 s), so a flood of
///   made-up tokens costs one call each, then nothing, and a token just issued is not refused
///   for long;
/// * concurrent requests with one token share one call (single flight);
/// * an endpoint that cannot be reached, times out (default 5 s), refuses our credentials or
///   answers something that is not an RFC 7662 answer is a backend error
///   ([`Verdict::Unavailable`]: 503 by default), never a rejection, and is not remembered;
/// * with [`audience`](IntrospectionBuilder::audience), an active token whose `aud` does not
///   hold it is refused (RFC 7662 §4);
/// * `https` only unless [`allow_http`](IntrospectionBuilder::allow_http).
///
/// ```
/// use authstar::AuthstarLayer;
/// use authstar_jwt::Introspection;
///
/// let opaque = Introspection::builder("https://idp.example/oauth2/introspect", "reports-api", "s3cret")
///     .audience("https://reports.example")
///     .build()
///     .unwrap();
/// let layer = AuthstarLayer::builder().on_auth_bearer_with(opaque).build().unwrap();
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct Introspection {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: String,
    authorization: String,
    http: reqwest::Client,
    audience: Option<String>,
    active_ttl: Duration,
    inactive_ttl: Duration,
    cache: AnswerCache,
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("endpoint", &self.inner.endpoint)
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}

/// Settings of an [`Introspection`]; start with [`Introspection::builder`].
#[must_use]
pub struct IntrospectionBuilder {
    endpoint: String,
    client_id: String,
    client_secret: String,
    audience: Option<String>,
    allow_http: bool,
    timeout: Duration,
    active_ttl: Duration,
    inactive_ttl: Duration,
    capacity: u64,
}

impl fmt::Debug for IntrospectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionBuilder")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl IntrospectionBuilder {
    /// Refuses active tokens whose `aud` does not hold `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Accepts an `http://` endpoint: for a provider on loopback or inside a trusted network.
    pub fn allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// The timeout of one call (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long an active answer is reused at most (default 5 minutes; never past `exp`).
    /// Shorter means a token revoked at the issuer is refused here sooner.
    pub fn active_ttl(mut self, ttl: Duration) -> Self {
        self.active_ttl = ttl;
        self
    }

    /// How long an inactive answer is reused (default 10 s).
    pub fn inactive_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_ttl = ttl;
        self
    }

    /// How many answers are remembered (default 10 000).
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Builds it; refuses an endpoint that is not `https` (unless allowed) or not a URL.
    pub fn build(self) -> Result<Introspection, JwtError> {
        let http = checked_client(&self.endpoint, self.allow_http, self.timeout)
            .ok_or_else(|| JwtError::JwksUrl(self.endpoint.clone()))??;
        // RFC 6749 §2.3.1: id and secret are form-encoded before they are joined.
        let encode =
            |part: &str| form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(&self.client_id),
            encode(&self.client_secret)
        ));
        let estimate = usize::try_from(self.capacity.clamp(1, 1024)).unwrap_or(1024);
        Ok(Introspection {
            inner: Arc::new(Inner {
                endpoint: self.endpoint,
                authorization: format!("Basic {basic}"),
                http,
                audience: self.audience,
                active_ttl: self.active_ttl,
                inactive_ttl: self.inactive_ttl,
                cache: AnswerCache::with(
                    estimate,
                    self.capacity,
                    quick_cache::UnitWeighter,
                    foldhash::fast::RandomState::default(),
                    quick_cache::sync::DefaultLifecycle::default(),
                ),
            }),
        })
    }
}

/// Why a call to the endpoint gave no answer (a backend error, never the token's fault).
#[derive(Debug, thiserror::Error)]
#[error("token introspection failed: {0}")]
struct Failed(String);

impl Introspection {
    /// Settings for the endpoint at `endpoint`, called as the client `client_id`.
    pub fn builder(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> IntrospectionBuilder {
        IntrospectionBuilder {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            audience: None,
            allow_http: false,
            timeout: Duration::from_secs(5),
            active_ttl: Duration::from_secs(300),
            inactive_ttl: Duration::from_secs(10),
            capacity: 10_000,
        }
    }

    /// A remembered answer still good now: `Some(Some(active))` active, `Some(None)` inactive.
    fn remembered(&self, token: &str) -> Option<Option<Active>> {
        let (client, until) = self.inner.cache.get(token)?;
        if until > Instant::now() {
            Some(client)
        } else {
            self.inner.cache.remove(token);
            None
        }
    }

    /// The verdict for `token`: remembered, or asked (one call for concurrent askers).
    async fn verdict(&self, token: &str, certificate: Option<&str>) -> Verdict<AuthstarClient> {
        let key: Box<str> = token.into();
        for _ in 0..2 {
            let answer = self
                .inner
                .cache
                .get_or_insert_async(&key, self.ask(token))
                .await;
            match answer {
                Ok((active, until)) if until > Instant::now() => {
                    return admitted(active, certificate);
                }
                // Expired while we waited: drop it and ask again.
                Ok(_) => {
                    self.inner.cache.remove(token);
                }
                Err(error) => {
                    tracing::warn!(endpoint = %self.inner.endpoint, %error, "authstar-jwt: introspection unavailable");
                    return Verdict::Unavailable(Box::new(error));
                }
            }
        }
        Verdict::Rejected
    }

    /// One call to the endpoint, counted by its answer.
    async fn ask(&self, token: &str) -> Result<Cached, Failed> {
        let answer = self.call(token).await;
        crate::metrics::count(match &answer {
            Ok((Some(_), _)) => Event::IntrospectionActive,
            Ok((None, _)) => Event::IntrospectionInactive,
            Err(_) => Event::IntrospectionError,
        });
        answer
    }

    async fn call(&self, token: &str) -> Result<Cached, Failed> {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let mut response = self
            .inner
            .http
            .post(&self.inner.endpoint)
            .header("authorization", &self.inner.authorization)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| Failed(format!("the request failed: {}", chain(&e))))?;
        if !response.status().is_success() {
            return Err(Failed(format!(
                "the endpoint answered {}",
                response.status()
            )));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failed(format!("reading the answer failed: {e}")))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(Failed(format!("an answer over {MAX_ANSWER} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        let answer: Answer = serde_json::from_slice(&bytes)
            .map_err(|e| Failed(format!("not an RFC 7662 answer: {e}")))?;
        let now = Instant::now();
        let inactive = Ok((None, now + self.inner.inactive_ttl));
        if !answer.active {
            return inactive;
        }
        let left = match answer.exp {
            Some(exp) if exp <= unix_now() => return inactive,
            Some(exp) => Duration::from_secs(exp - unix_now()),
            None => self.inner.active_ttl,
        };
        if let Some(audience) = &self.inner.audience
            && !holds(answer.aud.as_ref(), audience)
        {
            tracing::debug!("authstar-jwt: an introspected token is for another audience");
            return inactive;
        }
        let Some(client_id) = answer.client_id.or(answer.sub).filter(|id| !id.is_empty()) else {
            return inactive;
        };
        let scopes = answer.scope.unwrap_or_default();
        let client = AuthstarClient::new(client_id, scopes.split(' ').filter(|s| !s.is_empty()));
        let bound = Bound::of(answer.cnf.as_ref());
        Ok((Some((client, bound)), now + left.min(self.inner.active_ttl)))
    }
}

/// An error and its sources, for the log line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether an `aud` value (a string or an array of strings) holds `audience`.
fn holds(aud: Option<&serde_json::Value>, audience: &str) -> bool {
    match aud {
        Some(serde_json::Value::String(one)) => one == audience,
        Some(serde_json::Value::Array(many)) => many.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// The future of an introspection that has to ask.
type AskFuture = Pin<Box<dyn Future<Output = Verdict<AuthstarClient>> + Send>>;

impl Authenticator<BearerToken> for Introspection {
    type Client = AuthstarClient;
    type Future = AskFuture;

    fn authenticate(&self, token: BearerToken) -> AskFuture {
        let this = self.clone();
        Box::pin(async move {
            this.verdict(token.as_str(), token.certificate_thumbprint())
                .await
        })
    }

    fn start(&self, token: BearerToken) -> Started<AskFuture, AuthstarClient> {
        let remembered = self.remembered(token.as_str());
        crate::metrics::count(match remembered {
            Some(_) => Event::IntrospectionCacheHit,
            None => Event::IntrospectionCacheMiss,
        });
        match remembered {
            Some(active) => Started::Done(admitted(active, token.certificate_thumbprint())),
            None => Started::Running(self.authenticate(token)),
        }
    }
}

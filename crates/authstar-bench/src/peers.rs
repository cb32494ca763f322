//! The comparison points: a no-op layer, hand-written minimal auth layers, and the fixtures
//! every variant shares.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::task::{Context, Poll};

use authstar::AuthstarClient;
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

/// The valid bearer token / API key, Basic user and password.
pub(crate) const TOKEN: &str = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0";
/// Basic user.
pub(crate) const USER: &str = "reporting-service";
/// Basic password.
pub(crate) const PASSWORD: &str = "pw_0a1b2c3d4e5f6a7b8c9d";

/// The tables' hasher: SipHash with fixed keys. With std's random keys the probe sequence, and
/// so the instruction count, would change from one process to the next.
pub(crate) type Fixed = BuildHasherDefault<DefaultHasher>;
/// 100 tokens (or keys) and their clients.
pub(crate) type Tokens = Arc<HashMap<String, AuthstarClient, Fixed>>;
/// 100 Basic users: password and client.
pub(crate) type Users = Arc<HashMap<String, (String, AuthstarClient), Fixed>>;

/// The token table.
pub(crate) fn tokens() -> Tokens {
    let mut map: HashMap<String, AuthstarClient, Fixed> = (0..99)
        .map(|i| {
            (
                format!("tok_{i:032x}"),
                AuthstarClient::new(format!("client-{i}"), ["reports:read"]),
            )
        })
        .collect();
    map.insert(
        TOKEN.to_owned(),
        AuthstarClient::new("reporting", ["reports:read"]),
    );
    Arc::new(map)
}

/// The user table.
pub(crate) fn users() -> Users {
    let mut map: HashMap<String, (String, AuthstarClient), Fixed> = (0..99)
        .map(|i| {
            (
                format!("user-{i}"),
                (
                    format!("pw-{i}"),
                    AuthstarClient::new(format!("user-{i}"), ["reports:read"]),
                ),
            )
        })
        .collect();
    map.insert(
        USER.to_owned(),
        (
            PASSWORD.to_owned(),
            AuthstarClient::new("reporting", ["reports:read"]),
        ),
    );
    Arc::new(map)
}

/// A request with 7 realistic headers and the credential header last (if any).
pub(crate) fn request(credential: Option<(&'static str, String)>) -> Request<()> {
    let mut builder = Request::get("https://api.example.com/reports?page=2")
        .header("host", "api.example.com")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        )
        .header("accept", "application/json")
        .header("accept-encoding", "gzip, deflate, br")
        .header("accept-language", "en-GB,en;q=0.9")
        .header("x-request-id", "9b2f6c1e-4a7d-4e0b-8c3a-5d6e7f8a9b0c")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
    if let Some((name, value)) = credential {
        builder = builder.header(name, HeaderValue::try_from(value).expect("valid header"));
    }
    builder.body(()).expect("valid request")
}

/// `Authorization: Bearer TOKEN`.
pub(crate) fn bearer() -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {TOKEN}")))
}

/// `Authorization: Basic base64(USER:PASSWORD)`.
pub(crate) fn basic() -> Option<(&'static str, String)> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    Some(("authorization", format!("Basic {encoded}")))
}

/// `X-API-Key: TOKEN`.
pub(crate) fn api_key() -> Option<(&'static str, String)> {
    Some(("x-api-key", TOKEN.to_owned()))
}

/// A layer that does nothing: the limit for "a layer".
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Noop;

impl<S> Layer<S> for Noop {
    type Service = NoopService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        NoopService(inner)
    }
}

/// The service of [`Noop`].
#[derive(Clone, Debug)]
pub(crate) struct NoopService<S>(S);

impl<S: Service<R>, R> Service<R> for NoopService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, request: R) -> S::Future {
        self.0.call(request)
    }
}

/// How a minimal layer finds the credential.
#[derive(Clone)]
pub(crate) enum Minimal {
    /// `Authorization: Bearer`, `HashMap` lookup.
    Bearer(Tokens),
    /// `Authorization: Basic`, base64 decode, split, `HashMap` lookup, password compare.
    Basic(Users),
    /// `X-API-Key`, `HashMap` lookup.
    ApiKey(Tokens),
}

/// A hand-written minimal auth layer: the limit for "bearer auth" (or Basic, or API key). It
/// stores the client in the extensions and never rejects.
#[derive(Clone)]
pub(crate) struct MinimalLayer(pub Minimal);

impl<S> Layer<S> for MinimalLayer {
    type Service = MinimalService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MinimalService {
            inner,
            how: self.0.clone(),
        }
    }
}

/// The service of [`MinimalLayer`].
#[derive(Clone)]
pub(crate) struct MinimalService<S> {
    inner: S,
    how: Minimal,
}

impl<S, B> Service<Request<B>> for MinimalService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        let client = match &self.how {
            Minimal::Bearer(tokens) => request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|t| tokens.get(t).cloned()),
            Minimal::ApiKey(tokens) => request
                .headers()
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .and_then(|t| tokens.get(t).cloned()),
            Minimal::Basic(users) => request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|decoded| {
                    let (user, password) = decoded.split_once(':')?;
                    let (expected, client) = users.get(user)?;
                    (expected == password).then(|| client.clone())
                }),
        };
        if let Some(client) = client {
            request.extensions_mut().insert(client);
        }
        self.inner.call(request)
    }
}

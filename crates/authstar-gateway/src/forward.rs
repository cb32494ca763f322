//! The forward-auth check: a proxy (nginx `auth_request`, Caddy `forward_auth`, Traefik
//! `ForwardAuth`) sends each client request's headers here with the original method and URI in
//! headers of its own; [`ForwardAuth`] rebuilds that request, runs the layer and the policy on
//! it, and answers 2xx with the identity headers the proxy copies upstream, or the refusal in the
//! form the proxy can pass on.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use authstar::network::Networks;
use authstar::{Client, LayerInfo, Outcome};
use futures_util::FutureExt as _;
use futures_util::future::{Either, Map, Ready, ready};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use tower_service::Service;

/// How the proxy asks, and what it can pass on to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proxy {
    /// nginx `auth_request`: the original request in `X-Original-Method` and `X-Original-URI`
    /// (as the documented configuration sets them). nginx turns any answer but 2xx, 401 and
    /// 403 into a 500, so every other refusal (429, 503, 400) is answered 403 with the real
    /// status in `X-Authstar-Status` (and `Retry-After` kept), for the configuration to map back;
    /// the challenges come in one `WWW-Authenticate` (nginx 1.22 passes only the first).
    Nginx,
    /// Caddy `forward_auth`, Traefik `ForwardAuth`: the original request in
    /// `X-Forwarded-Method` and `X-Forwarded-Uri`; every answer passes to the client as it is.
    Forwarded,
}

impl Proxy {
    fn method_header(self) -> &'static str {
        match self {
            Self::Nginx => "x-original-method",
            Self::Forwarded => "x-forwarded-method",
        }
    }

    fn uri_header(self) -> &'static str {
        match self {
            Self::Nginx => "x-original-uri",
            Self::Forwarded => "x-forwarded-uri",
        }
    }
}

/// `X-Authstar-Status`: the real status of a refusal answered 403 to nginx.
pub const STATUS_HEADER: &str = "x-authstar-status";

/// The headers that carry the caller's identity upstream, on every 2xx answer: empty when the
/// route is public and nobody authenticated (a proxy that copies a header the answer lacks may
/// pass something else: Caddy 2.6 sends its unreplaced placeholder). The proxy's configuration
/// must also remove any a client sent under those names (`deploy/` shows how for each proxy).
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    /// The client id (default `x-authstar-client-id`).
    pub client_id: HeaderName,
    /// The granted scopes, space-separated (default `x-authstar-scopes`).
    pub scopes: HeaderName,
    /// How the client authenticated: `bearer`, `dpop`, `basic`, a header's name, `request`
    /// (default `x-authstar-method`).
    pub method: HeaderName,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            client_id: HeaderName::from_static("x-authstar-client-id"),
            scopes: HeaderName::from_static("x-authstar-scopes"),
            method: HeaderName::from_static("x-authstar-method"),
        }
    }
}

impl IdentityHeaders {
    /// The identity the layer recorded in `extensions`, as header values; empty ones for a
    /// request nobody authenticated.
    fn of<C: Client>(
        &self,
        info: &LayerInfo,
        extensions: &http::Extensions,
    ) -> [(HeaderName, HeaderValue); 3] {
        let (id, scopes, method) = match info.outcome::<C>(extensions) {
            Some(Outcome::Authenticated { client, method, .. }) if client.is_authenticated() => {
                let scopes = client.scopes().collect::<Vec<_>>().join(" ");
                (
                    safe(client.client_id()),
                    safe(&scopes),
                    safe(method.label()),
                )
            }
            _ => {
                let empty = HeaderValue::from_static("");
                (empty.clone(), empty.clone(), empty)
            }
        };
        [
            (self.client_id.clone(), id),
            (self.scopes.clone(), scopes),
            (self.method.clone(), method),
        ]
    }
}

/// `value` as a header value: visible ASCII and spaces as they are, anything else
/// percent-encoded, so no client id can split a header or smuggle a line.
fn safe(value: &str) -> HeaderValue {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b' '..=b'~' if byte != b'%' => out.push(char::from(byte)),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The innermost service of a forward-auth check: 200 with the identity headers (the layer and
/// the policy in front of it have admitted the request), an empty `R` as the body.
pub struct Identity<C, R> {
    info: LayerInfo,
    headers: Arc<IdentityHeaders>,
    client: std::marker::PhantomData<fn() -> (C, R)>,
}

impl<C, R> Clone for Identity<C, R> {
    fn clone(&self) -> Self {
        Self {
            info: self.info.clone(),
            headers: Arc::clone(&self.headers),
            client: std::marker::PhantomData,
        }
    }
}

impl<C, R> fmt::Debug for Identity<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("headers", &self.headers)
            .finish()
    }
}

impl<C, R> Identity<C, R> {
    /// Answers with the identity the layer of `info` recorded, in `headers`.
    pub fn new(info: LayerInfo, headers: IdentityHeaders) -> Self {
        Self {
            info,
            headers: Arc::new(headers),
            client: std::marker::PhantomData,
        }
    }
}

impl<C: Client, B, R: Default> Service<Request<B>> for Identity<C, R> {
    type Response = Response<R>;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Response<R>, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut response = Response::new(R::default());
        let identity = self.headers.of::<C>(&self.info, request.extensions());
        for (name, value) in identity {
            response.headers_mut().insert(name, value);
        }
        ready(Ok(response))
    }
}

type PeerFn = Arc<dyn Fn(&http::Extensions) -> Option<IpAddr> + Send + Sync>;

/// The check endpoint: rebuilds the proxy's original request and hands it to `inner` (the
/// `AuthstarLayer`, the [`PolicyLayer`](crate::PolicyLayer) and [`Identity`]), answering as
/// [`Proxy`] says. Only the proxies may ask: a check from any other address is 403, as the
/// original method and URI it names could be anything.
pub struct ForwardAuth<S> {
    inner: S,
    proxy: Proxy,
    proxies: Networks,
    peer: PeerFn,
}

impl<S: Clone> Clone for ForwardAuth<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            proxy: self.proxy,
            proxies: self.proxies.clone(),
            peer: Arc::clone(&self.peer),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ForwardAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardAuth")
            .field("inner", &self.inner)
            .field("proxy", &self.proxy)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl<S> ForwardAuth<S> {
    /// Checks for `proxy`, asked only from `proxies`, the asking peer read by `peer` (as the
    /// layer's `peer_address`).
    pub fn new<F>(inner: S, proxy: Proxy, proxies: Networks, peer: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<IpAddr> + Send + Sync + 'static,
    {
        Self {
            inner,
            proxy,
            proxies,
            peer: Arc::new(peer),
        }
    }
}

/// Why a check request could not be turned into the original request.
fn unreadable<R: Default>(status: StatusCode) -> Response<R> {
    let mut response = Response::new(R::default());
    *response.status_mut() = status;
    response
}

impl<S> ForwardAuth<S> {
    /// The original request the proxy describes, or the answer when it describes none.
    fn original<B, R: Default>(&self, request: Request<B>) -> Result<Request<B>, Response<R>> {
        let peer = (self.peer)(request.extensions());
        if !peer.is_some_and(|peer| self.proxies.contains(peer)) {
            tracing::warn!(
                ?peer,
                "authstar-gateway: a check from outside the proxies is refused"
            );
            return Err(unreadable(StatusCode::FORBIDDEN));
        }
        let (mut parts, body) = request.into_parts();
        let (method_name, uri_name) = (self.proxy.method_header(), self.proxy.uri_header());
        let method = single(&parts.headers, method_name)
            .and_then(|value| Method::from_bytes(value.as_bytes()).ok());
        let uri = single(&parts.headers, uri_name)
            .filter(|value| value.as_bytes().first() == Some(&b'/'))
            .and_then(|value| Uri::try_from(value.as_bytes()).ok());
        let (Some(method), Some(uri)) = (method, uri) else {
            tracing::error!(
                method = method_name,
                uri = uri_name,
                "authstar-gateway: the proxy sent no single, valid original method and URI; \
                 see its configuration in the guide"
            );
            return Err(unreadable(StatusCode::BAD_REQUEST));
        };
        parts.method = method;
        parts.uri = uri;
        // The host the client asked for, for the policy: the proxy's X-Forwarded-Host.
        if let Some(host) = single(&parts.headers, "x-forwarded-host").cloned() {
            parts.headers.insert(HOST, host);
        }
        for name in [method_name, uri_name] {
            parts.headers.remove(name);
        }
        parts.headers.remove(CONTENT_LENGTH);
        parts.headers.remove(TRANSFER_ENCODING);
        Ok(Request::from_parts(parts, body))
    }
}

/// The one value of header `name`, if it comes exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then_some(value)
}

/// How a check's answer is shaped for its proxy.
type Shape<R, E> = fn(Result<Response<R>, E>) -> Result<Response<R>, E>;
type Mapped<F, R, E> = Map<F, Shape<R, E>>;

impl<S, B, R> Service<Request<B>> for ForwardAuth<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Either<Mapped<S::Future, R, S::Error>, Ready<Result<Response<R>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let original = match self.original(request) {
            Ok(original) => original,
            Err(response) => {
                let response = match self.proxy {
                    Proxy::Nginx => for_nginx(response),
                    Proxy::Forwarded => response,
                };
                return Either::Right(ready(Ok(response)));
            }
        };
        let answer: Shape<R, S::Error> = match self.proxy {
            Proxy::Nginx => |result| result.map(for_nginx),
            Proxy::Forwarded => |result| result,
        };
        Either::Left(self.inner.call(original).map(answer))
    }
}

/// An answer nginx's `auth_request` can pass on: 2xx, 401 and 403 as they are (the challenges
/// in one header), anything else 403 with the status in [`STATUS_HEADER`].
fn for_nginx<R>(mut response: Response<R>) -> Response<R> {
    let status = response.status();
    let headers = response.headers_mut();
    let challenges: Vec<HeaderValue> = headers.get_all(WWW_AUTHENTICATE).iter().cloned().collect();
    if challenges.len() > 1 {
        let joined = challenges
            .iter()
            .map(|value| value.as_bytes())
            .collect::<Vec<_>>()
            .join(&b", "[..]);
        if let Ok(value) = HeaderValue::from_bytes(&joined) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
    }
    if status.is_success() || status == StatusCode::UNAUTHORIZED {
        return response;
    }
    headers.insert(
        HeaderName::from_static(STATUS_HEADER),
        HeaderValue::from(status.as_u16()),
    );
    // Retry-After, when there is one, stays for the configuration to pass on.
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::RETRY_AFTER;

    #[test]
    fn identity_values_never_split_a_header() {
        assert_eq!(safe("svc-1"), "svc-1");
        assert_eq!(safe("a b"), "a b");
        assert_eq!(safe("x\r\nX-Admin: 1"), "x%0D%0AX-Admin: 1");
        assert_eq!(safe("caf\u{e9}"), "caf%C3%A9");
        assert_eq!(safe("100%"), "100%25");
    }

    #[test]
    fn nginx_gets_only_2xx_401_and_403_with_the_real_status_beside() {
        let mut throttled = Response::new(());
        *throttled.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        throttled
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let answered = for_nginx(throttled);
        assert_eq!(answered.status(), StatusCode::FORBIDDEN);
        assert_eq!(answered.headers()[STATUS_HEADER], "429");
        assert_eq!(answered.headers()[RETRY_AFTER], "7");
        let mut refused = Response::new(());
        *refused.status_mut() = StatusCode::UNAUTHORIZED;
        refused.headers_mut().append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"a\""),
        );
        refused.headers_mut().append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"a\""),
        );
        let answered = for_nginx(refused);
        assert_eq!(answered.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            answered.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"a\", Basic realm=\"a\""
        );
        assert!(answered.headers().get(STATUS_HEADER).is_none());
        let mut forbidden = Response::new(());
        *forbidden.status_mut() = StatusCode::FORBIDDEN;
        assert_eq!(for_nginx(forbidden).headers()[STATUS_HEADER], "403");
    }
}

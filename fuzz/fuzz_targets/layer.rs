//! The whole layer over arbitrary header maps: every method enabled, throttling on, enforcing.
//! Input lines `name: value`. A defined outcome (200, 401, 429, 503), never a panic.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use authstar::throttle::FailureThrottle;
use authstar::{
    AuthstarClient, AuthstarLayer, BackendErrorPolicy, BasicCredentials, BearerToken, HeaderAuth,
    HeaderCredential, Verdict, sync_fn,
};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response};
use tower::{Layer, ServiceExt, service_fn};

fn main() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(sync_fn(|token: BearerToken| match token.as_str() {
            "good" => Verdict::Authenticated(AuthstarClient::new("bearer", ["read"])),
            "down" => Verdict::Unavailable("backend down".into()),
            _ => Verdict::Rejected,
        }))
        .on_auth_basic(|credentials: BasicCredentials| async move {
            (credentials.password() == "pw").then(|| AuthstarClient::new("basic", ["read"]))
        })
        .on_auth_header(HeaderAuth::x_api_key_with(sync_fn(
            |key: HeaderCredential| {
                (key.as_str() == "ask_k1_s").then(|| AuthstarClient::new("key", ["read"]))
            },
        )))
        .on_auth_request_with(sync_fn(|parts: &Parts| {
            parts
                .headers
                .contains_key("x-session")
                .then(|| AuthstarClient::new("session", ["read"]))
        }))
        .throttle(
            FailureThrottle::new()
                .client_address(|extensions, _| extensions.get::<SocketAddr>().map(|a| a.ip()))
                .header_identity("x-api-key", |key| key.split('_').nth(1)),
        )
        .on_backend_error(BackendErrorPolicy::ServiceUnavailable {
            retry_after: std::time::Duration::from_secs(1),
        })
        .require_authentication()
        .build()
        .expect("a valid layer");
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    // A panic aborts the process (AFL's crash); nothing is observed after an unwind.
    let service = std::panic::AssertUnwindSafe(service);
    afl::fuzz!(|data: &[u8]| {
        let mut request = Request::new(());
        for line in data.split(|b| *b == b'\n') {
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&line[..colon]),
                HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
            ) else {
                continue;
            };
            request.headers_mut().append(name, value);
        }
        let peer = IpAddr::from([192, 0, 2, data.first().copied().unwrap_or(0)]);
        request.extensions_mut().insert(SocketAddr::new(peer, 1));
        let response = futures_executor::block_on((*service).clone().oneshot(request))
            .unwrap_or_else(|never| match never {});
        assert!(
            matches!(response.status().as_u16(), 200 | 401 | 429 | 503),
            "{}",
            response.status()
        );
    });
}

//! Envoy's (and Istio's) external authorization over gRPC: `envoy.service.auth.v3.Authorization`
//! `Check`. [`ExtAuthz`] turns a `CheckRequest` into the request it describes (method, URL,
//! headers, the client's address and certificate from its attributes), asks the same stack as
//! the HTTP checks (the `AuthstarLayer`, the [`PolicyLayer`](crate::PolicyLayer), [`Identity`](crate::Identity))
//! and answers `OkHttpResponse` with the identity headers (a client's own removed) or
//! `DeniedHttpResponse` with the status, the challenges and `Retry-After`. Types from the
//! `envoy-types` crate (generated from Envoy's protos).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use authstar::network::Networks;
use envoy_types::ext_authz::v3::pb::{
    Address, Authorization, CheckRequest, CheckResponse, HeaderAppendAction,
};
use envoy_types::ext_authz::v3::{
    CheckResponseExt, DeniedHttpResponseBuilder, OkHttpResponseBuilder,
};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method, Request, Response, Uri};
use tower_service::Service;

pub use envoy_types::ext_authz::v3::pb::AuthorizationServer;

use crate::IdentityHeaders;

/// What the check request says about the client's connection to Envoy.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Source<'a> {
    /// The client's address and port.
    pub address: Option<SocketAddr>,
    /// Its TLS certificate, URL-encoded PEM (when Envoy terminated mutual TLS).
    pub certificate: Option<&'a str>,
}

type Prepare = Arc<dyn Fn(&mut http::Extensions, Source<'_>) + Send + Sync>;

/// The `Authorization` service: serve it with `AuthorizationServer::new(ext_authz)` on a tonic
/// server only Envoy reaches. `inner` decides, as for the HTTP checks; `prepare` puts the
/// client's address where the layer's `peer_address` reads it (and its certificate, if any).
pub struct ExtAuthz<S> {
    inner: S,
    proxies: Networks,
    identity: Arc<IdentityHeaders>,
    prepare: Prepare,
}

impl<S: Clone> Clone for ExtAuthz<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            proxies: self.proxies.clone(),
            identity: Arc::clone(&self.identity),
            prepare: Arc::clone(&self.prepare),
        }
    }
}

impl<S> fmt::Debug for ExtAuthz<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtAuthz")
            .field("proxies", &self.proxies)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl<S> ExtAuthz<S> {
    /// Checks by `inner`, asked only from `proxies` (the Envoys), answering with `identity`.
    pub fn new<F>(inner: S, proxies: Networks, identity: IdentityHeaders, prepare: F) -> Self
    where
        F: Fn(&mut http::Extensions, Source<'_>) + Send + Sync + 'static,
    {
        Self {
            inner,
            proxies,
            identity: Arc::new(identity),
            prepare: Arc::new(prepare),
        }
    }
}

/// Headers that would name another client address or origin than the one Envoy describes.
const FORWARDING: [&str; 6] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "forwarded",
    "x-real-ip",
    "client-cert",
];

/// The request a `CheckRequest` describes; `None` when it describes none.
fn described(check: &CheckRequest, prepare: &Prepare) -> Option<Request<()>> {
    let attributes = check.attributes.as_ref()?;
    let http = attributes.request.as_ref()?.http.as_ref()?;
    let method = Method::from_bytes(http.method.as_bytes()).ok()?;
    let scheme = match http.scheme.as_str() {
        "" => "http",
        scheme => scheme,
    };
    // `path` holds the query too; an absolute URI gives DPoP its origin and the policy its host.
    let uri = Uri::builder()
        .scheme(scheme)
        .authority(http.host.as_str())
        .path_and_query(http.path.as_str())
        .build()
        .ok()?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    let pairs: Box<dyn Iterator<Item = (&str, &[u8])>> = match &http.header_map {
        Some(map) if http.headers.is_empty() => Box::new(map.headers.iter().map(|h| {
            let value = match h.raw_value.is_empty() {
                true => h.value.as_bytes(),
                false => h.raw_value.as_slice(),
            };
            (h.key.as_str(), value)
        })),
        _ => Box::new(http.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))),
    };
    for (name, value) in pairs {
        // Envoy names the client's address and the URL itself: forwarding headers a client (or
        // a proxy before Envoy) wrote are not believed, whatever the source address.
        if FORWARDING
            .iter()
            .any(|forwarding| name.eq_ignore_ascii_case(forwarding))
        {
            continue;
        }
        // Pseudo-headers (`:path`, `:authority`) are in the URI already; anything unreadable
        // is left out, as a server would refuse it.
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let source = attributes.source.as_ref();
    let address = source
        .and_then(|peer| peer.address.as_ref())
        .and_then(|address| address.address.as_ref())
        .and_then(|address| match address {
            Address::SocketAddress(socket) => {
                let ip: IpAddr = socket.address.parse().ok()?;
                let port = match socket.port_specifier {
                    Some(
                        envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(port),
                    ) => u16::try_from(port).unwrap_or(0),
                    _ => 0,
                };
                Some(SocketAddr::new(ip, port))
            }
            _ => None,
        });
    let certificate = source
        .map(|peer| peer.certificate.as_str())
        .filter(|certificate| !certificate.is_empty());
    prepare(
        request.extensions_mut(),
        Source {
            address,
            certificate,
        },
    );
    Some(request)
}

/// The answer Envoy applies: the identity headers on the upstream request (a client's own
/// removed first), or the refusal as the client should see it.
fn answer<R>(response: &Response<R>, identity: &IdentityHeaders) -> CheckResponse {
    let mut check = CheckResponse::new();
    if response.status().is_success() {
        let mut ok = OkHttpResponseBuilder::new();
        for name in [&identity.client_id, &identity.scopes, &identity.method] {
            match response.headers().get(name).filter(|v| !v.is_empty()) {
                Some(value) => {
                    ok.add_header(
                        name.as_str(),
                        value.to_str().unwrap_or_default(),
                        Some(HeaderAppendAction::OverwriteIfExistsOrAdd),
                        false,
                    );
                }
                None => {
                    ok.remove_header(name.as_str());
                }
            }
        }
        check
            .set_status(tonic::Status::ok(""))
            .set_http_response(ok);
        return check;
    }
    let mut denied = DeniedHttpResponseBuilder::new();
    for (name, value) in response.headers() {
        if name == CONTENT_LENGTH || name == CONTENT_TYPE {
            continue;
        }
        if let Ok(value) = value.to_str() {
            denied.add_header(
                name.as_str(),
                value,
                Some(HeaderAppendAction::AppendIfExistsOrAdd),
                false,
            );
        }
    }
    let mut denied = denied.build();
    denied.status = Some(envoy_types::ext_authz::v3::pb::HttpStatus {
        code: i32::from(response.status().as_u16()),
    });
    let status = match response.status().as_u16() {
        401 => tonic::Status::unauthenticated("authstar: unauthenticated"),
        429 | 503 => tonic::Status::unavailable("authstar: try again later"),
        _ => tonic::Status::permission_denied("authstar: refused"),
    };
    check.set_status(status).set_http_response(denied);
    check
}

#[tonic::async_trait]
impl<S, R> Authorization for ExtAuthz<S>
where
    S: Service<Request<()>, Response = Response<R>, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    R: Send + 'static,
{
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let caller = request.remote_addr().map(|address| address.ip());
        if !caller.is_some_and(|ip| self.proxies.contains(ip)) {
            tracing::warn!(
                ?caller,
                "authstar-gateway: an ext_authz check from outside the proxies is refused"
            );
            return Err(tonic::Status::permission_denied(
                "not a proxy of this gateway",
            ));
        }
        let Some(described) = described(request.get_ref(), &self.prepare) else {
            return Err(tonic::Status::invalid_argument(
                "the CheckRequest describes no HTTP request",
            ));
        };
        let mut inner = self.inner.clone();
        std::future::poll_fn(|cx| inner.poll_ready(cx))
            .await
            .unwrap_or_else(|never| match never {});
        let response = inner
            .call(described)
            .await
            .unwrap_or_else(|never| match never {});
        Ok(tonic::Response::new(answer(&response, &self.identity)))
    }
}

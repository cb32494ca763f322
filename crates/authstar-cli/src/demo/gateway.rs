//! `authstar gateway`: the demo's credentials (API keys, client secrets, the registry's JWTs,
//! DPoP, sessions) and a route policy, asked by a proxy in front of services in any language.
//! `/auth/nginx` answers nginx `auth_request`; `/auth` answers Caddy `forward_auth` and Traefik
//! `ForwardAuth`; with `--ext-authz-port`, Envoy's ext_authz gRPC `Check` on a port of its own.
//! All of them only for the trusted proxies (a check names the request it is about).

use std::convert::Infallible;
use std::net::SocketAddr;

use authstar::network::Networks;
use authstar::{AuthstarClient, DpopAuth};
use authstar_axum::peer_address;
use authstar_gateway::envoy::{ExtAuthz, Source};
use authstar_gateway::{ForwardAuth, Identity, IdentityHeaders, Policy, PolicyLayer, Proxy};
use authstar_jwt::dpop::DpopVerifier;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tower::util::BoxCloneSyncService;

use super::{
    AppOptions, DemoError, DemoService, VERIFIED_TOKENS, auth_layer, keys, limited, rate_limits,
};
use crate::registry::Registry;

/// The decision for Envoy: a request described by a `CheckRequest`, answered bodiless.
pub(super) type EnvoyDecision =
    BoxCloneSyncService<http::Request<()>, http::Response<()>, Infallible>;

/// The gateway's services.
pub(super) struct Gateway {
    /// The HTTP checks and `GET /health`.
    pub(super) http: DemoService,
    /// Envoy's ext_authz `Check`.
    pub(super) ext_authz: ExtAuthz<EnvoyDecision>,
}

/// The gateway for a registry, the issuer whose tokens it accepts, and a policy.
pub(super) fn gateway(
    registry: Registry,
    issuer_url: &str,
    policy: Policy,
    identity: IdentityHeaders,
    proxies: Networks,
    options: AppOptions,
) -> Result<Gateway, DemoError> {
    let (_, cookie_key) = keys(&registry)?;
    let verifier = registry
        .token_verifier(issuer_url)?
        .cache(VERIFIED_TOKENS)
        .build();
    let mut proofs = DpopVerifier::new();
    if let Some(replays) = &options.shared_replays {
        proofs = proofs.share_replays(replays.clone());
        replays.listen(&proofs);
    }
    // A proof names the URL the client asked for: the proxy's X-Forwarded-Proto and -Host (it
    // is trusted) and the original path the check carries; for Envoy, the URL it describes.
    let dpop = DpopAuth::new(proofs, verifier.clone());
    let layer = auth_layer(&registry, verifier, dpop, &cookie_key, &options)?;
    let routes = PolicyLayer::new(&layer, policy);
    // Rate limits count each check of an authenticated client, as the demo's routes do.
    let limits = tower::util::option_layer(rate_limits(&layer, &registry, &options));
    let check = |proxy: Proxy| {
        let decide = tower::ServiceBuilder::new()
            .layer(layer.clone())
            .layer(limits.clone())
            .layer(routes.clone())
            .service(Identity::<AuthstarClient, Body>::new(
                layer.info().clone(),
                identity.clone(),
            ));
        ForwardAuth::new(decide, proxy, proxies.clone(), peer_address)
    };
    let router = Router::new()
        .route_service("/auth/nginx", check(Proxy::Nginx))
        .route_service("/auth", check(Proxy::Forwarded))
        .route("/health", get(|| async { "ok" }));
    let envoy: EnvoyDecision = BoxCloneSyncService::new(
        tower::ServiceBuilder::new()
            .layer(layer.clone())
            .layer(limits)
            .layer(routes)
            .service(Identity::<AuthstarClient, ()>::new(
                layer.info().clone(),
                identity.clone(),
            )),
    );
    let ext_authz = ExtAuthz::new(envoy, proxies, identity, prepare);
    Ok(Gateway {
        http: limited(router, options.limits),
        ext_authz,
    })
}

/// What Envoy says of the client's connection, where the layer reads it: the address as the
/// peer (`ConnectInfo`), the certificate (URL-encoded PEM) as the request's certificate.
fn prepare(extensions: &mut http::Extensions, source: Source<'_>) {
    if let Some(address) = source.address {
        extensions.insert(ConnectInfo::<SocketAddr>(address));
    }
    let certificate = source
        .certificate
        .and_then(|pem| http::HeaderValue::from_str(pem).ok())
        .and_then(|value| authstar_jwt::client_certificate_from_header(&value));
    if let Some(certificate) = certificate {
        extensions.insert(certificate);
    }
}

/// Serves Envoy's `Authorization` service and the gRPC health service on `listener`, until the
/// process ends.
pub(super) async fn serve_ext_authz(
    listener: tokio::net::TcpListener,
    ext_authz: ExtAuthz<EnvoyDecision>,
) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<authstar_gateway::envoy::AuthorizationServer<ExtAuthz<EnvoyDecision>>>()
        .await;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let served = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(authstar_gateway::envoy::AuthorizationServer::new(ext_authz))
        .serve_with_incoming(incoming)
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "authstar gateway: the ext_authz server stopped");
    }
}

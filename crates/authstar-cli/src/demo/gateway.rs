//! `authstar gateway`: the demo's credentials (API keys, client secrets, the registry's JWTs,
//! DPoP, sessions) and a route policy, asked by a proxy in front of services in any language.
//! `/auth/nginx` answers nginx `auth_request`; `/auth` answers Caddy `forward_auth` and Traefik
//! `ForwardAuth`. Both only for the trusted proxies (the check names the request it is about).

use authstar::{AuthstarClient, DpopAuth};
use authstar_axum::peer_address;
use authstar_gateway::{ForwardAuth, Identity, IdentityHeaders, Policy, PolicyLayer, Proxy};
use authstar_jwt::dpop::DpopVerifier;
use axum::Router;
use axum::body::Body;
use axum::routing::get;

use super::{AppOptions, DemoError, DemoService, VERIFIED_TOKENS, auth_layer, keys, limited};
use crate::registry::Registry;

/// The gateway's service: the two check endpoints and `GET /health`.
pub(super) fn app(
    registry: Registry,
    issuer_url: &str,
    policy: Policy,
    identity: IdentityHeaders,
    proxies: authstar::network::Networks,
    options: AppOptions,
) -> Result<DemoService, DemoError> {
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
    // is trusted) and the original path the check carries.
    let dpop = DpopAuth::new(proofs, verifier.clone());
    let layer = auth_layer(&registry, verifier, dpop, &cookie_key, &options)?;
    let routes = PolicyLayer::new(&layer, policy);
    let check = |proxy: Proxy| {
        let decide = tower::ServiceBuilder::new()
            .layer(layer.clone())
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
    Ok(limited(router, options.limits))
}

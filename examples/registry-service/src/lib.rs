//! A registry-backed service, as the guide builds it (docs/guide.md, "A registry-backed
//! service"):
//!
//! * machine clients kept in an authstar registry call with an API key (`X-API-Key`), with
//!   their client id and secret (`Authorization: Basic`), or with a token from this service's
//!   own token endpoint (`POST /oauth2/token`, client credentials);
//! * tokens from your identity provider (found by OpenID discovery) are accepted beside the
//!   registry's own;
//! * routes are guarded by scope; wrong secrets and keys are throttled.
//!
//! Every line is configuration: the authenticators, the token endpoint and the guards are the
//! library's.

#![forbid(unsafe_code)]

use std::time::Duration;

use authstar::throttle::FailureThrottle;
use authstar::{AuthstarClient, AuthstarLayer};
use authstar_axum::{Authenticated, RouteSecurity, authorization_server, peer_address};
use authstar_jwt::{Discovery, Issuers, TokenProfile, jwks};
use authstar_oauth2::AuthorizationServer;
use authstar_registry::Registry;
use axum::routing::get;
use axum::{Json, Router};

/// Any error while setting the service up (a bad secrets file, an unreachable identity
/// provider): said once, at start.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Tokens remembered once verified, per issuer (each until its `exp`).
const VERIFIED_TOKENS: u64 = 10_000;

/// Where the service runs and whom it trusts.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This service's public URL: the `iss` and `aud` of the tokens it issues.
    pub issuer: String,
    /// An identity provider whose tokens are accepted too.
    pub identity_provider: Option<IdentityProvider>,
}

/// An identity provider (Keycloak, Auth0, Entra ID, ...), found by its issuer URL.
#[derive(Clone, Debug)]
pub struct IdentityProvider {
    /// Its issuer URL (`https://sso.example/realms/main`).
    pub issuer: String,
    /// How its tokens are laid out, and the audience they must name for this service.
    pub profile: TokenProfile,
    /// Accept `http://` (a provider on loopback in tests, never in production).
    pub allow_http: bool,
}

/// The service: its routes, the token endpoint and the layer around them.
///
/// | route | who |
/// |---|---|
/// | `GET /me` | any authenticated client |
/// | `GET /reports` | scope `reports:read` |
/// | `POST /oauth2/token`, `GET /.well-known/*` | the authorization server |
pub async fn app(registry: Registry, settings: &Settings) -> Result<Router, Error> {
    // Bearer tokens: the registry's own, and the identity provider's; each token is checked by
    // the verifier of the issuer it names.
    let mut verifiers = vec![
        registry
            .token_verifier(&settings.issuer)?
            .cache(VERIFIED_TOKENS)
            .build(),
    ];
    if let Some(idp) = &settings.identity_provider {
        let mut discovery = Discovery::new(&idp.issuer);
        if idp.allow_http {
            discovery = discovery.allow_http();
        }
        let verifier = discovery.verifier(idp.profile.clone()).await?;
        verifiers.push(verifier.cache(VERIFIED_TOKENS).build());
    }

    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(Issuers::new(verifiers))
        .on_auth_basic_with(registry.client_secrets())
        .on_auth_header(registry.api_keys())
        .peer_address(peer_address)
        .throttle(FailureThrottle::new())
        // A database that does not answer is the server's problem: 503, never a false 401.
        .unavailable_on_backend_error(Duration::from_secs(1))
        .build()?;
    let security = RouteSecurity::new(&layer);

    // The token endpoint authenticates clients with the layer's Basic authenticator (the
    // registry's secrets, throttled alike) and signs with the registry's key.
    let server = AuthorizationServer::builder(&settings.issuer)
        .token(authstar_oauth2::token_endpoint(
            &layer,
            registry.tokens(&settings.issuer)?,
        ))
        .jwks(&jwks(&[registry.signing_key()?]))
        .build()?;

    Ok(Router::new()
        .route("/me", get(me))
        .route(
            "/reports",
            get(reports).route_layer(security.scopes_any(["reports:read"])),
        )
        .merge(authorization_server(server))
        .with_state(security)
        .layer(layer))
}

/// `GET /me`: who is calling.
async fn me(Authenticated(client): Authenticated<AuthstarClient>) -> Json<AuthstarClient> {
    Json(client)
}

/// `GET /reports`: for clients holding `reports:read`.
async fn reports() -> &'static str {
    "reports"
}

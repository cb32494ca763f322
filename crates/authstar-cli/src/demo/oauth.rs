//! The demo's authorization server on the registry: what its token, revocation and
//! introspection endpoints decide (authstar-oauth2 does the HTTP, the client authentication
//! and the error mapping).

use std::sync::Arc;
use std::time::Duration;

use authstar::MethodSet;
use authstar::{AuthstarClient, AuthstarLayer, Client as _};
use authstar_jwt::JwtVerifier;
use authstar_jwt::dpop::DpopVerifier;
use authstar_oauth2::{
    Endpoint, ErrorCode, Introspect, Issue, Revoke, TokenError, TokenIntrospection,
    TokenIntrospector, TokenRevoker,
};

use crate::registry::{Registry, RegistryTokens};

/// `POST /oauth2/token`: RFC 9068 JWTs for active clients, one client check per request (the
/// layer's, on the registry; [`Registry::tokens`] refuses revoked clients and answers
/// `temporarily_unavailable` while the registry is cut off); DPoP-bound to the proof's key when
/// the request carries a `DPoP` proof.
pub(super) fn token_endpoint<M: MethodSet<AuthstarClient>>(
    layer: &AuthstarLayer<AuthstarClient, M>,
    tokens: RegistryTokens,
    dpop: DpopVerifier,
) -> Endpoint<AuthstarClient, Issue<RegistryTokens>> {
    let url = format!(
        "{}{}",
        tokens.issuer().issuer(),
        authstar_oauth2::TOKEN_PATH
    );
    authstar_oauth2::token_endpoint(layer, tokens).dpop(dpop, url)
}

/// How clients authenticate at every endpoint: `private_key_jwt` (RFC 7523) always, TLS
/// certificates (RFC 8705 §2) where certificates reach the app, secrets unless FAPI 2.0 rules
/// them out.
#[derive(Clone)]
pub(super) struct ClientAuth {
    pub(super) limits: Option<authstar::ratelimit::RateLimitLayer<AuthstarClient>>,
    pub(super) assertions: authstar_jwt::ClientAssertionVerifier<Registry>,
    pub(super) certificates: Option<crate::registry::RegistryCertificates>,
    pub(super) fapi2: bool,
}

impl ClientAuth {
    /// `endpoint`, its clients authenticated as configured.
    pub(super) fn apply<A: authstar_oauth2::Action<AuthstarClient>>(
        &self,
        endpoint: Endpoint<AuthstarClient, A>,
    ) -> Endpoint<AuthstarClient, A> {
        let endpoint = endpoint.client_assertions(self.assertions.clone());
        let endpoint = match &self.limits {
            Some(limits) => endpoint.rate_limited(limits.clone()),
            None => endpoint,
        };
        let endpoint = match &self.certificates {
            Some(certificates) => endpoint.client_certificates(certificates.clone()),
            None => endpoint,
        };
        match self.fapi2 {
            true => endpoint.without_client_secrets(),
            false => endpoint,
        }
    }
}

/// How many tokens one client may revoke: a burst, then one more per period. A revocation costs
/// a database write and one change-log entry for every instance to read; a client revoking
/// without bound would drive that for everyone. Per instance (each counts its own).
const REVOCATIONS: authstar::throttle::Budget =
    authstar::throttle::Budget::per_period(100, Duration::from_millis(100));

/// `POST /oauth2/revoke` (RFC 7009): a client revokes one of its own access tokens by its
/// `jti`, until its `exp`. An invalid, expired or already revoked token is answered `200`
/// (§2.2); another client's token is refused, and stays valid. Past its budget
/// ([`REVOCATIONS`]) a client is answered `503` with `Retry-After` (§2.2.1: the client retries;
/// the token still exists meanwhile).
pub(super) fn revocation_endpoint<M: MethodSet<AuthstarClient>>(
    layer: &AuthstarLayer<AuthstarClient, M>,
    registry: Registry,
    verifier: JwtVerifier,
) -> Endpoint<AuthstarClient, Revoke<impl TokenRevoker<AuthstarClient>>> {
    let budgets = Arc::new(authstar::throttle::MemoryStore::new(16_384));
    let revoker = move |token: String, client: AuthstarClient| {
        let (registry, verifier, budgets) = (registry.clone(), verifier.clone(), budgets.clone());
        async move {
            let Ok(claims) = verifier.claims(&token) else {
                return Ok(());
            };
            if claims.client_id != client.client_id() {
                return Err(authstar_oauth2::BoxError::from(TokenError::new(
                    ErrorCode::UnauthorizedClient,
                    "the token was issued to another client",
                )));
            }
            let spent = authstar::throttle::ThrottleKey::Identity {
                scheme: "revocation",
                id: client.client_id(),
            };
            let now = std::time::Instant::now();
            if authstar::throttle::ThrottleStore::locked(&*budgets, &spent, REVOCATIONS, now)
                .is_some()
            {
                return Err(authstar_oauth2::BoxError::from(TokenError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "too many revocations from this client; try again shortly",
                )));
            }
            authstar::throttle::ThrottleStore::fail(&*budgets, &spent, REVOCATIONS, now);
            // The audit trail names the client that revoked its own token.
            registry
                .acting_as(format!("client:{}", claims.client_id))
                .revoke_token(&claims.jti, &claims.client_id, claims.exp)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "authstar demo: a token revocation was not stored");
                    authstar_oauth2::BoxError::from(TokenError::new(
                        ErrorCode::TemporarilyUnavailable,
                        "the revocation could not be stored; try again shortly",
                    ))
                })
        }
    };
    authstar_oauth2::revocation_endpoint(layer, revoker)
}

/// The scope that lets a client introspect tokens issued to others (RFC 7662 §4 leaves who may
/// ask to the server; resource servers are given it).
pub const INTROSPECT_SCOPE: &str = "introspect";

/// `POST /oauth2/introspect` (RFC 7662): a client holding the `introspect` scope (a resource
/// server) learns what any token stands for; any other client only about its own tokens. The
/// answer for a token that does not verify, expired, was revoked, or is another client's
/// (asked without the scope) is `{"active": false}` and nothing else: no one learns whether a
/// token they may not ask about is valid.
pub(super) fn introspection_endpoint<M: MethodSet<AuthstarClient>>(
    layer: &AuthstarLayer<AuthstarClient, M>,
    registry: Registry,
    verifier: JwtVerifier,
) -> Endpoint<AuthstarClient, Introspect<impl TokenIntrospector<AuthstarClient>>> {
    let current = registry;
    let introspector = move |token: String, caller: AuthstarClient| {
        let answer = if !current.revocations_current() {
            Err(TokenError::new(
                ErrorCode::TemporarilyUnavailable,
                "the registry is unreachable; try again shortly",
            ))
        } else {
            let answer: TokenIntrospection = verifier.introspect(&token);
            let allowed = caller.has_scope(INTROSPECT_SCOPE)
                || answer.client_id.as_deref() == Some(caller.client_id());
            Ok(if allowed {
                answer
            } else {
                TokenIntrospection::inactive()
            })
        };
        std::future::ready(answer)
    };
    authstar_oauth2::introspection_endpoint(layer, introspector)
}

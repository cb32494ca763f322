//! Every benchmarked variant, built once; each owns its service and its prebuilt request.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use authstar::{
    AuthstarClient, AuthstarLayer, BasicCredentials, BearerToken, HeaderAuth, HeaderCredential,
    sync_fn,
};
use authstar_axum::{Authenticated, RouteSecurity, Scoped};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum_extra::TypedHeader;
use axum_extra::headers::Authorization;
use axum_extra::headers::authorization::Bearer;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{Request, Response};
use tower::service_fn;
use tower_http::auth::AsyncRequireAuthorizationLayer;
use tower_layer::Layer;
use tower_service::Service;

use crate::peers::{self, Minimal, MinimalLayer, Noop, Tokens};
use crate::{Group, Variant};

/// The in-process floor.
pub(crate) const FLOOR: &str = "bare service_fn (floor)";
/// A no-op layer.
pub(crate) const NOOP: &str = "no-op layer";
/// Hand-written minimal bearer layer.
pub(crate) const MINIMAL_BEARER: &str = "minimal bearer layer (hand-written)";
/// Hand-written minimal Basic layer.
pub(crate) const MINIMAL_BASIC: &str = "minimal Basic layer (hand-written)";
/// Hand-written minimal API-key layer.
pub(crate) const MINIMAL_API_KEY: &str = "minimal X-API-Key layer (hand-written)";
/// tower-http's async authorization layer.
pub(crate) const TOWER_HTTP: &str = "tower-http AsyncRequireAuthorization, bearer";
/// authstar, valid bearer.
pub(crate) const AUTHSTAR_BEARER: &str = "authstar bearer";
/// authstar, valid bearer, async closure.
pub(crate) const AUTHSTAR_BEARER_ASYNC: &str = "authstar bearer (async closure)";
/// authstar, valid Basic.
pub(crate) const AUTHSTAR_BASIC: &str = "authstar Basic";
/// authstar, valid API key, the layer configured for API keys only (like the minimal layer).
pub(crate) const AUTHSTAR_API_KEY: &str = "authstar X-API-Key";
/// authstar, valid API key, with Bearer and Basic configured too (the `Authorization` header is
/// looked at first).
pub(crate) const AUTHSTAR_API_KEY_ALL: &str = "authstar X-API-Key (bearer+basic+key configured)";
/// authstar, no credentials, three methods.
pub(crate) const AUTHSTAR_ANONYMOUS: &str = "authstar anonymous (bearer+basic+key)";
/// authstar, no credentials, four methods.
pub(crate) const AUTHSTAR_ANONYMOUS_REQUEST: &str = "authstar anonymous (+request authenticator)";
/// authstar, malformed header.
pub(crate) const AUTHSTAR_MALFORMED: &str = "authstar malformed bearer";
/// authstar, rejected token.
pub(crate) const AUTHSTAR_REJECTED: &str = "authstar rejected bearer";

/// The axum floor.
pub(crate) const AXUM_FLOOR: &str = "axum: unsecured route (floor)";
/// A no-op route layer.
pub(crate) const AXUM_NOOP_ROUTE_LAYER: &str = "axum: no-op route_layer";
/// axum-extra's typed header extractor.
pub(crate) const AXUM_TYPED_HEADER: &str =
    "axum: axum-extra TypedHeader<Authorization<Bearer>> + lookup";
/// A hand-written extractor.
pub(crate) const AXUM_HANDWRITTEN: &str = "axum: hand-written FromRequestParts bearer guard";
/// authstar layer only.
pub(crate) const AXUM_AUTHSTAR_LAYER: &str = "axum: authstar layer, no guard";
/// authstar layer + extractor.
pub(crate) const AXUM_AUTHSTAR_EXTRACTOR: &str = "axum: authstar layer + Authenticated extractor";
/// authstar around the whole router + extractor.
pub(crate) const AXUM_AUTHSTAR_AROUND_EXTRACTOR: &str =
    "axum: authstar around the Router + Authenticated extractor";
/// authstar around the whole router, no guard.
pub(crate) const AXUM_AUTHSTAR_AROUND: &str = "axum: authstar around the Router, no guard";
/// authstar layer (async closure) + extractor.
pub(crate) const AXUM_AUTHSTAR_ASYNC_EXTRACTOR: &str =
    "axum: authstar layer (async closure) + Authenticated extractor";
/// authstar layer + authenticated route layer.
pub(crate) const AXUM_AUTHSTAR_GUARD: &str = "axum: authstar layer + authenticated() route_layer";
/// authstar layer + scopes route layer.
pub(crate) const AXUM_AUTHSTAR_SCOPES: &str = "axum: authstar layer + scopes_any() route_layer";
/// authstar around the whole router + scopes route layer.
pub(crate) const AXUM_AROUND_SCOPES: &str =
    "axum: authstar around the Router + scopes_any() route_layer";
/// authstar around the whole router + authenticated route layer.
pub(crate) const AXUM_AROUND_GUARD: &str =
    "axum: authstar around the Router + authenticated() route_layer";
/// authstar around the whole router + the `Scoped` extractor (scope check, no route layer).
pub(crate) const AXUM_AROUND_SCOPED: &str = "axum: authstar around the Router + Scoped extractor";
/// authstar layer + scopes route layer + extractor.
pub(crate) const AXUM_AUTHSTAR_SCOPES_EXTRACTED: &str =
    "axum: authstar + scopes_any() + Authenticated";

/// Calls `service` once and polls the response future once (every benchmarked future
/// completes at once).
pub(crate) fn drive<S, R>(service: &mut S, request: R) -> S::Response
where
    S: Service<R>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))),
        "service not ready"
    );
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(error)) => panic!("service failed: {error:?}"),
        Poll::Pending => panic!("benchmarked futures complete at once"),
    }
}

pub(crate) fn inner(request: Request<()>) -> Ready<Result<Response<()>, Infallible>> {
    black_box(&request);
    ready(Ok(Response::new(())))
}

/// A tower variant: `service` called with a request carrying `credential` (if any).
pub(crate) fn tower<S, B>(
    name: &'static str,
    mut service: S,
    credential: Option<(&'static str, String)>,
) -> Variant
where
    S: Service<Request<()>, Response = Response<B>> + 'static,
    S::Error: std::fmt::Debug,
{
    let prototype = peers::request(credential);
    Variant {
        name,
        group: Group::InProcess,
        lazy: false,
        run: Box::new(move |iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(drive(&mut service, prototype.clone()));
            }
            start.elapsed()
        }),
    }
}

/// What `axum::serve` does before the first request (`into_make_service` calls
/// `with_state(())`): handlers become routes once, instead of on every request.
fn served(router: Router) -> Router {
    router.with_state(())
}

fn axum<S>(name: &'static str, mut router: S, credential: Option<(&'static str, String)>) -> Variant
where
    S: Service<Request<Body>> + 'static,
    S::Error: std::fmt::Debug,
{
    let (parts, ()) = peers::request(credential).into_parts();
    Variant {
        name,
        group: Group::Axum,
        lazy: false,
        run: Box::new(move |iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let request = Request::from_parts(parts.clone(), Body::empty());
                black_box(drive(&mut router, request));
            }
            start.elapsed()
        }),
    }
}

/// The authstar layer the variants use: bearer and API key against the token table, Basic
/// against the user table, each a `sync_fn` (the lookups never wait).
fn authstar_layer(
    tokens: Tokens,
    users: peers::Users,
) -> AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>> {
    let keys = tokens.clone();
    AuthstarLayer::builder()
        .on_auth_bearer_with(sync_fn(move |token: BearerToken| {
            tokens.get(token.as_str()).cloned()
        }))
        .on_auth_basic_with(sync_fn(move |credentials: BasicCredentials| {
            users
                .get(credentials.username())
                .filter(|(password, _)| password == credentials.password())
                .map(|(_, client)| client.clone())
        }))
        .on_auth_header(HeaderAuth::x_api_key_with(sync_fn(
            move |key: HeaderCredential| keys.get(key.as_str()).cloned(),
        )))
        .build()
        .expect("valid configuration")
}

/// The same bearer lookup as an `async` closure: the middleware drives its future.
fn authstar_async_layer(
    tokens: Tokens,
) -> AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>> {
    AuthstarLayer::builder()
        .on_auth_bearer(move |token: BearerToken| {
            let found = tokens.get(token.as_str()).cloned();
            async move { found }
        })
        .build()
        .expect("valid configuration")
}

#[derive(Clone)]
struct Session(AuthstarClient);

/// A hand-written axum extractor doing the minimal bearer lookup.
struct MinimalClient(#[allow(dead_code)] AuthstarClient);

impl FromRequestParts<Tokens> for MinimalClient {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, tokens: &Tokens) -> Result<Self, StatusCode> {
        parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| tokens.get(t).cloned())
            .map(MinimalClient)
            .ok_or(StatusCode::UNAUTHORIZED)
    }
}

/// Every variant, in report order.
pub(crate) fn all() -> Vec<Variant> {
    let tokens = peers::tokens();
    let users = peers::users();
    let bare = || service_fn(inner);
    let layer = authstar_layer(tokens.clone(), users.clone());
    let async_layer = authstar_async_layer(tokens.clone());
    let key_layer = {
        let keys = tokens.clone();
        AuthstarLayer::builder()
            .on_auth_header(HeaderAuth::x_api_key_with(sync_fn(
                move |key: HeaderCredential| keys.get(key.as_str()).cloned(),
            )))
            .build()
            .expect("valid configuration")
    };
    let with_request = {
        let keys = tokens.clone();
        let tokens = tokens.clone();
        AuthstarLayer::builder()
            .on_auth_bearer(move |token: BearerToken| {
                let found = tokens.get(token.as_str()).cloned();
                async move { found }
            })
            .on_auth_header(HeaderAuth::x_api_key(move |key: HeaderCredential| {
                let found = keys.get(key.as_str()).cloned();
                async move { found }
            }))
            .on_auth_request(|parts: &Parts| {
                let session = parts.extensions.get::<Session>().map(|s| s.0.clone());
                async move { session }
            })
            .build()
            .expect("valid configuration")
    };
    let tower_http = {
        let tokens = tokens.clone();
        AsyncRequireAuthorizationLayer::new(move |mut request: Request<()>| {
            let client = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|t| tokens.get(t).cloned());
            async move {
                match client {
                    Some(client) => {
                        request.extensions_mut().insert(client);
                        Ok(request)
                    }
                    None => {
                        let mut refused = Response::new(());
                        *refused.status_mut() = StatusCode::UNAUTHORIZED;
                        Err(refused)
                    }
                }
            }
        })
    };

    let mut variants = vec![
        tower(FLOOR, bare(), peers::bearer()),
        tower(NOOP, Noop.layer(bare()), peers::bearer()),
        tower(
            MINIMAL_BEARER,
            MinimalLayer(Minimal::Bearer(tokens.clone())).layer(bare()),
            peers::bearer(),
        ),
        tower(
            MINIMAL_BASIC,
            MinimalLayer(Minimal::Basic(users.clone())).layer(bare()),
            peers::basic(),
        ),
        tower(
            MINIMAL_API_KEY,
            MinimalLayer(Minimal::ApiKey(tokens.clone())).layer(bare()),
            peers::api_key(),
        ),
        tower(TOWER_HTTP, tower_http.layer(bare()), peers::bearer()),
        tower(AUTHSTAR_BEARER, layer.layer(bare()), peers::bearer()),
        tower(
            AUTHSTAR_BEARER_ASYNC,
            async_layer.layer(bare()),
            peers::bearer(),
        ),
        tower(AUTHSTAR_BASIC, layer.layer(bare()), peers::basic()),
        tower(AUTHSTAR_API_KEY, key_layer.layer(bare()), peers::api_key()),
        tower(AUTHSTAR_API_KEY_ALL, layer.layer(bare()), peers::api_key()),
        tower(AUTHSTAR_ANONYMOUS, layer.layer(bare()), None),
        tower(AUTHSTAR_ANONYMOUS_REQUEST, with_request.layer(bare()), None),
        tower(
            AUTHSTAR_MALFORMED,
            layer.layer(bare()),
            Some(("authorization", "Bearer not,a token".to_owned())),
        ),
        tower(
            AUTHSTAR_REJECTED,
            layer.layer(bare()),
            Some((
                "authorization",
                "Bearer tok_unknown00000000000000000000000".to_owned(),
            )),
        ),
    ];

    let ok = || async { "ok" };
    let security = RouteSecurity::new(&layer);
    let typed = {
        async fn handler(
            State(tokens): State<Tokens>,
            TypedHeader(Authorization(bearer)): TypedHeader<Authorization<Bearer>>,
        ) -> Result<&'static str, StatusCode> {
            let client = tokens
                .get(bearer.token())
                .cloned()
                .ok_or(StatusCode::UNAUTHORIZED)?;
            black_box(client);
            Ok("ok")
        }
        Router::new()
            .route("/reports", get(handler))
            .with_state(tokens.clone())
    };
    let handwritten = {
        async fn handler(client: MinimalClient) -> &'static str {
            black_box(client);
            "ok"
        }
        Router::new()
            .route("/reports", get(handler))
            .with_state(tokens.clone())
    };
    async fn extracted(Authenticated(client): Authenticated<AuthstarClient>) -> &'static str {
        black_box(client);
        "ok"
    }
    authstar_axum::scopes!(ReportsRead = any["reports:read"]);
    async fn scoped(Scoped(client, _): Scoped<AuthstarClient, ReportsRead>) -> &'static str {
        black_box(client);
        "ok"
    }
    variants.extend([
        axum(
            AXUM_FLOOR,
            served(Router::new().route("/reports", get(ok))),
            peers::bearer(),
        ),
        axum(
            AXUM_NOOP_ROUTE_LAYER,
            served(Router::new().route("/reports", get(ok).route_layer(Noop))),
            peers::bearer(),
        ),
        axum(AXUM_TYPED_HEADER, typed, peers::bearer()),
        axum(AXUM_HANDWRITTEN, handwritten, peers::bearer()),
        axum(
            AXUM_AUTHSTAR_LAYER,
            served(
                Router::new()
                    .route("/reports", get(ok))
                    .layer(layer.clone()),
            ),
            peers::bearer(),
        ),
        axum(
            AXUM_AUTHSTAR_EXTRACTOR,
            Router::new()
                .route("/reports", get(extracted))
                .with_state(security.clone())
                .layer(layer.clone()),
            peers::bearer(),
        ),
        axum(
            AXUM_AUTHSTAR_AROUND,
            layer.layer(served(Router::new().route("/reports", get(ok)))),
            peers::bearer(),
        ),
        axum(
            AXUM_AUTHSTAR_AROUND_EXTRACTOR,
            layer.layer(
                Router::new()
                    .route("/reports", get(extracted))
                    .with_state(security.clone()),
            ),
            peers::bearer(),
        ),
        axum(
            AXUM_AUTHSTAR_ASYNC_EXTRACTOR,
            Router::new()
                .route("/reports", get(extracted))
                .with_state(RouteSecurity::new(&async_layer))
                .layer(async_layer.clone()),
            peers::bearer(),
        ),
        axum(
            AXUM_AUTHSTAR_GUARD,
            served(
                Router::new()
                    .route("/reports", get(ok).route_layer(security.authenticated()))
                    .layer(layer.clone()),
            ),
            peers::bearer(),
        ),
        axum(
            AXUM_AUTHSTAR_SCOPES,
            served(
                Router::new()
                    .route(
                        "/reports",
                        get(ok).route_layer(security.scopes_any(["reports:read"])),
                    )
                    .layer(layer.clone()),
            ),
            peers::bearer(),
        ),
        axum(
            AXUM_AROUND_GUARD,
            layer.layer(served(
                Router::new().route("/reports", get(ok).route_layer(security.authenticated())),
            )),
            peers::bearer(),
        ),
        axum(
            AXUM_AROUND_SCOPES,
            layer.layer(served(Router::new().route(
                "/reports",
                get(ok).route_layer(security.scopes_any(["reports:read"])),
            ))),
            peers::bearer(),
        ),
        axum(
            AXUM_AROUND_SCOPED,
            layer.layer(
                Router::new()
                    .route("/reports", get(scoped))
                    .with_state(security.clone()),
            ),
            peers::bearer(),
        ),
        axum(
            AXUM_AUTHSTAR_SCOPES_EXTRACTED,
            Router::new()
                .route(
                    "/reports",
                    get(extracted).route_layer(security.scopes_any(["reports:read"])),
                )
                .with_state(security.clone())
                .layer(layer.clone()),
            peers::bearer(),
        ),
    ]);
    variants
}

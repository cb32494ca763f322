//! The demo's handlers, its OpenAPI document and its RFC 8414 metadata.

use authstar::AuthstarClient;
use authstar_axum::openapi::{
    API_KEY, DPOP, HTTP_BASIC, HTTP_BEARER, OAUTH2, SecuredRoutes, SecuritySchemes,
};
use authstar_axum::ws::WebSocketPolicy;
use authstar_axum::{Authenticated, RouteSecurity};
use axum::Json;
use axum::extract::ws::Message;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::Key;

use super::auth::Standing;
use super::server::ConnectionSlot;
use crate::registry::Registry;
use utoipa::openapi::path::{Operation, OperationBuilder, PathItem};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{HttpMethod, Paths, PathsBuilder, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The OpenAPI tags, one per area, with what each holds.
const RESOURCES: &str = "resources";
const SESSION: &str = "session";
const HEALTH: &str = "health";
const ADMIN: &str = "admin";
const TAGS: [(&str, &str); 5] = [
    (
        authstar_oauth2::openapi::TAG,
        "Tokens for client credentials (RFC 6749, DPoP), revocation, introspection, metadata, keys",
    ),
    (RESOURCES, "The API the credentials open"),
    (
        SESSION,
        "A browser session from client credentials, and the websocket",
    ),
    (ADMIN, "Clients and API keys in the registry (scope admin)"),
    (HEALTH, "For internal networks"),
];

/// Public.
#[utoipa::path(get, tag = RESOURCES, path = "/", responses((status = 200, description = "Where to start")))]
pub(super) async fn index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "service": "authstar demo",
        "docs": "/docs",
        "token_endpoint": "/oauth2/token",
        "jwks_uri": "/.well-known/jwks.json",
    }))
}

/// The authenticated client.
#[utoipa::path(get, tag = RESOURCES, path = "/me", responses((status = 200, description = "The client: client_id and scopes")))]
pub(super) async fn me(
    Authenticated(client): Authenticated<AuthstarClient>,
) -> Json<AuthstarClient> {
    Json(client)
}

/// Reports: any of `reports:read`, `admin`.
#[utoipa::path(get, tag = RESOURCES, path = "/reports", responses((status = 200, description = "Reports")))]
pub(super) async fn reports(
    Authenticated(client): Authenticated<AuthstarClient>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({"reports": ["2026-10", "2026-11"], "client_id": client.client_id()}))
}

/// Export: all of `reports:read`, `reports:export`.
#[utoipa::path(get, tag = RESOURCES, path = "/reports/export", responses((status = 200, description = "CSV export")))]
pub(super) async fn export() -> &'static str {
    "month,total\n2026-10,42\n2026-11,57\n"
}

/// Internal networks only.
#[utoipa::path(get, tag = HEALTH, path = "/internal/health", responses((status = 200, description = "ok")))]
pub(super) async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// What the websocket route needs: its policy (origins, limits, timeouts) and what it checks
/// a socket's credential against.
#[derive(Clone)]
pub(super) struct Websockets {
    pub(super) policy: WebSocketPolicy,
    pub(super) registry: Registry,
    pub(super) cookie_key: Key,
}

/// `GET /ws`: `{"client_id": ...}`, then echo, under the demo's [`WebSocketPolicy`]: an
/// `Origin`, when the handshake carries one, must be the service's own or an
/// `--allowed-origin`, whatever the credential (a browser attaches cookies and cached Basic
/// credentials by itself); messages of 64 KiB at most; closed after 60 s without a message, after
/// an hour, and (`1008`) once the client, or the key, token or session that opened the socket,
/// is no longer valid (checked every `--ws-recheck`). The socket keeps its connection's slot
/// until it closes.
pub(super) async fn websocket(
    sockets: Websockets,
    State(security): State<RouteSecurity<AuthstarClient>>,
    headers: HeaderMap,
    extensions: Extensions,
    upgrade: WebSocketUpgrade,
) -> Response {
    // The same refusal as every guard: 401 with the layer's challenges, before the upgrade.
    let (client, method) = match security.stored_client(&extensions) {
        Ok(found) => found,
        Err(rejection) => return rejection.into_response(),
    };
    let client = client.clone();
    let client_id = client.client_id().to_owned();
    let standing = Standing::of(method, &client, &headers, &sockets.cookie_key);
    let slot = extensions.get::<ConnectionSlot>().cloned();
    let registry = sockets.registry.clone();
    let still_valid = move || {
        let (registry, client, standing) = (registry.clone(), client.clone(), standing.clone());
        async move { standing.still_valid(&registry, &client).await }
    };
    let owner = client_id.clone();
    sockets.policy.upgrade(
        &headers,
        upgrade,
        &owner,
        still_valid,
        move |mut socket| async move {
            // Held until the socket closes: a websocket counts against the connection limits.
            let _slot = slot;
            let hello = serde_json::json!({ "client_id": client_id }).to_string();
            if socket.send(Message::Text(hello.into())).await.is_err() {
                return;
            }
            while let Some(message) = socket.recv().await {
                if socket.send(message).await.is_err() {
                    break;
                }
            }
        },
    )
}

#[derive(OpenApi)]
#[openapi(
    paths(
        index,
        me,
        reports,
        export,
        health,
        super::admin::list_clients,
        super::admin::create_client,
        super::admin::revoke_client,
        super::admin::set_client_jwks,
        super::admin::set_client_certificate,
        super::admin::keys::list_keys,
        super::admin::keys::create_key,
        super::admin::keys::rotate_key,
        super::admin::keys::revoke_key,
        super::admin::keys::set_client_scopes,
        super::admin::keys::set_client_rate_limit,
        super::admin::keys::set_key_rate_limit,
        super::admin::keys::set_key_expiry,
        super::admin::keys::audit,
    ),
    info(title = "authstar demo", version = "0.1.0")
)]
struct ApiDoc;

/// `POST /session`, `DELETE /session` and `GET /ws`: served by closures over their state, so
/// described here rather than by `utoipa::path`.
fn session_paths() -> Paths {
    let operation = |summary: &str, responses: &[(&str, &str)]| {
        let mut operation = OperationBuilder::new().tag(SESSION).summary(Some(summary));
        for (status, description) in responses {
            operation =
                operation.response(*status, ResponseBuilder::new().description(*description));
        }
        operation.build()
    };
    let mut session = PathItem::new(
        HttpMethod::Post,
        operation(
            "Open a session: a signed cookie for the client the credentials name",
            &[
                ("200", "The client; Set-Cookie: the session"),
                (
                    "400",
                    "A session, a DPoP-bound token or an expired credential cannot mint one",
                ),
                ("401", "No credentials"),
            ],
        ),
    );
    session.delete = Some(operation(
        "Close the session: the cookie cleared",
        &[("204", "Set-Cookie: cleared")],
    ));
    PathsBuilder::new()
        .path("/session", session)
        .path(
            "/ws",
            PathItem::new(
                HttpMethod::Get,
                operation(
                    "An authenticated websocket: {\"client_id\": ...}, then echo; checked again while open",
                    &[
                        ("101", "Switching protocols"),
                        ("401", "No credentials"),
                        ("403", "A session from another origin"),
                        ("429", "Too many sockets for this client"),
                    ],
                ),
            ),
        )
        .build()
}

/// The OpenAPI document: every route, tagged by area, with its security schemes and per-route
/// requirements; the authorization server's routes as `server` describes them.
pub(super) fn openapi(server: &authstar_oauth2::AuthorizationServer) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.paths
        .paths
        .extend(authstar_oauth2::openapi::paths(server).paths);
    doc.paths.paths.extend(session_paths().paths);
    doc.tags = Some(
        TAGS.iter()
            .map(|(name, description)| {
                TagBuilder::new()
                    .name(*name)
                    .description(Some(*description))
                    .build()
            })
            .collect(),
    );
    SecuritySchemes::common()
        .http_bearer()
        .dpop()
        .scope("reports:read", "Read reports")
        .scope("reports:export", "Export reports")
        .scope("admin", "Everything")
        .modify(&mut doc);
    let any: [(&str, &[&str]); 5] = [
        (OAUTH2, &[]),
        (HTTP_BEARER, &[]),
        (DPOP, &[]),
        (API_KEY, &[]),
        (HTTP_BASIC, &[]),
    ];
    let read: [(&str, &[&str]); 3] = [
        (OAUTH2, &["reports:read"]),
        (API_KEY, &[]),
        (HTTP_BASIC, &[]),
    ];
    let export: [(&str, &[&str]); 3] = [
        (OAUTH2, &["reports:read", "reports:export"]),
        (API_KEY, &[]),
        (HTTP_BASIC, &[]),
    ];
    // The admin API: the `admin` scope, from a token, Basic credentials or an API key.
    let admin: [(&str, &[&str]); 3] = [(OAUTH2, &["admin"]), (API_KEY, &[]), (HTTP_BASIC, &[])];
    let mut secured = SecuredRoutes::new()
        .route(HttpMethod::Get, "/me", any)
        .route(HttpMethod::Get, "/reports", read)
        .route(HttpMethod::Get, "/reports/export", export)
        .route(HttpMethod::Get, "/ws", any);
    // Every admin operation, however many there are: the `admin` scope, and the refusals each
    // of them may answer besides its own.
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/admin/") {
            continue;
        }
        for (method, operation) in operations(item) {
            secured = secured.route(method.clone(), path.clone(), admin);
            let mut refusals = vec![
                ("401", "No credentials, or refused ones"),
                ("403", "No admin scope"),
                ("429", "Over the caller's rate limit, or too many failures"),
                ("503", "The registry is unavailable; try again shortly"),
            ];
            if matches!(method, HttpMethod::Post | HttpMethod::Put) {
                refusals.push(("415", "Not JSON (Content-Type)"));
            }
            for (status, description) in refusals {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .build()
                            .into()
                    });
            }
        }
    }
    secured.modify(&mut doc);
    doc
}

/// A path's operations, by method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, &mut item.get),
        (HttpMethod::Post, &mut item.post),
        (HttpMethod::Put, &mut item.put),
        (HttpMethod::Delete, &mut item.delete),
        (HttpMethod::Patch, &mut item.patch),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_mut()?)))
}

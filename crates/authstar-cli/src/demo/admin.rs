//! `/admin`: create, list and revoke clients and API keys as JSON, for automation. Guarded by
//! the `admin` scope; the CLI works on the database directly and both see the same rows.
//!
//! | route | answer |
//! |---|---|
//! | `GET /admin/clients` | every client (never a secret) |
//! | `POST /admin/clients` `{"client_id"?, "scopes"}` | `201` with the generated secret, shown once |
//! | `DELETE /admin/clients/{client_id}` | `204`; its keys and tokens stop on every instance within a second |
//! | `GET /admin/keys` | every API key (never the key) |
//! | `POST /admin/keys` `{"client_id", "scopes"?}` | `201` with the key, shown once |
//! | `DELETE /admin/keys/{key_id}` | `204` |
//!
//! Errors are `{"error", "error_description"}`: 400 for a malformed body, id or scope, 404 for
//! an unknown client or key, 409 for a taken id or a revoked client, 503 when the database
//! fails. The session cookie is refused here (403): a browser carries it by itself, so an admin
//! action must come with a credential the caller sends on purpose.

use authstar::{AuthMethod, AuthstarClient};
use authstar_axum::RouteSecurity;
use authstar_oauth2::mtls::CertificateRule;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::registry::{Registry, RegistryError};

pub(super) mod keys;

/// What the admin routes share.
#[derive(Clone)]
pub(super) struct Admin {
    security: RouteSecurity<AuthstarClient>,
    pub(super) registry: Registry,
}

impl Admin {
    /// The registry, its changes recorded in the audit trail as made by this admin.
    pub(super) fn by(&self, caller: &str) -> Registry {
        self.registry.acting_as(format!("admin:{caller}"))
    }
}

impl FromRef<Admin> for RouteSecurity<AuthstarClient> {
    fn from_ref(admin: &Admin) -> Self {
        admin.security.clone()
    }
}

/// `POST /admin/clients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewClient {
    /// The id; generated when absent.
    #[serde(default)]
    client_id: Option<String>,
    /// Scopes the client may be granted.
    #[serde(default)]
    scopes: Vec<String>,
    /// `client_secret_basic` (default: a secret is generated and shown once),
    /// `private_key_jwt` (with `jwks`), `tls_client_auth` or `self_signed_tls_client_auth`
    /// (with `certificate`); only the first has a secret.
    #[serde(default)]
    auth_method: Option<String>,
    /// The public keys of a `private_key_jwt` client, a JWKS document.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    /// What the certificate of a certificate client must be (RFC 8705 §2.1.2, §2.2), one
    /// member: `tls_client_auth_subject_dn`, `tls_client_auth_san_dns`, `_san_uri`, `_san_ip`,
    /// `_san_email`, or `x5c` (self-signed certificates, base64 DER).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    certificate: Option<CertificateRule>,
}

/// Where a page starts and how long it is (`?after=…&limit=…`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Page {
    /// The last id of the previous page.
    pub(super) after: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub(super) limit: Option<u32>,
}

impl Page {
    pub(super) fn size(&self) -> u32 {
        self.limit
            .unwrap_or(100)
            .clamp(1, crate::registry::MAX_PAGE)
    }

    /// `items` as JSON, with a `Link` to the next page when this one is full.
    pub(super) fn answer(
        &self,
        path: &str,
        items: Vec<impl serde::Serialize>,
        last: Option<String>,
    ) -> Response {
        let full = items.len() == self.size() as usize;
        let mut response = Json(items).into_response();
        if let (true, Some(last)) = (full, last) {
            let after: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
            let joiner = if path.contains('?') { '&' } else { '?' };
            let link = format!(
                "<{path}{joiner}after={after}&limit={}>; rel=\"next\"",
                self.size()
            );
            if let Ok(value) = HeaderValue::from_str(&link) {
                response
                    .headers_mut()
                    .insert(axum::http::header::LINK, value);
            }
        }
        response
    }
}

/// An error answer.
pub(super) fn error(status: StatusCode, code: &str, description: impl Into<String>) -> Response {
    let body = serde_json::json!({"error": code, "error_description": description.into()});
    (status, Json(body)).into_response()
}

/// A registry error as the caller's answer; a database failure is logged, not shown.
pub(super) fn refused(failure: RegistryError) -> Response {
    use RegistryError as E;
    let (status, code) = match &failure {
        E::UnknownClient(_) | E::UnknownKey(_) => (StatusCode::NOT_FOUND, "not_found"),
        E::ClientExists(_) | E::ClientRevoked(_) | E::KeyClient(_) => {
            (StatusCode::CONFLICT, "conflict")
        }
        E::InvalidClientId(_)
        | E::InvalidScope(_)
        | E::ScopeNotGranted { .. }
        | E::InvalidJwks(_)
        | E::InvalidCertificate(_)
        | E::InvalidKeyName
        | E::InvalidKeyLifetime
        | E::InvalidRateLimit => (StatusCode::BAD_REQUEST, "invalid_request"),
        _ => {
            tracing::error!(error = %failure, "authstar demo: admin request failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the registry is unavailable; try again shortly",
            );
        }
    };
    error(status, code, failure.to_string())
}

/// A body that is not the JSON asked for: 400 (or 415 without a JSON content type), in the
/// same shape as every other error.
pub(super) fn bad_body(rejection: &JsonRejection) -> Response {
    let status = match rejection {
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    error(status, "invalid_request", rejection.body_text())
}

/// A response carrying a secret shown once: never cached.
pub(super) fn created_response(body: impl serde::Serialize) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The caller of an admin route: authenticated (the scope guard has run), not by the session
/// cookie.
pub(super) struct AdminCaller(pub(super) String);

impl FromRequestParts<Admin> for AdminCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, admin: &Admin) -> Result<Self, Response> {
        let (client, method) = admin
            .security
            .stored_client(&parts.extensions)
            .map_err(IntoResponse::into_response)?;
        if *method == AuthMethod::Request {
            return Err(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the admin API does not accept the session cookie: send a bearer token, Basic \
                 client credentials or an API key",
            ));
        }
        Ok(Self(client.client_id().to_owned()))
    }
}

/// Clients by id, a page at a time (`?after=ID&limit=N`, default 100, at most 1000); a
/// `Link: <…>; rel="next"` header names the next page.
#[utoipa::path(get, tag = "admin", path = "/admin/clients", params(Page), responses(
    (status = 200, description = "A page of clients: client_id, scopes, created_at, last_used_at, revoked, auth_method"),
    (status = 401, description = "No credentials"), (status = 403, description = "No admin scope"),
))]
pub(super) async fn list_clients(
    AdminCaller(_): AdminCaller,
    State(admin): State<Admin>,
    Query(page): Query<Page>,
) -> Response {
    match admin
        .registry
        .client_page(page.after.as_deref(), page.size())
        .await
    {
        Ok(clients) => {
            let next = clients.last().map(|last| last.client_id.clone());
            page.answer("/admin/clients", clients, next)
        }
        Err(failure) => refused(failure),
    }
}

/// Creates a client with a generated secret, shown once.
#[utoipa::path(post, tag = "admin", path = "/admin/clients", request_body = NewClient, responses(
    (status = 201, description = "client_id, client_secret (shown only now), scopes"),
    (status = 400, description = "Malformed body, id or scope"), (status = 409, description = "The id is taken"),
))]
pub(super) async fn create_client(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    body: Result<Json<NewClient>, JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    match (
        new.auth_method.as_deref(),
        &new.jwks,
        &new.client_id,
        &new.certificate,
    ) {
        (None | Some("client_secret_basic" | "client_secret_post"), None, _, None) => {}
        (
            Some(method @ ("tls_client_auth" | "self_signed_tls_client_auth")),
            None,
            Some(id),
            Some(rule),
        ) if rule.method().as_str() == method => {
            let created = admin
                .by(&caller)
                .create_certificate_client(id, rule.clone(), &new.scopes)
                .await;
            return match created {
                Ok(client) => {
                    tracing::info!(admin = %caller, client_id = %client.client_id, method, "authstar demo: certificate client created");
                    created_response(client)
                }
                Err(failure) => refused(failure),
            };
        }
        (Some("private_key_jwt"), Some(jwks), Some(id), None) => {
            let created = admin
                .by(&caller)
                .create_key_client(id, &jwks.to_string(), &new.scopes)
                .await;
            return match created {
                Ok(client) => {
                    tracing::info!(admin = %caller, client_id = %client.client_id, "authstar demo: private_key_jwt client created");
                    created_response(client)
                }
                Err(failure) => refused(failure),
            };
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "auth_method is client_secret_basic; private_key_jwt with client_id and jwks; or \
                 tls_client_auth (a subject) or self_signed_tls_client_auth (x5c) with client_id \
                 and certificate",
            );
        }
    }
    match admin
        .by(&caller)
        .create_client(new.client_id.as_deref(), None, &new.scopes)
        .await
    {
        Ok(client) => {
            tracing::info!(admin = %caller, client_id = %client.client_id, "authstar demo: client created");
            created_response(client)
        }
        Err(failure) => refused(failure),
    }
}

/// Replaces the public keys of a `private_key_jwt` client (a rotation, or after a compromise).
#[utoipa::path(put, tag = "admin", path = "/admin/clients/{client_id}/jwks", params(("client_id" = String, Path)), request_body = Object, responses(
    (status = 204, description = "The keys are replaced, on every instance at once"),
    (status = 400, description = "Not a JWKS of public signature keys"),
    (status = 404, description = "No active private_key_jwt client with this id"),
))]
pub(super) async fn set_client_jwks(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(client_id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let Json(jwks) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    match admin
        .by(&caller)
        .set_client_jwks(&client_id, &jwks.to_string())
        .await
    {
        Ok(()) => {
            tracing::info!(admin = %caller, client_id = %client_id, "authstar demo: client keys replaced");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(failure) => refused(failure),
    }
}

/// Replaces what the certificate of a `tls_client_auth` or `self_signed_tls_client_auth`
/// client must be (a renewed certificate, a renamed subject).
#[utoipa::path(put, tag = "admin", path = "/admin/clients/{client_id}/certificate", params(("client_id" = String, Path)), request_body = Object, responses(
    (status = 204, description = "The rule is replaced, on every instance at once"),
    (status = 400, description = "Not a rule, or one for the client's other certificate method"),
    (status = 404, description = "No active certificate client with this id"),
))]
pub(super) async fn set_client_certificate(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(client_id): Path<String>,
    body: Result<Json<CertificateRule>, JsonRejection>,
) -> Response {
    let Json(rule) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    match admin
        .by(&caller)
        .set_client_certificate(&client_id, rule)
        .await
    {
        Ok(()) => {
            tracing::info!(admin = %caller, client_id = %client_id, "authstar demo: client certificate rule replaced");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(failure) => refused(failure),
    }
}

/// Revokes a client, its keys and its tokens.
#[utoipa::path(delete, tag = "admin", path = "/admin/clients/{client_id}", params(("client_id" = String, Path)), responses(
    (status = 204, description = "Revoked (or already revoked)"), (status = 404, description = "No such client"),
))]
pub(super) async fn revoke_client(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(client_id): Path<String>,
) -> Response {
    match admin.by(&caller).revoke_client(&client_id).await {
        Ok(()) => {
            tracing::info!(admin = %caller, %client_id, "authstar demo: client revoked");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(failure) => refused(failure),
    }
}

/// The admin routes, each behind the `admin` scope.
pub(super) fn routes(
    security: &RouteSecurity<AuthstarClient>,
    registry: Registry,
) -> Router<RouteSecurity<AuthstarClient>> {
    let admin = Admin {
        security: security.clone(),
        registry,
    };
    Router::new()
        .route("/admin/clients", get(list_clients).post(create_client))
        .route("/admin/clients/{client_id}", delete(revoke_client))
        .route("/admin/clients/{client_id}/jwks", put(set_client_jwks))
        .route(
            "/admin/clients/{client_id}/certificate",
            put(set_client_certificate),
        )
        .route(
            "/admin/clients/{client_id}/scopes",
            put(keys::set_client_scopes),
        )
        .route(
            "/admin/clients/{client_id}/rate-limit",
            put(keys::set_client_rate_limit),
        )
        .route("/admin/keys", get(keys::list_keys).post(keys::create_key))
        .route("/admin/keys/{key_id}", delete(keys::revoke_key))
        .route("/admin/keys/{key_id}/rotate", post(keys::rotate_key))
        .route(
            "/admin/keys/{key_id}/rate-limit",
            put(keys::set_key_rate_limit),
        )
        .route("/admin/keys/{key_id}/expiry", put(keys::set_key_expiry))
        .route("/admin/audit", get(keys::audit))
        .route_layer(security.scopes_all(["admin"]))
        .with_state(admin)
}

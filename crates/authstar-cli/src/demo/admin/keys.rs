//! The admin API's API keys (paged, with an expiry and a name, rotated with an overlap), client
//! re-scoping, and the audit trail.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Admin, AdminCaller, Page, bad_body, created_response, error, refused};
use crate::registry::store::AuditQuery;
use crate::registry::{KeyEnd, KeyOptions};

/// `POST /admin/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::demo) struct NewKey {
    /// The client that owns the key.
    client_id: String,
    /// The key's scopes: the client's when absent, never more.
    #[serde(default)]
    scopes: Vec<String>,
    /// Seconds it works for; absent (and no `expires_at`): until revoked.
    #[serde(default)]
    expires_in: Option<u64>,
    /// When it stops working, a Unix time in seconds (as a JWT's `exp`); instead of
    /// `expires_in`.
    #[serde(default)]
    expires_at: Option<u64>,
    /// A name for it (1 to 100 printable characters; never a secret).
    #[serde(default)]
    name: Option<String>,
}

/// `POST /admin/keys/{key_id}/rotate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::demo) struct Rotation {
    /// Seconds the old key keeps working (default 86 400, a day).
    #[serde(default)]
    overlap: Option<u64>,
    /// Seconds the new key works for; absent or null (and no `expires_at`): until the old
    /// key's end, which is never for a key without one.
    #[serde(default)]
    expires_in: Option<u64>,
    /// When the new key stops working, a Unix time in seconds; instead of `expires_in`.
    #[serde(default)]
    expires_at: Option<u64>,
}

/// A key's end as the admin API takes it: `expires_in`, seconds from now, or `expires_at`, a
/// Unix time (RFC 7519's NumericDate) stored exactly as given, never both. The registry
/// refuses an end not in the future or beyond ten years (400).
fn key_end(expires_in: Option<u64>, expires_at: Option<u64>) -> Result<Option<KeyEnd>, BothEnds> {
    match (expires_in, expires_at) {
        (Some(_), Some(_)) => Err(BothEnds),
        (Some(seconds), None) => Ok(Some(KeyEnd::After(Duration::from_secs(seconds)))),
        (None, Some(at)) => Ok(Some(KeyEnd::At(at))),
        (None, None) => Ok(None),
    }
}

/// A body with both `expires_in` and `expires_at`: 400.
struct BothEnds;

impl IntoResponse for BothEnds {
    fn into_response(self) -> Response {
        let both = "expires_in or expires_at, not both";
        error(StatusCode::BAD_REQUEST, "invalid_request", both)
    }
}

/// `PUT /admin/clients/{client_id}/scopes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::demo) struct Scopes {
    /// The client's scopes from now on.
    scopes: Vec<String>,
}

/// API keys by key id, a page at a time (`?after=KEY_ID&limit=N`); a `Link: <…>; rel="next"`
/// header names the next page.
#[utoipa::path(get, tag = "admin", path = "/admin/keys", params(Page), responses(
    (status = 200, description = "A page of keys: key_id, client_id, scopes, created_at, last_used_at, revoked, expires_at, expired, name, replaces, rate_limit"),
))]
pub(in crate::demo) async fn list_keys(
    AdminCaller(_): AdminCaller,
    State(admin): State<Admin>,
    Query(page): Query<Page>,
) -> Response {
    match admin
        .registry
        .key_page(page.after.as_deref(), page.size())
        .await
    {
        Ok(keys) => {
            let next = keys.last().map(|last| last.key_id.clone());
            page.answer("/admin/keys", keys, next)
        }
        Err(failure) => refused(failure),
    }
}

/// Creates an API key for a client, shown once.
#[utoipa::path(post, tag = "admin", path = "/admin/keys", request_body = NewKey, responses(
    (status = 201, description = "key_id, key (shown only now), client_id, scopes, expires_at"),
    (status = 400, description = "Malformed body, scope or name; both expires_in and expires_at, an expires_at not in the future, or an end beyond ten years"),
    (status = 404, description = "No such client"), (status = 409, description = "The client is revoked"),
))]
pub(in crate::demo) async fn create_key(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    let mut options = KeyOptions::default().scopes(new.scopes);
    match key_end(new.expires_in, new.expires_at) {
        Ok(end) => options.expires = end,
        Err(both) => return both.into_response(),
    }
    if let Some(name) = new.name {
        options = options.name(name);
    }
    match admin
        .by(&caller)
        .create_key_with(&new.client_id, options)
        .await
    {
        Ok(key) => created_response(key),
        Err(failure) => refused(failure),
    }
}

/// Rotates an API key: a new key (shown once) for the same client, scopes and name, the old
/// one working for the overlap only.
#[utoipa::path(post, tag = "admin", path = "/admin/keys/{key_id}/rotate", params(("key_id" = String, Path)), request_body = Rotation, responses(
    (status = 201, description = "key_id, key (shown only now), replaces, replaced_until"),
    (status = 400, description = "An overlap or lifetime beyond ten years, an expires_at not in the future, or both expires_in and expires_at"),
    (status = 404, description = "No such active key (unknown, expired or revoked)"),
    (status = 409, description = "Its client is revoked"),
))]
pub(in crate::demo) async fn rotate_key(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(key_id): Path<String>,
    body: Result<Json<Rotation>, JsonRejection>,
) -> Response {
    let Json(rotation) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    let overlap = std::time::Duration::from_secs(rotation.overlap.unwrap_or(86_400));
    let expires = match key_end(rotation.expires_in, rotation.expires_at) {
        Ok(end) => end,
        Err(both) => return both.into_response(),
    };
    match admin
        .by(&caller)
        .rotate_key(&key_id, overlap, expires)
        .await
    {
        Ok(key) => created_response(key),
        Err(failure) => refused(failure),
    }
}

/// Revokes an API key.
#[utoipa::path(delete, tag = "admin", path = "/admin/keys/{key_id}", params(("key_id" = String, Path)), responses(
    (status = 204, description = "Revoked (or already revoked)"), (status = 404, description = "No such key"),
))]
pub(in crate::demo) async fn revoke_key(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(key_id): Path<String>,
) -> Response {
    match admin.by(&caller).revoke_key(&key_id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => refused(failure),
    }
}

/// Replaces a client's scopes; its keys never grant more than it holds.
#[utoipa::path(put, tag = "admin", path = "/admin/clients/{client_id}/scopes", params(("client_id" = String, Path)), request_body = Scopes, responses(
    (status = 204, description = "Replaced"), (status = 400, description = "Not scope tokens"),
    (status = 404, description = "No active client with this id"),
))]
pub(in crate::demo) async fn set_client_scopes(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(client_id): Path<String>,
    body: Result<Json<Scopes>, JsonRejection>,
) -> Response {
    let Json(scopes) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    match admin
        .by(&caller)
        .set_client_scopes(&client_id, &scopes.scopes)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => refused(failure),
    }
}

/// `PUT /admin/clients/{client_id}/rate-limit`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::demo) struct RateLimit {
    /// `N/WINDOW` (`600/60s`: a burst of 600 refilled over a minute); null for none of its own
    /// (required: an empty object clears nothing).
    #[serde(deserialize_with = "Option::deserialize")]
    rate: Option<String>,
}

/// Gives a client its own rate limit, or takes it away (the service's default applies).
#[utoipa::path(put, tag = "admin", path = "/admin/clients/{client_id}/rate-limit", params(("client_id" = String, Path)), request_body = RateLimit, responses(
    (status = 204, description = "Set, here at once and on every instance at its next poll"),
    (status = 400, description = "Not N/WINDOW (a window from 1s to 30d, at most 1000 a second)"),
    (status = 404, description = "No active client with this id"),
))]
pub(in crate::demo) async fn set_client_rate_limit(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(client_id): Path<String>,
    body: Result<Json<RateLimit>, JsonRejection>,
) -> Response {
    let Json(limit) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    let budget = match limit.budget() {
        Ok(budget) => budget,
        Err(why) => return super::error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    match admin
        .by(&caller)
        .set_client_rate_limit(&client_id, budget)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => refused(failure),
    }
}

impl RateLimit {
    /// The budget asked for (`None`: none of its own), or why it is not one.
    fn budget(&self) -> Result<Option<authstar::throttle::Budget>, String> {
        self.rate.as_deref().map(crate::demo::rate).transpose()
    }
}

/// `PUT /admin/keys/{key_id}/expiry`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::demo) struct Expiry {
    /// Seconds from now until the key stops working (at most ten years); null for never.
    /// This or `expires_at` is required: an empty object changes nothing.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    expires_in: Option<Option<u64>>,
    /// When the key stops working, a Unix time in seconds; null for never.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    expires_at: Option<Option<u64>>,
}

/// A field that is there, null or not (absent is `None` by `default`).
fn present<'de, D: serde::Deserializer<'de>>(field: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(field).map(Some)
}

/// Sets when an API key stops working, sooner or later than it was to, or lets it work until
/// revoked; an expired key stays expired.
#[utoipa::path(put, tag = "admin", path = "/admin/keys/{key_id}/expiry", params(("key_id" = String, Path)), request_body = Expiry, responses(
    (status = 200, description = "key_id, expires_at (null: until revoked); every instance at its next poll"),
    (status = 400, description = "Neither or both of expires_in and expires_at, a time not in the future, or one beyond ten years"),
    (status = 404, description = "No active key with this id (unknown, revoked, expired, or its client revoked)"),
))]
pub(in crate::demo) async fn set_key_expiry(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(key_id): Path<String>,
    body: Result<Json<Expiry>, JsonRejection>,
) -> Response {
    let Json(expiry) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    // Each field present, null or not: null is "until revoked".
    if expiry.expires_in.is_none() && expiry.expires_at.is_none() {
        let missing = "expires_in or expires_at (null: until revoked)";
        return error(StatusCode::BAD_REQUEST, "invalid_request", missing);
    }
    if expiry.expires_in.is_some() && expiry.expires_at.is_some() {
        return BothEnds.into_response();
    }
    let end = match key_end(expiry.expires_in.flatten(), expiry.expires_at.flatten()) {
        Ok(end) => end,
        Err(both) => return both.into_response(),
    };
    match admin.by(&caller).set_key_expiry(&key_id, end).await {
        Ok(expires_at) => {
            Json(serde_json::json!({ "key_id": key_id, "expires_at": expires_at })).into_response()
        }
        Err(failure) => refused(failure),
    }
}

/// Gives an API key its own rate limit, counted besides its client's, or takes it away. A key
/// rotated from it keeps it.
#[utoipa::path(put, tag = "admin", path = "/admin/keys/{key_id}/rate-limit", params(("key_id" = String, Path)), request_body = RateLimit, responses(
    (status = 204, description = "Set, here at once and on every instance at its next poll"),
    (status = 400, description = "Not N/WINDOW (a window from 1s to 30d, at most 1000 a second)"),
    (status = 404, description = "No active key with this id (unknown, revoked, expired, or its client revoked)"),
))]
pub(in crate::demo) async fn set_key_rate_limit(
    AdminCaller(caller): AdminCaller,
    State(admin): State<Admin>,
    Path(key_id): Path<String>,
    body: Result<Json<RateLimit>, JsonRejection>,
) -> Response {
    let Json(limit) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    let budget = match limit.budget() {
        Ok(budget) => budget,
        Err(why) => return super::error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    match admin.by(&caller).set_key_rate_limit(&key_id, budget).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => refused(failure),
    }
}

/// `GET /admin/audit`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::demo) struct AuditPage {
    /// Entries at or after this time (seconds since the epoch).
    since: Option<u64>,
    /// Only this client's entries.
    client: Option<String>,
    /// After this entry: the `seq` of the last one of the previous page.
    after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// The audit trail, oldest first: who (`cli`, `admin:<id>`, `client:<id>`) changed what
/// (`client.create`, `client.revoke`, `client.scopes`, `client.rate_limit`, `client.jwks`,
/// `client.certificate`, `key.create`, `key.rotate`, `key.rate_limit`, `key.expiry`,
/// `key.revoke`, `token.revoke`), when; never a secret. A `Link: <…>; rel="next"` header names
/// the next page.
#[utoipa::path(get, tag = "admin", path = "/admin/audit", params(AuditPage), responses(
    (status = 200, description = "A page of entries: at, id, actor, action, client_id, target, detail"),
    (status = 400, description = "A malformed query"),
))]
pub(in crate::demo) async fn audit(
    AdminCaller(_): AdminCaller,
    State(admin): State<Admin>,
    Query(page): Query<AuditPage>,
) -> Response {
    let mut query = AuditQuery::default();
    query.since = page.since.unwrap_or(0);
    query.client_id = page.client.clone();
    query.limit = page
        .limit
        .unwrap_or(100)
        .clamp(1, crate::registry::MAX_PAGE);
    query.after = page.after;
    let limit = query.limit;
    match admin.registry.audit_log(query).await {
        Ok(entries) => {
            let rows: Vec<_> = entries.iter().map(crate::demo::audit_json).collect();
            let next = entries.last().map(|e| e.seq.to_string());
            // The next page's link keeps the filters.
            let mut path = String::from("/admin/audit");
            let mut filters = form_urlencoded::Serializer::new(String::new());
            if let Some(since) = page.since {
                filters.append_pair("since", &since.to_string());
            }
            if let Some(client) = &page.client {
                filters.append_pair("client", client);
            }
            let filters = filters.finish();
            if !filters.is_empty() {
                path = format!("{path}?{filters}");
            }
            Page {
                after: None,
                limit: Some(limit),
            }
            .answer(&path, rows, next)
        }
        Err(failure) => refused(failure),
    }
}

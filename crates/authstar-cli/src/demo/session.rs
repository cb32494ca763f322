//! The signed session cookie: `POST /session` sets it, `DELETE /session` clears it.
//!
//! A session is minted only from client credentials (Basic, a bearer token, an API key), never
//! from another session, so it cannot renew itself past its expiry; it is honoured only while
//! its client is active (the `RegistrySession` authenticator); it is `Secure`
//! when the service is reached over https.

use authstar::{AuthMethod, AuthstarClient};
use authstar_axum::RouteSecurity;
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "authstar_session";
/// How long a session lasts.
pub const SESSION_SECONDS: u64 = 3600;

/// What the signed cookie carries.
#[derive(Serialize, Deserialize)]
struct Session {
    client_id: String,
    scopes: Vec<String>,
    exp: u64,
}

use authstar_jwt::unix_now as now;

/// The client of an unexpired, correctly signed session cookie.
pub(super) fn read(headers: &HeaderMap, key: &Key) -> Option<AuthstarClient> {
    let jar = SignedCookieJar::from_headers(headers, key.clone());
    let cookie = jar.get(SESSION_COOKIE)?;
    let json = URL_SAFE_NO_PAD.decode(cookie.value()).ok()?;
    let session: Session = serde_json::from_slice(&json).ok()?;
    (session.exp > now()).then(|| AuthstarClient::new(session.client_id, session.scopes))
}

/// Cookie settings.
#[derive(Clone)]
pub(super) struct Sessions {
    pub(super) key: Key,
    /// `Secure`: sent by browsers over https only.
    pub(super) secure: bool,
    pub(super) security: RouteSecurity<AuthstarClient>,
}

impl Sessions {
    /// `POST /session`: a cookie for a client that authenticated with credentials.
    pub(super) fn login(&self, extensions: &axum::http::Extensions) -> Response {
        let (client, method) = match self.security.stored_client(extensions) {
            Ok(found) => found,
            Err(rejection) => return rejection.into_response(),
        };
        if *method == AuthMethod::Request {
            // A session never mints a session: its expiry would be extended forever.
            let body = serde_json::json!({
                "error": "invalid_request",
                "error_description": "a session cannot renew itself: sign in with client credentials",
            });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
        let session = Session {
            client_id: client.client_id().to_owned(),
            scopes: client.scopes().to_vec(),
            exp: now() + SESSION_SECONDS,
        };
        let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session).unwrap_or_default());
        let cookie = Cookie::build((SESSION_COOKIE, value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .max_age(time::Duration::seconds(SESSION_SECONDS as i64));
        (
            SignedCookieJar::new(self.key.clone()).add(cookie),
            Json(client.clone()),
        )
            .into_response()
    }

    /// `DELETE /session`: removes the cookie (`Max-Age=0`).
    pub(super) fn logout(&self, headers: &HeaderMap) -> Response {
        let jar = SignedCookieJar::from_headers(headers, self.key.clone())
            .remove(Cookie::build(SESSION_COOKIE).path("/"));
        (jar, StatusCode::NO_CONTENT).into_response()
    }
}

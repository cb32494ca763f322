//! The signed session cookie: `POST /session` sets it, `DELETE /session` clears it.
//!
//! A session is minted only from client credentials (Basic, a bearer token, an API key), never
//! from another session, so it cannot renew itself past its expiry; it names what minted it (the
//! client's own secret, an API key's id, a token's `jti`) and expires no later than that did;
//! it is honoured only while its client, and the key or token that minted it, are still valid
//! (the `RegistrySession` authenticator); it is `Secure` when the service is reached over
//! https. A sender-constrained (DPoP-bound) token cannot mint one: a cookie is a bearer
//! credential, and would turn a token only its key's holder may use into one anybody holding
//! the cookie may.

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
/// How long a session lasts at most.
pub const SESSION_SECONDS: u64 = 3600;

/// What the signed cookie carries.
#[derive(Serialize, Deserialize)]
struct Session {
    client_id: String,
    scopes: Vec<String>,
    exp: u64,
    /// What minted it, when not the client's own secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    minted_by: Option<MintedBy>,
}

/// The credential a session was minted with, besides the client itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum MintedBy {
    /// An API key, by its id.
    Key(String),
    /// An access token, by its `jti`.
    Token(String),
}

use authstar_jwt::unix_now as now;

/// An unexpired, correctly signed session cookie: its client, what minted it, when it ends.
pub(super) struct Read {
    pub(super) client: AuthstarClient,
    pub(super) minted_by: Option<MintedBy>,
    pub(super) exp: u64,
}

/// The session cookie in `headers`, if it is signed with `key` and unexpired.
pub(super) fn read(headers: &HeaderMap, key: &Key) -> Option<Read> {
    let jar = SignedCookieJar::from_headers(headers, key.clone());
    let cookie = jar.get(SESSION_COOKIE)?;
    let json = URL_SAFE_NO_PAD.decode(cookie.value()).ok()?;
    let session: Session = serde_json::from_slice(&json).ok()?;
    (session.exp > now()).then(|| {
        let mut client = AuthstarClient::new(session.client_id, session.scopes);
        // The credential that minted it, as the layer saw it then: a key's own rate limit
        // counts the session's requests too.
        if let Some(MintedBy::Key(id) | MintedBy::Token(id)) = &session.minted_by {
            client = client.with_credential(id.clone(), Some(session.exp));
        }
        Read {
            client,
            minted_by: session.minted_by,
            exp: session.exp,
        }
    })
}

fn refused(description: &str) -> Response {
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": description,
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
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
        let credential = client.credential_id();
        let minted_by = match method {
            // A session never mints a session: its expiry would be extended forever.
            AuthMethod::Request => {
                return refused("a session cannot renew itself: sign in with client credentials");
            }
            AuthMethod::Dpop => {
                return refused(
                    "a DPoP-bound token cannot mint a session: a cookie is a bearer credential",
                );
            }
            // Over mutual TLS the token may be bound to the certificate (RFC 8705 §3): a cookie
            // would work without it.
            AuthMethod::Bearer
                if extensions
                    .get::<authstar::credentials::ClientCertificate>()
                    .is_some() =>
            {
                return refused(
                    "a token used over mutual TLS cannot mint a session: a cookie is a bearer \
                     credential",
                );
            }
            // A session that could not be tied to its token or key would outlive their
            // revocation: none is minted.
            AuthMethod::Bearer | AuthMethod::Header(_) if credential.is_none() => {
                return refused("this credential cannot mint a session");
            }
            AuthMethod::Bearer => credential.map(|id| MintedBy::Token(id.to_owned())),
            AuthMethod::Header(_) => credential.map(|id| MintedBy::Key(id.to_owned())),
            _ => None,
        };
        let now = now();
        let exp = client
            .credential_expiry()
            .map_or(now + SESSION_SECONDS, |expiry| {
                expiry.min(now + SESSION_SECONDS)
            });
        if exp <= now {
            return refused("the credential has expired");
        }
        let session = Session {
            client_id: client.client_id().to_owned(),
            scopes: client.scopes().to_vec(),
            exp,
            minted_by,
        };
        let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session).unwrap_or_default());
        let max_age = i64::try_from(exp - now).unwrap_or(0);
        let cookie = Cookie::build((SESSION_COOKIE, value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .max_age(time::Duration::seconds(max_age));
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

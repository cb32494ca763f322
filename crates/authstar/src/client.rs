//! The client model: what an authenticator hands back and guards look at.
//!
//! The Python package's `Client` protocol becomes the [`Client`] trait; its `AuthstarClient` pydantic model
//! becomes the serde struct [`AuthstarClient`] (`model_dump`/`model_validate` are
//! `Serialize`/`Deserialize`). Any type of yours that implements [`Client`] works everywhere
//! authstar takes a client: the middleware stores it in the request extensions as it is, keyed by
//! its type, and guards read it back without a conversion.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What authstar needs to know about an authenticated caller.
///
/// Implement it for your own type to carry extra fields (an e-mail, a tenant id) through the
/// middleware to your handlers; nothing in authstar wraps or copies the value.
///
/// ```
/// use authstar::Client;
///
/// #[derive(Clone, Debug)]
/// struct User {
///     id: String,
///     email: String,
///     roles: Vec<String>,
/// }
///
/// impl Client for User {
///     fn client_id(&self) -> &str {
///         &self.id
///     }
///     fn scopes(&self) -> impl Iterator<Item = &str> {
///         self.roles.iter().map(String::as_str)
///     }
///     fn is_admin(&self) -> bool {
///         self.email.ends_with("@ops.example")
///     }
/// }
///
/// let user = User { id: "u1".into(), email: "a@ops.example".into(), roles: vec!["read".into()] };
/// assert!(user.has_scope("read"));
/// assert!(!user.has_scope("write"));
/// assert!(user.is_admin());
/// ```
pub trait Client: Clone + Send + Sync + 'static {
    /// The stable identifier of the caller (an OAuth2 `client_id`, a user id).
    fn client_id(&self) -> &str;

    /// The scopes granted to the caller.
    fn scopes(&self) -> impl Iterator<Item = &str>;

    /// Whether the caller holds `scope`. Scope values are compared exactly, as RFC 6749 §3.3
    /// defines them (case-sensitive strings).
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|granted| granted == scope)
    }

    /// Whether this value stands for an authenticated caller. `true` for every client an
    /// authenticator returns; only [`AuthstarClient::anonymous`] answers `false`.
    fn is_authenticated(&self) -> bool {
        true
    }

    /// Whether scope checks should be waived for this caller (the Python package's `is_admin_attribute`).
    /// `false` unless you override it.
    fn is_admin(&self) -> bool {
        false
    }

    /// The id of the credential this caller authenticated with, when its authenticator named
    /// one: an API key's id, or an access token's `jti` (ids of different kinds may look
    /// alike; tell them apart by the client's method or your own lookup). A credential's own
    /// rate limit
    /// ([`RateLimitLayer::per_credential`](crate::ratelimit::RateLimitLayer::per_credential))
    /// is counted under it, per client. `None` unless you override it.
    ///
    /// ```
    /// use authstar::{AuthstarClient, Client};
    /// let client = AuthstarClient::new("ci", ["read"]).with_credential("3f2a9c1d7b44", None);
    /// assert_eq!(Client::credential_id(&client), Some("3f2a9c1d7b44"));
    /// ```
    fn credential_id(&self) -> Option<&str> {
        None
    }
}

/// The default client type: an id and a list of scopes, serialisable with serde.
///
/// Immutable once built and shared: cloning it (out of a lookup table, into the request, out
/// to a handler) is one reference-count increment, never a copy of its strings. That is what
/// makes the `Authenticated` extractor as cheap as reading a header yourself.
///
/// ```
/// use authstar::{AuthstarClient, Client};
///
/// let client = AuthstarClient::new("reporting", ["reports:read"]);
/// assert_eq!(client.client_id(), "reporting");
/// assert_eq!(client.scopes(), ["reports:read"]);
/// assert!(client.has_scope("reports:read"));
/// let json = serde_json::to_string(&client).unwrap();
/// assert_eq!(json, r#"{"client_id":"reporting","scopes":["reports:read"]}"#);
/// let back: AuthstarClient = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, client);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuthstarClient(Arc<Fields>);

/// What an [`AuthstarClient`] holds, and its JSON form. Equality is the client's (id, scopes,
/// authenticated), not the credential it came with.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Fields {
    client_id: String,
    #[serde(default)]
    scopes: Vec<String>,
    /// `false` only for the anonymous client; omitted from JSON when `true`.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    authenticated: bool,
    /// The credential it authenticated with (an API key's id, a token's `jti`) and when that
    /// expires, when its authenticator says (never in JSON).
    #[serde(skip)]
    credential: Option<(String, Option<u64>)>,
}

impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.client_id == other.client_id
            && self.scopes == other.scopes
            && self.authenticated == other.authenticated
    }
}

impl Eq for Fields {}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl AuthstarClient {
    /// An authenticated client with the given id and scopes.
    ///
    /// ```
    /// let client = authstar::AuthstarClient::new("svc", ["a", "b"]);
    /// assert_eq!(client.scopes(), ["a", "b"]);
    /// ```
    pub fn new<I, S>(client_id: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(Arc::new(Fields {
            client_id: client_id.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            authenticated: true,
            credential: None,
        }))
    }

    /// The same client, naming the credential it authenticated with: an API key's id, an
    /// access token's `jti` (never a secret), and when it expires (seconds since the epoch).
    /// An authenticator's job (the registry's API keys, `authstar-jwt`'s verifier); what
    /// outlives a request needs it: a session minted from a key or a token must end when that
    /// credential is revoked or expires, and a websocket opened with it must close then.
    ///
    /// ```
    /// use authstar::AuthstarClient;
    /// let client = AuthstarClient::new("svc", ["read"]).with_credential("jti-1", Some(1_900_000_000));
    /// assert_eq!(client.credential_id(), Some("jti-1"));
    /// assert_eq!(client.credential_expiry(), Some(1_900_000_000));
    /// ```
    #[must_use]
    pub fn with_credential(mut self, id: impl Into<String>, expires_at: Option<u64>) -> Self {
        Arc::make_mut(&mut self.0).credential = Some((id.into(), expires_at));
        self
    }

    /// The id of the credential it authenticated with, when its authenticator named one.
    pub fn credential_id(&self) -> Option<&str> {
        self.0.credential.as_ref().map(|(id, _)| id.as_str())
    }

    /// When the credential it authenticated with expires, seconds since the epoch.
    pub fn credential_expiry(&self) -> Option<u64> {
        self.0.credential.as_ref().and_then(|(_, expiry)| *expiry)
    }

    /// The anonymous client (id `"anonymous"`, no scopes, not authenticated), for handlers that
    /// want a value to work with whether or not the caller authenticated.
    ///
    /// ```
    /// use authstar::AuthstarClient;
    /// let anonymous = AuthstarClient::anonymous();
    /// assert!(!anonymous.is_authenticated());
    /// assert!(anonymous.scopes().is_empty());
    /// ```
    pub fn anonymous() -> Self {
        Self(Arc::new(Fields {
            client_id: "anonymous".to_owned(),
            scopes: Vec::new(),
            authenticated: false,
            credential: None,
        }))
    }

    /// The client's identifier.
    #[inline]
    pub fn client_id(&self) -> &str {
        &self.0.client_id
    }

    /// The scopes granted to the client, in the order they were given.
    #[inline]
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// `false` only for [`AuthstarClient::anonymous`].
    #[inline]
    pub fn is_authenticated(&self) -> bool {
        self.0.authenticated
    }
}

impl fmt::Debug for AuthstarClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthstarClient")
            .field("client_id", &self.0.client_id)
            .field("scopes", &self.0.scopes)
            .field("authenticated", &self.0.authenticated)
            .finish()
    }
}

impl Serialize for AuthstarClient {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AuthstarClient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Fields::deserialize(deserializer).map(|fields| Self(Arc::new(fields)))
    }
}

impl Client for AuthstarClient {
    #[inline]
    fn client_id(&self) -> &str {
        &self.0.client_id
    }

    fn scopes(&self) -> impl Iterator<Item = &str> {
        self.0.scopes.iter().map(String::as_str)
    }

    #[inline]
    fn is_authenticated(&self) -> bool {
        self.0.authenticated
    }

    fn credential_id(&self) -> Option<&str> {
        AuthstarClient::credential_id(self)
    }
}

/// A shared client: cloning it (into the request, out to a handler) is a reference-count
/// increment instead of a deep copy. Return `Arc<YourClient>` from your authenticators when
/// clients are looked up from a table.
///
/// ```
/// use std::sync::Arc;
/// use authstar::{AuthstarClient, Client};
/// let shared = Arc::new(AuthstarClient::new("svc", ["read"]));
/// assert!(shared.has_scope("read"));
/// assert_eq!(shared.client_id(), "svc");
/// ```
impl<C: Client> Client for Arc<C> {
    fn client_id(&self) -> &str {
        C::client_id(self)
    }

    fn scopes(&self) -> impl Iterator<Item = &str> {
        C::scopes(self)
    }

    fn has_scope(&self, scope: &str) -> bool {
        C::has_scope(self, scope)
    }

    fn is_authenticated(&self) -> bool {
        C::is_authenticated(self)
    }

    fn is_admin(&self) -> bool {
        C::is_admin(self)
    }

    fn credential_id(&self) -> Option<&str> {
        C::credential_id(self)
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: printable ASCII without
/// spaces, `"` or `\`. The one definition of a valid scope, for the token endpoint, the
/// registries that store scopes and the route policies that name them.
///
/// ```
/// use authstar::is_scope_token;
/// assert!(is_scope_token("reports:read"));
/// assert!(!is_scope_token("two words") && !is_scope_token("") && !is_scope_token("q\"uote"));
/// ```
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_compare_exactly() {
        let client = AuthstarClient::new("c", ["Read"]);
        assert!(client.has_scope("Read"));
        assert!(!client.has_scope("read"));
    }

    #[test]
    fn json_without_scopes_or_flag_deserialises_as_authenticated() {
        let client: AuthstarClient = serde_json::from_str(r#"{"client_id":"x"}"#).unwrap();
        assert!(client.is_authenticated());
        assert!(client.scopes().is_empty());
    }

    #[test]
    fn anonymous_serialises_its_flag() {
        let json = serde_json::to_value(AuthstarClient::anonymous()).unwrap();
        assert_eq!(json["authenticated"], false);
    }
}

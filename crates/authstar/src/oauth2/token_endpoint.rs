//! The token endpoint for the `client_credentials` grant (RFC 6749 §4.4).
//!
//! A request is handled in three steps; only the middle one is asynchronous and belongs to the
//! framework adapter:
//!
//! 1. [`TokenRequestForm::parse`]: the body is `application/x-www-form-urlencoded` (§4.4.2), no
//!    parameter is repeated (§3.2), none is in the query string (§2.3.1, §3.2), then
//!    [`TokenRequestForm::check_grant_type`] (§4.4.2, §5.2 `unsupported_grant_type`) and
//!    [`TokenRequestForm::client_credentials`]: Basic with form-encoded id and secret (§2.3.1)
//!    or `client_id`/`client_secret` in the body, never both (§2.3);
//! 2. the adapter authenticates the client;
//! 3. [`TokenRequestForm::authorize`]: the client may use the grant (`unauthorized_client`) and
//!    holds every requested scope (`invalid_scope`, §3.3); the scope defaults to all of the
//!    client's scopes.

use std::fmt;

use http::HeaderValue;
use serde::{Deserialize, Serialize};

use super::{ErrorCode, TokenError};
use crate::Client;
use crate::credentials::authorization::{self, Authorization};

/// The grant type this endpoint implements.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// The token request's form parameters, read strictly. Unknown parameters are ignored
/// (RFC 6749 §3.2); empty ones count as omitted (§3.1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TokenRequestForm {
    /// `grant_type`.
    pub grant_type: Option<String>,
    /// `scope`, as requested.
    pub scope: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`.
    pub client_secret: Option<String>,
    /// `token`: the token to revoke (RFC 7009 §2.1) or introspect (RFC 7662 §2.1).
    pub token: Option<String>,
    /// `token_type_hint` (RFC 7009 §2.1): advisory, a server searches all its token types.
    pub token_type_hint: Option<String>,
}

impl fmt::Debug for TokenRequestForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequestForm")
            .field("grant_type", &self.grant_type)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_type_hint", &self.token_type_hint)
            .finish()
    }
}

fn invalid_request(description: impl Into<String>) -> TokenError {
    TokenError::new(ErrorCode::InvalidRequest, description)
}

fn invalid_client(description: impl Into<String>) -> TokenError {
    TokenError::new(ErrorCode::InvalidClient, description)
}

/// Whether a `Content-Type` is `application/x-www-form-urlencoded` (parameters such as
/// `charset` allowed, case-insensitive).
fn is_form(content_type: Option<&HeaderValue>) -> bool {
    let Some(Ok(value)) = content_type.map(HeaderValue::to_str) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

impl TokenRequestForm {
    /// Reads a token request from its `Content-Type`, query string and body.
    ///
    /// ```
    /// use authstar::oauth2::{ErrorCode, TokenRequestForm};
    /// use http::HeaderValue;
    ///
    /// let form_type = HeaderValue::from_static("application/x-www-form-urlencoded");
    /// let form = TokenRequestForm::parse(Some(&form_type), None, b"grant_type=client_credentials&scope=a%20b")
    ///     .unwrap();
    /// assert_eq!(form.scope.as_deref(), Some("a b"));
    ///
    /// let repeated = TokenRequestForm::parse(Some(&form_type), None, b"scope=a&scope=b");
    /// assert_eq!(repeated.unwrap_err().error, ErrorCode::InvalidRequest);
    ///
    /// let json = HeaderValue::from_static("application/json");
    /// assert!(TokenRequestForm::parse(Some(&json), None, b"{}").is_err());
    /// ```
    pub fn parse(
        content_type: Option<&HeaderValue>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Self, TokenError> {
        if let Some(query) = query {
            let in_query = form_urlencoded::parse(query.as_bytes()).find(|(name, _)| {
                matches!(
                    name.as_ref(),
                    "client_id" | "client_secret" | "grant_type" | "scope" | "token"
                )
            });
            if let Some((name, _)) = in_query {
                return Err(invalid_request(format!(
                    "{name} must be sent in the request body, not the query string"
                )));
            }
        }
        if !is_form(content_type) {
            return Err(invalid_request(
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        let mut form = Self::default();
        for (name, value) in form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "grant_type" => &mut form.grant_type,
                "scope" => &mut form.scope,
                "client_id" => &mut form.client_id,
                "client_secret" => &mut form.client_secret,
                "token" => &mut form.token,
                "token_type_hint" => &mut form.token_type_hint,
                _ => continue,
            };
            if slot.is_some() {
                return Err(invalid_request(format!("parameter {name} is repeated")));
            }
            if !value.is_empty() {
                *slot = Some(value.into_owned());
            } else {
                // An empty parameter is treated as omitted, but still counts as "sent" for the
                // repetition rule.
                *slot = Some(String::new());
            }
        }
        for slot in [
            &mut form.grant_type,
            &mut form.scope,
            &mut form.client_id,
            &mut form.client_secret,
            &mut form.token,
            &mut form.token_type_hint,
        ] {
            if slot.as_deref() == Some("") {
                *slot = None;
            }
        }
        Ok(form)
    }

    /// Checks `grant_type`: present, and `client_credentials`.
    ///
    /// ```
    /// use authstar::oauth2::{ErrorCode, TokenRequestForm};
    /// let form = TokenRequestForm { grant_type: Some("password".into()), ..Default::default() };
    /// assert_eq!(form.check_grant_type().unwrap_err().error, ErrorCode::UnsupportedGrantType);
    /// ```
    pub fn check_grant_type(&self) -> Result<(), TokenError> {
        match self.grant_type.as_deref() {
            None => Err(invalid_request("grant_type is missing")),
            Some(CLIENT_CREDENTIALS) => Ok(()),
            Some(_) => Err(TokenError::new(
                ErrorCode::UnsupportedGrantType,
                "only the client_credentials grant is supported",
            )),
        }
    }

    /// The `token` parameter of a revocation (RFC 7009 §2.1) or introspection (RFC 7662
    /// §2.1) request: required.
    ///
    /// ```
    /// use authstar::oauth2::{ErrorCode, TokenRequestForm};
    /// let form = TokenRequestForm { token: Some("t".into()), ..Default::default() };
    /// assert_eq!(form.require_token().unwrap(), "t");
    /// assert_eq!(TokenRequestForm::default().require_token().unwrap_err().error, ErrorCode::InvalidRequest);
    /// ```
    pub fn require_token(&self) -> Result<&str, TokenError> {
        self.token
            .as_deref()
            .ok_or_else(|| invalid_request("the token parameter is missing"))
    }

    /// The client credentials presented, from `Authorization: Basic` (each part form-urlencoded,
    /// RFC 6749 §2.3.1) or from the body; `None` when the client did not authenticate.
    ///
    /// ```
    /// use authstar::oauth2::{ErrorCode, TokenRequestForm};
    /// use http::HeaderValue;
    ///
    /// // "my%20client:s%3Acret" in base64: the id and secret are form-encoded (RFC 6749 §2.3.1)
    /// let basic = HeaderValue::from_static("Basic bXklMjBjbGllbnQ6cyUzQWNyZXQ=");
    /// let credentials = TokenRequestForm::default().client_credentials(Some(&basic)).unwrap().unwrap();
    /// assert_eq!(credentials.client_id, "my client");
    /// assert_eq!(credentials.client_secret(), "s:cret");
    ///
    /// let both = TokenRequestForm { client_secret: Some("x".into()), ..Default::default() };
    /// assert_eq!(both.client_credentials(Some(&basic)).unwrap_err().error, ErrorCode::InvalidRequest);
    /// ```
    pub fn client_credentials(
        &self,
        authorization: Option<&HeaderValue>,
    ) -> Result<Option<ClientCredentials>, TokenError> {
        let basic = match authorization.map(|value| authorization::parse(value.as_bytes())) {
            Some(Ok(Authorization::Basic(token))) => Some(decode_basic(token)?),
            Some(Err((authorization::Scheme::Basic, reason))) => {
                return Err(invalid_client(format!(
                    "malformed Basic credentials: {reason}"
                )));
            }
            _ => None,
        };
        match (basic, &self.client_id, &self.client_secret) {
            (Some(_), _, Some(_)) => Err(invalid_request(
                "use one client authentication method: HTTP Basic or client_secret in the body",
            )),
            (Some(basic), Some(form_id), None) if *form_id != basic.client_id => Err(
                invalid_request("client_id in the body differs from the Basic credentials"),
            ),
            (Some(basic), _, None) => Ok(Some(basic)),
            (None, Some(client_id), Some(secret)) => Ok(Some(ClientCredentials {
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                method: ClientAuthMethod::ClientSecretPost,
            })),
            (None, None, Some(_)) => Err(invalid_request("client_secret without client_id")),
            (None, _, None) => Ok(None),
        }
    }

    /// Checks what the authenticated `client` may have and builds the request handed to the
    /// token builder: the granted scopes are the requested ones, or all of the client's.
    ///
    /// ```
    /// use authstar::AuthstarClient;
    /// use authstar::oauth2::{ErrorCode, TokenRequestForm};
    ///
    /// let client = AuthstarClient::new("svc", ["read", "write"]);
    /// let form = TokenRequestForm { grant_type: Some("client_credentials".into()), ..Default::default() };
    /// assert_eq!(form.authorize(&client).unwrap().scopes, ["read", "write"]);
    ///
    /// let too_much = TokenRequestForm { scope: Some("read admin".into()), ..form };
    /// assert_eq!(too_much.authorize(&client).unwrap_err().error, ErrorCode::InvalidScope);
    /// ```
    pub fn authorize<C: Client>(&self, client: &C) -> Result<OAuth2TokenRequest, TokenError> {
        let grant_type = self.grant_type.as_deref().unwrap_or(CLIENT_CREDENTIALS);
        if !client.can_use_grant(grant_type) {
            return Err(TokenError::new(
                ErrorCode::UnauthorizedClient,
                "this client may not use the client_credentials grant",
            ));
        }
        let scopes = match &self.scope {
            None => client.scopes().map(str::to_owned).collect(),
            Some(requested) => {
                let mut scopes: Vec<String> = Vec::new();
                for scope in requested.split(' ') {
                    if !is_scope_token(scope) {
                        return Err(TokenError::new(
                            ErrorCode::InvalidScope,
                            "the scope parameter is malformed",
                        ));
                    }
                    if !client.has_scope(scope) {
                        return Err(TokenError::new(
                            ErrorCode::InvalidScope,
                            "a requested scope is not granted to this client",
                        ));
                    }
                    if !scopes.iter().any(|s| s == scope) {
                        scopes.push(scope.to_owned());
                    }
                }
                scopes
            }
        };
        Ok(OAuth2TokenRequest {
            grant_type: grant_type.to_owned(),
            client_id: client.client_id().to_owned(),
            scopes,
            requested_scope: self.scope.clone(),
            dpop_jkt: None,
        })
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: printable ASCII without
/// spaces, `"` or `\`. The one definition of a valid scope, for the token endpoint and for
/// registries that store scopes.
///
/// ```
/// use authstar::oauth2::is_scope_token;
/// assert!(is_scope_token("reports:read"));
/// assert!(!is_scope_token("two words") && !is_scope_token("") && !is_scope_token("q\"uote"));
/// ```
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// One `application/x-www-form-urlencoded` value decoded (`+` for a space, percent escapes),
/// never split at `&` or `=`: how RFC 6749 §2.3.1 encodes a client id and secret inside HTTP
/// Basic. `None` when the result is not UTF-8.
///
/// ```
/// use authstar::oauth2::form_decoded;
/// assert_eq!(form_decoded("a%26b%3Dc+d").as_deref(), Some("a&b=c d"));
/// assert_eq!(form_decoded("a&b").as_deref(), Some("a&b"));
/// assert_eq!(form_decoded("%FF"), None);
/// ```
pub fn form_decoded(part: &str) -> Option<String> {
    let plus_as_space = part.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

fn decode_basic(token: &str) -> Result<ClientCredentials, TokenError> {
    use base64::Engine as _;
    let malformed = || invalid_client("malformed Basic credentials");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| malformed())?;
    let (id, secret) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.split_once(':'))
        .ok_or_else(malformed)?;
    let decode = |part: &str| form_decoded(part).ok_or_else(malformed);
    let client_id = decode(id)?;
    if client_id.is_empty() {
        return Err(malformed());
    }
    Ok(ClientCredentials {
        client_id,
        client_secret: decode(secret)?,
        method: ClientAuthMethod::ClientSecretBasic,
    })
}

/// How a client presented its credentials (RFC 7591 §2 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `Authorization: Basic`.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
}

/// A client id and secret presented to the token endpoint. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    client_secret: String,
    /// How they were presented.
    pub method: ClientAuthMethod,
}

impl ClientCredentials {
    /// The secret.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// These credentials as [`BasicCredentials`](crate::BasicCredentials), to hand them to a
    /// basic authenticator; `None` if the id holds a colon or control characters.
    pub fn to_basic(&self) -> Option<crate::BasicCredentials> {
        crate::BasicCredentials::new(&self.client_id, &self.client_secret).ok()
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("method", &self.method)
            .finish()
    }
}

/// A validated token request, handed to the token builder (the seed's `OAuth2TokenRequest`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuth2TokenRequest {
    /// Always `client_credentials` here.
    pub grant_type: String,
    /// The authenticated client's id.
    pub client_id: String,
    /// The scopes to grant: those requested, or all of the client's.
    pub scopes: Vec<String>,
    /// The `scope` parameter as sent, if any.
    pub requested_scope: Option<String>,
    /// The RFC 7638 thumbprint of the key whose valid `DPoP` proof came with the request: the
    /// token must be bound to it (`cnf.jkt`, `token_type: DPoP`; RFC 9449 §5). `None` for a
    /// bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl OAuth2TokenRequest {
    /// The granted scopes as a space-delimited `scope` value, `None` when there are none.
    pub fn scope(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(" "))
    }
}

/// A successful token response (RFC 6749 §5.1; the seed's `OAuth2TokenResponse`). Optional
/// members are omitted when absent; `Debug` never shows the tokens.
///
/// ```
/// use authstar::oauth2::OAuth2TokenResponse;
/// let response = OAuth2TokenResponse::bearer("t0k3n");
/// assert_eq!(
///     serde_json::to_string(&response).unwrap(),
///     r#"{"access_token":"t0k3n","token_type":"Bearer","expires_in":3600}"#
/// );
/// assert!(!format!("{response:?}").contains("t0k3n"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OAuth2TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds (default 3600).
    pub expires_in: u64,
    /// A refresh token (never issued for `client_credentials`, RFC 6749 §4.4.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope, when it differs from the requested one or is worth stating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl OAuth2TokenResponse {
    /// A bearer token valid for 3600 seconds.
    pub fn bearer(access_token: impl Into<String>) -> Self {
        Self {
            access_token: access_token.into(),
            token_type: "Bearer".to_owned(),
            expires_in: 3600,
            refresh_token: None,
            scope: None,
        }
    }

    /// A DPoP-bound token (`token_type: DPoP`, RFC 9449 §5) valid for 3600 seconds.
    ///
    /// ```
    /// use authstar::oauth2::OAuth2TokenResponse;
    /// assert_eq!(OAuth2TokenResponse::dpop("t").token_type, "DPoP");
    /// ```
    pub fn dpop(access_token: impl Into<String>) -> Self {
        Self {
            token_type: "DPoP".to_owned(),
            ..Self::bearer(access_token)
        }
    }

    /// Sets `expires_in`.
    pub fn expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = seconds;
        self
    }

    /// Sets `scope`.
    pub fn scope(mut self, scope: Option<String>) -> Self {
        self.scope = scope;
        self
    }
}

impl fmt::Debug for OAuth2TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthstarClient;

    fn form_type() -> HeaderValue {
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8")
    }

    fn parse(body: &str) -> Result<TokenRequestForm, TokenError> {
        TokenRequestForm::parse(Some(&form_type()), None, body.as_bytes())
    }

    #[test]
    fn rfc6749_3_2_repeated_parameters_are_invalid_requests() {
        for body in [
            "grant_type=client_credentials&grant_type=client_credentials",
            "client_id=a&client_id=a",
            "scope=&scope=x",
        ] {
            assert_eq!(
                parse(body).unwrap_err().error,
                ErrorCode::InvalidRequest,
                "{body}"
            );
        }
    }

    #[test]
    fn rfc6749_3_1_empty_parameters_count_as_omitted_and_unknown_are_ignored() {
        let form = parse("grant_type=client_credentials&scope=&extra=1").unwrap();
        assert_eq!(form.scope, None);
        assert_eq!(form.grant_type.as_deref(), Some("client_credentials"));
    }

    #[test]
    fn rfc6749_2_3_1_credentials_in_the_query_string_are_refused() {
        let error =
            TokenRequestForm::parse(Some(&form_type()), Some("client_secret=s"), b"").unwrap_err();
        assert_eq!(error.error, ErrorCode::InvalidRequest);
        assert!(TokenRequestForm::parse(Some(&form_type()), Some("debug=1"), b"").is_ok());
    }

    #[test]
    fn rfc6749_4_4_2_body_must_be_form_encoded() {
        for content_type in [None, Some("application/json"), Some("text/plain")] {
            let value = content_type.map(HeaderValue::from_static);
            let error =
                TokenRequestForm::parse(value.as_ref(), None, b"grant_type=client_credentials");
            assert_eq!(error.unwrap_err().error, ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn rfc6749_5_2_grant_type_missing_or_unsupported() {
        assert_eq!(
            parse("").unwrap().check_grant_type().unwrap_err().error,
            ErrorCode::InvalidRequest
        );
        let error = parse("grant_type=authorization_code")
            .unwrap()
            .check_grant_type();
        assert_eq!(error.unwrap_err().error, ErrorCode::UnsupportedGrantType);
    }

    #[test]
    fn rfc6749_2_3_one_authentication_method_at_a_time() {
        let basic = HeaderValue::from_static("Basic YTpi"); // a:b
        let form = parse("client_id=a&client_secret=b").unwrap();
        assert_eq!(
            form.client_credentials(Some(&basic)).unwrap_err().error,
            ErrorCode::InvalidRequest
        );
        // client_id alone beside Basic only identifies the client (§3.2.1) and must match.
        let same = parse("client_id=a").unwrap();
        assert_eq!(
            same.client_credentials(Some(&basic))
                .unwrap()
                .unwrap()
                .client_id,
            "a"
        );
        let other = parse("client_id=z").unwrap();
        assert_eq!(
            other.client_credentials(Some(&basic)).unwrap_err().error,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn rfc6749_2_3_1_client_secret_post() {
        let form = parse("client_id=svc&client_secret=p%26ss").unwrap();
        let credentials = form.client_credentials(None).unwrap().unwrap();
        assert_eq!(credentials.method, ClientAuthMethod::ClientSecretPost);
        assert_eq!(credentials.client_secret(), "p&ss");
        assert!(!format!("{credentials:?}").contains("p&ss"));
        assert_eq!(
            parse("client_id=svc")
                .unwrap()
                .client_credentials(None)
                .unwrap(),
            None
        );
    }

    #[test]
    fn rfc6749_2_3_1_basic_parts_are_each_one_form_urlencoded_value() {
        use base64::Engine as _;
        // A secret holding `&`, `=` and `+` as the client sends it: each part percent-encoded,
        // then `id:secret` in Basic. Splitting it as a form would cut it at `&`.
        for (id, secret, raw) in [
            ("svc", "a&b=c d+e", "svc:a%26b%3Dc+d%2Be"),
            ("svc", "a&b", "svc:a&b"),
            ("my client", "p:w", "my+client:p%3Aw"),
            ("svc", "p:w", "svc:p:w"),
        ] {
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            let header = HeaderValue::from_str(&format!("Basic {encoded}")).unwrap();
            let credentials = TokenRequestForm::default()
                .client_credentials(Some(&header))
                .unwrap()
                .unwrap();
            assert_eq!(credentials.client_id, id, "{raw}");
            assert_eq!(credentials.client_secret(), secret, "{raw}");
        }
        let bad_utf8 = base64::engine::general_purpose::STANDARD.encode("svc:%FF");
        let header = HeaderValue::from_str(&format!("Basic {bad_utf8}")).unwrap();
        assert_eq!(
            TokenRequestForm::default()
                .client_credentials(Some(&header))
                .unwrap_err()
                .error,
            ErrorCode::InvalidClient
        );
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        for value in ["Basic !!!", "Basic", "Basic Og=="] {
            let header = HeaderValue::from_static(value);
            let error = TokenRequestForm::default().client_credentials(Some(&header));
            assert_eq!(
                error.unwrap_err().error,
                ErrorCode::InvalidClient,
                "{value}"
            );
        }
    }

    #[derive(Clone)]
    struct DeviceOnly;

    impl Client for DeviceOnly {
        fn client_id(&self) -> &str {
            "device"
        }
        fn scopes(&self) -> impl Iterator<Item = &str> {
            std::iter::empty()
        }
        fn can_use_grant(&self, grant_type: &str) -> bool {
            grant_type == "urn:ietf:params:oauth:grant-type:device_code"
        }
    }

    #[test]
    fn rfc6749_5_2_unauthorized_client() {
        let form = parse("grant_type=client_credentials").unwrap();
        assert_eq!(
            form.authorize(&DeviceOnly).unwrap_err().error,
            ErrorCode::UnauthorizedClient
        );
    }

    #[test]
    fn rfc6749_3_3_scope_syntax_and_subset() {
        let client = AuthstarClient::new("svc", ["a", "b"]);
        let granted = parse("scope=b%20a%20b")
            .unwrap()
            .authorize(&client)
            .unwrap();
        assert_eq!(granted.scopes, ["b", "a"]);
        for bad in ["scope=a%20%20b", "scope=a%22", "scope=c"] {
            assert_eq!(
                parse(bad).unwrap().authorize(&client).unwrap_err().error,
                ErrorCode::InvalidScope
            );
        }
    }
}

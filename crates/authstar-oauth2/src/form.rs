//! The token, revocation and introspection requests' form (RFC 6749 §3.2, §4.4.2; RFC 7009
//! §2.1; RFC 7662 §2.1), read strictly: `application/x-www-form-urlencoded` only, no parameter
//! repeated, none in the query string, empty ones as omitted.

use std::fmt;

use authstar::{Client, is_scope_token};
use http::HeaderValue;
use serde::{Deserialize, Serialize};

use crate::{ErrorCode, TokenError};

/// The grant type the token endpoint implements (RFC 6749 §4.4).
pub(crate) const CLIENT_CREDENTIALS: &str = "client_credentials";

/// A validated token request, handed to the token builder (the Python package's `OAuth2TokenRequest`).
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
    /// The `x5t#S256` thumbprint of the TLS client certificate the request came with, when the
    /// endpoint binds tokens to certificates
    /// ([`Endpoint::certificate_bound_tokens`](crate::Endpoint::certificate_bound_tokens)) and
    /// no DPoP proof came: the token must be bound to it (`cnf.x5t#S256`, RFC 8705 §3.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_x5t: Option<String>,
}

impl OAuth2TokenRequest {
    /// The granted scopes as a space-delimited `scope` value, `None` when there are none.
    pub fn scope(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(" "))
    }
}

/// The token request's form parameters, read strictly. Unknown parameters are ignored
/// (RFC 6749 §3.2); empty ones count as omitted (§3.1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TokenRequestForm {
    /// `grant_type`.
    pub(crate) grant_type: Option<String>,
    /// `scope`, as requested.
    pub(crate) scope: Option<String>,
    /// `client_id`.
    pub(crate) client_id: Option<String>,
    /// `client_secret`.
    pub(crate) client_secret: Option<String>,
    /// `client_assertion_type` (RFC 7521 §4.2).
    pub(crate) client_assertion_type: Option<String>,
    /// `client_assertion` (RFC 7521 §4.2): a signed JWT (RFC 7523 §2.2).
    pub(crate) client_assertion: Option<String>,
    /// `token`: the token to revoke (RFC 7009 §2.1) or introspect (RFC 7662 §2.1).
    pub(crate) token: Option<String>,
    /// `token_type_hint` (RFC 7009 §2.1): advisory, a server searches all its token types.
    pub(crate) token_type_hint: Option<String>,
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
            .field("client_assertion_type", &self.client_assertion_type)
            .field(
                "client_assertion",
                &self.client_assertion.as_ref().map(|_| "<redacted>"),
            )
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_type_hint", &self.token_type_hint)
            .finish()
    }
}

pub(crate) fn invalid_request(description: impl Into<String>) -> TokenError {
    TokenError::new(ErrorCode::InvalidRequest, description)
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
    pub(crate) fn parse(
        content_type: Option<&HeaderValue>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Self, TokenError> {
        if let Some(query) = query {
            let in_query = form_urlencoded::parse(query.as_bytes()).find(|(name, _)| {
                matches!(
                    name.as_ref(),
                    "client_id"
                        | "client_secret"
                        | "client_assertion"
                        | "client_assertion_type"
                        | "grant_type"
                        | "scope"
                        | "token"
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
                "client_assertion_type" => &mut form.client_assertion_type,
                "client_assertion" => &mut form.client_assertion,
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
            &mut form.client_assertion_type,
            &mut form.client_assertion,
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
    pub(crate) fn check_grant_type(&self) -> Result<(), TokenError> {
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
    pub(crate) fn require_token(&self) -> Result<&str, TokenError> {
        self.token
            .as_deref()
            .ok_or_else(|| invalid_request("the token parameter is missing"))
    }

    /// Checks what the authenticated `client` may have and builds the request handed to the
    /// token builder: the granted scopes are the requested ones, or all of the client's.
    pub(crate) fn authorize<C: Client>(
        &self,
        client: &C,
    ) -> Result<OAuth2TokenRequest, TokenError> {
        let grant_type = self.grant_type.as_deref().unwrap_or(CLIENT_CREDENTIALS);
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
            certificate_x5t: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authstar::AuthstarClient;

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

    #[test]
    fn rfc6749_3_3_scope_tokens() {
        assert!(is_scope_token("reports:read"));
        assert!(!is_scope_token("two words") && !is_scope_token("") && !is_scope_token("q\"uote"));
    }
}

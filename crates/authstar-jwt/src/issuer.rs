//! Issuing RFC 9068 access tokens.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authstar_oauth2::{OAuth2TokenRequest, OAuth2TokenResponse};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Header;

use crate::claims::{AccessTokenClaims, Audience};
use crate::{ACCESS_TOKEN_TYPE, JwtError, SigningKey};

/// Signs access tokens in the RFC 9068 profile: header `typ: at+jwt` and `kid`; claims `iss`,
/// `sub`, `aud`, `exp`, `iat`, `jti`, `client_id` and `scope`.
#[derive(Clone, Debug)]
pub struct JwtIssuer {
    key: Arc<SigningKey>,
    /// The protected header, base64url-encoded once: it is the same for every token.
    header: Arc<str>,
    issuer: String,
    audience: String,
    lifetime: Duration,
}

impl JwtIssuer {
    /// Tokens signed with `key`, issued by `issuer` (the `iss` claim, the authorization server's
    /// URL) for `audience` (the `aud` claim), valid one hour.
    pub fn new(key: SigningKey, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let mut header = Header::new(key.algorithm());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid().to_owned());
        let header = serde_json::to_vec(&header).unwrap_or_default();
        Self {
            header: URL_SAFE_NO_PAD.encode(header).into(),
            key: Arc::new(key),
            issuer: issuer.into(),
            audience: audience.into(),
            lifetime: Duration::from_secs(3600),
        }
    }

    /// Sets how long tokens are valid (`exp − iat`, and the response's `expires_in`).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The `iss` value.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Issues a token for `client_id` with `scopes`.
    pub fn issue(&self, client_id: &str, scopes: &[String]) -> Result<String, JwtError> {
        self.issue_at(client_id, scopes, Confirm::None, SystemTime::now())
    }

    /// Issues a token for `client_id` with `scopes` bound to the DPoP key whose RFC 7638
    /// thumbprint is `jkt` (`cnf.jkt`, RFC 9449 §6.1): usable only with proofs by that key.
    pub fn issue_bound(
        &self,
        client_id: &str,
        scopes: &[String],
        jkt: &str,
    ) -> Result<String, JwtError> {
        self.issue_at(client_id, scopes, Confirm::Dpop(jkt), SystemTime::now())
    }

    /// Issues a token for `client_id` with `scopes` bound to the TLS client certificate whose
    /// SHA-256 thumbprint is `x5t_s256` (`cnf.x5t#S256`, RFC 8705 §3.1): usable only over a
    /// connection presenting that certificate.
    pub fn issue_certificate_bound(
        &self,
        client_id: &str,
        scopes: &[String],
        x5t_s256: &str,
    ) -> Result<String, JwtError> {
        self.issue_at(
            client_id,
            scopes,
            Confirm::Certificate(x5t_s256),
            SystemTime::now(),
        )
    }

    fn issue_at(
        &self,
        client_id: &str,
        scopes: &[String],
        confirm: Confirm<'_>,
        now: SystemTime,
    ) -> Result<String, JwtError> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| JwtError::sign("the clock is before 1970"))?
            .as_secs();
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| JwtError::sign("no randomness for jti"))?;
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: client_id.to_owned(),
            aud: Audience::One(self.audience.clone()),
            exp: iat + self.lifetime.as_secs(),
            iat,
            nbf: None,
            jti: URL_SAFE_NO_PAD.encode(jti),
            client_id: client_id.to_owned(),
            scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
            cnf: confirm.claim(),
        };
        // A compact JWS (RFC 7515 §7.1), signed with the key parsed once.
        let claims = serde_json::to_vec(&claims)
            .map_err(|e| JwtError::sign_from("the claims could not be serialized", e))?;
        let mut token = String::with_capacity(self.header.len() + claims.len() * 4 / 3 + 100);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.key.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }

    /// The token endpoint's response for a validated request: a signed token, `expires_in`
    /// equal to `exp − iat`, the granted `scope`, no refresh token (RFC 6749 §4.4.3). With a
    /// proven DPoP key (`request.dpop_jkt`), the token is bound to it and `token_type` is `DPoP`.
    ///
    /// ```
    /// use authstar_oauth2::OAuth2TokenRequest;
    /// use authstar_jwt::{JwtIssuer, SigningKey};
    ///
    /// let issuer = JwtIssuer::new(SigningKey::generate_ed25519("k").unwrap(), "https://as", "api");
    /// let request = OAuth2TokenRequest {
    ///     grant_type: "client_credentials".into(),
    ///     client_id: "svc".into(),
    ///     scopes: vec!["read".into()],
    ///     requested_scope: None,
    ///     dpop_jkt: None,
    ///     certificate_x5t: None,
    /// };
    /// let response = issuer.token_response(&request).unwrap();
    /// assert_eq!(response.expires_in, 3600);
    /// assert_eq!(response.scope.as_deref(), Some("read"));
    /// assert!(response.refresh_token.is_none());
    /// ```
    pub fn token_response(
        &self,
        request: &OAuth2TokenRequest,
    ) -> Result<OAuth2TokenResponse, JwtError> {
        // A DPoP proof binds to its key; else a client certificate, if the endpoint binds them.
        let confirm = match (&request.dpop_jkt, &request.certificate_x5t) {
            (Some(jkt), _) => Confirm::Dpop(jkt),
            (None, Some(x5t)) => Confirm::Certificate(x5t),
            (None, None) => Confirm::None,
        };
        let token = self.issue_at(
            &request.client_id,
            &request.scopes,
            confirm,
            SystemTime::now(),
        )?;
        let response = match confirm {
            Confirm::Dpop(_) => OAuth2TokenResponse::dpop(token),
            Confirm::Certificate(_) | Confirm::None => OAuth2TokenResponse::bearer(token),
        };
        Ok(response
            .expires_in(self.lifetime.as_secs())
            .scope(request.scope()))
    }
}

/// What a token is bound to (its `cnf`, RFC 7800).
#[derive(Clone, Copy)]
enum Confirm<'a> {
    None,
    /// A DPoP key's thumbprint (RFC 9449 §6.1).
    Dpop(&'a str),
    /// A client certificate's thumbprint (RFC 8705 §3.1).
    Certificate(&'a str),
}

impl Confirm<'_> {
    fn claim(self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let (name, value) = match self {
            Self::None => return None,
            Self::Dpop(jkt) => ("jkt", jkt),
            Self::Certificate(x5t) => ("x5t#S256", x5t),
        };
        let mut cnf = serde_json::Map::new();
        cnf.insert(name.to_owned(), value.into());
        Some(cnf)
    }
}

//! Token profiles: which JWT access tokens a verifier accepts from an issuer, and how their
//! claims become a client. RFC 9068 (authstar's own tokens) is the strict default; identity
//! providers lay their tokens out differently, and a profile says how.

use serde_json::{Map, Value};

use crate::claims::{AccessTokenClaims, Audience, InvalidToken};

/// Where a value sits in the claims: a top-level name (`scp`) or a dotted path into nested
/// objects (`realm_access.roles`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ClaimPath(Vec<String>);

impl ClaimPath {
    fn parse(path: &str) -> Self {
        Self(path.split('.').map(str::to_owned).collect())
    }

    fn find<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        let mut value = claims.get(first)?;
        for part in rest {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }
}

/// The `typ` header values a profile accepts (compared without regard to case; RFC 7515
/// §4.1.9 lets `application/` be left out).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Types {
    accepted: Vec<String>,
    absent: bool,
}

/// What the audience must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AudienceRule {
    /// `aud` holds one of these.
    OneOf(Vec<String>),
    /// No `aud` is required; the client id claim must be one of these (Amazon Cognito access
    /// tokens carry `client_id` and no `aud`).
    ClientIdOneOf(Vec<String>),
}

/// Which tokens an issuer's verifier accepts and how their claims map to a client (id and
/// scopes). Signature, `exp`/`nbf` (with leeway) and the exact `iss` are always checked; a
/// token whose header has a `crit` member is always refused (RFC 7515 §4.1.11: this library
/// understands no extension).
///
/// ```
/// use authstar_jwt::TokenProfile;
///
/// // Your own issuer's layout: `JWT` or no `typ`, scopes in `scp` and in `roles`, the client in
/// // `azp`, one of two audiences.
/// let profile = TokenProfile::custom(["https://api.example", "api://reports"])
///     .accept_typ(["JWT"])
///     .scopes_from(["scp", "roles"])
///     .client_id_from(["azp", "client_id"])
///     .require_claims(["sub"]);
/// # let _ = profile;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenProfile {
    name: &'static str,
    types: Types,
    required: Vec<String>,
    values: Vec<(String, String)>,
    scopes: Vec<ClaimPath>,
    client_id: Vec<ClaimPath>,
    pub(crate) audience: AudienceRule,
}

fn strings<I, S>(values: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    values.into_iter().map(Into::into).collect()
}

/// An audience alone is RFC 9068 tokens for that audience: `JwtVerifier::new(keys, issuer,
/// "api")`.
impl From<&str> for TokenProfile {
    fn from(audience: &str) -> Self {
        Self::rfc9068(audience)
    }
}

impl From<String> for TokenProfile {
    fn from(audience: String) -> Self {
        Self::rfc9068(audience)
    }
}

impl TokenProfile {
    /// RFC 9068 exactly (authstar's own tokens): `typ` `at+jwt`; `sub`, `jti`, `client_id`,
    /// `iat` and `aud` required; scopes from `scope`.
    pub fn rfc9068(audience: impl Into<String>) -> Self {
        Self {
            name: "rfc9068",
            types: Types {
                accepted: strings(["at+jwt"]),
                absent: false,
            },
            required: strings(["sub", "jti", "client_id", "iat"]),
            values: Vec::new(),
            scopes: vec![ClaimPath::parse("scope")],
            client_id: vec![ClaimPath::parse("client_id")],
            audience: AudienceRule::OneOf(vec![audience.into()]),
        }
    }

    /// A profile to adjust for another issuer: accepts `typ` `at+jwt`, `JWT` or none; requires
    /// nothing beyond `exp` and `iss`; scopes from `scope`; the client from `client_id`, else
    /// `azp`, else `sub`; `aud` must hold one of `audiences`.
    pub fn custom<I, S>(audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: "custom",
            types: Types {
                accepted: strings(["at+jwt", "JWT"]),
                absent: true,
            },
            required: Vec::new(),
            values: Vec::new(),
            scopes: vec![ClaimPath::parse("scope")],
            client_id: ["client_id", "azp", "sub"]
                .into_iter()
                .map(ClaimPath::parse)
                .collect(),
            audience: AudienceRule::OneOf(strings(audiences)),
        }
    }

    /// Keycloak: `typ` `JWT`, scopes from `scope` and the realm roles (`realm_access.roles`),
    /// the client from `azp` (or `client_id`); `aud` must hold `audience` (add an audience
    /// mapper to the client scope: Keycloak's default audience is `account`). Issuer
    /// `https://HOST/realms/REALM`.
    pub fn keycloak(audience: impl Into<String>) -> Self {
        Self::custom([audience])
            .named("keycloak")
            .accept_typ(["JWT", "at+jwt"])
            .scopes_from(["scope", "realm_access.roles"])
            .client_id_from(["azp", "client_id"])
    }

    /// Auth0: `typ` `JWT` (or `at+jwt` with its RFC 9068 profile), scopes from `scope` and
    /// `permissions` (RBAC), the client from `azp` (or `client_id`); `aud` must hold the API
    /// identifier. Issuer `https://TENANT.auth0.com/` (with the trailing slash).
    pub fn auth0(api_identifier: impl Into<String>) -> Self {
        Self::custom([api_identifier])
            .named("auth0")
            .scopes_from(["scope", "permissions"])
            .client_id_from(["azp", "client_id"])
    }

    /// Microsoft Entra ID, v2 access tokens: `typ` `JWT`, scopes from `scp` (delegated) and
    /// `roles` (application permissions, what client credentials get), the client from `azp`
    /// (v2) or `appid` (v1); `aud` must hold the application ID URI or client id. Issuer
    /// `https://login.microsoftonline.com/TENANT/v2.0`.
    pub fn entra_id<I, S>(audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::custom(audiences)
            .named("entra_id")
            .accept_typ(["JWT"])
            .require_typ()
            .scopes_from(["scp", "roles"])
            .client_id_from(["azp", "appid"])
            .require_claims(["sub", "tid"])
    }

    /// Okta (custom authorization server): no `typ` or `JWT`, scopes from `scp` (an array),
    /// the client from `cid`; `aud` must hold the authorization server's audience (e.g.
    /// `api://default`). Issuer `https://DOMAIN/oauth2/SERVER`.
    pub fn okta(audience: impl Into<String>) -> Self {
        Self::custom([audience])
            .named("okta")
            .scopes_from(["scp"])
            .client_id_from(["cid"])
            .require_claims(["sub", "jti"])
    }

    /// Amazon Cognito access tokens: no `aud`; `client_id` must be one of `app_client_ids`;
    /// `token_use` must be `access` (an ID token is refused); scopes from `scope`. Issuer
    /// `https://cognito-idp.REGION.amazonaws.com/POOL_ID`.
    pub fn cognito<I, S>(app_client_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut profile = Self::custom(Vec::<String>::new())
            .named("cognito")
            .client_id_from(["client_id"])
            .require_value("token_use", "access");
        profile.audience = AudienceRule::ClientIdOneOf(strings(app_client_ids));
        profile
    }

    /// Google-signed JWTs (ID tokens for service-to-service calls, e.g. from a service
    /// account or Cloud Run; Google's OAuth access tokens are opaque, see introspection):
    /// `typ` `JWT`, `aud` must be `audience` (the URL of the service called), the caller from
    /// `azp`, else `email`, else `sub`; no scopes. Issuer `https://accounts.google.com`.
    pub fn google(audience: impl Into<String>) -> Self {
        Self::custom([audience])
            .named("google")
            .accept_typ(["JWT"])
            .scopes_from(Vec::<String>::new())
            .client_id_from(["azp", "email", "sub"])
            .require_claims(["sub"])
    }

    fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Whether this is exactly RFC 9068 for one audience, as [`rfc9068`](Self::rfc9068) made
    /// it (not adjusted since): what the verifier may read straight into its typed claims.
    pub(crate) fn is_plain_rfc9068(&self) -> bool {
        match &self.audience {
            AudienceRule::OneOf(audiences) if audiences.len() == 1 => {
                *self == Self::rfc9068(audiences[0].clone())
            }
            _ => false,
        }
    }

    /// The profile's name (`rfc9068`, `keycloak`, ..., `custom`), for logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Accepts these `typ` values (replacing the list); a token without `typ` stays accepted
    /// unless [`require_typ`](Self::require_typ).
    pub fn accept_typ<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.types.accepted = strings(types);
        self
    }

    /// Refuses a token without `typ`.
    pub fn require_typ(mut self) -> Self {
        self.types.absent = false;
        self
    }

    /// Claims that must be present (besides `exp` and `iss`, always required).
    pub fn require_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required.extend(strings(claims));
        self
    }

    /// A claim that must hold exactly this string (e.g. Cognito's `token_use` = `access`).
    pub fn require_value(mut self, claim: impl Into<String>, value: impl Into<String>) -> Self {
        self.values.push((claim.into(), value.into()));
        self
    }

    /// Where scopes come from (replacing the list): each a claim name or a dotted path, holding
    /// a space-delimited string or an array of strings; all are merged.
    pub fn scopes_from<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.scopes = paths
            .into_iter()
            .map(|p| ClaimPath::parse(p.as_ref()))
            .collect();
        self
    }

    /// Where the client id comes from (replacing the list): the first of these claims that
    /// holds a string.
    pub fn client_id_from<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.client_id = paths
            .into_iter()
            .map(|p| ClaimPath::parse(p.as_ref()))
            .collect();
        self
    }

    /// Checks the `typ` header.
    pub(crate) fn check_typ(&self, typ: Option<&str>) -> Result<(), InvalidToken> {
        let accepted = match typ {
            None => self.types.absent,
            Some(typ) => {
                let short = typ
                    .get(..12)
                    .filter(|p| p.eq_ignore_ascii_case("application/"))
                    .map_or(typ, |_| &typ[12..]);
                self.types
                    .accepted
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(short))
            }
        };
        if accepted {
            Ok(())
        } else {
            Err(InvalidToken::WrongType)
        }
    }

    /// The claims, checked against the profile and read into the normalized shape: the client
    /// id from the profile's claims, scopes merged into one `scope` string.
    pub(crate) fn normalize(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<AccessTokenClaims, InvalidToken> {
        let missing = |name: &str| InvalidToken::Invalid(format!("missing claim {name}"));
        if let Some(name) = self.required.iter().find(|n| !claims.contains_key(*n)) {
            return Err(missing(name));
        }
        for (claim, value) in &self.values {
            if claims.get(claim).and_then(Value::as_str) != Some(value) {
                return Err(InvalidToken::Invalid(format!("{claim} is not {value}")));
            }
        }
        let client_id = self
            .client_id
            .iter()
            .find_map(|path| path.find(claims)?.as_str())
            .filter(|id| !id.is_empty())
            .ok_or(InvalidToken::NoClient)?
            .to_owned();
        if let AudienceRule::ClientIdOneOf(allowed) = &self.audience
            && !allowed.contains(&client_id)
        {
            return Err(InvalidToken::Invalid(
                "client_id is not an allowed app client".into(),
            ));
        }
        let mut scopes: Vec<&str> = Vec::new();
        for value in self.scopes.iter().filter_map(|path| path.find(claims)) {
            let found: Vec<&str> = match value {
                Value::String(joined) => joined.split(' ').collect(),
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for scope in found {
                if !scope.is_empty() && !scope.contains(' ') && !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let number = |name: &str| claims.get(name).and_then(Value::as_u64);
        let aud = match claims.get("aud") {
            Some(Value::String(one)) => Audience::One(one.clone()),
            Some(Value::Array(many)) => Audience::Many(
                many.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => Audience::Many(Vec::new()),
        };
        Ok(AccessTokenClaims {
            iss: text("iss").unwrap_or_default(),
            sub: text("sub").unwrap_or_else(|| client_id.clone()),
            aud,
            exp: number("exp").ok_or_else(|| missing("exp"))?,
            iat: number("iat").unwrap_or(0),
            nbf: number("nbf"),
            jti: text("jti").unwrap_or_default(),
            client_id,
            scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
            cnf: claims.get("cnf").and_then(Value::as_object).cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn nested_paths_arrays_and_strings_merge_into_scopes() {
        let profile = TokenProfile::keycloak("api");
        let normalized = profile
            .normalize(&claims(serde_json::json!({
                "exp": 10, "iss": "i", "azp": "svc", "scope": "profile email",
                "realm_access": {"roles": ["reports:read", "email", 7]}
            })))
            .unwrap();
        assert_eq!(normalized.client_id, "svc");
        assert_eq!(
            normalized.scope.as_deref(),
            Some("profile email reports:read")
        );
    }

    #[test]
    fn only_an_unadjusted_rfc9068_profile_is_plain() {
        assert!(TokenProfile::rfc9068("api").is_plain_rfc9068());
        assert!(
            !TokenProfile::rfc9068("api")
                .scopes_from(["scp"])
                .is_plain_rfc9068()
        );
        assert!(
            !TokenProfile::rfc9068("api")
                .accept_typ(["JWT"])
                .is_plain_rfc9068()
        );
        assert!(!TokenProfile::custom(["api"]).is_plain_rfc9068());
    }

    #[test]
    fn typ_rules() {
        let strict = TokenProfile::rfc9068("api");
        assert!(strict.check_typ(Some("at+jwt")).is_ok());
        assert!(strict.check_typ(Some("application/AT+JWT")).is_ok());
        assert!(strict.check_typ(Some("JWT")).is_err());
        assert!(strict.check_typ(None).is_err());
        let entra = TokenProfile::entra_id(["api"]);
        assert!(entra.check_typ(Some("JWT")).is_ok());
        assert!(entra.check_typ(None).is_err());
        let okta = TokenProfile::okta("api://default");
        assert!(okta.check_typ(None).is_ok());
        assert!(okta.check_typ(Some("dpop+jwt")).is_err());
    }

    #[test]
    fn cognito_needs_an_access_token_of_an_allowed_app_client() {
        let profile = TokenProfile::cognito(["app1"]);
        let token = |client: &str, usage: &str| {
            claims(
                serde_json::json!({"exp": 1, "iss": "i", "client_id": client, "token_use": usage}),
            )
        };
        assert!(profile.normalize(&token("app1", "access")).is_ok());
        assert!(profile.normalize(&token("app1", "id")).is_err());
        assert!(profile.normalize(&token("app2", "access")).is_err());
    }
}

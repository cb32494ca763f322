//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3, RFC 7617 §2).
//!
//! The header values are built once, when the layer is built; answering a request only clones
//! them.
//!
//! * Bearer: `Bearer realm="…"`, plus `error="invalid_token"` only when a bearer token was
//!   presented and refused (RFC 6750 §3.1: no error code when the request carried no token, §3).
//! * DPoP: `DPoP realm="…", algs="ES256 …"`, plus `error="invalid_dpop_proof"` when the proof
//!   was missing or refused, `error="use_dpop_nonce"` when it lacked the server's nonce (§9,
//!   with `DPoP-Nonce`), `error="invalid_token"` when the token was refused (RFC 9449 §7.1).
//! * Basic: `Basic realm="…", charset="UTF-8"` (RFC 7617 §2.1).
//! * A named header (`X-API-Key`) has no registered scheme; authstar sends
//!   `ApiKey realm="…", header="x-api-key"` so that a 401 always names how to authenticate, as
//!   RFC 9110 §15.5.2 requires. Clients ignore schemes they do not know.
//! * A request authenticator (a session) has no challenge.

use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::credentials::dpop::ProofError;
use crate::error::ConfigError;
use crate::methods::Summary;
use crate::{Attempt, AuthMethod, Failure};

/// The precomputed challenges of one layer.
///
/// ```
/// use authstar::{Attempt, AuthMethod, AuthstarClient, Failure};
///
/// let layer = authstar::AuthstarLayer::builder()
///     .realm("api")
///     .on_auth_bearer(|_: authstar::BearerToken| async { None::<AuthstarClient> })
///     .build()
///     .unwrap();
/// let challenges = layer.info().challenges();
/// assert_eq!(challenges.for_attempt(None)[0], r#"Bearer realm="api""#);
/// let rejected = Attempt::new(AuthMethod::Bearer, Failure::Denied);
/// assert_eq!(
///     challenges.for_attempt(Some(&rejected))[0],
///     r#"Bearer realm="api", error="invalid_token""#
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Challenges {
    realm: String,
    plain: Vec<HeaderValue>,
    invalid_bearer: Vec<HeaderValue>,
    invalid_dpop_token: Vec<HeaderValue>,
    invalid_dpop_proof: Vec<HeaderValue>,
    use_dpop_nonce: Vec<HeaderValue>,
    basic: HeaderValue,
    /// The DPoP `algs` parameter, quoted, when DPoP is accepted.
    dpop_algs: Option<String>,
}

impl Challenges {
    pub(crate) fn new(realm: &str, summary: &Summary) -> Result<Self, ConfigError> {
        let realm_param = quoted(realm).ok_or(ConfigError::InvalidRealm)?;
        let value =
            |text: String| HeaderValue::try_from(text).map_err(|_| ConfigError::InvalidRealm);
        let mut challenges = Self {
            realm: realm.to_owned(),
            plain: Vec::new(),
            invalid_bearer: Vec::new(),
            invalid_dpop_token: Vec::new(),
            invalid_dpop_proof: Vec::new(),
            use_dpop_nonce: Vec::new(),
            basic: value(format!("Basic realm={realm_param}, charset=\"UTF-8\""))?,
            dpop_algs: None,
        };
        // Each method's challenge as it reads in each list: plain, after a refused bearer
        // token, after a refused DPoP token, after a refused DPoP proof, after a proof without
        // the server's nonce.
        let mut push = |[plain, bearer, token, proof, nonce]: [String; 5]| {
            challenges.plain.push(value(plain)?);
            challenges.invalid_bearer.push(value(bearer)?);
            challenges.invalid_dpop_token.push(value(token)?);
            challenges.invalid_dpop_proof.push(value(proof)?);
            challenges.use_dpop_nonce.push(value(nonce)?);
            Ok::<_, ConfigError>(())
        };
        let same = |text: String| [text.clone(), text.clone(), text.clone(), text.clone(), text];
        if summary.bearer {
            let plain = format!("Bearer realm={realm_param}");
            let invalid = format!("Bearer realm={realm_param}, error=\"invalid_token\"");
            push([plain.clone(), invalid, plain.clone(), plain.clone(), plain])?;
        }
        if let Some(algs) = &summary.dpop {
            // RFC 9449 §7.1: the accepted proof algorithms in `algs`.
            let algs = quoted(algs).ok_or(ConfigError::InvalidRealm)?;
            challenges.dpop_algs = Some(algs.clone());
            let plain = format!("DPoP realm={realm_param}, algs={algs}");
            let error =
                |code: &str| format!("DPoP realm={realm_param}, error=\"{code}\", algs={algs}");
            push([
                plain.clone(),
                plain,
                error("invalid_token"),
                error("invalid_dpop_proof"),
                error("use_dpop_nonce"),
            ])?;
        }
        if summary.basic {
            push(same(format!(
                "Basic realm={realm_param}, charset=\"UTF-8\""
            )))?;
        }
        for header in &summary.headers {
            push(same(format!(
                "ApiKey realm={realm_param}, header=\"{header}\""
            )))?;
        }
        Ok(challenges)
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The challenges for a 401 answering a request whose failed attempt (if any) was `attempt`.
    pub fn for_attempt(&self, attempt: Option<&Attempt>) -> &[HeaderValue] {
        match attempt {
            Some(attempt) if attempt.is_invalid_bearer_token() => &self.invalid_bearer,
            Some(attempt) if attempt.failure == Failure::InvalidProof(ProofError::UseNonce) => {
                &self.use_dpop_nonce
            }
            Some(attempt) if attempt.is_invalid_dpop_proof() => &self.invalid_dpop_proof,
            Some(attempt) if attempt.is_invalid_dpop_token() => &self.invalid_dpop_token,
            _ => &self.plain,
        }
    }

    /// The RFC 6750 §3.1 `insufficient_scope` challenge naming the scopes a resource needs.
    ///
    /// ```
    /// # let layer = authstar::AuthstarLayer::builder()
    /// #     .on_auth_bearer(|_: authstar::BearerToken| async { None::<authstar::AuthstarClient> })
    /// #     .build().unwrap();
    /// let value = layer.info().challenges().insufficient_scope(&["reports:read", "admin"]);
    /// assert_eq!(
    ///     value.unwrap(),
    ///     r#"Bearer realm="authstar", error="insufficient_scope", scope="reports:read admin""#
    /// );
    /// ```
    pub fn insufficient_scope<S: AsRef<str>>(&self, scopes: &[S]) -> Option<HeaderValue> {
        self.scope_challenge("Bearer", scopes, None)
    }

    /// The `insufficient_scope` challenges for `scopes` in each scheme that carries error codes:
    /// `Bearer`, and `DPoP` with its `algs` when the layer accepts DPoP (RFC 9449 §7.1). Build
    /// it once per guard and pick by the client's method.
    ///
    /// ```
    /// # use authstar::AuthMethod;
    /// # let layer = authstar::AuthstarLayer::builder()
    /// #     .on_auth_bearer(|_: authstar::BearerToken| async { None::<authstar::AuthstarClient> })
    /// #     .build().unwrap();
    /// let for_admin = layer.info().challenges().insufficient_scopes(&["admin"]);
    /// assert!(for_admin.for_method(&AuthMethod::Bearer).is_some());
    /// assert!(for_admin.for_method(&AuthMethod::Basic).is_none()); // Basic has no error codes
    /// assert!(for_admin.for_method(&AuthMethod::Dpop).is_none()); // DPoP is not accepted here
    /// ```
    pub fn insufficient_scopes<S: AsRef<str>>(&self, scopes: &[S]) -> ScopeChallenges {
        ScopeChallenges {
            bearer: self.insufficient_scope(scopes),
            dpop: self
                .dpop_algs
                .as_deref()
                .and_then(|algs| self.scope_challenge("DPoP", scopes, Some(algs))),
        }
    }

    /// `<scheme> realm=…, error="insufficient_scope", scope=…[, algs=…]`; `algs` comes quoted.
    fn scope_challenge<S: AsRef<str>>(
        &self,
        scheme: &str,
        scopes: &[S],
        algs: Option<&str>,
    ) -> Option<HeaderValue> {
        let scope = scopes
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(" ");
        let mut value = format!(
            "{scheme} realm={}, error=\"insufficient_scope\", scope={}",
            quoted(&self.realm)?,
            quoted(&scope)?
        );
        if let Some(algs) = algs {
            value.push_str(", algs=");
            value.push_str(algs);
        }
        HeaderValue::try_from(value).ok()
    }

    /// The Basic challenge of this realm, whether or not the layer accepts Basic: the token
    /// endpoint sends it with `invalid_client` (RFC 6749 §5.2).
    ///
    /// ```
    /// # let layer = authstar::AuthstarLayer::builder()
    /// #     .on_auth_bearer(|_: authstar::BearerToken| async { None::<authstar::AuthstarClient> })
    /// #     .build().unwrap();
    /// assert_eq!(
    ///     layer.info().challenges().basic(),
    ///     r#"Basic realm="authstar", charset="UTF-8""#
    /// );
    /// ```
    pub fn basic(&self) -> HeaderValue {
        self.basic.clone()
    }

    /// A bodiless 401 with the challenges for `attempt`.
    pub fn unauthorized<B: Default>(&self, attempt: Option<&Attempt>) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        for challenge in self.for_attempt(attempt) {
            headers.append(WWW_AUTHENTICATE, challenge.clone());
        }
        response
    }
}

/// The `insufficient_scope` challenges for one set of scopes, per scheme
/// ([`Challenges::insufficient_scopes`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeChallenges {
    bearer: Option<HeaderValue>,
    dpop: Option<HeaderValue>,
}

impl ScopeChallenges {
    /// The challenge for a client authenticated with `method`: `None` for methods whose schemes
    /// carry no error codes (Basic, API keys, sessions).
    pub fn for_method(&self, method: &AuthMethod) -> Option<&HeaderValue> {
        match method {
            AuthMethod::Bearer => self.bearer.as_ref(),
            AuthMethod::Dpop => self.dpop.as_ref(),
            _ => None,
        }
    }
}

/// A bodiless 503 with `Retry-After` in seconds (RFC 9110 §10.2.3).
pub(crate) fn service_unavailable<B: Default>(retry_after: &HeaderValue) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
        .headers_mut()
        .insert(RETRY_AFTER, retry_after.clone());
    response
}

/// `value` as an RFC 9110 §5.6.4 `quoted-string`, `None` if it holds characters a quoted-string
/// cannot carry (controls other than HTAB, non-ASCII).
fn quoted(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' | ' '..='~' => out.push(c),
            _ => return None,
        }
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9110_5_6_4_realm_is_escaped() {
        assert_eq!(quoted(r#"a "b" \c"#).as_deref(), Some(r#""a \"b\" \\c""#));
        assert_eq!(quoted("line\nbreak"), None);
        assert_eq!(quoted("café"), None);
    }

    #[test]
    fn rfc7617_2_1_basic_announces_utf8() {
        let summary = Summary {
            basic: true,
            ..Summary::default()
        };
        let challenges = Challenges::new("r", &summary).unwrap();
        assert_eq!(
            challenges.for_attempt(None),
            [r#"Basic realm="r", charset="UTF-8""#]
        );
    }
}

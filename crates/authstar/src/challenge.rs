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

use crate::error::ConfigError;
use crate::method::{ChallengeSpec, Description};
use crate::{Attempt, AuthMethod};

/// The precomputed challenges of one layer.
#[derive(Clone, Debug)]
pub(crate) struct Challenges {
    realm: String,
    /// Every method's challenge without an error code, in precedence order.
    plain: Vec<HeaderValue>,
    /// The whole list again for each (method, error code): the method's challenge with
    /// `error="…"`, the others plain.
    coded: Vec<(AuthMethod, &'static str, Vec<HeaderValue>)>,
    /// Each method with a challenge: its scheme word, parameters and error codes.
    schemes: Vec<(AuthMethod, ChallengeSpec)>,
    basic: HeaderValue,
}

impl Challenges {
    pub(crate) fn new(realm: &str, methods: &[Description]) -> Result<Self, ConfigError> {
        let realm_param = quoted(realm).ok_or(ConfigError::InvalidRealm)?;
        let value =
            |text: String| HeaderValue::try_from(text).map_err(|_| ConfigError::InvalidRealm);
        let schemes: Vec<(AuthMethod, ChallengeSpec)> = methods
            .iter()
            .filter_map(|d| Some((d.method.clone(), d.challenge.clone()?)))
            .collect();
        let render = |spec: &ChallengeSpec, error: Option<&str>| {
            let mut text = format!("{} realm={realm_param}", spec.scheme);
            if let Some(code) = error {
                text.push_str(&format!(", error=\"{code}\""));
            }
            if let Some(params) = &spec.params {
                text.push_str(", ");
                text.push_str(params);
            }
            value(text)
        };
        let plain = schemes
            .iter()
            .map(|(_, spec)| render(spec, None))
            .collect::<Result<Vec<_>, _>>()?;
        let mut coded = Vec::new();
        for (index, (method, spec)) in schemes.iter().enumerate() {
            for &code in spec.errors.map_or(&[][..], |errors| errors.codes) {
                let mut list = plain.clone();
                list[index] = render(spec, Some(code))?;
                coded.push((method.clone(), code, list));
            }
        }
        Ok(Self {
            realm: realm.to_owned(),
            plain,
            coded,
            schemes,
            basic: value(format!("Basic realm={realm_param}, charset=\"UTF-8\""))?,
        })
    }

    /// The realm.
    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }

    /// The challenges for a 401 answering a request whose failed attempt (if any) was `attempt`.
    pub(crate) fn for_attempt(&self, attempt: Option<&Attempt>) -> &[HeaderValue] {
        let Some(code) = attempt.and_then(|attempt| self.error_code(attempt)) else {
            return &self.plain;
        };
        let method = attempt.map(|attempt| &attempt.method);
        self.coded
            .iter()
            .find(|(of, listed, _)| Some(of) == method && *listed == code)
            .map_or(&self.plain[..], |(_, _, list)| list)
    }

    /// The error code a refusal of `attempt` carries in its challenge (and in a JSON body), for
    /// methods whose scheme has error codes: `invalid_token` for a refused bearer token (RFC
    /// 6750 §3.1); `invalid_dpop_proof`, `use_dpop_nonce` or `invalid_token` for DPoP (RFC
    /// 9449 §7.1); `None` for Basic, API keys, sessions, and a backend that failed.
    pub(crate) fn error_code(&self, attempt: &Attempt) -> Option<&'static str> {
        let (_, spec) = self
            .schemes
            .iter()
            .find(|(method, _)| *method == attempt.method)?;
        (spec.errors?.of)(&attempt.failure)
    }

    /// The RFC 6750 §3.1 `insufficient_scope` challenge naming `scopes`, in the scheme a client
    /// authenticated with `method` used, when that scheme carries error codes (Bearer, and
    /// DPoP with its `algs`, RFC 9449 §7.1); `None` for Basic, API keys and sessions.
    pub(crate) fn insufficient_scope<S: AsRef<str>>(
        &self,
        method: &AuthMethod,
        scopes: &[S],
    ) -> Option<HeaderValue> {
        let (_, spec) = self
            .schemes
            .iter()
            .find(|(of, spec)| of == method && spec.errors.is_some())?;
        self.scope_challenge(spec.scheme, scopes, spec.params.as_deref())
    }

    /// `<scheme> realm=…, error="insufficient_scope", scope=…[, params]`.
    fn scope_challenge<S: AsRef<str>>(
        &self,
        scheme: &str,
        scopes: &[S],
        params: Option<&str>,
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
        if let Some(params) = params {
            value.push_str(", ");
            value.push_str(params);
        }
        HeaderValue::try_from(value).ok()
    }

    /// The Basic challenge of this realm, whether or not the layer accepts Basic: the token
    /// endpoint sends it with `invalid_client` (RFC 6749 §5.2).
    pub(crate) fn basic(&self) -> HeaderValue {
        self.basic.clone()
    }

    /// A bodiless 401 with the challenges for `attempt`.
    pub(crate) fn unauthorized<B: Default>(&self, attempt: Option<&Attempt>) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        for challenge in self.for_attempt(attempt) {
            headers.append(WWW_AUTHENTICATE, challenge.clone());
        }
        response
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
}

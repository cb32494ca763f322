//! Finding an identity provider's keys from its issuer URL: OpenID Connect Discovery 1.0 or
//! RFC 8414 metadata.

use std::time::Duration;

use serde::Deserialize;

use crate::remote::{RemoteJwks, checked_client, fetch_json};
use crate::{JwtError, JwtVerifier, JwtVerifierBuilder, TokenProfile};

/// The largest metadata document read.
const MAX_METADATA: usize = 256 * 1024;

/// An authorization server's metadata: what a resource server needs of it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer: exactly the URL discovery started from (RFC 8414 §3.3).
    pub issuer: String,
    /// Where its signing keys are.
    pub jwks_uri: String,
    /// Its token endpoint.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Its RFC 7662 introspection endpoint, if it has one.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
}

/// Discovery from an issuer URL: fetches `ISSUER/.well-known/openid-configuration`, and when
/// that fails the RFC 8414 location (`https://HOST/.well-known/oauth-authorization-server/PATH`);
/// requires the document's `issuer` to be exactly the URL asked for (RFC 8414 §3.3, OpenID
/// Discovery §4.3: a document naming another issuer could hand out its keys); `https` only
/// unless [`allow_http`](Self::allow_http); 5 s timeout; redirects within the origin only;
/// documents up to 256 KiB.
///
/// ```no_run
/// use authstar_jwt::{Discovery, TokenProfile};
///
/// # async fn run() -> Result<(), authstar_jwt::JwtError> {
/// let verifier = Discovery::new("https://login.example/realms/main")
///     .verifier(TokenProfile::keycloak("reports-api"))
///     .await?
///     .cache(10_000)
///     .build();
/// # let _ = verifier;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Discovery {
    issuer: String,
    allow_http: bool,
    timeout: Duration,
}

impl Discovery {
    /// Discovery for `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            allow_http: false,
            timeout: Duration::from_secs(5),
        }
    }

    /// Accepts `http://` for the issuer and its JWKS: a provider on loopback or inside a
    /// trusted network only.
    pub fn allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// The timeout of each fetch (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The two places metadata may be, in the order tried.
    fn locations(&self) -> [String; 2] {
        let trimmed = self.issuer.trim_end_matches('/');
        let openid = format!("{trimmed}/.well-known/openid-configuration");
        // RFC 8414 §3.1: the well-known segment goes between the host and the path.
        let rfc8414 = match trimmed.split_once("://") {
            Some((scheme, rest)) => {
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                let path = if path.is_empty() {
                    String::new()
                } else {
                    format!("/{path}")
                };
                format!("{scheme}://{host}/.well-known/oauth-authorization-server{path}")
            }
            None => trimmed.to_owned(),
        };
        [openid, rfc8414]
    }

    /// Fetches and checks the metadata.
    pub async fn fetch(&self) -> Result<ProviderMetadata, JwtError> {
        let refused = || {
            JwtError::discovery(format!(
                "issuer URL {:?} refused: use https (or allow_http() for a provider on loopback)",
                self.issuer
            ))
        };
        let http =
            checked_client(&self.issuer, self.allow_http, self.timeout).ok_or_else(refused)??;
        let mut failures = Vec::new();
        for location in self.locations() {
            match fetch_json::<ProviderMetadata>(&http, &location, MAX_METADATA).await {
                Ok(metadata) if metadata.issuer == self.issuer => return Ok(metadata),
                Ok(metadata) => {
                    return Err(JwtError::discovery(format!(
                        "{location} names the issuer {:?}, not {:?}",
                        metadata.issuer, self.issuer
                    )));
                }
                Err(error) => failures.push(format!("{location}: {error}")),
            }
        }
        Err(JwtError::discovery(format!(
            "no metadata for {}: {}",
            self.issuer,
            failures.join("; ")
        )))
    }

    /// Discovers the provider and returns a verifier of its tokens laid out as `profile`
    /// says, its keys fetched once now (a provider whose keys cannot be fetched yet is retried
    /// on the first unknown `kid`); add a cache or revocations before
    /// [`build`](JwtVerifierBuilder::build).
    pub async fn verifier(&self, profile: TokenProfile) -> Result<JwtVerifierBuilder, JwtError> {
        let metadata = self.fetch().await?;
        let mut jwks = RemoteJwks::builder(&metadata.jwks_uri).timeout(self.timeout);
        if self.allow_http {
            jwks = jwks.allow_http();
        }
        let jwks = jwks.build()?;
        if let Err(error) = jwks.refresh().await {
            tracing::warn!(issuer = %self.issuer, %error, "authstar-jwt: the provider's keys are not available yet");
        }
        Ok(JwtVerifier::remote_builder(jwks, &self.issuer, profile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8414_puts_the_well_known_segment_before_the_path() {
        let discovery = Discovery::new("https://idp.example/tenant/v2.0");
        assert_eq!(
            discovery.locations(),
            [
                "https://idp.example/tenant/v2.0/.well-known/openid-configuration".to_owned(),
                "https://idp.example/.well-known/oauth-authorization-server/tenant/v2.0".to_owned()
            ]
        );
        assert_eq!(
            Discovery::new("https://idp.example/").locations()[1],
            "https://idp.example/.well-known/oauth-authorization-server"
        );
    }
}

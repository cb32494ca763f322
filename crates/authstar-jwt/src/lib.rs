//! # authstar-jwt
//!
//! JWT access tokens in the RFC 9068 profile for [`authstar`]: a [`JwtIssuer`] that plugs into the
//! token endpoint, a [`JwtVerifier`] that is itself a bearer authenticator, and JWKS documents.
//!
//! ```
//! use authstar::{AuthstarClient, AuthstarLayer};
//! use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
//!
//! let key = SigningKey::generate_es256("2026-11").unwrap();
//! let verifier = JwtVerifier::new([key.verification_key()], "https://auth.example", "api");
//! let issuer = JwtIssuer::new(key, "https://auth.example", "api");
//!
//! let token = issuer.issue("reporting", &["reports:read".to_owned()]).unwrap();
//! let client: AuthstarClient = verifier.verify(&token).unwrap();
//! assert_eq!(client.client_id(), "reporting");
//!
//! let layer = AuthstarLayer::builder().on_auth_bearer_with(verifier).build().unwrap();
//! # let _ = layer;
//! ```
//!
//! ## Why `jsonwebtoken` 9 with `ring`
//!
//! `jsonwebtoken` is the most used JOSE crate for Rust and is well kept. Its 9.x line signs and
//! verifies with `ring`, the fastest backend measured here for ES256 (≈54 µs per verify, against
//! ≈290 µs for the RustCrypto backend that 10.x also offers), and it needs no crypto feature to be
//! chosen (10.x compiles without one and panics at run time). It has no `typ` check of its own:
//! [`JwtVerifier`] adds it (RFC 9068 §4).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

#[cfg(feature = "remote")]
mod discovery;
#[cfg(feature = "remote")]
mod introspection;
mod issuer;
mod keys;
mod profile;
#[cfg(feature = "remote")]
mod remote;
mod verifier;

#[cfg(feature = "remote")]
pub use discovery::{Discovery, ProviderMetadata};
#[cfg(feature = "remote")]
pub use introspection::{Introspection, IntrospectionBuilder};
pub use issuer::JwtIssuer;
pub use jsonwebtoken::Algorithm;
pub use jsonwebtoken::jwk::{Jwk, JwkSet};
pub use keys::{KeySet, SigningKey, VerificationKey, jwks};
pub use profile::TokenProfile;
#[cfg(feature = "remote")]
pub use remote::{RemoteJwks, RemoteJwksBuilder};
pub use verifier::{
    AccessTokenClaims, Audience, InvalidToken, JwtVerifier, RawClaims, Revocations, TokenStamp,
    unix_now,
};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// A key could not be made or loaded.
    #[error("key error: {message}")]
    Key {
        /// What went wrong, for a person.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<authstar::BoxError>,
    },
    /// A token could not be signed.
    #[error("could not sign the token: {message}")]
    Sign {
        /// What went wrong, for a person.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<authstar::BoxError>,
    },
    /// A remote JWKS document could not be fetched or read.
    #[error("JWKS fetch failed: {message}")]
    Fetch {
        /// What went wrong, for a person.
        message: String,
        /// The underlying error (HTTP client, JSON), if any.
        #[source]
        source: Option<authstar::BoxError>,
    },
    /// The JWKS URL is not a URL, or not `https` while plain http was not allowed.
    #[error(
        "JWKS URL {0:?} refused: use an https URL, or RemoteJwks::builder(url).allow_http() for a \
         provider on loopback or a trusted network"
    )]
    JwksUrl(String),
    /// Discovery by issuer URL failed: no metadata, another issuer named, a refused URL.
    #[error("discovery failed: {0}")]
    Discovery(String),
}

impl JwtError {
    pub(crate) fn key(message: impl Into<String>) -> Self {
        Self::Key {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn key_from(message: &str, source: impl Into<authstar::BoxError>) -> Self {
        Self::Key {
            message: message.to_owned(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn sign(message: impl Into<String>) -> Self {
        Self::Sign {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn sign_from(message: &str, source: impl Into<authstar::BoxError>) -> Self {
        Self::Sign {
            message: message.to_owned(),
            source: Some(source.into()),
        }
    }

    #[cfg(feature = "remote")]
    pub(crate) fn discovery(message: impl Into<String>) -> Self {
        Self::Discovery(message.into())
    }

    #[cfg(feature = "remote")]
    pub(crate) fn fetch(message: impl Into<String>) -> Self {
        Self::Fetch {
            message: message.into(),
            source: None,
        }
    }

    #[cfg(feature = "remote")]
    pub(crate) fn fetch_from(message: &str, source: impl Into<authstar::BoxError>) -> Self {
        Self::Fetch {
            message: message.to_owned(),
            source: Some(source.into()),
        }
    }
}

/// The `typ` header of RFC 9068 access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

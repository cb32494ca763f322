//! Configuration errors, reported when the layer is built rather than on the first request.

/// Why [`AuthstarLayerBuilder::build`](crate::AuthstarLayerBuilder::build) refused a
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No authenticator was configured.
    #[error(
        "no authenticator configured: add at least one of on_auth_bearer, on_auth_basic, \
         on_auth_dpop, on_auth_header or on_auth_request"
    )]
    NoAuthenticator,
    /// A header authenticator was given a name that is not a valid HTTP header name.
    #[error("invalid header name {0:?} for on_auth_header: use a token such as \"x-api-key\"")]
    InvalidHeaderName(String),
    /// A method was configured twice (`on_auth_bearer` twice, one header name twice): the
    /// second would never be asked. Chain authenticators with
    /// [`Authenticator::or`](crate::Authenticator::or) instead.
    #[error(
        "the {0} method is configured twice: configure each method once, and chain several \
         authenticators for it with Authenticator::or"
    )]
    DuplicateMethod(String),
    /// A header authenticator was configured for `Authorization`, which Bearer and Basic own.
    #[error(
        "on_auth_header cannot use the Authorization header: use on_auth_bearer or on_auth_basic"
    )]
    AuthorizationHeader,
    /// The realm cannot be sent in a quoted-string.
    #[error("the realm must be printable ASCII (RFC 9110 quoted-string)")]
    InvalidRealm,
    /// The origin given to [`DpopAuth::origin`](crate::DpopAuth::origin) is not
    /// `scheme://host[:port]`.
    #[error(
        "DPoP origin {0:?} is not an origin: write scheme://host[:port], such as https://api.example.com"
    )]
    InvalidOrigin(String),
    /// A network given to [`Networks::parse`](crate::network::Networks::parse) is not a CIDR
    /// block or an address.
    #[error(
        "invalid network {0:?}: use CIDR notation such as 10.0.0.0/8 or fd00::/8, or a single address"
    )]
    InvalidNetwork(String),
    /// The credential length limit is zero.
    #[error("max_credential_len must be at least 1")]
    ZeroMaxCredentialLen,
    /// A failure throttle counts identities but has no way to find a request's address: one
    /// guesser would lock a client out for everyone, everywhere.
    #[error(
        "the throttle counts failures per identity but cannot tell addresses apart: give the \
         layer peer_address (under axum: authstar_axum::peer_address), or the throttle its own \
         client_address"
    )]
    ThrottleWithoutAddresses,
}

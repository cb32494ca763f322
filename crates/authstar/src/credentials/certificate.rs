//! The client's TLS certificate (RFC 8705): what a server that terminated mutual TLS, or a
//! trusted proxy that did, puts in a request's extensions for the methods to read.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The certificate the client presented on the TLS connection a request came over (DER), with
/// its RFC 8705 §3.1 thumbprint: the base64url SHA-256 of the DER, what a certificate-bound
/// token names in `cnf.x5t#S256`. Computed once per connection by whoever inserts it
/// (authstar-jwt's `client_certificate` does), and cheap to clone into every request.
///
/// A bearer token presented on such a request carries the thumbprint to its authenticator
/// ([`BearerToken::certificate_thumbprint`](crate::BearerToken::certificate_thumbprint)), so a
/// certificate-bound token is accepted only over that certificate.
///
/// ```
/// use authstar::credentials::ClientCertificate;
/// let certificate = ClientCertificate::new(vec![0x30, 0x03, 0x02, 0x01, 0x01], [7u8; 32]);
/// assert_eq!(certificate.thumbprint(), "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc");
/// assert_eq!(certificate.der(), [0x30, 0x03, 0x02, 0x01, 0x01]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    der: Arc<[u8]>,
    thumbprint: Arc<str>,
}

impl ClientCertificate {
    /// The certificate `der` whose SHA-256 digest is `sha256` (the core computes no digests:
    /// give it the one your TLS stack or crypto library computed of these very bytes).
    pub fn new(der: impl Into<Arc<[u8]>>, sha256: [u8; 32]) -> Self {
        Self {
            der: der.into(),
            thumbprint: URL_SAFE_NO_PAD.encode(sha256).into(),
        }
    }

    /// The certificate, DER-encoded.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Its `x5t#S256` thumbprint (base64url, no padding).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The thumbprint, shared.
    pub(crate) fn shared_thumbprint(&self) -> Arc<str> {
        Arc::clone(&self.thumbprint)
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

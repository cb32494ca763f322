//! Client authentication by TLS certificate (RFC 8705 §2): a client sends its `client_id` in
//! the body and no secret; the certificate of its connection (or of a trusted proxy's
//! `Client-Cert`), in the request's extensions as a [`ClientCertificate`], proves it. Whether
//! that certificate is the client's is a [`ClientCertificates`]' answer (the registry's, with
//! the rules of [`mtls`](crate::mtls) under the `mtls` feature); failures are counted as wrong
//! secrets are.

use std::future::Future;
use std::pin::Pin;

use authstar::Verdict;
use authstar::credentials::ClientCertificate;

use crate::ClientAuthMethod;

/// Says which client a TLS client certificate authenticates, for the token, revocation and
/// introspection endpoints ([`Endpoint::client_certificates`](crate::Endpoint::client_certificates)).
///
/// ```
/// use authstar::credentials::ClientCertificate;
/// use authstar::{AuthstarClient, Verdict};
/// use authstar_oauth2::{ClientAuthMethod, ClientCertificates};
///
/// /// One client, known by the SHA-256 thumbprint of its self-signed certificate.
/// struct Pinned { client_id: String, thumbprint: String }
///
/// impl ClientCertificates<AuthstarClient> for Pinned {
///     async fn verify(&self, certificate: &ClientCertificate, client_id: &str) -> Verdict<AuthstarClient> {
///         match client_id == self.client_id && certificate.thumbprint() == self.thumbprint {
///             true => Verdict::Authenticated(AuthstarClient::new(client_id, ["read"])),
///             false => Verdict::Rejected,
///         }
///     }
///     fn methods(&self) -> Vec<ClientAuthMethod> {
///         vec![ClientAuthMethod::SelfSignedTlsClientAuth]
///     }
/// }
/// ```
pub trait ClientCertificates<C>: Send + Sync + 'static {
    /// The client `certificate` authenticates as `client_id`: [`Verdict::Rejected`] when it is
    /// not that client's (the answer is `invalid_client`, with no detail),
    /// [`Verdict::Unavailable`] when the client's registration cannot be read.
    fn verify<'a>(
        &'a self,
        certificate: &'a ClientCertificate,
        client_id: &'a str,
    ) -> impl Future<Output = Verdict<C>> + Send + 'a;

    /// The methods it accepts (`tls_client_auth`, `self_signed_tls_client_auth`), for RFC 8414
    /// `token_endpoint_auth_methods_supported`.
    fn methods(&self) -> Vec<ClientAuthMethod>;
}

/// A [`ClientCertificates`] behind a pointer, its future boxed.
pub(crate) trait ErasedCertificates<C>: Send + Sync + 'static {
    fn verify<'a>(
        &'a self,
        certificate: &'a ClientCertificate,
        client_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Verdict<C>> + Send + 'a>>;
    fn methods(&self) -> Vec<ClientAuthMethod>;
}

impl<C, A: ClientCertificates<C>> ErasedCertificates<C> for A {
    fn verify<'a>(
        &'a self,
        certificate: &'a ClientCertificate,
        client_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Verdict<C>> + Send + 'a>> {
        Box::pin(ClientCertificates::verify(self, certificate, client_id))
    }
    fn methods(&self) -> Vec<ClientAuthMethod> {
        ClientCertificates::methods(self)
    }
}

//! `--tls-cert` / `--tls-key`: the demo over TLS (rustls), asking clients for a certificate and
//! never requiring one (RFC 8705). A client that presents one proves it holds the key (the
//! handshake's signature is checked); the certificate itself is not chained to any authority
//! here, as RFC 8705 §3 allows self-signed certificates for binding tokens. Each request of
//! such a connection carries the certificate in its extensions
//! ([`authstar::credentials::ClientCertificate`]), so the token endpoint can bind tokens to it
//! and the bearer method can check the binding.

use std::path::Path;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, SignatureScheme};

use super::DemoError;

/// The TLS acceptor for `cert` (a PEM chain) and `key` (a PEM private key).
pub(super) fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, DemoError> {
    let failed =
        |what: &Path, why: String| DemoError::Config(format!("TLS: {}: {why}", what.display()));
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| failed(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(failed(cert, "no certificate in the file".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| failed(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DemoError::Config(format!("TLS: {e}")))?
        .with_client_cert_verifier(Arc::new(AnyClientCertificate(provider)))
        .with_single_cert(chain, key)
        .map_err(|e| DemoError::Config(format!("TLS: {e}")))?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Asks every client for a certificate, requires none, and accepts any one whose holder signs
/// the handshake with its key: the certificate is an identity for binding tokens (RFC 8705
/// §3), checked by thumbprint, not a credential chained to an authority.
#[derive(Debug)]
struct AnyClientCertificate(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client certificate of an accepted connection, if it presented one.
pub(super) fn client_certificate(
    connection: &rustls::ServerConnection,
) -> Option<authstar::credentials::ClientCertificate> {
    let end_entity = connection.peer_certificates()?.first()?;
    Some(authstar_jwt::client_certificate(end_entity.to_vec()))
}

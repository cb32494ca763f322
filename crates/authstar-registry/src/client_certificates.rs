//! Clients that authenticate with a TLS certificate (RFC 8705 §2): `tls_client_auth` (a
//! certificate from a configured authority with the registered subject DN or alternative
//! name) and `self_signed_tls_client_auth` (one of the certificates the client registered).
//! Registered with a [`CertificateRule`] and no secret; [`RegistryCertificates`] is the
//! endpoints' [`ClientCertificates`].

use authstar::credentials::ClientCertificate;
use authstar::{AuthstarClient, Verdict};
use authstar_oauth2::mtls::{CertificateAuthorities, CertificateError, CertificateRule};
use authstar_oauth2::{ClientAuthMethod, ClientCertificates};

use crate::store::{ClientRow, StoreError};
use crate::{ClientRecord, Registry, RegistryError, check_scopes, now, split_scopes};

impl Registry {
    /// Creates a client that authenticates with a TLS certificate as `rule` says
    /// (`tls_client_auth` for a subject rule, `self_signed_tls_client_auth` for registered
    /// certificates) and has no secret.
    pub async fn create_certificate_client(
        &self,
        id: &str,
        rule: CertificateRule,
        scopes: &[String],
    ) -> Result<ClientRecord, RegistryError> {
        check_scopes(scopes)?;
        if !crate::clients::valid_client_id(id) {
            return Err(RegistryError::InvalidClientId(id.to_owned()));
        }
        let rule = rule.checked()?;
        let row = ClientRow::with_certificate(
            id.to_owned(),
            rule.method().as_str(),
            stored(&rule)?,
            scopes.join(" "),
            now(),
        );
        match self.shared.store.insert_client(&row).await {
            Ok(()) => {
                self.audit_created(&row).await;
                Ok(ClientRecord::of(row))
            }
            Err(StoreError::Conflict) => Err(RegistryError::ClientExists(row.client_id)),
            Err(error) => Err(error.into()),
        }
    }

    /// Replaces what the certificate of the client `id` must be (a new certificate, a renamed
    /// subject); the client's method stays: a `tls_client_auth` client takes only a subject
    /// rule, a `self_signed_tls_client_auth` one only certificates. Every instance reads the
    /// rule from the database, so the change holds at once, everywhere.
    pub async fn set_client_certificate(
        &self,
        id: &str,
        rule: CertificateRule,
    ) -> Result<(), RegistryError> {
        let rule = rule.checked()?;
        let current = self.shared.store.client(id).await?;
        match current {
            Some(row) if row.auth_method == rule.method().as_str() => {}
            Some(row) if row.revoked_at.is_none() && row.certificate.is_some() => {
                return Err(RegistryError::InvalidCertificate(
                    CertificateError::WrongMethod,
                ));
            }
            _ => return Err(RegistryError::UnknownClient(id.to_owned())),
        }
        match self
            .shared
            .store
            .set_client_certificate(id, &stored(&rule)?)
            .await?
        {
            true => {
                let method = rule.method().as_str();
                self.audit(
                    "client.certificate",
                    Some(id),
                    id,
                    serde_json::json!({ "auth_method": method }),
                )
                .await;
                Ok(())
            }
            false => Err(RegistryError::UnknownClient(id.to_owned())),
        }
    }

    /// The endpoints' check of client certificates against this registry's clients:
    /// `tls_client_auth` certificates must chain to `authorities` (without any, no
    /// `tls_client_auth` client authenticates, and the metadata lists only
    /// `self_signed_tls_client_auth`).
    pub fn client_certificates(
        &self,
        authorities: Option<CertificateAuthorities>,
    ) -> RegistryCertificates {
        RegistryCertificates {
            registry: self.clone(),
            authorities,
        }
    }
}

fn stored(rule: &CertificateRule) -> Result<String, RegistryError> {
    // A rule is strings and an address: writing it as JSON cannot fail.
    serde_json::to_string(rule)
        .map_err(|_| RegistryError::InvalidCertificate(CertificateError::Certificate))
}

/// Authenticates the registry's certificate clients
/// ([`Registry::client_certificates`]).
#[derive(Clone, Debug)]
pub struct RegistryCertificates {
    registry: Registry,
    authorities: Option<CertificateAuthorities>,
}

impl ClientCertificates<AuthstarClient> for RegistryCertificates {
    async fn verify(
        &self,
        certificate: &ClientCertificate,
        client_id: &str,
    ) -> Verdict<AuthstarClient> {
        // The chain first, for every client id: what the check costs tells no one whether an
        // id exists or which method it uses.
        let issued = self
            .authorities
            .as_ref()
            .is_some_and(|authorities| authorities.issued(certificate.der()));
        let row = match self.registry.shared.store.client(client_id).await {
            Ok(Some(row)) => row,
            Ok(None) => return Verdict::Rejected,
            Err(error) => return Verdict::Unavailable(error.into()),
        };
        if row.revoked_at.is_some() {
            return Verdict::Rejected;
        }
        let Some(rule) = row
            .certificate
            .as_deref()
            .and_then(|rule| serde_json::from_str::<CertificateRule>(rule).ok())
        else {
            return Verdict::Rejected;
        };
        // The rule must be for the client's method: a row edited by hand adds no power.
        if rule.method().as_str() != row.auth_method {
            return Verdict::Rejected;
        }
        match rule.matches_issued(certificate, issued) {
            true => {
                Verdict::Authenticated(AuthstarClient::new(client_id, split_scopes(&row.scopes)))
            }
            false => Verdict::Rejected,
        }
    }

    fn methods(&self) -> Vec<ClientAuthMethod> {
        let mut methods = Vec::with_capacity(2);
        if self.authorities.is_some() {
            methods.push(ClientAuthMethod::TlsClientAuth);
        }
        methods.push(ClientAuthMethod::SelfSignedTlsClientAuth);
        methods
    }
}

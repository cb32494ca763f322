//! Client authentication by certificate (RFC 8705 §2): what a client's TLS certificate must be
//! for `tls_client_auth` (issued by a configured authority, with a registered subject DN or
//! subject alternative name) and for `self_signed_tls_client_auth` (one of the certificates the
//! client registered). The endpoints read the certificate from the request's extensions
//! ([`ClientCertificate`]); a [`ClientCertificates`](crate::ClientCertificates) says whose it
//! is, usually from a registry that stores a [`CertificateRule`] per client.
//!
//! X.509 is read with RustCrypto's `x509-cert` (subject names in RFC 4514 form, the subject
//! alternative names) and chains are checked with `rustls-webpki`, the path builder rustls
//! itself uses: neither is written here.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::SystemTime;

use authstar::credentials::ClientCertificate;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::der::Decode;
use x509_cert::der::{Encode, Tag, Tagged};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use crate::ClientAuthMethod;

/// Why a certificate rule or an authority file is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// A subject DN that is not an RFC 4514 string.
    #[error(
        "not an RFC 4514 distinguished name (write it as CN=svc,O=Example, no spaces after the commas)"
    )]
    SubjectDn,
    /// An empty subject alternative name.
    #[error("an empty subject alternative name")]
    EmptyName,
    /// A certificate that cannot be read.
    #[error("not an X.509 certificate (PEM or base64 DER)")]
    Certificate,
    /// No certificate where one is needed.
    #[error("no certificate given")]
    NoCertificate,
    /// A rule for the other certificate method than the client's.
    #[error(
        "a tls_client_auth client takes a subject, a self_signed_tls_client_auth client certificates"
    )]
    WrongMethod,
    /// Too many certificates for one client.
    #[error("at most {MAX_CLIENT_CERTIFICATES} certificates per client")]
    TooMany,
}

/// The most certificates a `self_signed_tls_client_auth` client registers (two or three during
/// a rotation).
pub const MAX_CLIENT_CERTIFICATES: usize = 10;

/// What a client's certificate must be, as registered (RFC 8705 §2.1.2 and §2.2, with the
/// client metadata names of RFC 8705 §2.1.2 as the serialized form).
///
/// ```
/// use authstar_oauth2::mtls::CertificateRule;
/// let rule = CertificateRule::subject_dn("CN=billing,O=Example").unwrap();
/// assert_eq!(
///     serde_json::to_string(&rule).unwrap(),
///     r#"{"tls_client_auth_subject_dn":"CN=billing,O=Example"}"#
/// );
/// // Anything that is no RFC 4514 name is refused when registered, not when used.
/// assert!(CertificateRule::subject_dn("billing").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CertificateRule {
    /// `tls_client_auth`: the subject DN, in the RFC 4514 form this crate writes (checked and
    /// normalized by [`CertificateRule::subject_dn`]).
    #[serde(rename = "tls_client_auth_subject_dn")]
    SubjectDn(String),
    /// `tls_client_auth`: one `dNSName` entry (compared without regard to ASCII case).
    #[serde(rename = "tls_client_auth_san_dns")]
    SanDns(String),
    /// `tls_client_auth`: one `uniformResourceIdentifier` entry.
    #[serde(rename = "tls_client_auth_san_uri")]
    SanUri(String),
    /// `tls_client_auth`: one `iPAddress` entry.
    #[serde(rename = "tls_client_auth_san_ip")]
    SanIp(IpAddr),
    /// `tls_client_auth`: one `rfc822Name` entry.
    #[serde(rename = "tls_client_auth_san_email")]
    SanEmail(String),
    /// `self_signed_tls_client_auth`: the certificates the client may present, each base64
    /// DER (as a JWK's `x5c` holds them); the presented one must be one of them, byte for byte.
    #[serde(rename = "x5c")]
    SelfSigned(Vec<String>),
}

impl fmt::Debug for CertificateRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SelfSigned(certificates) => {
                write!(f, "SelfSigned({} certificates)", certificates.len())
            }
            Self::SubjectDn(name) => f.debug_tuple("SubjectDn").field(name).finish(),
            Self::SanDns(name) => f.debug_tuple("SanDns").field(name).finish(),
            Self::SanUri(name) => f.debug_tuple("SanUri").field(name).finish(),
            Self::SanIp(address) => f.debug_tuple("SanIp").field(address).finish(),
            Self::SanEmail(name) => f.debug_tuple("SanEmail").field(name).finish(),
        }
    }
}

impl CertificateRule {
    /// `tls_client_auth` by subject DN, written as RFC 4514 says (`CN=svc,O=Example`: the
    /// most specific name first; `;`, `"`, `<`, `>` and a trailing `\` only escaped, as RFC
    /// 4514 allows no other reading); stored in the form x509-cert writes. A certificate's
    /// subject matches when it has the same names, attribute by attribute (by OID, and by the
    /// text of string values, whatever their ASN.1 string type).
    ///
    /// ```
    /// use authstar_oauth2::mtls::CertificateRule;
    /// assert!(CertificateRule::subject_dn("cn=billing,O=Example").is_ok());
    /// // RFC 1779's `;` separator is no separator in RFC 4514: refused, not read as a value.
    /// assert!(CertificateRule::subject_dn("CN=billing;O=Example").is_err());
    /// assert!(CertificateRule::subject_dn("CN=a\\").is_err());
    /// ```
    pub fn subject_dn(name: &str) -> Result<Self, CertificateError> {
        if !strict_rfc4514(name) {
            return Err(CertificateError::SubjectDn);
        }
        let parsed = Name::from_str(name).map_err(|_| CertificateError::SubjectDn)?;
        let normalized = parsed.to_string();
        if parsed.is_empty() || normalized.is_empty() {
            return Err(CertificateError::SubjectDn);
        }
        Ok(Self::SubjectDn(normalized))
    }

    /// `self_signed_tls_client_auth` with the certificates in `pem` (one or more PEM blocks).
    pub fn self_signed_pem(pem: &[u8]) -> Result<Self, CertificateError> {
        let certificates = pem_certificates(pem)?;
        Self::self_signed(certificates.iter().map(|c| c.as_ref()))
    }

    /// `self_signed_tls_client_auth` with `certificates` (DER).
    pub fn self_signed<'a>(
        certificates: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, CertificateError> {
        let mut encoded = Vec::new();
        for der in certificates {
            Certificate::from_der(der).map_err(|_| CertificateError::Certificate)?;
            encoded.push(STANDARD.encode(der));
        }
        match encoded.len() {
            0 => Err(CertificateError::NoCertificate),
            n if n > MAX_CLIENT_CERTIFICATES => Err(CertificateError::TooMany),
            _ => Ok(Self::SelfSigned(encoded)),
        }
    }

    /// Checks a rule read from elsewhere (a database row, a request body): a DN in the form
    /// [`subject_dn`](Self::subject_dn) writes, no empty name, certificates that parse.
    pub fn checked(self) -> Result<Self, CertificateError> {
        match self {
            Self::SubjectDn(name) => Self::subject_dn(&name),
            Self::SanDns(name) | Self::SanUri(name) | Self::SanEmail(name) if name.is_empty() => {
                Err(CertificateError::EmptyName)
            }
            Self::SelfSigned(encoded) => {
                let mut ders = Vec::with_capacity(encoded.len());
                for item in &encoded {
                    ders.push(
                        STANDARD
                            .decode(item)
                            .map_err(|_| CertificateError::Certificate)?,
                    );
                }
                Self::self_signed(ders.iter().map(Vec::as_slice))
            }
            rule => Ok(rule),
        }
    }

    /// The client authentication method the rule is for.
    pub fn method(&self) -> ClientAuthMethod {
        match self {
            Self::SelfSigned(_) => ClientAuthMethod::SelfSignedTlsClientAuth,
            _ => ClientAuthMethod::TlsClientAuth,
        }
    }

    /// Whether `certificate` authenticates a client registered with this rule: for
    /// `tls_client_auth`, issued by one of `authorities` (valid now, for client
    /// authentication) and carrying the registered name; for `self_signed_tls_client_auth`,
    /// one of the registered certificates. Without authorities, no `tls_client_auth` client
    /// authenticates. The chain is checked whatever the rule (when there are authorities), so
    /// the time taken does not tell which method a client id uses.
    ///
    /// ```
    /// use authstar::credentials::ClientCertificate;
    /// use authstar_oauth2::mtls::CertificateRule;
    /// let rule = CertificateRule::SanDns("billing.example".into());
    /// let garbage = ClientCertificate::new(vec![0x30, 0x00], [0; 32]);
    /// assert!(!rule.matches(&garbage, None));
    /// ```
    pub fn matches(
        &self,
        certificate: &ClientCertificate,
        authorities: Option<&CertificateAuthorities>,
    ) -> bool {
        let issued = authorities.is_some_and(|authorities| authorities.issued(certificate.der()));
        self.matches_issued(certificate, issued)
    }

    /// [`matches`](Self::matches), the chain already checked: `issued` says whether
    /// `certificate` chains to the authorities (for a caller that checks it before it knows the
    /// client, at the same cost for every client id).
    pub fn matches_issued(&self, certificate: &ClientCertificate, issued: bool) -> bool {
        if let Self::SelfSigned(registered) = self {
            return registered.contains(&STANDARD.encode(certificate.der()));
        }
        if !issued {
            return false;
        }
        let Ok(parsed) = Certificate::from_der(certificate.der()) else {
            return false;
        };
        let tbs = parsed.tbs_certificate();
        if let Self::SubjectDn(name) = self {
            return Name::from_str(name).is_ok_and(|rule| same_name(&rule, tbs.subject()));
        }
        let Ok(Some((_, SubjectAltName(names)))) = tbs.get_extension::<SubjectAltName>() else {
            return false;
        };
        names.iter().any(|entry| match (self, entry) {
            (Self::SanDns(want), GeneralName::DnsName(got)) => {
                got.as_str().eq_ignore_ascii_case(want)
            }
            (Self::SanUri(want), GeneralName::UniformResourceIdentifier(got)) => {
                got.as_str() == want
            }
            (Self::SanEmail(want), GeneralName::Rfc822Name(got)) => got.as_str() == want,
            (Self::SanIp(want), GeneralName::IpAddress(got)) => match want {
                IpAddr::V4(v4) => got.as_bytes() == v4.octets(),
                IpAddr::V6(v6) => got.as_bytes() == v6.octets(),
            },
            _ => false,
        })
    }
}

/// The certificates of a PEM document (other blocks skipped).
fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| CertificateError::Certificate)
}

/// Whether `name` reads one way only as RFC 4514: no unescaped `;` (RFC 1779's separator),
/// `"`, `<` or `>`, and no `\` escaping nothing.
fn strict_rfc4514(name: &str) -> bool {
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return false,
            '\\' => {}
            ';' | '"' | '<' | '>' => return false,
            _ => {}
        }
    }
    true
}

/// Whether two names are the same (RFC 4517 distinguishedNameMatch, values compared exactly):
/// the same relative names in the same order, each the same set of attributes, an attribute
/// being its OID and its value's text (any ASN.1 string type) or, for other values, its DER.
fn same_name(a: &Name, b: &Name) -> bool {
    let value = |atv: &AttributeTypeAndValue| -> (String, Vec<u8>) {
        let oid = atv.oid.to_string();
        let text = match atv.value.tag() {
            Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
                atv.value.value().to_vec()
            }
            _ => match atv.value.to_der() {
                Ok(der) => [b"#".as_slice(), &der].concat(),
                Err(_) => return (oid, b"\0unreadable".to_vec()),
            },
        };
        (oid, text)
    };
    let (mut a_rdns, mut b_rdns) = (a.iter_rdn(), b.iter_rdn());
    loop {
        match (a_rdns.next(), b_rdns.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                let mut xs: Vec<_> = x.iter().map(value).collect();
                let mut ys: Vec<_> = y.iter().map(value).collect();
                xs.sort();
                ys.sort();
                if xs != ys {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The authorities that issue `tls_client_auth` certificates: trust anchors for a chain from
/// the client's certificate (an intermediate authority may be listed as an anchor itself, as
/// the endpoints see the client's certificate alone).
#[derive(Clone)]
pub struct CertificateAuthorities {
    anchors: Vec<TrustAnchor<'static>>,
}

impl fmt::Debug for CertificateAuthorities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateAuthorities({} anchors)", self.anchors.len())
    }
}

impl CertificateAuthorities {
    /// The authorities whose certificates `pem` holds (one or more PEM blocks).
    ///
    /// ```
    /// use authstar_oauth2::mtls::CertificateAuthorities;
    /// // No certificate, no authority: refused rather than trusting nothing silently.
    /// assert!(CertificateAuthorities::from_pem(b"").is_err());
    /// ```
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertificateError> {
        let certificates = pem_certificates(pem)?;
        let mut anchors = Vec::with_capacity(certificates.len());
        for certificate in &certificates {
            let anchor = webpki::anchor_from_trusted_cert(certificate)
                .map_err(|_| CertificateError::Certificate)?;
            anchors.push(anchor.to_owned());
        }
        if anchors.is_empty() {
            return Err(CertificateError::NoCertificate);
        }
        Ok(Self { anchors })
    }

    /// Whether `der` chains to one of the authorities, is valid now and may authenticate a
    /// TLS client (its extended key usage, when it has one, allows it).
    pub fn issued(&self, der: &[u8]) -> bool {
        let certificate = CertificateDer::from(der);
        let Ok(end_entity) = webpki::EndEntityCert::try_from(&certificate) else {
            return false;
        };
        let Ok(since_epoch) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                &[],
                UnixTime::since_unix_epoch(since_epoch),
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4514_subject_names_are_stored_as_certificates_are_compared() {
        // RFC 4514 §2.1: the most specific name first; the stored form is what a certificate's
        // subject prints as, whatever the attribute's case or spelling of the type.
        let rule = CertificateRule::subject_dn("CN=billing,O=Example,C=DE").unwrap();
        assert_eq!(
            rule,
            CertificateRule::SubjectDn("CN=billing,O=Example,C=DE".to_owned())
        );
        // Escaped separators stay part of a value.
        let escaped = CertificateRule::subject_dn(r"CN=a\,b,O=Example").unwrap();
        assert_eq!(
            escaped,
            CertificateRule::SubjectDn(r"CN=a\,b,O=Example".to_owned())
        );
        for bad in [
            "",
            "billing",
            "CN",
            "=x",
            "CN=a, O=b",
            "CN=billing;O=Example",
            "CN=\"q\"",
            "CN=a<b",
            "CN=a\\",
        ] {
            assert!(CertificateRule::subject_dn(bad).is_err(), "{bad:?}");
        }
        // A rule read back (a row, a request body) is checked the same way.
        let raw: CertificateRule =
            serde_json::from_str(r#"{"tls_client_auth_subject_dn":"nonsense"}"#).unwrap();
        assert!(raw.checked().is_err());
        let empty: CertificateRule =
            serde_json::from_str(r#"{"tls_client_auth_san_dns":""}"#).unwrap();
        assert!(empty.checked().is_err());
        let ip: CertificateRule =
            serde_json::from_str(r#"{"tls_client_auth_san_ip":"10.1.2.3"}"#).unwrap();
        assert_eq!(ip.method(), ClientAuthMethod::TlsClientAuth);
        assert!(
            serde_json::from_str::<CertificateRule>(r#"{"tls_client_auth_san_ip":"x"}"#).is_err()
        );
    }

    #[test]
    fn names_match_by_oid_and_value_text_never_by_their_printed_form() {
        let name = |text: &str| Name::from_str(text).unwrap();
        assert!(same_name(&name("CN=a,O=b"), &name("cn=a,o=b")));
        // A multi-valued name is a set; the sequence is ordered.
        assert!(same_name(&name("CN=a+O=b,C=DE"), &name("O=b+CN=a,C=DE")));
        assert!(!same_name(&name("CN=a,O=b"), &name("O=b,CN=a")));
        assert!(!same_name(&name("CN=a,O=b"), &name("CN=a")));
        assert!(!same_name(&name("CN=a"), &name("CN=A")));
        // The same text in another string type (UTF8String 'DE' against PrintableString).
        assert!(same_name(&name("C=DE"), &name("2.5.4.6=#0c024445")));
        // Two OIDs x509-cert prints under one name (`ID-ALG`) stay two attributes.
        assert!(!same_name(
            &name("1.2.840.113549.1.9.16.3=victim"),
            &name("1.3.6.1.5.5.7.6=victim")
        ));
        // An escaped comma is part of the value, not a separator.
        assert!(!same_name(&name(r"CN=a\,O=b"), &name("CN=a,O=b")));
    }

    #[test]
    fn self_signed_rules_hold_certificates_and_show_only_their_number() {
        assert!(matches!(
            CertificateRule::self_signed([]),
            Err(CertificateError::NoCertificate)
        ));
        assert!(matches!(
            CertificateRule::self_signed([b"not der".as_slice()]),
            Err(CertificateError::Certificate)
        ));
        assert!(matches!(
            CertificateRule::self_signed_pem(b"no PEM here"),
            Err(CertificateError::NoCertificate)
        ));
        let rule = CertificateRule::SelfSigned(vec!["AAAA".to_owned()]);
        assert_eq!(format!("{rule:?}"), "SelfSigned(1 certificates)");
        assert!(rule.clone().checked().is_err(), "not a certificate");
        assert_eq!(rule.method(), ClientAuthMethod::SelfSignedTlsClientAuth);
        // Nothing authenticates against an unreadable certificate or without authorities.
        let presented = ClientCertificate::new(vec![0x30, 0x00], [0; 32]);
        assert!(!rule.matches(&presented, None));
        let by_name = CertificateRule::SanDns("billing.example".to_owned());
        assert!(!by_name.matches(&presented, None));
        assert!(CertificateAuthorities::from_pem(b"").is_err());
    }
}

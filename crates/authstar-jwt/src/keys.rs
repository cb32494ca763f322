//! Signing and verification keys, and JWKS documents (RFC 7517).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, KeyOperations, OctetKeyPairParameters,
    OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::JwtError;

/// A key that signs access tokens: ES256 or EdDSA (Ed25519) for production, HS256 for
/// development. `Debug` never shows key material.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    /// The key, parsed once: `jsonwebtoken` 9 re-parses (and re-validates, a scalar
    /// multiplication) a PKCS#8 key on every signature.
    signer: Signer,
    /// PKCS#8 for asymmetric keys, the secret for HS256: what `to_bytes` hands out to persist it.
    material: Vec<u8>,
    public: Option<Jwk>,
    verification: VerificationKey,
}

/// A parsed signing key.
enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    /// Boxed: aws-lc's HMAC key holds its precomputed contexts (1.2 KB).
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random ES256 (ECDSA P-256 / SHA-256) key.
    ///
    /// ```
    /// let key = authstar_jwt::SigningKey::generate_es256("k1").unwrap();
    /// assert_eq!(key.kid(), "k1");
    /// assert!(key.public_jwk().is_some());
    /// ```
    pub fn generate_es256(kid: impl Into<String>) -> Result<Self, JwtError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| JwtError::key("could not generate an ES256 key"))?;
        Self::from_pkcs8(Algorithm::ES256, kid, pkcs8.as_ref())
    }

    /// A new random EdDSA (Ed25519) key.
    pub fn generate_ed25519(kid: impl Into<String>) -> Result<Self, JwtError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| JwtError::key("could not generate an Ed25519 key"))?;
        Self::from_pkcs8(Algorithm::EdDSA, kid, pkcs8.as_ref())
    }

    /// An HS256 key for development: anyone who can verify can also sign, so the secret must
    /// never leave the service, and no JWKS document is published for it.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, JwtError> {
        if secret.len() < 32 {
            return Err(JwtError::key("an HS256 secret needs at least 32 bytes"));
        }
        let kid = kid.into();
        Ok(Self {
            verification: VerificationKey {
                kid: Some(kid.clone()),
                alg: Algorithm::HS256,
                decoding: Arc::new(
                    DecodingKey::from_secret(secret)
                        .map_err(|_| JwtError::key("not a usable HS256 secret"))?,
                ),
            },
            kid,
            alg: Algorithm::HS256,
            signer: Signer::Hmac(Box::new(aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                secret,
            ))),
            material: secret.to_vec(),
            public: None,
        })
    }

    /// Loads a key saved with [`to_bytes`](Self::to_bytes): PKCS#8 DER for ES256 and EdDSA.
    pub fn from_pkcs8(
        alg: Algorithm,
        kid: impl Into<String>,
        der: &[u8],
    ) -> Result<Self, JwtError> {
        let kid = kid.into();
        let invalid = || JwtError::key(format!("not a valid {alg:?} PKCS#8 key"));
        let (signer, public) = match alg {
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| invalid())?;
                let point = pair.public_key().as_ref();
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                if point.len() != 65 {
                    return Err(invalid());
                }
                let parameters = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                    y: URL_SAFE_NO_PAD.encode(&point[33..65]),
                });
                let public = jwk(&kid, KeyAlgorithm::ES256, parameters);
                (Signer::Ecdsa(pair), public)
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| invalid())?;
                let parameters = AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
                });
                let public = jwk(&kid, KeyAlgorithm::EdDSA, parameters);
                (Signer::Ed25519(pair), public)
            }
            other => {
                return Err(JwtError::key(format!(
                    "{other:?} signing keys are not supported: use ES256 or EdDSA"
                )));
            }
        };
        let verification = VerificationKey::from_jwk(&public)?;
        Ok(Self {
            kid,
            alg,
            signer,
            material: der.to_vec(),
            public: Some(public),
            verification,
        })
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key material to persist (PKCS#8 DER, or the HS256 secret). Keep it secret.
    pub fn to_bytes(&self) -> &[u8] {
        &self.material
    }

    /// The public key as a JWK (`None` for HS256, which has no public half).
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public.as_ref()
    }

    /// The key that verifies this key's signatures.
    pub fn verification_key(&self) -> VerificationKey {
        self.verification.clone()
    }

    /// Signs `message` (a JWS signing input) and returns the signature, base64url-encoded.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<String, JwtError> {
        let signature = match &self.signer {
            Signer::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map_err(|_| JwtError::sign("the ECDSA signature failed"))?
                .as_ref()
                .to_vec(),
            Signer::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            Signer::Hmac(key) => aws_lc_rs::hmac::sign(key, message).as_ref().to_vec(),
        };
        Ok(URL_SAFE_NO_PAD.encode(signature))
    }
}

fn jwk(kid: &str, alg: KeyAlgorithm, algorithm: AlgorithmParameters) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(alg),
            key_id: Some(kid.to_owned()),
            ..CommonParameters::default()
        },
        algorithm,
    }
}

/// A JWKS document (RFC 7517 §5) of the public keys of `keys`; HS256 keys are left out.
///
/// ```
/// use authstar_jwt::{SigningKey, jwks};
/// let keys = [SigningKey::generate_es256("a").unwrap(), SigningKey::generate_ed25519("b").unwrap()];
/// let document = serde_json::to_value(jwks(&keys)).unwrap();
/// assert_eq!(document["keys"].as_array().unwrap().len(), 2);
/// assert!(document["keys"][0].get("d").is_none(), "public keys only");
/// ```
pub fn jwks(keys: &[SigningKey]) -> JwkSet {
    JwkSet {
        keys: keys
            .iter()
            .filter_map(|k| k.public_jwk().cloned())
            .collect(),
    }
}

/// A key that verifies signatures, with the one algorithm it accepts.
#[derive(Clone)]
pub struct VerificationKey {
    pub(crate) kid: Option<String>,
    pub(crate) alg: Algorithm,
    pub(crate) decoding: Arc<DecodingKey>,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    /// A key from a JWK. The algorithm comes from the key's own type (and its `alg` member, which
    /// must agree), never from a token header: an RSA or EC key can never verify an HMAC
    /// signature, which closes the algorithm-confusion attack.
    ///
    /// A key published for another purpose is refused (RFC 7517 §4.2, §4.3): `use` other than
    /// `sig`, or `key_ops` without `verify`. An identity provider's JWKS often holds its
    /// encryption keys too; verifying signatures with them would let whoever may encrypt to
    /// the provider (anyone: the key is public) sign as long as the algorithms line up.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JwtError> {
        match &jwk.common.public_key_use {
            None | Some(PublicKeyUse::Signature) => {}
            Some(_) => {
                return Err(JwtError::key(
                    "the JWK is not a signature key (its use is not \"sig\")",
                ));
            }
        }
        if let Some(operations) = &jwk.common.key_operations
            && !operations.contains(&KeyOperations::Verify)
        {
            return Err(JwtError::key("the JWK's key_ops do not include \"verify\""));
        }
        let alg = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => {
                Algorithm::ES384
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            AlgorithmParameters::RSA(_) => match jwk.common.key_algorithm {
                Some(KeyAlgorithm::RS384) => Algorithm::RS384,
                Some(KeyAlgorithm::RS512) => Algorithm::RS512,
                Some(KeyAlgorithm::PS256) => Algorithm::PS256,
                _ => Algorithm::RS256,
            },
            _ => {
                return Err(JwtError::key(
                    "unsupported JWK: use EC P-256/P-384, Ed25519 or RSA",
                ));
            }
        };
        if let Some(declared) = jwk.common.key_algorithm {
            let agrees = format!("{declared:?}") == format!("{alg:?}");
            if !agrees {
                return Err(JwtError::key(format!(
                    "JWK alg {declared:?} does not match its key type"
                )));
            }
        }
        let decoding =
            DecodingKey::from_jwk(jwk).map_err(|e| JwtError::key_from("invalid JWK", e))?;
        Ok(Self {
            kid: jwk.common.key_id.clone(),
            alg,
            decoding: Arc::new(decoding),
        })
    }

    /// An RS256 key from a PEM-encoded RSA public key (production keys of external identity
    /// providers are often RSA; authstar itself signs with ES256 or EdDSA).
    pub fn rs256_from_pem(kid: impl Into<String>, pem: &[u8]) -> Result<Self, JwtError> {
        let decoding = DecodingKey::from_rsa_pem(pem)
            .map_err(|e| JwtError::key_from("invalid RSA public key", e))?;
        Ok(Self {
            kid: Some(kid.into()),
            alg: Algorithm::RS256,
            decoding: Arc::new(decoding),
        })
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// A set of verification keys, found by `kid` (or the only key, for tokens without one).
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, VerificationKey>,
    without_kid: Vec<VerificationKey>,
}

impl KeySet {
    /// A set of `keys`.
    pub fn new(keys: impl IntoIterator<Item = VerificationKey>) -> Self {
        let mut set = Self::default();
        for key in keys {
            match key.kid.clone() {
                Some(kid) => {
                    set.by_kid.insert(kid, key);
                }
                None => set.without_kid.push(key),
            }
        }
        set
    }

    /// The keys of a JWKS document; keys that cannot be used are skipped and logged.
    pub fn from_jwks(document: &JwkSet) -> Self {
        Self::new(document.keys.iter().filter_map(|jwk| {
            VerificationKey::from_jwk(jwk)
                .inspect_err(|error| tracing::warn!(%error, "authstar-jwt: JWKS key skipped"))
                .ok()
        }))
    }

    /// The key for a token's `kid`: by id when given; without one, the only key of the set.
    pub fn find(&self, kid: Option<&str>) -> Option<&VerificationKey> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None => self.only(),
        }
    }

    /// The only key, when there is exactly one.
    pub fn only(&self) -> Option<&VerificationKey> {
        match (self.without_kid.as_slice(), self.by_kid.len()) {
            ([only], 0) => Some(only),
            ([], 1) => self.by_kid.values().next(),
            _ => None,
        }
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The client certificate `der` (DER) with its RFC 8705 `x5t#S256` thumbprint computed here
/// (SHA-256, aws-lc-rs): what a TLS server that accepted a client certificate puts in each
/// request's extensions, once per connection.
///
/// ```
/// let certificate = authstar_jwt::client_certificate(b"not really DER".to_vec());
/// assert_eq!(certificate.thumbprint().len(), 43);
/// ```
pub fn client_certificate(der: Vec<u8>) -> authstar::credentials::ClientCertificate {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(digest.as_ref());
    authstar::credentials::ClientCertificate::new(der, sha256)
}

/// The largest `Client-Cert` header value read (a certificate chain has no business here).
const MAX_CLIENT_CERT_HEADER: usize = 16 * 1024;

/// The client certificate a TLS-terminating proxy forwarded in a header: RFC 9440's
/// `Client-Cert` (a structured-field byte sequence, `:base64 DER:`), or the URL-escaped PEM nginx
/// writes (`$ssl_client_escaped_cert`). `None` for anything else (an empty value, garbage, more
/// than 16 KiB). Read it only from a proxy you trust, and drop the header from anyone else: a
/// client could otherwise claim any certificate.
///
/// ```
/// use http::HeaderValue;
/// let der = b"not really DER, but bytes all the same";
/// use base64::Engine as _;
/// let sf = format!(":{}:", base64::engine::general_purpose::STANDARD.encode(der));
/// let certificate = authstar_jwt::client_certificate_from_header(&HeaderValue::from_str(&sf).unwrap());
/// assert_eq!(certificate.unwrap().der(), der);
/// assert!(authstar_jwt::client_certificate_from_header(&HeaderValue::from_static(":!!:")).is_none());
/// ```
pub fn client_certificate_from_header(
    value: &http::HeaderValue,
) -> Option<authstar::credentials::ClientCertificate> {
    use base64::Engine as _;
    let text = value.to_str().ok()?.trim();
    if text.is_empty() || text.len() > MAX_CLIENT_CERT_HEADER {
        return None;
    }
    let der = match text.strip_prefix(':').and_then(|t| t.strip_suffix(':')) {
        // RFC 9440 §2.2: a byte sequence (RFC 8941 §3.3.5), standard base64.
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?,
        // nginx: the PEM certificate, URL-escaped.
        None => {
            let pem = percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .ok()?;
            let body = pem
                .trim()
                .strip_prefix("-----BEGIN CERTIFICATE-----")?
                .strip_suffix("-----END CERTIFICATE-----")?;
            let joined: String = body.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(joined)
                .ok()?
        }
    };
    (!der.is_empty()).then(|| client_certificate(der))
}

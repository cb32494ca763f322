//! Tokens shaped exactly as each identity provider documents them (headers and claims), signed
//! RS256 by a test key served from a local JWKS endpoint, against each preset; discovery by
//! issuer URL; RFC 7515 §4.1.11 `crit`.
//!
//! The RSA key comes from `openssl genpkey` (skipped without openssl, a failure under
//! `CI=true`).

use std::process::Command;

use authstar::{AuthstarClient, Client};
use authstar_jwt::{
    Discovery, InvalidToken, JwtVerifier, JwtVerifierBuilder, RemoteJwks, TokenProfile, unix_now,
};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const KID: &str = "rsa-test-1";

struct Provider {
    base: String,
    key: EncodingKey,
}

/// An RSA key from openssl: the signing key and its public JWK.
fn rsa_key(dir: &std::path::Path) -> Option<(EncodingKey, Value)> {
    let pem = dir.join("key.pem");
    let generated = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .output();
    if !generated.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but openssl is missing"
        );
        eprintln!("skipped: openssl is not installed");
        return None;
    }
    let modulus = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let hex = String::from_utf8(modulus.stdout).unwrap();
    let hex = hex.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let jwk = json!({"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"});
    let key = EncodingKey::from_rsa_pem(&std::fs::read(&pem).unwrap()).unwrap();
    Some((key, jwk))
}

/// A JWKS endpoint and, for discovery, metadata for issuers under this server: `/good/...`
/// names itself, `/liar/...` names another issuer, `/rfc8414/...` only at the RFC 8414 place.
async fn provider(name: &str) -> Option<Provider> {
    let dir =
        std::env::temp_dir().join(format!("authstar-providers-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, jwk) = rsa_key(&dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let metadata = |issuer: String, jwks: String| json!({"issuer": issuer, "jwks_uri": jwks});
    let (good, liar, rfc) = (
        metadata(format!("{base}/good"), format!("{base}/jwks")),
        metadata("https://someone.else".into(), format!("{base}/jwks")),
        metadata(format!("{base}/rfc8414"), format!("{base}/jwks")),
    );
    let app = Router::new()
        .route(
            "/jwks",
            get(move || async move { Json(json!({"keys": [jwk]})) }),
        )
        .route(
            "/good/.well-known/openid-configuration",
            get(move || async move { Json(good) }),
        )
        .route(
            "/liar/.well-known/openid-configuration",
            get(move || async move { Json(liar) }),
        )
        .route(
            "/.well-known/oauth-authorization-server/rfc8414",
            get(move || async move { Json(rfc) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Some(Provider { base, key })
}

impl Provider {
    /// A compact JWS with exactly this header (plus `alg` RS256 and our `kid`) and claims.
    fn sign(&self, mut header: Value, claims: &Value) -> String {
        header["alg"] = json!("RS256");
        header["kid"] = json!(KID);
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &self.key, Algorithm::RS256)
                .unwrap();
        format!("{signing_input}.{signature}")
    }

    fn verifier(&self, issuer: &str, profile: TokenProfile) -> JwtVerifier {
        self.verifier_builder(issuer, profile).build()
    }

    fn verifier_builder(&self, issuer: &str, profile: TokenProfile) -> JwtVerifierBuilder {
        let jwks = RemoteJwks::builder(format!("{}/jwks", self.base))
            .allow_http()
            .build()
            .unwrap();
        JwtVerifier::remote_builder(jwks, issuer, profile)
    }
}

/// Verifies through the authenticator path (which fetches the JWKS on first use).
async fn verify(verifier: &JwtVerifier, token: &str) -> Option<AuthstarClient> {
    use authstar::{Authenticator, Verdict};
    let header = axum::http::HeaderValue::try_from(format!("Bearer {token}")).ok()?;
    let bearer = authstar::BearerToken::from_authorization(&header)?;
    match verifier.authenticate(bearer).await {
        Verdict::Authenticated(client) => Some(client),
        _ => None,
    }
}

struct Case {
    name: &'static str,
    profile: TokenProfile,
    issuer: &'static str,
    header: Value,
    claims: Value,
    client_id: &'static str,
    scopes: &'static [&'static str],
    /// The claims changed so that the preset must refuse them.
    wrong: Value,
}

fn cases() -> Vec<Case> {
    let (now, exp) = (unix_now(), unix_now() + 300);
    vec![
        Case {
            name: "Keycloak (client credentials, audience mapper)",
            profile: TokenProfile::keycloak("reports-api"),
            issuer: "https://sso.example/realms/main",
            header: json!({"typ": "JWT"}),
            claims: json!({"exp": exp, "iat": now, "jti": "onrtcc:4f4ef2a1", "iss": "https://sso.example/realms/main",
                "aud": ["reports-api", "account"], "sub": "0b5f8c12-5e36-4f3e-9c1a-6f0e0d3b2a11", "typ": "Bearer",
                "azp": "reports-job", "acr": "1", "allowed-origins": ["/*"],
                "realm_access": {"roles": ["offline_access", "uma_authorization", "reports:read"]},
                "resource_access": {"account": {"roles": ["manage-account"]}},
                "scope": "profile email", "clientHost": "10.0.0.7", "email_verified": false,
                "preferred_username": "service-account-reports-job", "clientAddress": "10.0.0.7", "client_id": "reports-job"}),
            client_id: "reports-job",
            scopes: &[
                "profile",
                "email",
                "offline_access",
                "uma_authorization",
                "reports:read",
            ],
            wrong: json!({"aud": ["account"]}),
        },
        Case {
            name: "Auth0 (client credentials, RBAC permissions)",
            profile: TokenProfile::auth0("https://api.example.com"),
            issuer: "https://tenant.eu.auth0.com/",
            header: json!({"typ": "JWT"}),
            claims: json!({"iss": "https://tenant.eu.auth0.com/", "sub": "Xn3cV7aB9dE1fG2hI4jK@clients",
                "aud": "https://api.example.com", "iat": now, "exp": exp, "scope": "read:reports",
                "gty": "client-credentials", "azp": "Xn3cV7aB9dE1fG2hI4jK", "permissions": ["read:reports", "export:reports"]}),
            client_id: "Xn3cV7aB9dE1fG2hI4jK",
            scopes: &["read:reports", "export:reports"],
            wrong: json!({"aud": "https://other.example.com"}),
        },
        Case {
            name: "Microsoft Entra ID (v2 app-only token)",
            profile: TokenProfile::entra_id([
                "api://8d2f7c1e-reports",
                "8d2f7c1e-0000-4a1b-9c3d-5e6f7a8b9c0d",
            ]),
            issuer: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            header: json!({"typ": "JWT"}),
            claims: json!({"aud": "api://8d2f7c1e-reports",
                "iss": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
                "iat": now, "nbf": now, "exp": exp, "aio": "k2BgYJg...", "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3",
                "azpacr": "1", "oid": "a1b2c3d4-0000-4000-8000-000000000001", "rh": "0.AX0A...",
                "roles": ["Reports.Read.All"], "sub": "a1b2c3d4-0000-4000-8000-000000000001",
                "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0"}),
            client_id: "6e74172b-be56-4843-9ff4-e66a39bb12e3",
            scopes: &["Reports.Read.All"],
            wrong: json!({"aud": "api://someone-else"}),
        },
        Case {
            name: "Okta (custom authorization server, client credentials)",
            profile: TokenProfile::okta("api://default"),
            issuer: "https://dev-123456.okta.com/oauth2/default",
            header: json!({}),
            claims: json!({"ver": 1, "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE", "iss": "https://dev-123456.okta.com/oauth2/default",
                "aud": "api://default", "iat": now, "exp": exp, "cid": "0oa1a2b3c4d5e6f7g8h9",
                "scp": ["reports.read"], "sub": "0oa1a2b3c4d5e6f7g8h9"}),
            client_id: "0oa1a2b3c4d5e6f7g8h9",
            scopes: &["reports.read"],
            wrong: json!({"aud": "api://other"}),
        },
        Case {
            name: "Amazon Cognito (access token, client credentials)",
            profile: TokenProfile::cognito(["1example23456789"]),
            issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
            header: json!({}),
            claims: json!({"sub": "1example23456789", "token_use": "access", "scope": "reports/read reports/export",
                "auth_time": now, "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
                "exp": exp, "iat": now, "version": 2, "jti": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
                "client_id": "1example23456789"}),
            client_id: "1example23456789",
            scopes: &["reports/read", "reports/export"],
            wrong: json!({"token_use": "id"}),
        },
        Case {
            name: "Google (service account ID token for a service)",
            profile: TokenProfile::google("https://reports-abc123-uc.a.run.app"),
            issuer: "https://accounts.google.com",
            header: json!({"typ": "JWT"}),
            claims: json!({"aud": "https://reports-abc123-uc.a.run.app", "azp": "108234567890123456789",
                "email": "reports-job@project.iam.gserviceaccount.com", "email_verified": true,
                "exp": exp, "iat": now, "iss": "https://accounts.google.com", "sub": "108234567890123456789"}),
            client_id: "108234567890123456789",
            scopes: &[],
            wrong: json!({"aud": "https://another-service.run.app"}),
        },
    ]
}

fn merged(claims: &Value, changes: &Value) -> Value {
    let mut merged = claims.clone();
    for (name, value) in changes.as_object().unwrap() {
        merged[name] = value.clone();
    }
    merged
}

#[tokio::test]
async fn each_preset_accepts_its_providers_tokens_and_refuses_the_wrong_ones() {
    let Some(provider) = provider("presets").await else {
        return;
    };
    for case in cases() {
        let verifier = provider.verifier(case.issuer, case.profile.clone());
        let token = provider.sign(case.header.clone(), &case.claims);
        let client = verify(&verifier, &token)
            .await
            .unwrap_or_else(|| panic!("{}: refused {:?}", case.name, verifier.claims(&token)));
        assert_eq!(client.client_id(), case.client_id, "{}", case.name);
        assert_eq!(
            client
                .scopes()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            case.scopes,
            "{}",
            case.name
        );

        let wrong = provider.sign(case.header.clone(), &merged(&case.claims, &case.wrong));
        assert!(
            verify(&verifier, &wrong).await.is_none(),
            "{}: accepted {}",
            case.name,
            case.wrong
        );
        let expired = provider.sign(
            case.header.clone(),
            &merged(&case.claims, &json!({"exp": unix_now() - 3600})),
        );
        assert!(
            verify(&verifier, &expired).await.is_none(),
            "{}: expired",
            case.name
        );
        let other_issuer = provider.sign(
            case.header.clone(),
            &merged(&case.claims, &json!({"iss": "https://evil.example"})),
        );
        assert!(
            verify(&verifier, &other_issuer).await.is_none(),
            "{}: issuer",
            case.name
        );
        // RFC 7515 §4.1.11: an extension this library does not understand refuses the token.
        let mut critical = case.header.clone();
        critical["crit"] = json!(["exp"]);
        critical["exp"] = json!(unix_now() + 300);
        let critical = provider.sign(critical, &case.claims);
        assert_eq!(
            verifier.claims(&critical).unwrap_err(),
            InvalidToken::CriticalExtension,
            "{}",
            case.name
        );
        // An RFC 9068 verifier (the default) refuses every one of these: wrong typ or claims.
        let strict = provider.verifier(case.issuer, TokenProfile::rfc9068("reports-api"));
        assert!(
            verify(&strict, &token).await.is_none(),
            "{}: strict accepted it",
            case.name
        );
    }
}

#[tokio::test]
async fn a_typ_the_profile_does_not_accept_is_refused() {
    let Some(provider) = provider("typ").await else {
        return;
    };
    let case = cases()
        .into_iter()
        .find(|c| c.name.starts_with("Microsoft"))
        .unwrap();
    let verifier = provider.verifier(case.issuer, case.profile);
    for header in [
        json!({}),
        json!({"typ": "dpop+jwt"}),
        json!({"typ": "id_token+jwt"}),
    ] {
        let token = provider.sign(header.clone(), &case.claims);
        assert_eq!(
            verifier.claims(&token).err(),
            Some(InvalidToken::WrongType),
            "{header}"
        );
    }
    // A kid the JWKS does not have, and a signature from another key: refused.
    let key_name = provider.sign(json!({"typ": "JWT"}), &case.claims).replacen(
        &URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "RS256", "kid": KID}).to_string()),
        &URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "RS256", "kid": "other"}).to_string()),
        1,
    );
    assert!(verify(&verifier, &key_name).await.is_none());
}

#[tokio::test]
async fn claims_map_into_your_own_type() {
    let Some(provider) = provider("raw").await else {
        return;
    };
    #[derive(Clone, Debug, serde::Deserialize)]
    struct EntraCaller {
        azp: String,
        tid: String,
        roles: Vec<String>,
    }
    impl Client for EntraCaller {
        fn client_id(&self) -> &str {
            &self.azp
        }
        fn scopes(&self) -> impl Iterator<Item = &str> {
            self.roles.iter().map(String::as_str)
        }
    }
    let case = cases()
        .into_iter()
        .find(|c| c.name.starts_with("Microsoft"))
        .unwrap();
    let verifier = provider
        .verifier_builder(case.issuer, case.profile.clone())
        .map_raw_claims(|claims| serde_json::from_value::<EntraCaller>(claims.clone().into()).ok())
        .cache(100)
        .build();
    let token = provider.sign(case.header.clone(), &case.claims);
    let _ = verify_any(&verifier, &token).await;
    let caller = verifier.verify(&token).unwrap();
    assert_eq!(caller.tid, "72f988bf-86f1-41af-91ab-2d7cd011db47");
    assert_eq!(caller.client_id(), case.client_id);
}

async fn verify_any<C: Client>(verifier: &JwtVerifier<C>, token: &str) -> Option<C> {
    use authstar::{Authenticator, Verdict};
    let header = axum::http::HeaderValue::try_from(format!("Bearer {token}")).ok()?;
    let bearer = authstar::BearerToken::from_authorization(&header)?;
    match verifier.authenticate(bearer).await {
        Verdict::Authenticated(client) => Some(client),
        _ => None,
    }
}

#[tokio::test]
async fn discovery_takes_the_keys_of_exactly_the_issuer_asked_for() {
    let Some(provider) = provider("discovery").await else {
        return;
    };
    let issuer = format!("{}/good", provider.base);
    let verifier = Discovery::new(&issuer)
        .allow_http()
        .verifier(TokenProfile::custom(["api"]))
        .await
        .unwrap()
        .build();
    let claims = json!({"iss": issuer, "aud": "api", "exp": unix_now() + 60, "client_id": "svc", "scope": "a b"});
    let token = provider.sign(json!({"typ": "JWT"}), &claims);
    let client = verifier.verify(&token).expect("keys fetched at discovery");
    assert_eq!(client.client_id(), "svc");

    // RFC 8414's location, when the OpenID one is missing.
    let rfc = format!("{}/rfc8414", provider.base);
    let metadata = Discovery::new(&rfc).allow_http().fetch().await.unwrap();
    assert_eq!(metadata.jwks_uri, format!("{}/jwks", provider.base));

    // A document naming another issuer is refused: its keys could be anyone's.
    let liar = Discovery::new(format!("{}/liar", provider.base))
        .allow_http()
        .fetch()
        .await;
    assert!(liar.unwrap_err().to_string().contains("someone.else"));
    // Plain http is refused unless allowed; nothing there is an error, not a hang.
    assert!(Discovery::new(&issuer).fetch().await.is_err());
    let nobody = Discovery::new(format!("{}/nobody", provider.base))
        .allow_http()
        .fetch()
        .await;
    assert!(nobody.is_err());
}

#[test]
fn authstar_tokens_with_crit_are_refused() {
    use authstar_jwt::{JwtIssuer, SigningKey};
    let key = SigningKey::generate_ed25519("k").unwrap();
    let verifier = JwtVerifier::new([key.verification_key()], "https://as", "api");
    let token = JwtIssuer::new(key, "https://as", "api")
        .issue("svc", &[])
        .unwrap();
    assert!(verifier.verify(&token).is_ok());
    // The same claims under a header with `crit`: the signature no longer matters, `crit`
    // refuses it first.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    header["crit"] = json!(["b64"]);
    header["b64"] = json!(false);
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    assert_eq!(
        verifier.verify(&parts.join(".")).unwrap_err(),
        InvalidToken::CriticalExtension
    );
    // The same member name written with a JSON escape is still `crit`.
    let escaped = format!(
        "{}.{}",
        URL_SAFE_NO_PAD
            .encode(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k","\u0063rit":["b64"],"b64":false}"#),
        token.split_once('.').unwrap().1
    );
    assert_eq!(
        verifier.verify(&escaped).unwrap_err(),
        InvalidToken::CriticalExtension
    );
    // A `kid` that merely spells "crit" is no `crit` member.
    let mut header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"] = json!("crit");
    let renamed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        token.split_once('.').unwrap().1
    );
    assert_ne!(
        verifier.verify(&renamed).unwrap_err(),
        InvalidToken::CriticalExtension
    );
}

#[test]
fn an_adjusted_rfc9068_profile_reads_what_it_was_told() {
    use authstar_jwt::{JwtIssuer, SigningKey};
    let key = SigningKey::generate_ed25519("k").unwrap();
    let public = key.verification_key();
    let token = JwtIssuer::new(key, "https://as", "api")
        .issue("svc", &["read".to_owned()])
        .unwrap();
    // Same tokens, but scopes are to be read from a claim they do not have: no scopes, not the
    // `scope` claim the plain profile reads.
    let adjusted = JwtVerifier::new(
        [public.clone()],
        "https://as",
        TokenProfile::rfc9068("api").scopes_from(["scp"]),
    );
    assert!(adjusted.verify(&token).unwrap().scopes().is_empty());
    let plain = JwtVerifier::new([public], "https://as", TokenProfile::rfc9068("api"));
    assert_eq!(plain.verify(&token).unwrap().scopes(), ["read".to_owned()]);
}

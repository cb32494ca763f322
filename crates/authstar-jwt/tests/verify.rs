//! Every claim check and key type of the verifier (RFC 9068 §4, RFC 7519, RFC 8725).

use authstar::AuthstarClient;
use authstar_jwt::{Algorithm, InvalidToken, JwtIssuer, JwtVerifier, SigningKey, VerificationKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

const ISS: &str = "https://auth.example";
const AUD: &str = "api";

use authstar_jwt::unix_now as now;

fn claims() -> Value {
    let iat = now();
    json!({
        "iss": ISS, "sub": "svc", "aud": AUD, "exp": iat + 600, "iat": iat,
        "jti": "j1", "client_id": "svc", "scope": "reports:read",
    })
}

fn header(alg: Algorithm, kid: &str) -> Header {
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.into());
    header
}

fn sign(key: &SigningKey, header: &Header, claims: &Value) -> String {
    let encoding = match key.algorithm() {
        Algorithm::ES256 => EncodingKey::from_ec_der(key.to_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_der(key.to_bytes()),
        _ => EncodingKey::from_secret(key.to_bytes()).expect("secret"),
    };
    jsonwebtoken::encode(header, claims, &encoding).unwrap()
}

fn verifier(key: &SigningKey) -> JwtVerifier {
    JwtVerifier::new([key.verification_key()], ISS, AUD)
}

fn rejection(verifier: &JwtVerifier, token: &str) -> InvalidToken {
    verifier
        .verify(token)
        .map(|c: AuthstarClient| c.client_id().to_owned())
        .unwrap_err()
}

#[test]
fn rfc9068_issued_tokens_verify_for_each_signing_key_type() {
    for key in [
        SigningKey::generate_es256("es").unwrap(),
        SigningKey::generate_ed25519("ed").unwrap(),
        SigningKey::hs256("hs", &[7u8; 32]).unwrap(),
    ] {
        let verifier = verifier(&key);
        let issuer = JwtIssuer::new(key, ISS, AUD);
        let token = issuer
            .issue("svc", &["reports:read".into(), "admin".into()])
            .unwrap();
        let client = verifier.verify(&token).unwrap();
        assert_eq!(
            client,
            AuthstarClient::new("svc", ["reports:read", "admin"])
        );

        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(issuer.key().kid()));
        let payload: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        for claim in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "client_id",
            "scope",
        ] {
            assert!(
                payload.get(claim).is_some(),
                "RFC 9068 §2.2: {claim} missing"
            );
        }
        assert_eq!(
            payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap(),
            3600
        );
    }
}

#[test]
fn rs256_keys_from_an_identity_provider_verify() {
    let dir = std::env::temp_dir().join(format!("authstar-rsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .is_ok_and(|s| s.success());
    if !made {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs openssl"
        );
        eprintln!("skipped: no openssl to make an RSA key");
        return;
    }
    let encoding = EncodingKey::from_rsa_pem(&std::fs::read(&private).unwrap()).unwrap();
    let key = VerificationKey::rs256_from_pem("rsa", &std::fs::read(&public).unwrap()).unwrap();
    let verifier = JwtVerifier::new([key], ISS, AUD);
    let token =
        jsonwebtoken::encode(&header(Algorithm::RS256, "rsa"), &claims(), &encoding).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().client_id(), "svc");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn rfc7519_4_1_4_expired_tokens_are_refused_beyond_the_leeway() {
    let key = SigningKey::generate_es256("k").unwrap();
    let mut expired = claims();
    expired["exp"] = json!(now() - 120);
    let token = sign(&key, &header(Algorithm::ES256, "k"), &expired);
    assert!(matches!(
        rejection(&verifier(&key), &token),
        InvalidToken::Invalid(_)
    ));
    // Within the 30 s leeway it still passes.
    expired["exp"] = json!(now() - 10);
    let token = sign(&key, &header(Algorithm::ES256, "k"), &expired);
    assert!(verifier(&key).verify(&token).is_ok());
}

#[test]
fn rfc7519_4_1_5_not_before_is_enforced() {
    let key = SigningKey::generate_es256("k").unwrap();
    let mut early = claims();
    early["nbf"] = json!(now() + 300);
    let token = sign(&key, &header(Algorithm::ES256, "k"), &early);
    assert!(matches!(
        rejection(&verifier(&key), &token),
        InvalidToken::Invalid(_)
    ));
}

#[test]
fn rfc9068_4_wrong_issuer_or_audience_is_refused() {
    let key = SigningKey::generate_es256("k").unwrap();
    for (claim, value) in [
        ("iss", json!("https://evil.example")),
        ("aud", json!("other-api")),
        ("aud", json!(["x", "y"])),
    ] {
        let mut wrong = claims();
        wrong[claim] = value;
        let token = sign(&key, &header(Algorithm::ES256, "k"), &wrong);
        assert!(
            matches!(rejection(&verifier(&key), &token), InvalidToken::Invalid(_)),
            "{claim}"
        );
    }
    let mut several = claims();
    several["aud"] = json!(["other", AUD]);
    assert!(
        verifier(&key)
            .verify(&sign(&key, &header(Algorithm::ES256, "k"), &several))
            .is_ok()
    );
}

#[test]
fn rfc9068_4_typ_must_be_at_jwt() {
    let key = SigningKey::generate_es256("k").unwrap();
    for typ in [None, Some("JWT"), Some("id_token+jwt")] {
        let mut header = header(Algorithm::ES256, "k");
        header.typ = typ.map(str::to_owned);
        let token = sign(&key, &header, &claims());
        assert_eq!(
            rejection(&verifier(&key), &token),
            InvalidToken::WrongType,
            "{typ:?}"
        );
    }
    let mut header = header(Algorithm::ES256, "k");
    header.typ = Some("application/at+jwt".into());
    assert!(
        verifier(&key)
            .verify(&sign(&key, &header, &claims()))
            .is_ok()
    );
}

#[test]
fn rfc8725_3_1_alg_none_is_refused() {
    let key = SigningKey::generate_es256("k").unwrap();
    let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    for token in [format!("{head}.{body}."), format!("{head}.{body}")] {
        assert_eq!(rejection(&verifier(&key), &token), InvalidToken::Malformed);
    }
}

#[test]
fn rfc8725_2_1_hmac_with_the_public_key_is_refused() {
    let key = SigningKey::generate_es256("k").unwrap();
    // The attacker knows the public key and signs HS256 with its bytes as the secret.
    let jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    let mut public = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    public.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
    for secret in [
        public.clone(),
        [&[4u8][..], &public].concat(),
        serde_json::to_vec(&jwk).unwrap(),
    ] {
        let token = jsonwebtoken::encode(
            &header(Algorithm::HS256, "k"),
            &claims(),
            &EncodingKey::from_secret(&secret).expect("secret"),
        )
        .unwrap();
        assert_eq!(
            rejection(&verifier(&key), &token),
            InvalidToken::WrongAlgorithm
        );
    }
}

#[test]
fn unknown_kid_is_refused() {
    let key = SigningKey::generate_es256("k").unwrap();
    let other = SigningKey::generate_es256("other").unwrap();
    let token = sign(&other, &header(Algorithm::ES256, "other"), &claims());
    // With one key the signature is checked first (one header parse); either way it is refused.
    assert!(matches!(
        rejection(&verifier(&key), &token),
        InvalidToken::UnknownKey | InvalidToken::Invalid(_)
    ));
    let two = JwtVerifier::new(
        [
            key.verification_key(),
            SigningKey::generate_ed25519("k2")
                .unwrap()
                .verification_key(),
        ],
        ISS,
        AUD,
    );
    assert_eq!(rejection(&two, &token), InvalidToken::UnknownKey);
    // Right kid, wrong key: the signature fails.
    let forged = sign(&other, &header(Algorithm::ES256, "k"), &claims());
    assert!(matches!(
        rejection(&verifier(&key), &forged),
        InvalidToken::Invalid(_)
    ));
}

#[test]
fn tampered_payloads_are_refused() {
    let key = SigningKey::generate_ed25519("k").unwrap();
    let token = sign(&key, &header(Algorithm::EdDSA, "k"), &claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut escalated = claims();
    escalated["scope"] = json!("reports:read admin");
    parts[1] = URL_SAFE_NO_PAD.encode(escalated.to_string());
    assert!(matches!(
        rejection(&verifier(&key), &parts.join(".")),
        InvalidToken::Invalid(_)
    ));
}

#[test]
fn key_rotation_two_keys_by_kid() {
    let old = SigningKey::generate_es256("2026-10").unwrap();
    let new = SigningKey::generate_ed25519("2026-11").unwrap();
    let verifier = JwtVerifier::new([old.verification_key(), new.verification_key()], ISS, AUD);
    for key in [&old, &new] {
        let token = sign(key, &header(key.algorithm(), key.kid()), &claims());
        assert!(verifier.verify(&token).is_ok(), "{}", key.kid());
    }
    // With several keys a token must name its kid.
    let mut no_kid = header(Algorithm::ES256, "x");
    no_kid.kid = None;
    assert_eq!(
        rejection(&verifier, &sign(&old, &no_kid, &claims())),
        InvalidToken::UnknownKey
    );
}

#[test]
fn garbage_tokens_never_panic() {
    let key = SigningKey::generate_es256("k").unwrap();
    let verifier = verifier(&key);
    for token in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJ.eyJ.sig",
        &"A".repeat(10_000),
        "e30.e30.e30",
    ] {
        assert!(verifier.verify(token).is_err());
    }
}

#[test]
fn debug_output_never_shows_key_material() {
    let key = SigningKey::hs256("dev", b"0123456789abcdef0123456789abcdef").unwrap();
    let debug = format!("{key:?} {:?}", key.verification_key());
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
}

#[test]
fn the_verified_token_cache_never_serves_a_token_past_its_exp() {
    let key = SigningKey::generate_ed25519("k").unwrap();
    let verifier = JwtVerifier::builder([key.verification_key()], ISS, AUD)
        .leeway(std::time::Duration::ZERO)
        .cache(100)
        .build();
    let mut short = claims();
    short["exp"] = json!(now() + 1);
    let token = sign(&key, &header(Algorithm::EdDSA, "k"), &short);
    assert!(verifier.verify(&token).is_ok());
    assert!(verifier.verify(&token).is_ok(), "served from the cache");
    // A token that differs in one byte is not the cached one.
    let mut tampered = token.clone();
    tampered.pop();
    assert!(verifier.verify(&tampered).is_err());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(
        verifier.verify(&token).is_err(),
        "expired: neither the cache nor the check accepts it"
    );
}

#[test]
fn rfc9449_a_sender_constrained_token_is_refused_as_a_bearer_token() {
    // A DPoP-bound token (RFC 9449 §6.1: `cnf.jkt`) and an mTLS-bound one (RFC 8705 §3.1), from
    // a legitimate issuer: whoever presents one as Bearer has the token, not necessarily the key.
    let key = SigningKey::generate_es256("k1").unwrap();
    for cnf in [
        json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
    ] {
        let mut bound = claims();
        bound["cnf"] = cnf.clone();
        let token = sign(&key, &header(Algorithm::ES256, "k1"), &bound);
        assert_eq!(
            rejection(&verifier(&key), &token),
            InvalidToken::SenderConstrained,
            "{cnf}"
        );
        let cached = JwtVerifier::builder([key.verification_key()], ISS, AUD)
            .cache(100)
            .build();
        assert_eq!(rejection(&cached, &token), InvalidToken::SenderConstrained);
        // Through a provider profile (the claims read as JSON) too.
        let mut jwt_typ = header(Algorithm::ES256, "k1");
        jwt_typ.typ = Some("JWT".into());
        let token = sign(&key, &jwt_typ, &bound);
        let keycloak = JwtVerifier::new(
            [key.verification_key()],
            ISS,
            authstar_jwt::TokenProfile::keycloak(AUD),
        );
        assert_eq!(
            rejection(&keycloak, &token),
            InvalidToken::SenderConstrained
        );
    }
    // The same token without `cnf` passes.
    let token = sign(&key, &header(Algorithm::ES256, "k1"), &claims());
    assert!(verifier(&key).verify(&token).is_ok());
}

/// Issue 21: one bearer authenticator for the tokens of several issuers, each checked by its
/// own verifier (a second `on_auth_bearer_with` replaced the first).
#[tokio::test]
async fn several_issuers_each_verify_their_own_tokens_only() {
    use authstar::{Authenticator, BearerToken, Verdict};
    use authstar_jwt::Issuers;
    let (ours, sso) = (
        SigningKey::generate_es256("ours").unwrap(),
        SigningKey::generate_es256("sso").unwrap(),
    );
    let issuers = Issuers::new([
        JwtVerifier::builder([ours.verification_key()], ISS, AUD)
            .cache(100)
            .build(),
        JwtVerifier::new([sso.verification_key()], "https://sso.example", AUD),
    ]);
    let our_token = JwtIssuer::new(ours, ISS, AUD).issue("svc", &[]).unwrap();
    let sso_token = JwtIssuer::new(sso, "https://sso.example", AUD)
        .issue("alice", &[])
        .unwrap();
    let check = |token: &str| {
        let bearer = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let token = BearerToken::from_authorization(&bearer).unwrap();
        match issuers.start(token) {
            authstar::Started::Done(Verdict::Authenticated(client)) => {
                Some(client.client_id().to_owned())
            }
            authstar::Started::Done(_) => None,
            authstar::Started::Running(_) => panic!("local keys answer at once"),
        }
    };
    assert_eq!(check(&our_token).as_deref(), Some("svc"));
    assert_eq!(check(&our_token).as_deref(), Some("svc"), "from the cache");
    assert_eq!(check(&sso_token).as_deref(), Some("alice"));
    // A token naming the SSO but signed with another key goes to the SSO's verifier, and fails.
    let other = SigningKey::generate_es256("sso").unwrap();
    let forged = JwtIssuer::new(other, "https://sso.example", AUD)
        .issue("mallory", &[])
        .unwrap();
    assert_eq!(check(&forged), None);
    // An issuer nobody verifies is refused.
    let stranger = JwtIssuer::new(
        SigningKey::generate_es256("x").unwrap(),
        "https://elsewhere.example",
        AUD,
    )
    .issue("eve", &[])
    .unwrap();
    assert_eq!(check(&stranger), None);
    assert!(matches!(
        issuers.verify(&stranger),
        Err(InvalidToken::Invalid(_))
    ));
}

/// Issue 21: `map_claims` set after `cache` dropped the cache (and `leeway` on a clone shared
/// the original's); every setting now lives in the builder, whose `build` makes the cache.
#[test]
fn builder_settings_hold_in_any_order() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let key = SigningKey::generate_ed25519("k").unwrap();
    let mapped = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&mapped);
    let verifier = JwtVerifier::builder([key.verification_key()], ISS, AUD)
        .cache(10)
        .map_claims(move |claims| {
            counter.fetch_add(1, Ordering::SeqCst);
            Some(AuthstarClient::new(claims.client_id, ["read"]))
        })
        .build();
    let token = JwtIssuer::new(key, ISS, AUD).issue("svc", &[]).unwrap();
    for _ in 0..3 {
        assert!(verifier.verify(&token).is_ok());
    }
    assert_eq!(
        mapped.load(Ordering::SeqCst),
        1,
        "verified once, then cached"
    );
}

/// RFC 8705 §3: a certificate-bound token (`cnf.x5t#S256`) is accepted over a connection
/// presenting that certificate, refused over another certificate or none, through the layer and
/// through the verified-token cache; an unbound token is accepted over mutual TLS too.
#[tokio::test]
async fn rfc8705_3_a_certificate_bound_token_needs_its_certificate() {
    use authstar::credentials::ClientCertificate;
    use authstar::{AuthstarClient, AuthstarLayer, Outcome};
    use tower::{Layer as _, ServiceExt as _};
    let key = SigningKey::generate_es256("k1").unwrap();
    let issuer = authstar_jwt::JwtIssuer::new(
        SigningKey::from_pkcs8(Algorithm::ES256, "k1", key.to_bytes()).unwrap(),
        ISS,
        AUD,
    );
    let verifier = JwtVerifier::<AuthstarClient>::builder([key.verification_key()], ISS, AUD)
        .cache(100)
        .build();
    let ours = authstar_jwt::client_certificate(b"our certificate".to_vec());
    let theirs = authstar_jwt::client_certificate(b"their certificate".to_vec());
    let bound = issuer
        .issue_certificate_bound("svc", &[], ours.thumbprint())
        .unwrap();
    let plain = issuer.issue("svc", &[]).unwrap();
    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(verifier.clone())
        .build()
        .unwrap();
    let service = layer.layer(tower::service_fn(|request: http::Request<()>| async move {
        let answer = match Outcome::<AuthstarClient>::get(request.extensions()) {
            Some(Outcome::Authenticated { .. }) => "authenticated",
            Some(Outcome::Failed { .. }) => "refused",
            None => "anonymous",
        };
        Ok::<_, std::convert::Infallible>(http::Response::new(answer))
    }));
    let call = |token: &str, certificate: Option<&ClientCertificate>| {
        let mut request = http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        if let Some(certificate) = certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        let service = service.clone();
        async move { *service.oneshot(request).await.unwrap().body() }
    };
    // Twice each: the second answer comes from the verified-token cache.
    for _ in 0..2 {
        assert_eq!(call(&bound, Some(&ours)).await, "authenticated");
        assert_eq!(call(&bound, Some(&theirs)).await, "refused");
        assert_eq!(call(&bound, None).await, "refused");
        assert_eq!(call(&plain, Some(&theirs)).await, "authenticated");
    }
    assert!(verifier.verify_mtls(&bound, ours.thumbprint()).is_ok());
    assert_eq!(
        verifier.verify(&bound).unwrap_err(),
        InvalidToken::SenderConstrained
    );
    // Introspection says what it is bound to (RFC 8705 §3.2), and that it is a Bearer token.
    let answer = serde_json::to_value(verifier.introspect(&bound)).unwrap();
    assert_eq!(answer["cnf"]["x5t#S256"], ours.thumbprint());
    assert_eq!(answer["token_type"], "Bearer");
}

/// RFC 8705 §3: the token endpoint binds a token to the client certificate the request came
/// with, when told to; a DPoP proof would bind it to its key instead; the metadata says so.
#[tokio::test]
async fn rfc8705_3_the_token_endpoint_binds_tokens_to_the_client_certificate() {
    use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
    use authstar_oauth2::{AuthorizationServer, OAuth2TokenRequest, token_endpoint};
    use http_body_util::BodyExt as _;
    use tower::{Layer as _, ServiceExt as _};
    let key = SigningKey::generate_es256("k1").unwrap();
    let issuer = std::sync::Arc::new(authstar_jwt::JwtIssuer::new(
        SigningKey::from_pkcs8(Algorithm::ES256, "k1", key.to_bytes()).unwrap(),
        ISS,
        AUD,
    ));
    let layer = AuthstarLayer::builder()
        .on_auth_basic(|c: BasicCredentials| async move {
            (c.password() == "secret").then(|| AuthstarClient::new(c.username(), ["read"]))
        })
        .build()
        .unwrap();
    let issue = move |request: OAuth2TokenRequest, _: AuthstarClient| {
        let response = issuer.token_response(&request);
        async move { response }
    };
    let server = AuthorizationServer::builder(ISS)
        .token(token_endpoint(&layer, issue).certificate_bound_tokens())
        .build()
        .unwrap();
    assert_eq!(
        server.metadata()["tls_client_certificate_bound_access_tokens"],
        true
    );
    let service = layer.layer(server);
    let certificate = authstar_jwt::client_certificate(b"the client's certificate".to_vec());
    let token_of = |certificate: Option<authstar::credentials::ClientCertificate>| {
        let service = service.clone();
        async move {
            let mut request = http::Request::post("/oauth2/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", "Basic c3ZjOnNlY3JldA==")
                .body(http_body_util::Full::new(bytes::Bytes::from_static(
                    b"grant_type=client_credentials",
                )))
                .unwrap();
            if let Some(certificate) = certificate {
                request.extensions_mut().insert(certificate);
            }
            let response = service.oneshot(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let json: Value = serde_json::from_slice(&body).unwrap();
            json["access_token"].as_str().unwrap().to_owned()
        }
    };
    let verifier = JwtVerifier::<AuthstarClient>::new([key.verification_key()], ISS, AUD);
    let bound = token_of(Some(certificate.clone())).await;
    assert!(
        verifier
            .verify_mtls(&bound, certificate.thumbprint())
            .is_ok()
    );
    assert!(
        verifier.verify(&bound).is_err(),
        "bound: not a plain bearer token"
    );
    // Over a connection without a certificate, a plain bearer token.
    let plain = token_of(None).await;
    assert!(verifier.verify(&plain).is_ok());
}

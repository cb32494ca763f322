//! The DPoP verifier's unit tests.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::SigningKey;
use serde_json::json;

const URL: &str = "https://api.example/reports?x=1";

fn encode(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A proof signed by `signer`, with `header` and `claims` merged over valid defaults.
fn proof_with(
    signer: &SigningKey,
    jwk_of: &SigningKey,
    header: serde_json::Value,
    claims: serde_json::Value,
) -> String {
    let alg = match signer.algorithm() {
        Algorithm::EdDSA => "EdDSA",
        _ => "ES256",
    };
    let mut h = json!({"typ": DPOP_TYPE, "alg": alg, "jwk": jwk_of.public_jwk().unwrap()});
    let mut c = json!({
        "jti": format!("{:x}", rand_id()),
        "htm": "POST",
        "htu": "https://api.example/reports",
        "iat": unix_now(),
    });
    for (target, extra) in [(&mut h, header), (&mut c, claims)] {
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                target.as_object_mut().unwrap().remove(k);
            } else {
                target[k] = v.clone();
            }
        }
    }
    let input = format!("{}.{}", encode(&h), encode(&c));
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{signature}")
}

fn rand_id() -> u64 {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .unwrap();
    u64::from_le_bytes(bytes)
}

fn key() -> SigningKey {
    SigningKey::generate_es256("k").unwrap()
}

fn proof(key: &SigningKey, claims: serde_json::Value) -> String {
    proof_with(key, key, json!({}), claims)
}

#[test]
fn rfc9449_8_nonces_are_required_when_configured_and_expire() {
    let nonces = DpopNonces::new(b"shared secret", Duration::from_secs(60));
    let verifier = DpopVerifier::new().require_nonces(nonces.clone());
    let key = key();
    assert_eq!(
        verifier.verify(&proof(&key, json!({})), "POST", URL, None),
        Err(DpopError::UseNonce)
    );
    let current = nonces.current();
    let with_nonce = proof(&key, json!({ "nonce": current }));
    assert!(verifier.verify(&with_nonce, "POST", URL, None).is_ok());
    // A forged signature is a signature error, not a nonce hint.
    let other = SigningKey::generate_es256("other").unwrap();
    let forged = proof_with(&other, &key, json!({}), json!({ "nonce": current }));
    assert_eq!(
        verifier.verify(&forged, "POST", URL, None),
        Err(DpopError::Signature)
    );
    // Without the nonce, the signature is never checked (issue 20's review: a proof that
    // needs the handshake is not a throttled failure, so it must cost no public-key
    // operation either): a forged one is answered with the nonce to use.
    let forged = proof_with(&other, &key, json!({}), json!({}));
    assert_eq!(
        verifier.verify(&forged, "POST", URL, None),
        Err(DpopError::UseNonce)
    );
    // This window and the one before; not older, not another secret's.
    let window = unix_now() / 60;
    assert!(nonces.accepts(&nonces.for_window(window - 1)));
    assert!(!nonces.accepts(&nonces.for_window(window - 2)));
    let elsewhere = DpopNonces::new(b"another secret", Duration::from_secs(60));
    assert!(!elsewhere.accepts(&current));
    assert!(!nonces.accepts(""));
    // The layer's view: the verifier hands out the current nonce.
    use authstar::credentials::dpop::ProofVerifier as _;
    assert_eq!(verifier.nonce(), Some(nonces.current()));
    assert_eq!(DpopVerifier::new().nonce(), None);
}

#[test]
fn a_valid_proof_gives_the_keys_thumbprint_once() {
    let key = key();
    let verifier = DpopVerifier::new();
    let p = proof(&key, json!({}));
    let verified = verifier.verify(&p, "POST", URL, None).unwrap();
    let jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    assert_eq!(verified.jkt, thumbprint(&jwk).unwrap());
    // Replayed: refused, however often.
    for _ in 0..2 {
        assert_eq!(
            verifier.verify(&p, "POST", URL, None),
            Err(DpopError::Replayed)
        );
    }
    // A clone shares the memory.
    assert_eq!(
        verifier.clone().verify(&p, "POST", URL, None),
        Err(DpopError::Replayed)
    );
    let ed = SigningKey::generate_ed25519("e").unwrap();
    assert!(
        verifier
            .verify(&proof(&ed, json!({})), "POST", URL, None)
            .is_ok()
    );
}

/// `verifier` whose memory has heard `proofs` proofs whose window has passed: the state it
/// stays in once it has been running a while.
fn in_steady_state(verifier: DpopVerifier, proofs: u32) -> DpopVerifier {
    for n in 0..proofs {
        verifier.heard(&proof_id("old", &n.to_string()), 1);
    }
    verifier
}

/// The memory holds `replay_capacity` proofs in its window, not a fraction of it: a cache
/// that keeps its first entries (long expired) and cycles the rest through a small queue
/// would forget a proof after a few percent of the capacity.
#[test]
fn the_replay_memory_remembers_its_whole_capacity() {
    let key = key();
    let verifier = in_steady_state(DpopVerifier::new().replay_capacity(2_000), 2_000);
    let used = proof(&key, json!({}));
    verifier.verify(&used, "POST", URL, None).unwrap();
    // Half the capacity of other proofs, all within their window.
    let until = unix_now() + 60;
    for n in 0..1_000u32 {
        verifier.heard(&proof_id("recent", &n.to_string()), until);
    }
    assert_eq!(
        verifier.verify(&used, "POST", URL, None),
        Err(DpopError::Replayed),
        "the proof is still remembered"
    );
    assert_eq!(
        verifier.seen.forgotten_until(),
        0,
        "nothing in its window was forgotten"
    );
}

/// A flood past the replay memory's capacity (anyone can send proofs: they are checked
/// before the token) must not make it forget a used proof still in its window.
#[test]
fn a_flood_past_the_replay_capacity_does_not_reopen_used_proofs() {
    let victim = key();
    let attacker = key();
    // A one-second leeway (a 60 s window), so the test waits for the clock at most that.
    let verifier = in_steady_state(
        DpopVerifier::new()
            .window(Duration::from_secs(60), Duration::from_secs(1))
            .replay_capacity(16),
        100,
    );
    let used = proof(&victim, json!({}));
    verifier.verify(&used, "POST", URL, None).unwrap();
    for _ in 0..500 {
        // The attacker's own proofs are valid (their `iat` within the leeway ahead); once
        // the memory overflows, they are refused too.
        let flood = proof(&attacker, json!({"iat": unix_now() + 1}));
        let _ = verifier.verify(&flood, "POST", URL, None);
    }
    assert!(
        verifier.seen.forgotten_until() > 0,
        "the memory did forget proofs within their window"
    );
    assert_eq!(
        verifier.verify(&used, "POST", URL, None),
        Err(DpopError::Time),
        "a used proof the memory may have forgotten is refused"
    );
    // The flood's `iat`s ahead of the clock raise the horizon by at most the leeway:
    // fresh proofs are served again once the clock passes them. The window shrank for
    // a few seconds; it did not close.
    let flooded_until = verifier.seen.forgotten_until();
    assert!(
        flooded_until <= unix_now() + 1 + 61,
        "the horizon is at most the leeway ahead of the clock"
    );
    while unix_now() + 61 <= flooded_until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let fresh = proof(&victim, json!({}));
    assert!(verifier.verify(&fresh, "POST", URL, None).is_ok());
}

#[test]
fn method_and_uri_must_match_the_request() {
    let key = key();
    let verifier = DpopVerifier::new();
    let verify = |claims, method, url| verifier.verify(&proof(&key, claims), method, url, None);
    assert_eq!(verify(json!({}), "GET", URL), Err(DpopError::Method));
    assert_eq!(
        verify(json!({"htm": "post"}), "POST", URL),
        Err(DpopError::Method)
    );
    assert_eq!(
        verify(json!({}), "POST", "https://api.example/other"),
        Err(DpopError::Uri)
    );
    assert_eq!(
        verify(json!({}), "POST", "http://api.example/reports"),
        Err(DpopError::Uri)
    );
    assert_eq!(
        verify(json!({}), "POST", "https://api.example:8443/reports"),
        Err(DpopError::Uri)
    );
    // Same resource, written differently: accepted.
    for url in [
        "HTTPS://API.EXAMPLE:443/reports",
        "https://api.example/reports#frag",
        "https://api.example/%72eports",
    ] {
        assert!(verify(json!({}), "POST", url).is_ok(), "{url}");
    }
    assert!(
        verify(
            json!({"htu": "https://api.example/reports?ignored=1"}),
            "POST",
            URL
        )
        .is_ok()
    );
}

#[test]
fn iat_must_be_recent() {
    let key = key();
    let verifier = DpopVerifier::new();
    let now = unix_now();
    for iat in [now - 61, now + 30, 0] {
        assert_eq!(
            verifier.verify(&proof(&key, json!({"iat": iat})), "POST", URL, None),
            Err(DpopError::Time),
            "{iat}"
        );
    }
    assert!(
        verifier
            .verify(&proof(&key, json!({"iat": now - 30})), "POST", URL, None)
            .is_ok()
    );
}

#[test]
fn ath_binds_the_proof_to_the_access_token() {
    let key = key();
    let verifier = DpopVerifier::new();
    let token = "an.access.token";
    let cases = [
        (json!({}), Err(DpopError::AccessTokenHash)),
        (
            json!({"ath": access_token_hash("another")}),
            Err(DpopError::AccessTokenHash),
        ),
        (json!({"ath": access_token_hash(token)}), Ok(())),
    ];
    for (claims, expected) in cases {
        let answer = verifier
            .verify(&proof(&key, claims), "POST", URL, Some(token))
            .map(|_| ());
        assert_eq!(answer, expected);
    }
}

#[test]
fn header_rules_none_symmetric_private_keys_wrong_typ_wrong_key() {
    let key = key();
    let other = SigningKey::generate_es256("o").unwrap();
    let verifier = DpopVerifier::new();
    let verify = |p: String| verifier.verify(&p, "POST", URL, None);
    assert_eq!(
        verify(proof_with(&key, &key, json!({"alg": "none"}), json!({}))),
        Err(DpopError::Algorithm)
    );
    assert_eq!(
        verify(proof_with(&key, &key, json!({"alg": "HS256"}), json!({}))),
        Err(DpopError::Algorithm)
    );
    assert_eq!(
        verify(proof_with(&key, &key, json!({"typ": "JWT"}), json!({}))),
        Err(DpopError::WrongType)
    );
    assert_eq!(
        verify(proof_with(&key, &key, json!({"typ": null}), json!({}))),
        Err(DpopError::WrongType)
    );
    let mut private = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    private["d"] = json!("AAAA");
    assert_eq!(
        verify(proof_with(&key, &key, json!({"jwk": private}), json!({}))),
        Err(DpopError::Key)
    );
    assert_eq!(
        verify(proof_with(
            &key,
            &key,
            json!({"jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
            json!({})
        )),
        Err(DpopError::Key)
    );
    assert_eq!(
        verify(proof_with(&key, &key, json!({"jwk": null}), json!({}))),
        Err(DpopError::Key)
    );
    // Signed by another key than the one in the header.
    assert_eq!(
        verify(proof_with(&other, &key, json!({}), json!({}))),
        Err(DpopError::Signature)
    );
    for claim in ["jti", "htm", "htu", "iat"] {
        assert_eq!(
            verify(proof(&key, json!({ claim: null }))),
            Err(DpopError::Malformed),
            "{claim}"
        );
    }
    for garbage in ["", "a.b", "a.b.c", "....", &"x".repeat(10_000)] {
        assert!(verify(garbage.to_owned()).is_err());
    }
}

#[test]
fn thumbprints_use_the_required_members_in_order() {
    let jwk = json!({"y": "b", "x": "a", "kty": "EC", "crv": "P-256", "kid": "ignored"});
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        br#"{"crv":"P-256","kty":"EC","x":"a","y":"b"}"#,
    );
    assert_eq!(
        thumbprint(&jwk).unwrap(),
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    );
    assert!(thumbprint(&json!({"kty": "oct", "k": "x"})).is_none());
}

#[test]
fn urls_normalise_as_rfc_3986_says() {
    let cases = [
        (
            "https://Example.COM:443/a/b?q#f",
            Some("https://example.com/a/b"),
        ),
        ("http://example.com:80", Some("http://example.com/")),
        (
            "http://example.com:8080/%7euser/%2f",
            Some("http://example.com:8080/~user/%2F"),
        ),
        ("https://[::1]:8443/x", Some("https://[::1]:8443/x")),
        ("https://[::1]/x", Some("https://[::1]/x")),
        ("https://user@example.com/", None),
        ("ftp://example.com/", None),
        ("/relative", None),
        ("https://example.com/%zz", None),
        ("https://example.com:port/", None),
    ];
    for (url, expected) in cases {
        assert_eq!(normalized_htu(url).as_deref(), expected, "{url}");
    }
}

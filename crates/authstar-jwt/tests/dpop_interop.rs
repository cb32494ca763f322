//! DPoP proofs made by an independent JOSE implementation (Python's PyJWT + cryptography),
//! checked by `DpopVerifier`: ES256 and EdDSA proofs pass with the RFC 7638 thumbprint Python
//! computes by hand, `ath` binds one to its access token, a replay, a stale proof and one for
//! another URI are refused.

use authstar_testkit::python;

use authstar_jwt::dpop::{DpopError, DpopVerifier};

#[test]
fn proofs_from_pyjwt_verify_with_the_same_thumbprint_and_the_rules_hold() {
    if !python::available("jwt, cryptography") {
        return;
    }
    let out = python::run("dpop_proofs.py", &[]);
    let verifier = DpopVerifier::new();
    let mut seen = 0;
    for line in out.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let field = |name: &str| case[name].as_str();
        let (name, proof) = (field("name").unwrap(), field("proof").unwrap());
        let (method, url, token) = (
            field("method").unwrap(),
            field("url").unwrap(),
            field("token"),
        );
        let answer = verifier.verify(proof, method, url, token);
        match (name, field("jkt")) {
            (_, Some(jkt)) => {
                assert_eq!(answer.unwrap().jkt, jkt, "{name}");
                let again = verifier.verify(proof, method, url, token);
                assert_eq!(again, Err(DpopError::Replayed), "{name}");
                if token.is_some() {
                    let fresh = DpopVerifier::new();
                    assert_eq!(
                        fresh.verify(proof, method, url, Some("another.token.here")),
                        Err(DpopError::AccessTokenHash)
                    );
                }
            }
            ("stale", None) => assert_eq!(answer, Err(DpopError::Time)),
            ("wrong-htu", None) => assert_eq!(answer, Err(DpopError::Uri)),
            _ => panic!("unexpected case {name}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 4, "{out}");
}

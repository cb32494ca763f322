//! DPoP proofs: arbitrary `DPoP` header bytes against `DpopVerifier` (the header's JSON, the
//! `jwk`, the signature, the claims). Never a panic; a proof accepted is one whose key's
//! thumbprint is what the verifier reports.

use authstar::credentials::dpop::{ProofRequest, ProofVerifier};
use authstar_jwt::dpop::DpopVerifier;
use http::Method;

fn main() {
    let verifier = std::panic::AssertUnwindSafe(DpopVerifier::new());
    afl::fuzz!(|data: &[u8]| {
        let Ok(proof) = std::str::from_utf8(data) else {
            return;
        };
        let request = ProofRequest::new(proof, &Method::GET, "https://api.example/me", Some("t"));
        if let Ok(jkt) = (*verifier).verify_proof(&request) {
            assert_eq!(jkt.len(), 43, "a SHA-256 thumbprint, base64url");
        }
    });
}

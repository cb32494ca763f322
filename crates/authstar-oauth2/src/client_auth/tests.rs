//! Reading presented client credentials (RFC 6749 §2.3).

use super::*;
use crate::form::TokenRequestForm;

fn secret_of(presented: &Presented) -> &BasicCredentials {
    match &presented.proof {
        Proof::Secret(credentials) => credentials,
        Proof::Assertion(_) | Proof::Certificate => panic!("no secret"),
    }
}

fn form_type() -> HeaderValue {
    HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8")
}

fn parse(body: &str) -> TokenRequestForm {
    TokenRequestForm::parse(Some(&form_type()), None, body.as_bytes()).unwrap()
}

#[test]
fn rfc6749_2_3_one_authentication_method_at_a_time() {
    let basic = HeaderValue::from_static("Basic YTpi"); // a:b
    let form = parse("client_id=a&client_secret=b");
    assert_eq!(
        presented(&form, Some(&basic)).unwrap_err().error,
        ErrorCode::InvalidRequest
    );
    // client_id alone beside Basic only identifies the client (§3.2.1) and must match.
    let same = parse("client_id=a");
    assert_eq!(
        presented(&same, Some(&basic)).unwrap().unwrap().client_id,
        "a"
    );
    let other = parse("client_id=z");
    assert_eq!(
        presented(&other, Some(&basic)).unwrap_err().error,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn rfc6749_2_3_1_client_secret_post() {
    let form = parse("client_id=svc&client_secret=p%26ss");
    let credentials = presented(&form, None).unwrap().unwrap();
    assert_eq!(credentials.method, ClientAuthMethod::ClientSecretPost);
    assert_eq!(secret_of(&credentials).oauth2_client().1, "p&ss");
    assert!(!format!("{credentials:?}").contains("p&ss"));
    // Body values are decoded once, by the form: an id that reads `%64…` in the body is
    // that id, not `d…`, and a `+` in a secret stays a `+`.
    let form = parse("client_id=%2564emo&client_secret=a%2Bb");
    let credentials = presented(&form, None).unwrap().unwrap();
    assert_eq!(credentials.client_id, "%64emo");
    let (id, secret) = secret_of(&credentials).oauth2_client();
    assert_eq!((id.as_ref(), secret.as_ref()), ("%64emo", "a+b"));
    let decoded = decoded(secret_of(&credentials)).unwrap();
    assert_eq!((decoded.username(), decoded.password()), ("%64emo", "a+b"));
    // A client id alone is for a TLS client certificate to prove (RFC 8705 §2).
    let id_only = presented(&parse("client_id=svc"), None).unwrap().unwrap();
    assert_eq!(id_only.proof, Proof::Certificate);
    assert_eq!(presented(&parse(""), None).unwrap(), None);
}

#[test]
fn rfc6749_2_3_1_basic_parts_are_each_one_form_urlencoded_value() {
    use base64::Engine as _;
    // A secret holding `&`, `=` and `+` as the client sends it: each part percent-encoded,
    // then `id:secret` in Basic. Splitting it as a form would cut it at `&`.
    for (id, secret, raw) in [
        ("svc", "a&b=c d+e", "svc:a%26b%3Dc+d%2Be"),
        ("svc", "a&b", "svc:a&b"),
        ("my client", "p:w", "my+client:p%3Aw"),
        ("svc", "p:w", "svc:p:w"),
    ] {
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        let header = HeaderValue::from_str(&format!("Basic {encoded}")).unwrap();
        let credentials = presented(&TokenRequestForm::default(), Some(&header))
            .unwrap()
            .unwrap();
        assert_eq!(credentials.client_id, id, "{raw}");
        assert_eq!(secret_of(&credentials).oauth2_client().1, secret, "{raw}");
        assert_eq!(
            secret_of(&credentials).username(),
            raw.split(':').next().unwrap()
        );
    }
    // A part that is no form encoding is read as it came, as the layer reads it.
    let bad_utf8 = base64::engine::general_purpose::STANDARD.encode("svc:%FF");
    let header = HeaderValue::from_str(&format!("Basic {bad_utf8}")).unwrap();
    let credentials = presented(&TokenRequestForm::default(), Some(&header))
        .unwrap()
        .unwrap();
    assert_eq!(secret_of(&credentials).oauth2_client().1, "%FF");
}

#[test]
fn malformed_basic_is_invalid_client() {
    for value in ["Basic !!!", "Basic", "Basic Og=="] {
        let header = HeaderValue::from_static(value);
        let error = presented(&TokenRequestForm::default(), Some(&header));
        assert_eq!(
            error.unwrap_err().error,
            ErrorCode::InvalidClient,
            "{value}"
        );
    }
}

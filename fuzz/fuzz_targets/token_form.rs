//! The token endpoint's form parser and client-credential rules (RFC 6749 §2.3.1, §3.2, §4.4).
//! Input: `content-type\nquery\nauthorization\nbody`.

use authstar::AuthstarClient;
use authstar::oauth2::TokenRequestForm;
use http::HeaderValue;

fn main() {
    let client = AuthstarClient::new("svc", ["read", "write"]);
    afl::fuzz!(|data: &[u8]| {
        let mut parts = data.splitn(4, |b| *b == b'\n');
        let content_type = parts.next().and_then(|v| HeaderValue::from_bytes(v).ok());
        let query = parts.next().and_then(|v| std::str::from_utf8(v).ok());
        let authorization = parts.next().and_then(|v| HeaderValue::from_bytes(v).ok());
        let body = parts.next().unwrap_or_default();
        let Ok(form) = TokenRequestForm::parse(content_type.as_ref(), query, body) else {
            return;
        };
        let _ = form.check_grant_type();
        if let Ok(Some(credentials)) = form.client_credentials(authorization.as_ref()) {
            let _ = credentials.to_basic();
            // `Debug` never shows the secret (unless the secret happens to be part of what it
            // does show: the id, the type's own words).
            let shown = format!("{credentials:?}");
            let secret = credentials.client_secret();
            let frame = "ClientCredentials { client_id: \"\", client_secret: \"<redacted>\", method: ClientSecretBasic ClientSecretPost }";
            if secret.len() >= 4
                && !credentials.client_id.contains(secret)
                && !frame.contains(secret)
            {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        if let Ok(request) = form.authorize(&client) {
            for scope in &request.scopes {
                assert!(
                    client.scopes().contains(scope),
                    "a scope beyond the client's"
                );
            }
        }
    });
}

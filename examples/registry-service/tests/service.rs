//! The registry-backed service over a socket: a SQLite registry in a temporary directory, a
//! fake identity provider on loopback, real HTTP with reqwest.

use std::net::SocketAddr;
use std::path::PathBuf;

use authstar_jwt::TokenProfile;
use authstar_jwt::testing::FakeProvider;
use authstar_registry::{CreatedClient, CreatedKey, Registry};
use registry_service::{IdentityProvider, Settings, app};
use serde_json::{Value, json};

const AUDIENCE: &str = "reports-api";

struct Service {
    base: String,
    registry: Registry,
    idp: FakeProvider,
    client: CreatedClient,
    key: CreatedKey,
    http: reqwest::Client,
    dir: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Service {
    async fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "authstar-registry-service-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let registry = Registry::open(&dir.join("clients.db")).await.unwrap();
        let client = registry
            .create_client(Some("reports-job"), None, &["reports:read".to_owned()])
            .await
            .unwrap();
        let key = registry
            .create_key(&client.client_id, &["reports:read".to_owned()])
            .await
            .unwrap();
        let idp = FakeProvider::start().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = Settings {
            issuer: base.clone(),
            identity_provider: Some(IdentityProvider {
                issuer: idp.issuer().to_owned(),
                profile: TokenProfile::keycloak(AUDIENCE),
                allow_http: true,
            }),
        };
        let app = app(registry.clone(), &settings).await.unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Self {
            base,
            registry,
            idp,
            client,
            key,
            http: reqwest::Client::new(),
            dir,
        }
    }

    async fn get(&self, path: &str, auth: Auth<'_>) -> (u16, String) {
        let request = self.http.get(format!("{}{path}", self.base));
        let request = match auth {
            Auth::Key(key) => request.header("X-API-Key", key),
            Auth::Basic(id, secret) => request.basic_auth(id, Some(secret)),
            Auth::Bearer(token) => request.bearer_auth(token),
        };
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn token(&self, id: &str, secret: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// A token from the identity provider, shaped as Keycloak issues them to a service account.
    fn idp_token(&self, client: &str, roles: &[&str]) -> String {
        self.idp.sign_typed(
            "JWT",
            json!({"aud": [AUDIENCE, "account"], "azp": client, "sub": "4f1c", "typ": "Bearer",
                "realm_access": {"roles": roles}, "scope": "profile email"}),
        )
    }
}

enum Auth<'a> {
    Key(&'a str),
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

#[tokio::test]
async fn registry_keys_and_secrets_open_what_their_scopes_allow_until_revoked() {
    let service = Service::start("keys").await;
    let (id, secret) = (
        service.client.client_id.as_str(),
        service.client.client_secret.as_str(),
    );
    assert_eq!(
        service.get("/reports", Auth::Key(&service.key.key)).await,
        (200, "reports".into())
    );
    let (status, me) = service.get("/me", Auth::Basic(id, secret)).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&me).unwrap()["client_id"], id);
    assert_eq!(service.get("/me", Auth::Basic(id, "wrong")).await.0, 401);
    assert_eq!(service.get("/me", Auth::Key("ask_nope_nope")).await.0, 401);

    service
        .registry
        .revoke_key(&service.key.key_id)
        .await
        .unwrap();
    assert_eq!(
        service.get("/reports", Auth::Key(&service.key.key)).await.0,
        401,
        "a revoked key is refused at once on the instance that revoked it"
    );
}

#[tokio::test]
async fn the_token_endpoint_issues_tokens_the_service_accepts_until_the_client_is_revoked() {
    let service = Service::start("tokens").await;
    let (id, secret) = (
        service.client.client_id.as_str(),
        service.client.client_secret.as_str(),
    );
    let (status, body) = service.token(id, secret).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(body["scope"], "reports:read");
    assert_eq!(
        service.get("/reports", Auth::Bearer(&token)).await,
        (200, "reports".into())
    );
    let (status, body) = service.token(id, "wrong").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    service.registry.revoke_client(id).await.unwrap();
    assert_eq!(service.get("/reports", Auth::Bearer(&token)).await.0, 401);
    assert_eq!(service.token(id, secret).await.0, 401);
}

#[tokio::test]
async fn identity_provider_tokens_are_accepted_beside_the_registrys_own() {
    let service = Service::start("idp").await;
    let reader = service.idp_token("nightly-export", &["reports:read"]);
    let (status, me) = service.get("/me", Auth::Bearer(&reader)).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&me).unwrap()["client_id"],
        "nightly-export"
    );
    assert_eq!(service.get("/reports", Auth::Bearer(&reader)).await.0, 200);

    let nobody = service.idp_token("nightly-export", &["offline_access"]);
    assert_eq!(service.get("/me", Auth::Bearer(&nobody)).await.0, 200);
    assert_eq!(service.get("/reports", Auth::Bearer(&nobody)).await.0, 403);

    // Another provider's token (same shape, its own keys and issuer) is nobody's.
    let stranger = FakeProvider::start().await.unwrap();
    let foreign = stranger.sign_typed(
        "JWT",
        json!({"aud": AUDIENCE, "azp": "nightly-export", "realm_access": {"roles": ["reports:read"]}}),
    );
    assert_eq!(service.get("/reports", Auth::Bearer(&foreign)).await.0, 401);
    // The provider's token for another audience is refused too.
    let elsewhere = service.idp.sign_typed(
        "JWT",
        json!({"aud": "account", "azp": "x", "realm_access": {"roles": ["reports:read"]}}),
    );
    assert_eq!(
        service.get("/reports", Auth::Bearer(&elsewhere)).await.0,
        401
    );
}

#[tokio::test]
async fn a_flood_of_wrong_secrets_is_throttled_with_retry_after() {
    let service = Service::start("flood").await;
    let id = service.client.client_id.clone();
    let mut statuses = Vec::new();
    for _ in 0..15 {
        let response = service
            .http
            .get(format!("{}/me", service.base))
            .basic_auth(&id, Some("wrong"))
            .send()
            .await
            .unwrap();
        let retry = response.headers().get("retry-after").is_some();
        statuses.push((response.status().as_u16(), retry));
    }
    assert_eq!(statuses[0], (401, false));
    assert!(
        statuses.contains(&(429, true)),
        "throttled after a burst: {statuses:?}"
    );
    // While locked, even the right secret is not checked from this address.
    let right = service
        .get("/me", Auth::Basic(&id, &service.client.client_secret))
        .await;
    assert_eq!(right.0, 429);
}

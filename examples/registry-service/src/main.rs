//! Runs the registry-backed service.
//!
//! ```sh
//! # clients and keys: the authstar command on the same database
//! cargo run -p authstar-cli -- clients create --db clients.db --scope reports:read
//! REGISTRY_DB=clients.db cargo run -p registry-service         # http://127.0.0.1:8080
//! # tokens from Keycloak too:
//! IDP_ISSUER=https://sso.example/realms/main IDP_AUDIENCE=reports-api \
//!   REGISTRY_DB=clients.db cargo run -p registry-service
//! ```

use std::net::SocketAddr;

use authstar_jwt::TokenProfile;
use registry_service::{Error, IdentityProvider, Settings, app};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let var = |name: &str| std::env::var(name).ok();
    let address = var("ADDRESS").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let database = var("REGISTRY_DB").unwrap_or_else(|| "clients.db".to_owned());
    let registry = authstar_registry::Registry::open(database.as_ref()).await?;
    let settings = Settings {
        issuer: var("ISSUER").unwrap_or_else(|| format!("http://{address}")),
        identity_provider: var("IDP_ISSUER").map(|issuer| IdentityProvider {
            issuer,
            profile: TokenProfile::keycloak(var("IDP_AUDIENCE").unwrap_or_default()),
            allow_http: false,
        }),
    };
    let app = app(registry, &settings).await?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

//! Mounting authstar-oauth2's authorization server on an axum router.
//!
//! Its endpoints are tower services already: `Router::route_service("/oauth2/token",
//! token_endpoint(&layer, builder))` mounts one; [`authorization_server`] mounts a whole
//! [`AuthorizationServer`] at its paths.

use authstar_oauth2::AuthorizationServer;
use axum::Router;

/// A router answering `server`'s paths (the token endpoint, and the revocation and
/// introspection endpoints, the JWKS and the RFC 8414 metadata it was given); merge it into
/// your app, inside the [`AuthstarLayer`](authstar::AuthstarLayer) the endpoints were made from.
///
/// ```
/// use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
/// use authstar_oauth2::{AuthorizationServer, OAuth2TokenResponse, token_endpoint};
/// use axum::Router;
///
/// # async fn verify(c: BasicCredentials) -> Option<AuthstarClient> { None }
/// let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
/// let token = token_endpoint(&layer, |_, client: AuthstarClient| async move {
///     Ok::<_, std::convert::Infallible>(OAuth2TokenResponse::bearer(client.client_id()))
/// });
/// let server = AuthorizationServer::builder("https://as.example").token(token).build().unwrap();
/// let app: Router = Router::new()
///     .merge(authstar_axum::authorization_server(server))
///     .layer(layer);
/// ```
pub fn authorization_server<S>(server: AuthorizationServer) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let paths: Vec<String> = server.paths().map(str::to_owned).collect();
    paths.into_iter().fold(Router::new(), |router, path| {
        router.route_service(&path, server.clone())
    })
}

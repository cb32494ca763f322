//! Python's authlib `OAuth2Client` against `examples/token_endpoint.rs`, with
//! `client_secret_basic` and `client_secret_post`, then a protected route with the token.

use authstar_testkit::python;
#[allow(dead_code)]
#[path = "../examples/token_endpoint.rs"]
mod token_endpoint;

async fn serve() -> String {
    authstar_testkit::serve::serve(token_endpoint::app()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_client_secret_basic_and_post() {
    if !python::available("authlib, httpx") {
        return;
    }
    let base = serve().await;
    for (path, method) in [
        ("/oauth2/token", "client_secret_basic"),
        ("/oauth2/token-form", "client_secret_basic"),
        ("/oauth2/token-form", "client_secret_post"),
    ] {
        let base = base.clone();
        let output = tokio::task::spawn_blocking(move || {
            python::run("authlib_client_credentials.py", &[&base, path, method])
        })
        .await
        .unwrap();
        assert!(
            output.contains(&format!("authlib {method}: ok")),
            "{output}"
        );
    }
}

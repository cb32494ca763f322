//! The layer is framework-neutral: a plain hyper 1 server with a tower `service_fn`, no axum.

use std::convert::Infallible;

use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::{Layer, service_fn};

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match authstar::Outcome::<AuthstarClient>::client_in(request.extensions()) {
        Some(client) => format!("hello {}", client.client_id()),
        None => "hello anonymous".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

#[tokio::test]
async fn plain_hyper_service_is_authenticated() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            (token.as_str() == "t-1").then(|| AuthstarClient::new("hyper-client", ["r"]))
        })
        .build()
        .unwrap();
    let service = layer.layer(service_fn(hello));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });

    let http = reqwest::Client::new();
    let url = format!("http://{address}/");
    let authenticated = http.get(&url).bearer_auth("t-1").send().await.unwrap();
    assert_eq!(authenticated.text().await.unwrap(), "hello hyper-client");
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.text().await.unwrap(), "hello anonymous");
    let rejected = http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(rejected.status(), 200); // not enforcing: the handler decides
    assert_eq!(rejected.text().await.unwrap(), "hello anonymous");
}

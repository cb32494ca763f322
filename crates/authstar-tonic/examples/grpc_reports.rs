//! A tonic gRPC service behind authstar: `reports.Reports/Export` reads the client the layer
//! authenticated and needs the `reports:export` scope (a per-method guard); `reports.Reports/Ping`
//! is open. The protobuf types are written out with `prost` (no `protoc` needed):
//!
//! ```proto
//! syntax = "proto3";
//! package reports;
//! service Reports {
//!   rpc Export(ExportRequest) returns (ExportReply);
//!   rpc Ping(ExportRequest) returns (ExportReply);
//! }
//! message ExportRequest { string report = 1; }
//! message ExportReply { string client_id = 1; string report = 2; }
//! ```
//!
//! `cargo run -p authstar-tonic --example grpc_reports` then, for instance with grpcurl and the proto
//! above: `grpcurl -plaintext -H 'x-api-key: demo-key' -d '{"report":"q3"}' 127.0.0.1:50051
//! reports.Reports/Export`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use authstar::{
    AuthstarClient, AuthstarLayer, BearerToken, HeaderAuth, HeaderCredential, Outcome, sync_fn,
};
use authstar_tonic::MethodGuards;

/// `ExportRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ExportRequest {
    /// The report's name.
    #[prost(string, tag = "1")]
    pub(crate) report: String,
}

/// `ExportReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ExportReply {
    /// Who asked (the client the layer authenticated; empty for an anonymous `Ping`).
    #[prost(string, tag = "1")]
    pub(crate) client_id: String,
    /// The report.
    #[prost(string, tag = "2")]
    pub(crate) report: String,
}

/// The method paths.
pub(crate) const EXPORT: &str = "/reports.Reports/Export";
/// An open method.
pub(crate) const PING: &str = "/reports.Reports/Ping";

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// One unary method: answers with the client found in the request's extensions.
#[derive(Clone, Copy)]
struct Method;

impl tonic::server::UnaryService<ExportRequest> for Method {
    type Response = ExportReply;
    type Future = BoxFuture<tonic::Response<ExportReply>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<ExportRequest>) -> Self::Future {
        // The layer's outcome travels from the HTTP request into tonic's extensions.
        let client_id = request
            .extensions()
            .get::<Outcome<AuthstarClient>>()
            .and_then(Outcome::client)
            .map(|client| client.client_id().to_owned())
            .unwrap_or_default();
        let report = request.into_inner().report;
        Box::pin(async move { Ok(tonic::Response::new(ExportReply { client_id, report })) })
    }
}

/// The `reports.Reports` service, as `tonic-build` would generate it, written out.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReportsServer;

impl tonic::server::NamedService for ReportsServer {
    const NAME: &'static str = "reports.Reports";
}

impl tower_service::Service<http::Request<tonic::body::Body>> for ReportsServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match request.uri().path() {
            EXPORT | PING => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(Method, request).await)
            }),
            _ => Box::pin(async { Ok(tonic::Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// The layer (Bearer `demo-token`, `X-API-Key: demo-key`) and the per-method guards.
pub(crate) fn security() -> (
    AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>>,
    MethodGuards<AuthstarClient>,
) {
    // In-memory answers: `sync_fn` answers inside the layer's `call`, no future to box (a
    // database lookup would be an `async` closure or an `Authenticator`).
    let (reporting, exporter) = (
        AuthstarClient::new("reporting", ["reports:read"]),
        AuthstarClient::new("exporter", ["reports:read", "reports:export"]),
    );
    let layer = AuthstarLayer::builder()
        .on_auth_bearer_with(sync_fn(move |token: BearerToken| {
            (token.as_str() == "demo-token").then(|| reporting.clone())
        }))
        .on_auth_header(HeaderAuth::x_api_key_with(sync_fn(
            move |key: HeaderCredential| (key.as_str() == "demo-key").then(|| exporter.clone()),
        )))
        .build()
        .expect("a valid layer");
    let guards = MethodGuards::<AuthstarClient>::new(&layer).scopes_any(EXPORT, ["reports:export"]);
    (layer, guards)
}

/// Serves the service on `listener` behind the layer and the guards.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
) -> Result<(), tonic::transport::Error> {
    let (layer, guards) = security();
    tonic::transport::Server::builder()
        .layer(layer)
        .layer(guards)
        .add_service(ReportsServer)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener).await?;
    Ok(())
}

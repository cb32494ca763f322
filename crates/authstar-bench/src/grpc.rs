//! A unary gRPC call in process: the example service of `crates/authstar-tonic/examples/grpc_reports.rs`
//! (tonic's server codec, prost messages) called as a tower service, alone and behind the
//! authstar layer with its per-method guard, the client presenting an API key in metadata. The
//! response body is read to its trailers, as a client would.

use std::hint::black_box;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::{Group, Variant, lazy};

#[allow(dead_code)]
#[path = "../../authstar-tonic/examples/grpc_reports.rs"]
pub(crate) mod reports;

/// The call without the layer.
pub(crate) const BARE: &str = "grpc: unary call, no layer";
/// The call behind the layer and the guard.
pub(crate) const SECURED: &str = "grpc: unary call, authstar layer + method guard (API key)";

/// `ExportRequest { report: "q3" }` framed for gRPC: no compression, a 4-byte length.
fn frame() -> Bytes {
    use prost::Message as _;
    let message = reports::ExportRequest {
        report: "q3".into(),
    }
    .encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
    framed.extend_from_slice(&message);
    Bytes::from(framed)
}

fn request(body: &Bytes) -> http::Request<tonic::body::Body> {
    let mut request = http::Request::post(reports::EXPORT)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-api-key", "demo-key")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            body.clone(),
        )))
        .unwrap_or_default();
    *request.version_mut() = http::Version::HTTP_2;
    request
}

fn variant<S>(name: &'static str, make: impl FnOnce() -> S + 'static) -> Variant
where
    S: tower_service::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        > + Clone
        + 'static,
    S::Error: std::fmt::Debug,
{
    lazy(name, Group::InProcess, move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let service = make();
        let body = frame();
        Variant {
            name,
            group: Group::InProcess,
            lazy: false,
            run: Box::new(move |iterations| {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    let response = runtime.block_on(async {
                        let response = service.clone().oneshot(request(&body)).await;
                        let collected = response.expect("answered").into_body().collect().await;
                        collected.expect("a body").trailers().cloned()
                    });
                    let status = response.as_ref().and_then(|t| t.get("grpc-status"));
                    assert_eq!(status.map(|s| s.as_bytes()), Some(&b"0"[..]), "{name}");
                    black_box(response);
                }
                start.elapsed()
            }),
        }
    })
}

/// Both variants (each built on first use).
pub(crate) fn all() -> Vec<Variant> {
    vec![
        variant(BARE, || reports::ReportsServer),
        variant(SECURED, || {
            let (layer, guards) = reports::security();
            tower::ServiceBuilder::new()
                .layer(layer)
                .layer(guards)
                .service(reports::ReportsServer)
        }),
    ]
}

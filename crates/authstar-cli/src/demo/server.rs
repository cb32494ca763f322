//! Serving the demo with limits a slow or hostile client cannot outwait.
//!
//! `axum::serve` sets no timer, so a client that sends half a header holds its connection (and
//! a file descriptor) forever. Here each connection is served by hyper directly:
//!
//! | limit | default | flag |
//! |---|---|---|
//! | request head must arrive within (also: how long an idle keep-alive connection waits for the next request) | 10 s | `--header-timeout` |
//! | a whole request, body included, must be answered within (408 after) | 30 s | `--request-timeout` |
//! | connections at once (further ones wait in the kernel's accept queue) | 1024 | `--max-connections` |
//! | request body | 64 KiB (413 beyond) | `--max-body` |
//! | request head | 16 KiB (431 beyond) | — |

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use super::DemoService;

/// How long a connection may take, and how many there may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time for a request head to arrive, from the moment the connection is ready for one.
    pub header_timeout: Duration,
    /// Time to answer a request, from its head to its response (body upload included).
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest request body, in bytes.
    pub max_body: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_body: 64 * 1024,
        }
    }
}

/// The largest request head.
const MAX_HEAD: usize = 16 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish for
/// up to 10 s.
pub(super) async fn serve(
    listener: TcpListener,
    app: DemoService,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let capacity = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(capacity));
    let (stop, stopping) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: excess connections queue in the kernel.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "authstar demo: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = tower::service_fn(move |mut request: axum::http::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(request.map(Body::new))
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let stopped = tokio::select! {
                _ = connection.as_mut() => false,
                stop = stopping.wait_for(|stop| *stop) => stop.is_ok(),
            };
            if stopped {
                // Finish the request in flight, then close.
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every slot back means every connection has closed; give them 10 s.
    let all = u32::try_from(capacity).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(10), slots.acquire_many(all)).await;
}

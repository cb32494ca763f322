//! `--metrics-addr`: Prometheus metrics on a listener of their own.

use std::time::Duration;

use authstar::network::Networks;

use super::{DemoError, ServerLimits, limited, server};

/// Connections the metrics listener serves at once (more wait in the kernel's queue).
const METRICS_CONNECTIONS: usize = 16;

/// Installs a Prometheus recorder for the `metrics` facade and serves its text format at
/// `GET /metrics` on `address`, a listener of its own: kept off the service's port, so what it
/// tells (request counts, failure kinds) reaches only who can reach that address. Served by the
/// same loop as the service, with the same timeouts and connection limits (a listener without
/// them let 300 half-open sockets starve the service's own `accept` of file descriptors).
/// Returns the address bound.
pub(super) async fn serve_metrics(
    address: &str,
    limits: ServerLimits,
) -> Result<std::net::SocketAddr, DemoError> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| DemoError::Config(format!("cannot install the metrics recorder: {e}")))?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| DemoError::Listen {
            address: address.to_owned(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| DemoError::Listen {
        address: address.to_owned(),
        source,
    })?;
    // Without the exporter's own listener, its histograms are drained by hand.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = handle.render();
            std::future::ready((
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                text,
            ))
        }),
    );
    // A scraper needs a connection or two: a few slots, apart from the service's, so the
    // listener cannot take the process's file descriptors from the service.
    let limits = ServerLimits {
        max_connections: METRICS_CONNECTIONS,
        max_connections_per_address: METRICS_CONNECTIONS,
        ..limits
    };
    let service = limited(router, limits);
    tokio::spawn(server::serve(
        listener,
        service,
        limits,
        Networks::default(),
        server::Transport::default(),
        std::future::pending(),
    ));
    Ok(local)
}

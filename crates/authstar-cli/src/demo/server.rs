//! Serving the demo with limits a slow or hostile client cannot outwait.
//!
//! `axum::serve` sets no timer, so a client that sends half a header holds its connection (and
//! a file descriptor) forever. Here each connection is served by hyper directly:
//!
//! | limit | default | flag |
//! |---|---|---|
//! | request head must arrive within (also: how long an idle keep-alive connection waits for the next request) | 10 s | `--header-timeout` |
//! | a whole request, body included, must be answered within (408 after) | 30 s | `--request-timeout` |
//! | connections at once, websockets included until they close (further ones wait in the kernel's accept queue) | 1024 | `--max-connections` |
//! | connections at once from one address (IPv6: one /64), trusted proxies exempt; more are closed at once | 64 | `--max-connections-per-address` |
//! | request body | 64 KiB (413 beyond) | `--max-body` |
//! | request head | 16 KiB (431 beyond) | — |
//! | websocket message, frame | 64 KiB, 16 KiB (`1009` beyond) | — |
//! | websocket without a message from the client | 60 s (`1001`) | `--ws-idle-timeout` |
//! | websocket lifetime | 1 h (`1001`) | — |
//! | websocket's credential checked again | every 30 s (`1008` once revoked or expired) | `--ws-recheck` |
//!
//! The metrics listener (`--metrics-addr`) is served by the same loop, with the same timeouts
//! and 16 connections of its own.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use authstar::network::Networks;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

use super::DemoService;

/// RFC 9440's header of a client certificate forwarded by a TLS-terminating proxy.
const CLIENT_CERT: &str = "client-cert";

/// How long a connection may take, and how many there may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time for a request head to arrive, from the moment the connection is ready for one.
    pub header_timeout: Duration,
    /// Time to answer a request, from its head to its response (body upload included).
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections served at once from one address (trusted proxies exempt).
    pub max_connections_per_address: usize,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// How long a websocket may go without a message from its client.
    pub ws_idle_timeout: Duration,
    /// How often a websocket's credential is checked again.
    pub ws_recheck: Duration,
}

/// Where a client's certificate comes from: the connection's own TLS, or a trusted proxy that
/// terminated it and forwards the certificate (RFC 9440 `Client-Cert`).
#[derive(Clone, Default)]
pub(super) struct Transport {
    pub(super) tls: Option<tokio_rustls::TlsAcceptor>,
    pub(super) forwarded_client_cert: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_address: 64,
            max_body: 64 * 1024,
            ws_idle_timeout: Duration::from_secs(60),
            ws_recheck: Duration::from_secs(30),
        }
    }
}

/// A connection's place among the limits: held by the connection, and by the websocket it
/// becomes (a request's extensions carry it, so the socket's task can keep it), until both end.
#[derive(Clone, Debug)]
pub(super) struct ConnectionSlot(#[allow(dead_code)] Arc<Held>);

#[derive(Debug)]
struct Held {
    _permit: OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
}

/// Connections open per address (IPv6 by its /64).
#[derive(Clone, Debug, Default)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection counted against its address; uncounted when dropped.
#[derive(Debug)]
struct AddressSlot {
    counts: PerAddress,
    address: IpAddr,
}

impl PerAddress {
    /// Counts a connection from `address`, unless it already has `cap` open.
    fn take(&self, address: IpAddr, cap: usize) -> Option<AddressSlot> {
        let address = counted(address);
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(address).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: self.clone(),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Warns, at most once a minute, that an address hit the per-address cap: behind a proxy nobody
/// listed in `--trusted-proxies`, every client shares the proxy's address and its cap.
fn cap_warning(address: IpAddr, cap: usize) {
    static LAST: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if last.is_some_and(|at| at.elapsed() < Duration::from_secs(60)) {
        tracing::debug!(%address, "authstar demo: too many connections from one address");
        return;
    }
    *last = Some(std::time::Instant::now());
    drop(last);
    tracing::warn!(
        %address,
        cap,
        "authstar demo: {address} has {cap} connections open; more are closed at once \
         (--max-connections-per-address). If it is your proxy, list it in --trusted-proxies"
    );
}

/// The counted part of an address: IPv4 whole, IPv6 by its /64 (which one host usually owns).
fn counted(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// The largest request head.
const MAX_HEAD: usize = 16 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish for
/// up to 10 s. Connections from `proxies` are not capped per address (each carries many
/// clients).
pub(super) async fn serve(
    listener: TcpListener,
    app: DemoService,
    limits: ServerLimits,
    proxies: Networks,
    transport: Transport,
    shutdown: impl Future<Output = ()>,
) {
    let capacity = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(capacity));
    let per_address = PerAddress::default();
    let (stop, stopping) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: excess connections queue in the kernel.
        let permit = tokio::select! {
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
        let trusted = proxies.contains(peer.ip());
        let address = if trusted {
            None
        } else {
            match per_address.take(peer.ip(), limits.max_connections_per_address.max(1)) {
                Some(slot) => Some(slot),
                None => {
                    // One address holding every slot would starve everyone else.
                    cap_warning(peer.ip(), limits.max_connections_per_address);
                    drop(stream);
                    continue;
                }
            }
        };
        let slot = ConnectionSlot(Arc::new(Held {
            _permit: permit,
            _address: address,
        }));
        let connection = Connection {
            peer,
            trusted,
            forwards_certificates: transport.forwarded_client_cert,
            app: app.clone(),
            slot: slot.clone(),
            http: http.clone(),
            stopping: stopping.clone(),
        };
        let tls = transport.tls.clone();
        let handshake_timeout = limits.header_timeout;
        tokio::spawn(async move {
            match tls {
                None => connection.serve(TokioIo::new(stream), None).await,
                Some(acceptor) => {
                    // A handshake gets the time a request head gets; a slow one loses its slot.
                    let accepted =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = accepted {
                        let certificate = super::tls::client_certificate(stream.get_ref().1);
                        connection.serve(TokioIo::new(stream), certificate).await;
                    }
                }
            }
            // An upgraded websocket's task keeps its own clone of the slot.
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every slot back means every connection has closed; give them 10 s.
    let all = u32::try_from(capacity).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(10), slots.acquire_many(all)).await;
}

/// One accepted connection, over TCP or TLS.
struct Connection {
    peer: SocketAddr,
    /// Whether the peer is a trusted proxy.
    trusted: bool,
    /// Whether trusted proxies forward client certificates (`--forwarded-client-cert`).
    forwards_certificates: bool,
    app: DemoService,
    slot: ConnectionSlot,
    http: hyper::server::conn::http1::Builder,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    /// Serves the connection's requests, each with the peer's address, the connection's slot
    /// and, over mutual TLS, the client's certificate in its extensions; closes after the
    /// request in flight when the server stops.
    async fn serve<I>(
        self,
        io: TokioIo<I>,
        certificate: Option<authstar::credentials::ClientCertificate>,
    ) where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            peer,
            trusted,
            forwards_certificates,
            app,
            slot,
            http,
            mut stopping,
        } = self;
        // Only a trusted proxy the operator said forwards certificates is believed.
        let forwarded_certificates = trusted && forwards_certificates;
        let service = tower::service_fn(move |mut request: axum::http::Request<Incoming>| {
            // A trusted proxy's request carries the certificate it forwarded (RFC 9440
            // `Client-Cert`, or nginx's escaped PEM; one value, never two), never the proxy's own
            // connection certificate; anyone else's, its own connection's. The header never
            // reaches the app, whoever sent it.
            let forwarded = match request.headers_mut().entry(CLIENT_CERT) {
                axum::http::header::Entry::Occupied(entry) => {
                    let mut values = entry.remove_entry_mult().1;
                    match (values.next(), values.next()) {
                        (Some(value), None) => Some(value),
                        _ => None,
                    }
                }
                axum::http::header::Entry::Vacant(_) => None,
            };
            let certificate = match forwarded_certificates {
                true => {
                    forwarded.and_then(|value| authstar_jwt::client_certificate_from_header(&value))
                }
                false => certificate.clone(),
            };
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo::<SocketAddr>(peer));
            extensions.insert(slot.clone());
            if let Some(certificate) = certificate {
                extensions.insert(certificate);
            }
            app.clone().oneshot(request.map(Body::new))
        });
        let connection = http
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
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
    }
}

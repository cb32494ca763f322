//! Servers on loopback and waiting for them: a test polls for the state it needs (a port that
//! accepts, a status that changed) with [`until`], never a fixed sleep.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often [`until`] and [`until_blocking`] look again.
const POLL: Duration = Duration::from_millis(20);

/// Serves `app` on a free loopback port and returns its base URL, `http://127.0.0.1:PORT`;
/// it serves until the runtime ends.
///
/// # Panics
///
/// When no loopback port can be bound.
pub async fn serve(app: axum::Router) -> String {
    let listener = bind().await;
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// [`serve`], with each request's peer address in its extensions (axum's `ConnectInfo`), for
/// apps that read it (`authstar_axum::peer_address`).
///
/// # Panics
///
/// When no loopback port can be bound.
pub async fn serve_with_peers(app: axum::Router) -> String {
    let listener = bind().await;
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    base
}

async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port")
}

/// Polls `ready` until it holds, and returns how long that took.
///
/// # Panics
///
/// When it still does not hold after `limit` (saying `what` was awaited).
pub async fn until<F, Fut>(limit: Duration, what: &str, mut ready: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if ready().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not so after {limit:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`until`] for a test without a runtime (or a check that blocks).
///
/// # Panics
///
/// When it still does not hold after `limit`.
pub fn until_blocking(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if ready() {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not so after {limit:?}");
        std::thread::sleep(POLL);
    }
}

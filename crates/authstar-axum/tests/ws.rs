//! `authstar_axum::ws` over a real socket: the policy's limits hold whatever the handler does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authstar_axum::ws::{GuardedSocket, WebSocketPolicy};
use axum::Router;
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::Message;
use axum::http::HeaderMap;
use axum::routing::get;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite;

/// Serves `/ws` under `policy`: the handler pushes a message every 50 ms and never reads; the
/// credential holds while `valid` does.
async fn serve(policy: WebSocketPolicy, valid: Arc<AtomicBool>) -> String {
    let route = get(move |headers: HeaderMap, upgrade: WebSocketUpgrade| {
        let (policy, valid) = (policy.clone(), valid.clone());
        async move {
            let still_valid = move || {
                let valid = valid.clone();
                async move { valid.load(Ordering::SeqCst) }
            };
            policy.upgrade(
                &headers,
                upgrade,
                "svc",
                still_valid,
                |mut socket: GuardedSocket| async move {
                    loop {
                        if socket.send(Message::Text("tick".into())).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            )
        }
    });
    let base = authstar_testkit::serve::serve(Router::new().route("/ws", route)).await;
    format!("ws{}/ws", base.trim_start_matches("http"))
}

/// How the socket ends within `limit`: the close code, `None` for a broken connection.
async fn close_code(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    limit: Duration,
) -> Option<u16> {
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                Some(Ok(tungstenite::Message::Close(frame))) => {
                    return frame.map(|f| u16::from(f.code));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the socket stayed open")
}

#[tokio::test]
async fn a_handler_that_only_pushes_stops_when_the_credential_is_revoked() {
    let valid = Arc::new(AtomicBool::new(true));
    let policy = WebSocketPolicy::new().recheck_every(Duration::from_millis(200));
    let url = serve(policy, valid.clone()).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = socket.next().await.unwrap().unwrap();
    assert_eq!(first.to_text().unwrap(), "tick");
    valid.store(false, Ordering::SeqCst);
    assert_eq!(
        close_code(&mut socket, Duration::from_secs(2)).await,
        Some(1008)
    );
}

#[tokio::test]
async fn the_lifetime_ends_a_socket_whatever_its_handler_does() {
    let policy = WebSocketPolicy::new()
        .idle_timeout(Duration::from_secs(60))
        .max_lifetime(Duration::from_millis(500));
    let url = serve(policy, Arc::new(AtomicBool::new(true))).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let started = std::time::Instant::now();
    let _ = close_code(&mut socket, Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn sockets_have_a_pool_of_their_own() {
    let policy = WebSocketPolicy::new().max_sockets(1);
    let url = serve(policy, Arc::new(AtomicBool::new(true))).await;
    let (_first, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        Ok(_) => panic!("a second socket beyond the pool"),
        Err(other) => panic!("{other}"),
    }
}

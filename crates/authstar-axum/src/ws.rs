//! Authenticated websockets that stay within limits (feature `ws`).
//!
//! A websocket outlives the request that opened it: the layer authenticates the handshake once,
//! and nothing of the HTTP server's own limits (body size, request timeout) applies to what
//! follows. [`WebSocketPolicy`] puts back what a websocket route must add:
//!
//! | limit | default | why |
//! |---|---|---|
//! | `Origin` of the handshake | must be an allowed origin when present | a page elsewhere would ride the visitor's cookie, or a browser-cached Basic credential (cross-site websocket hijacking) |
//! | message size | 64 KiB | tungstenite's default is 64 MiB, read whole into memory |
//! | frame size | 16 KiB | its default is 16 MiB |
//! | idle timeout | 60 s | a silent socket holds a connection forever |
//! | lifetime | 1 h | the credential that opened it is checked once, at the handshake |
//! | recheck | every 30 s | a socket of a revoked client (or key, token, session) closes with `1008` |
//!
//! ```
//! use authstar::AuthstarClient;
//! use authstar_axum::ws::{GuardedSocket, WebSocketPolicy};
//! use authstar_axum::{Authenticated, RouteSecurity};
//! use axum::extract::ws::{Message, WebSocketUpgrade};
//! use axum::http::HeaderMap;
//! use axum::response::Response;
//!
//! async fn echo(
//!     Authenticated(client): Authenticated<AuthstarClient>,
//!     headers: HeaderMap,
//!     upgrade: WebSocketUpgrade,
//! ) -> Response {
//!     let policy = WebSocketPolicy::new().allowed_origins(["https://app.example"]);
//!     // Asked every 30 s: is the credential that opened the socket still good?
//!     let still_valid = move || {
//!         let client = client.clone();
//!         async move { is_still_active(&client).await }
//!     };
//!     policy.upgrade(&headers, upgrade, still_valid, |mut socket: GuardedSocket| async move {
//!         while let Some(message) = socket.recv().await {
//!             if socket.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//! # async fn is_still_active(_: &AuthstarClient) -> bool { true }
//! # let _ = echo;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

type Check = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Limits and checks for an authenticated websocket route; see the [module docs](self).
#[derive(Clone)]
pub struct WebSocketPolicy {
    origins: Arc<[String]>,
    max_message: usize,
    max_frame: usize,
    idle: Duration,
    lifetime: Duration,
    recheck: Duration,
}

impl fmt::Debug for WebSocketPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketPolicy")
            .field("allowed_origins", &self.origins)
            .field("max_message", &self.max_message)
            .field("max_frame", &self.max_frame)
            .field("idle_timeout", &self.idle)
            .field("max_lifetime", &self.lifetime)
            .field("recheck_every", &self.recheck)
            .finish()
    }
}

impl Default for WebSocketPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl WebSocketPolicy {
    /// The defaults of the table above; no `Origin` allowed (browsers always send one, so
    /// only non-browser clients get in until you allow your pages' origins).
    pub fn new() -> Self {
        Self {
            origins: Arc::from([]),
            max_message: 64 * 1024,
            max_frame: 16 * 1024,
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(3600),
            recheck: Duration::from_secs(30),
        }
    }

    /// Origins (`scheme://host[:port]`, compared exactly) from which a browser may open the
    /// socket. A handshake carrying any other `Origin` is refused (403), whatever credential it
    /// carries: a browser attaches cookies and cached Basic credentials by itself.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// The largest message read, in bytes; a larger one closes the socket (`1009`).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// The largest frame read, in bytes.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// How long the socket may stay without a message from the client (`1001` after).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle = timeout;
        self
    }

    /// How long the socket may stay open at all (`1001` after).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// How often the credential that opened the socket is checked again (`1008` when no longer
    /// valid).
    pub fn recheck_every(mut self, interval: Duration) -> Self {
        self.recheck = interval.max(Duration::from_millis(10));
        self
    }

    /// `Err(403)` when the handshake carries an `Origin` this policy does not allow (or one
    /// that is not text). A handshake without `Origin` is not from a browser.
    #[allow(clippy::result_large_err)]
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), Response> {
        let allowed = match headers.get(ORIGIN).map(|origin| origin.to_str()) {
            None => true,
            Some(Ok(origin)) => self.origins.iter().any(|allowed| allowed == origin),
            Some(Err(_)) => false,
        };
        if allowed {
            return Ok(());
        }
        let body = serde_json::json!({
            "error": "forbidden",
            "error_description": "this origin may not open this websocket",
        });
        Err((StatusCode::FORBIDDEN, axum::Json(body)).into_response())
    }

    /// Checks the handshake's `Origin`, sets the size limits, and runs `handler` on a
    /// [`GuardedSocket`] that enforces the timeouts and asks `still_valid` every
    /// [`recheck_every`](Self::recheck_every).
    pub fn upgrade<V, VFut, H, HFut>(
        &self,
        headers: &HeaderMap,
        upgrade: WebSocketUpgrade,
        still_valid: V,
        handler: H,
    ) -> Response
    where
        V: Fn() -> VFut + Send + Sync + 'static,
        VFut: Future<Output = bool> + Send + 'static,
        H: FnOnce(GuardedSocket) -> HFut + Send + 'static,
        HFut: Future<Output = ()> + Send + 'static,
    {
        if let Err(refusal) = self.check_origin(headers) {
            return refusal;
        }
        let policy = self.clone();
        let check: Check = Arc::new(move || Box::pin(still_valid()));
        upgrade
            .max_message_size(self.max_message)
            .max_frame_size(self.max_frame)
            .on_upgrade(move |socket| handler(GuardedSocket::new(socket, &policy, check)))
    }
}

/// A websocket under a [`WebSocketPolicy`]: [`recv`](Self::recv) ends it (with the close code
/// that says why) when it idles, outlives its lifetime, or its credential is no longer valid.
/// Drive `recv`: the checks run while it waits.
pub struct GuardedSocket {
    socket: WebSocket,
    idle: Duration,
    last_message: Instant,
    ends: Instant,
    recheck: tokio::time::Interval,
    still_valid: Check,
    closed: bool,
}

impl fmt::Debug for GuardedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedSocket")
            .field("idle", &self.idle)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl GuardedSocket {
    fn new(socket: WebSocket, policy: &WebSocketPolicy, still_valid: Check) -> Self {
        let now = Instant::now();
        let mut recheck = tokio::time::interval_at(now + policy.recheck, policy.recheck);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            socket,
            idle: policy.idle,
            last_message: now,
            ends: now + policy.lifetime,
            recheck,
            still_valid,
            closed: false,
        }
    }

    /// The next message from the client; `None` once the socket is closed: by the client, by
    /// an error (a message over the size limit), or by the policy (idle `1001`, lifetime
    /// `1001`, credential no longer valid `1008`), the close frame sent first.
    pub async fn recv(&mut self) -> Option<Message> {
        if self.closed {
            return None;
        }
        loop {
            let idle_until = self.last_message + self.idle;
            tokio::select! {
                message = self.socket.recv() => match message {
                    Some(Ok(Message::Close(_))) | None => {
                        self.closed = true;
                        return None;
                    }
                    Some(Ok(message)) => {
                        self.last_message = Instant::now();
                        return Some(message);
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "authstar: websocket closed on a read error");
                        self.close(close_code::SIZE, "message refused").await;
                        return None;
                    }
                },
                () = tokio::time::sleep_until(idle_until) => {
                    self.close(close_code::AWAY, "idle").await;
                    return None;
                }
                () = tokio::time::sleep_until(self.ends) => {
                    self.close(close_code::AWAY, "lifetime over").await;
                    return None;
                }
                _ = self.recheck.tick() => {
                    if !(self.still_valid)().await {
                        tracing::info!("authstar: websocket closed: its credential is no longer valid");
                        self.close(close_code::POLICY, "credential no longer valid").await;
                        return None;
                    }
                }
            }
        }
    }

    /// Sends a message.
    pub async fn send(&mut self, message: Message) -> Result<(), axum::Error> {
        self.socket.send(message).await
    }

    /// Closes the socket with `code` and `reason` (best effort).
    pub async fn close(&mut self, code: u16, reason: &'static str) {
        if self.closed {
            return;
        }
        self.closed = true;
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}

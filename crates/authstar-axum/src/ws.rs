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
//! | idle timeout | 60 s | a silent socket holds a connection forever; also how long a send may wait for a client that does not read |
//! | lifetime | 1 h | the credential that opened it is checked once, at the handshake; past it the handler is stopped, wherever it waits |
//! | recheck | every 30 s | a socket of a revoked client (or key, token, session) closes with `1008` |
//! | sockets at once | 256 | a pool of its own, below the server's connection limit (503 beyond) |
//! | sockets per client | 8 | one credential from many addresses must not take the pool (429 beyond) |
//!
//! ```
//! use authstar::{AuthstarClient, Client as _};
//! use authstar_axum::ws::{GuardedSocket, WebSocketPolicy};
//! use authstar_axum::{Authenticated, RouteSecurity};
//! use axum::extract::ws::WebSocketUpgrade;
//! use axum::http::HeaderMap;
//! use axum::response::Response;
//! use axum::{Router, routing::get};
//!
//! fn echo(
//!     policy: &WebSocketPolicy,
//!     client: AuthstarClient,
//!     headers: &HeaderMap,
//!     upgrade: WebSocketUpgrade,
//! ) -> Response {
//!     let owner = client.client_id().to_owned();
//!     // Asked every 30 s: is the credential that opened the socket still good?
//!     let still_valid = move || {
//!         let client = client.clone();
//!         async move { is_still_active(&client).await }
//!     };
//!     policy.upgrade(headers, upgrade, &owner, still_valid, |mut socket: GuardedSocket| async move {
//!         while let Some(message) = socket.recv().await {
//!             if socket.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//! # async fn is_still_active(_: &AuthstarClient) -> bool { true }
//!
//! // One policy for the route: it counts the sockets it opened.
//! let policy = WebSocketPolicy::new().allowed_origins(["https://app.example"]);
//! let route = get(
//!     move |Authenticated(client): Authenticated<AuthstarClient>, headers: HeaderMap, upgrade| {
//!         let policy = policy.clone();
//!         async move { echo(&policy, client, &headers, upgrade) }
//!     },
//! );
//! let _: Router<RouteSecurity<AuthstarClient>> = Router::new().route("/ws", route);
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
    max_sockets: usize,
    max_per_client: usize,
    /// Sockets open now, in all and per client: shared by the policy's clones.
    open: Arc<Open>,
}

/// The sockets a policy has open.
#[derive(Default)]
struct Open {
    all: std::sync::atomic::AtomicUsize,
    per_client: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// One open socket, counted until dropped.
struct Counted {
    open: Arc<Open>,
    client: String,
}

impl Open {
    /// Counts a socket for `client`, unless the pool or the client's share is full.
    fn take(
        self: &Arc<Self>,
        client: &str,
        max_sockets: usize,
        max_per_client: usize,
    ) -> Result<Counted, StatusCode> {
        use std::sync::atomic::Ordering;
        let mut per_client = self
            .per_client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.all.load(Ordering::Acquire) >= max_sockets {
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
        if per_client.get(client).copied().unwrap_or(0) >= max_per_client {
            return Err(StatusCode::TOO_MANY_REQUESTS);
        }
        *per_client.entry(client.to_owned()).or_insert(0) += 1;
        self.all.fetch_add(1, Ordering::AcqRel);
        Ok(Counted {
            open: Arc::clone(self),
            client: client.to_owned(),
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        let mut per_client = self
            .open
            .per_client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.client);
            }
        }
        self.open.all.fetch_sub(1, Ordering::AcqRel);
    }
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
            .field("max_sockets", &self.max_sockets)
            .field("max_sockets_per_client", &self.max_per_client)
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
            max_sockets: 256,
            max_per_client: 8,
            open: Arc::default(),
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

    /// How long the socket may stay without a message from the client (`1001` after), and how
    /// long a send may wait for a client that does not read (the socket is dropped after).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle = timeout;
        self
    }

    /// How many sockets this policy keeps open at once (503 beyond): a pool of their own,
    /// smaller than the server's connection limit, so sockets cannot take every connection.
    pub fn max_sockets(mut self, sockets: usize) -> Self {
        self.max_sockets = sockets;
        self
    }

    /// How many sockets one client (by `client_id`) may keep open at once (429 beyond).
    pub fn max_sockets_per_client(mut self, sockets: usize) -> Self {
        self.max_per_client = sockets;
        self
    }

    /// How long the socket may stay open at all (`1001` after; a handler still running then is
    /// stopped, wherever it waits).
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

    /// Checks the handshake's `Origin` and the socket counts (`client_id`'s and the pool's),
    /// sets the size limits, and runs `handler` on a [`GuardedSocket`] that enforces the
    /// timeouts and asks `still_valid` every [`recheck_every`](Self::recheck_every). The handler
    /// is stopped when the lifetime ends, wherever it waits.
    pub fn upgrade<V, VFut, H, HFut>(
        &self,
        headers: &HeaderMap,
        upgrade: WebSocketUpgrade,
        client_id: &str,
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
        let counted = match self
            .open
            .take(client_id, self.max_sockets, self.max_per_client)
        {
            Ok(counted) => counted,
            Err(status) => {
                let body = serde_json::json!({
                    "error": "too_many_sockets",
                    "error_description": "too many websockets are open; try again later",
                });
                let mut refusal = (status, axum::Json(body)).into_response();
                refusal.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("5"),
                );
                return refusal;
            }
        };
        let policy = self.clone();
        let check: Check = Arc::new(move || Box::pin(still_valid()));
        upgrade
            .max_message_size(self.max_message)
            .max_frame_size(self.max_frame)
            .on_upgrade(move |socket| async move {
                let _counted = counted;
                let ends = Instant::now() + policy.lifetime;
                let socket = GuardedSocket::new(socket, &policy, check, ends);
                // The lifetime bounds the handler itself, not only `recv`: a handler stuck
                // elsewhere is dropped, and its socket with it (a second later than `recv`
                // closes it, so a handler in `recv` sends its close frame first).
                let _ =
                    tokio::time::timeout_at(ends + Duration::from_secs(1), handler(socket)).await;
            })
    }
}

/// A websocket under a [`WebSocketPolicy`]: [`recv`](Self::recv) ends it (with the close code
/// that says why) when it idles, outlives its lifetime, or its credential is no longer valid;
/// [`send`](Self::send) checks the credential when a check is due (a handler that only pushes
/// is held to it too) and gives up on a client that does not read within the idle timeout.
pub struct GuardedSocket {
    socket: WebSocket,
    idle: Duration,
    last_message: Instant,
    ends: Instant,
    recheck: Duration,
    /// When the credential is checked next (by `recv` while it waits, or by `send`).
    next_check: Instant,
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
    fn new(socket: WebSocket, policy: &WebSocketPolicy, still_valid: Check, ends: Instant) -> Self {
        let now = Instant::now();
        Self {
            socket,
            idle: policy.idle,
            last_message: now,
            ends,
            recheck: policy.recheck,
            next_check: now + policy.recheck,
            still_valid,
            closed: false,
        }
    }

    /// Checks the credential again; `false` (the socket closed with `1008`) when it no longer
    /// holds.
    async fn recheck(&mut self) -> bool {
        self.next_check = Instant::now() + self.recheck;
        if (self.still_valid)().await {
            return true;
        }
        tracing::info!("authstar: websocket closed: its credential is no longer valid");
        self.close(close_code::POLICY, "credential no longer valid")
            .await;
        false
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
                () = tokio::time::sleep_until(self.next_check) => {
                    if !self.recheck().await {
                        return None;
                    }
                }
            }
        }
    }

    /// Sends a message. A client that does not read it within the idle timeout (its buffers
    /// full) fails the send, and the socket counts as closed: a client that stops reading must
    /// not pin the handler, and the connection, forever.
    pub async fn send(&mut self, message: Message) -> Result<(), axum::Error> {
        if self.closed {
            return Err(axum::Error::new("the websocket is closed"));
        }
        // A handler that only pushes is checked here: a revoked client is sent nothing more.
        if Instant::now() >= self.next_check && !self.recheck().await {
            return Err(axum::Error::new("the credential is no longer valid"));
        }
        match tokio::time::timeout(self.idle, self.socket.send(message)).await {
            Ok(sent) => sent,
            Err(_) => {
                self.closed = true;
                tracing::debug!("authstar: websocket dropped: its client does not read");
                Err(axum::Error::new("the client does not read"))
            }
        }
    }

    /// Closes the socket with `code` and `reason` (best effort, within the idle timeout).
    pub async fn close(&mut self, code: u16, reason: &'static str) {
        if self.closed {
            return;
        }
        self.closed = true;
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let close = self.socket.send(Message::Close(Some(frame)));
        let _ = tokio::time::timeout(self.idle, close).await;
    }
}

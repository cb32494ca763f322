//! A `redis-server` of the test's own on a free loopback port, to kill and restart: skipped on
//! a laptop without it, a failure under `CI=true`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `redis-server`, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// A free loopback port.
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl RedisServer {
    /// Starts one on `port` (no persistence) and waits until it accepts connections; `None`
    /// when `redis-server` is not installed (panics under `CI=true`).
    pub fn start(port: u16) -> Option<Self> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = spawned else {
            crate::require(false, "redis-server is not installed");
            return None;
        };
        // Ready when the server on the port is this child (another process may have taken a
        // port `free_port` found free): its `INFO` names the child's pid.
        let url = format!("redis://127.0.0.1:{port}");
        let ours = format!("process_id:{}", child.id());
        crate::serve::until_blocking(Duration::from_secs(5), "redis-server answering", || {
            assert!(
                matches!(child.try_wait(), Ok(None)),
                "redis-server on port {port} exited (is the port taken?)"
            );
            cli(&url, &["INFO", "server"]).contains(&ours)
        });
        Some(Self { child, port })
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis-cli` on this server.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(&self.url(), args)
    }

    /// How many clients subscribe to `channel` on this server.
    pub fn subscribers(&self, channel: &str) -> usize {
        subscribers(&self.url(), channel)
    }
}

/// `redis-cli -u URL ARGS...`, its output trimmed (empty when it cannot reach the server).
///
/// # Panics
///
/// When `redis-cli` cannot run.
pub fn cli(url: &str, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-u", url])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// How many clients subscribe to `channel` (`PUBSUB NUMSUB`) at `url`: what a test waits on
/// before it counts on instances hearing each other.
pub fn subscribers(url: &str, channel: &str) -> usize {
    cli(url, &["PUBSUB", "NUMSUB", channel])
        .lines()
        .nth(1)
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

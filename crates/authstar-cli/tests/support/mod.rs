//! The demo binary as a child process on a free loopback port, for the end-to-end tests.

pub(crate) mod nginx;
pub(crate) mod tls;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `authstar demo`.
pub(crate) struct Demo {
    child: Child,
    dir: PathBuf,
    pub base: String,
    pub printed: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Demo {
    /// Starts it with a fresh database.
    #[allow(dead_code)]
    pub(crate) fn start(name: &str, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authstar"));
        command.args(["demo", "--port", "0", "--db", "demo.db", "--cache-ttl", "0"]);
        command.args(extra);
        Self::spawn(name, command)
    }

    /// Starts it with exactly `args` after `demo --port 0` (its own database settings).
    #[allow(dead_code)]
    pub(crate) fn start_with(name: &str, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authstar"));
        command.args(["demo", "--port", "0"]).args(args);
        Self::spawn(name, command)
    }

    /// One demo shared by every test of a test binary that calls this (read-only tests only).
    /// A static is never dropped, so the demo runs under a shell that kills it when its standard
    /// input (held by this process) closes: when the test binary exits, however it exits.
    #[allow(dead_code)]
    pub(crate) fn shared() -> &'static Demo {
        static SHARED: std::sync::OnceLock<Demo> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            // The folders of earlier runs whose process is gone (a static is never dropped).
            if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let stale = name
                        .strip_prefix("authstar-demo-shared-")
                        .and_then(|pid| pid.parse::<u32>().ok())
                        .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
                    if stale {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
            let mut command = Command::new("sh");
            command
                .args(["-c", "\"$@\" & demo=$!; read _; kill $demo", "sh"])
                .arg(env!("CARGO_BIN_EXE_authstar"))
                .args(["demo", "--port", "0", "--db", "demo.db", "--cache-ttl", "0"])
                .stdin(Stdio::piped());
            Self::spawn("shared", command)
        })
    }

    /// `authstar gateway` on this demo's database and secrets (so it accepts the demo's
    /// tokens), asked only by loopback proxies, with `args` after the policy.
    #[allow(dead_code)]
    pub(crate) fn gateway(&self, policy: &std::path::Path, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authstar"));
        command
            .args([
                "gateway",
                "--port",
                "0",
                "--db",
                "demo.db",
                "--cache-ttl",
                "0",
            ])
            .args(["--trusted-proxies", "127.0.0.1/32", "--issuer", &self.base])
            .arg("--policy")
            .arg(policy)
            .args(args);
        Self::spawn_in(self.dir.clone(), command)
    }

    fn spawn(name: &str, command: Command) -> Self {
        let dir = std::env::temp_dir().join(format!("authstar-demo-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self::spawn_in(dir, command)
    }

    fn spawn_in(dir: PathBuf, mut command: Command) -> Self {
        let mut child = command
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (lines, receive) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed = Vec::new();
        let base = loop {
            let line = receive
                .recv_timeout(Duration::from_secs(30))
                .expect("the demo prints its address");
            printed.push(line.clone());
            if let Some(base) = line.strip_prefix("listening on ") {
                break base.to_owned();
            }
        };
        Self {
            child,
            dir,
            base,
            printed,
            stderr: Some(stderr),
        }
    }

    /// The demo's process id.
    #[allow(dead_code)]
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The demo's resident memory in KiB, from `/proc`.
    #[allow(dead_code)]
    pub(crate) fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// The working directory (the database and its secrets file).
    #[allow(dead_code)]
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// A value printed as `label value`.
    #[allow(dead_code)]
    pub(crate) fn value(&self, label: &str) -> String {
        self.printed
            .iter()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{label} not printed"))
    }

    /// The printed curl lines.
    #[allow(dead_code)]
    pub(crate) fn curl_lines(&self) -> Vec<String> {
        self.printed
            .iter()
            .map(|l| l.trim())
            .filter(|l| l.starts_with("curl "))
            .map(str::to_owned)
            .collect()
    }

    /// Runs the CLI on the same database.
    #[allow(dead_code)]
    pub(crate) fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_authstar"))
            .args(args)
            .args(["--db", "demo.db"])
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    /// Stops the demo and returns everything it logged.
    #[allow(dead_code)]
    pub(crate) fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new, empty database on the test PostgreSQL server (`AUTHSTAR_TEST_DATABASE_URL`, which
/// `scripts/services` and `.ci/run` provide), or `None` to skip; under `CI=true` a missing
/// server fails the test instead.
#[allow(dead_code)]
pub(crate) fn postgres_database(name: &str) -> Option<String> {
    let Ok(url) = std::env::var("AUTHSTAR_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but AUTHSTAR_TEST_DATABASE_URL is not set: run the tests under scripts/services"
        );
        eprintln!("skipped: no AUTHSTAR_TEST_DATABASE_URL (run under scripts/services)");
        return None;
    };
    let database = format!("authstar_{name}_{}", std::process::id());
    let psql = |sql: String| {
        let output = Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql.as_str()])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    psql(format!("DROP DATABASE IF EXISTS {database}"));
    psql(format!("CREATE DATABASE {database}"));
    let (server, _) = url.rsplit_once('/').expect("a database URL");
    Some(format!("{server}/{database}"))
}

/// The token endpoint's answer for client `id` at `base` (`client_credentials`, Basic).
#[allow(dead_code)]
pub(crate) async fn token_response(base: &str, id: &str, secret: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// An access token for client `id` at `base`.
#[allow(dead_code)]
pub(crate) async fn access_token(base: &str, id: &str, secret: &str) -> String {
    let answer = token_response(base, id, secret).await;
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_owned()
}

/// Every entry of a paged admin list at `base`, from `first` (a path with its `limit`),
/// following `Link: <…>; rel="next"` as `user`: each page answered 200 with at most `size`
/// entries.
#[allow(dead_code)]
pub(crate) async fn every_page(
    base: &str,
    first: &str,
    (user, secret): (&str, &str),
    size: usize,
) -> Vec<serde_json::Value> {
    let http = reqwest::Client::new();
    let (mut path, mut entries) = (first.to_owned(), Vec::new());
    for _ in 0..100 {
        let response = http
            .get(format!("{base}{path}"))
            .basic_auth(user, Some(secret))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let next = response
            .headers()
            .get("link")
            .map(|link| link.to_str().unwrap().to_owned());
        let page: Vec<serde_json::Value> = response.json().await.unwrap();
        assert!(page.len() <= size, "{path}: a page of at most {size}");
        entries.extend(page);
        let Some(next) = next else {
            return entries;
        };
        path = next
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned();
    }
    panic!("{first}: more than 100 pages")
}

//! Two `authstar demo` processes on one PostgreSQL and one Redis, and then each engine goes
//! away: Redis is killed and restarted, PostgreSQL is stopped and started (the real server,
//! with `pg_ctl`). The documented policy must hold: throttling falls back to each instance's
//! own counters, cached answers keep working, everything else is a 503 with `Retry-After`,
//! no request waits past the call timeout, never an open door, and both heal without a
//! restart. Alone in its test binary: stopping the shared PostgreSQL must not meet other tests.

mod support;

#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use redis_server::{RedisServer, free_port};
use reqwest::StatusCode;
use support::{Demo, postgres_database};

/// `pg_ctl stop` / `start` on the server `scripts/services` started (as `postgres` when root).
fn pg_ctl(action: &str) {
    let dir = PathBuf::from(std::env::var("AUTHSTAR_TEST_SERVICES_DIR").expect("services dir"));
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .flatten()
        .map(|entry| entry.path().join("bin/pg_ctl"))
        .filter(|path| path.exists())
        .max()
        .expect("pg_ctl");
    let mut command = if nix_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&bin);
        command
    } else {
        Command::new(&bin)
    };
    command
        .arg("-D")
        .arg(dir.join("pg"))
        .args(["-w", "-m", "fast"]);
    if action == "start" {
        command.arg("-l").arg(dir.join("pg.log"));
        // The options it was started with are kept in postmaster.opts and reused by `start`
        // only through `restart`; read them back.
        let opts = std::fs::read_to_string(dir.join("pg/postmaster.opts.saved")).unwrap();
        command.args(["-o", opts.trim()]);
    }
    let status = command.arg(action).status().unwrap();
    assert!(status.success(), "pg_ctl {action}");
}

fn nix_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// The `-o` options of the running server, saved before it is stopped.
fn save_server_options() {
    let dir = PathBuf::from(std::env::var("AUTHSTAR_TEST_SERVICES_DIR").expect("services dir"));
    let opts = std::fs::read_to_string(dir.join("pg/postmaster.opts")).unwrap();
    // `/usr/lib/postgresql/15/bin/postgres "-D" "..." "-c" "port=..." ...`: keep the -c pairs.
    let options: Vec<String> = opts
        .split('"')
        .skip(1)
        .step_by(2)
        .collect::<Vec<_>>()
        .chunks(2)
        .filter(|pair| pair[0] == "-c")
        .map(|pair| format!("-c {}", pair[1]))
        .collect();
    std::fs::write(dir.join("pg/postmaster.opts.saved"), options.join(" ")).unwrap();
}

struct Probe {
    http: reqwest::Client,
}

impl Probe {
    /// One request's status and how long it took; a hang is a failure.
    async fn timed(&self, request: reqwest::RequestBuilder) -> (StatusCode, Duration) {
        let started = Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(5), request.send())
            .await
            .expect("a request hung past 5 s")
            .unwrap();
        let status = response.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(
                response.headers().contains_key("retry-after"),
                "503 without Retry-After"
            );
        }
        (status, started.elapsed())
    }

    async fn basic(&self, base: &str, id: &str, secret: &str) -> (StatusCode, Duration) {
        let request = self
            .http
            .get(format!("{base}/me"))
            .basic_auth(id, Some(secret));
        self.timed(request).await
    }

    async fn key(&self, base: &str, key: &str) -> (StatusCode, Duration) {
        self.timed(self.http.get(format!("{base}/me")).header("x-api-key", key))
            .await
    }
}

/// Polls until `status` answers `want`, for at most `limit`.
async fn until<F, Fut>(limit: Duration, what: &str, want: StatusCode, status: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let started = Instant::now();
    loop {
        let got = status().await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what}: still {got} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_postgres_restarted_under_two_instances() {
    let Some(db) = postgres_database("outage") else {
        return;
    };
    let redis_port = free_port();
    let Some(redis) = RedisServer::start(redis_port) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("authstar-outage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    let redis_url = redis.url();
    let args = [
        "--db",
        db.as_str(),
        "--secrets",
        secrets.to_str().unwrap(),
        "--redis",
        redis_url.as_str(),
        "--issuer",
        "https://auth.example.test",
        "--cache-ttl",
        "30",
    ];
    let a = Demo::start_with("outage-a", &args);
    let b = Demo::start_with("outage-b", &args);
    let probe = Probe {
        http: reqwest::Client::new(),
    };
    let (secret, key) = (a.value("client_secret:"), a.value("api_key:"));
    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_authstar"))
            .args(args)
            .args(["--db", &db, "--secrets"])
            .arg(&secrets)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    // Warm both caches with the API key; a second key stays uncached.
    let created: serde_json::Value = serde_json::from_str(&cli(&[
        "keys",
        "create",
        "--client-id",
        "demo-client",
        "--json",
    ]))
    .unwrap();
    let cold_key = created["key"].as_str().unwrap().to_owned();
    for demo in [&a, &b] {
        assert_eq!(probe.key(&demo.base, &key).await.0, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // both subscribed to Redis

    // 1. Budgets are shared: 5 wrong secrets on A and 5 on B (each within its own budget of
    // 10) lock the id on both, even for the right secret from this address.
    let victim = |id: &str| {
        let created: serde_json::Value =
            serde_json::from_str(&cli(&["clients", "create", "--id", id, "--json"])).unwrap();
        created["client_secret"].as_str().unwrap().to_owned()
    };
    let victim_secret = victim("victim");
    assert_eq!(
        probe.basic(&b.base, "victim", &victim_secret).await.0,
        StatusCode::OK
    );
    for demo in [&a, &b] {
        for _ in 0..5 {
            assert_eq!(
                probe.basic(&demo.base, "victim", "wrong").await.0,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    for demo in [&a, &b] {
        until(
            Duration::from_secs(1),
            "a shared lock",
            StatusCode::TOO_MANY_REQUESTS,
            || async { probe.basic(&demo.base, "victim", &victim_secret).await.0 },
        )
        .await;
    }
    let later_secret = victim("victim-later");

    // 2. Redis killed: each instance throttles on its own counters, nothing waits.
    drop(redis);
    let mut slowest = Duration::ZERO;
    let mut locked_at = None;
    for attempt in 1..=12 {
        let (status, took) = probe.basic(&a.base, "guessed-later", "wrong").await;
        slowest = slowest.max(took);
        if status == StatusCode::TOO_MANY_REQUESTS {
            locked_at = Some(attempt);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        locked_at,
        Some(11),
        "A's own budget (10) still holds without Redis"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a request waited for Redis: {slowest:?}"
    );
    assert_eq!(probe.key(&b.base, &key).await.0, StatusCode::OK);

    // 3. PostgreSQL stopped: cached answers and JWTs keep working; uncached credentials get
    // 503 + Retry-After within the call timeout (2 s), never 401 and never 200.
    let jwt = support::access_token(&a.base, "demo-client", &secret).await;
    let cold_secret = victim("cold-client");
    save_server_options();
    // Started again however this test ends: a panic below must not leave the shared server
    // stopped for every test after it.
    struct Restart(bool);
    impl Drop for Restart {
        fn drop(&mut self) {
            if !self.0 {
                pg_ctl("start");
            }
        }
    }
    let mut restart = Restart(false);
    pg_ctl("stop");
    let down = async {
        for demo in [&a, &b] {
            assert_eq!(
                probe.key(&demo.base, &key).await.0,
                StatusCode::OK,
                "cached key"
            );
            let bearer = probe
                .http
                .get(format!("{}/me", demo.base))
                .bearer_auth(&jwt);
            assert_eq!(
                probe.timed(bearer).await.0,
                StatusCode::OK,
                "JWT needs no database"
            );
            let (status, took) = probe.key(&demo.base, &cold_key).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "uncached key");
            assert!(took < Duration::from_secs(3), "{took:?}");
            // A client whose secret was never checked here: 503, not 401.
            let token = probe
                .http
                .post(format!("{}/oauth2/token", demo.base))
                .basic_auth("cold-client", Some(&cold_secret))
                .form(&[("grant_type", "client_credentials")]);
            let (status, took) = probe.timed(token).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "token endpoint");
            assert!(took < Duration::from_secs(3), "{took:?}");
        }
        // A client whose secret A checked a moment ago gets its token: issuing reads no
        // database (revocations are checked in memory).
        let token = probe
            .http
            .post(format!("{}/oauth2/token", a.base))
            .basic_auth("demo-client", Some(&secret))
            .form(&[("grant_type", "client_credentials")]);
        assert_eq!(probe.timed(token).await.0, StatusCode::OK, "cached client");
    };
    down.await;
    pg_ctl("start");
    restart.0 = true;

    // 4. Both heal without a restart: the uncached key works, and a revocation made now
    // reaches the other instance within a second.
    for demo in [&a, &b] {
        let healed = until(
            Duration::from_secs(10),
            "the database back",
            StatusCode::OK,
            || async { probe.key(&demo.base, &cold_key).await.0 },
        )
        .await;
        eprintln!(
            "{}: answering from the database again {healed:?} after it started",
            demo.base
        );
    }
    let keys: serde_json::Value = serde_json::from_str(&cli(&["keys", "list", "--json"])).unwrap();
    let cold_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| cold_key.contains(k["key_id"].as_str().unwrap()))
        .unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = probe
        .http
        .post(format!("{}/oauth2/revoke", a.base))
        .basic_auth("demo-client", Some(&secret))
        .form(&[("token", &jwt)]);
    assert_eq!(probe.timed(revoke).await.0, StatusCode::OK);
    cli(&["keys", "revoke", &cold_id]);
    until(
        Duration::from_secs(1),
        "revoked key on B",
        StatusCode::UNAUTHORIZED,
        || async { probe.key(&b.base, &cold_key).await.0 },
    )
    .await;
    until(
        Duration::from_secs(1),
        "revoked JWT on B",
        StatusCode::UNAUTHORIZED,
        || async {
            let bearer = probe.http.get(format!("{}/me", b.base)).bearer_auth(&jwt);
            probe.timed(bearer).await.0
        },
    )
    .await;

    // 5. Redis back on its port: sharing resumes by itself. Failures on A only; B, which never
    // saw one, comes to refuse the id even with its right secret.
    let _redis = RedisServer::start(redis_port).unwrap();
    let took = until(
        Duration::from_secs(10),
        "shared lock after Redis returned",
        StatusCode::TOO_MANY_REQUESTS,
        || async {
            let _ = probe.basic(&a.base, "victim-later", "wrong").await;
            probe.basic(&b.base, "victim-later", &later_secret).await.0
        },
    )
    .await;
    eprintln!("sharing resumed {took:?} after Redis restarted");
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}

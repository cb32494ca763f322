//! Two `authstar demo` processes on one PostgreSQL and one Redis, and then each engine goes
//! away: Redis is killed and restarted, PostgreSQL is stopped and started (the real server,
//! with `pg_ctl`). The documented policy must hold: throttling falls back to each instance's
//! own counters, cached answers keep working, everything else is a 503 with `Retry-After`,
//! no request waits past the call timeout, never an open door, and both heal without a
//! restart. One scenario per test, each on a cluster of its own; they take turns (stopping the
//! shared PostgreSQL must not meet another scenario), and this binary holds no other tests.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use authstar_testkit::redis::{RedisServer, free_port};
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
    authstar_testkit::serve::until(limit, what, || async { status().await == want }).await
}

/// The scenarios take turns: one stops the PostgreSQL server every other one uses.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Two demo instances on one PostgreSQL database and one Redis, each having served the demo
/// client's API key once (so both caches hold it), both subscribed to the shared locks.
struct Cluster {
    a: Demo,
    b: Demo,
    redis: Option<RedisServer>,
    redis_port: u16,
    db: String,
    secrets: PathBuf,
    dir: PathBuf,
    probe: Probe,
    /// The demo client's secret and API key.
    secret: String,
    key: String,
    /// An API key no instance has checked yet.
    cold_key: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// The channel the instances hear each other's locks on.
const LOCKS_CHANNEL: &str = "authstar:throttle:locks";

impl Cluster {
    /// `None` to skip (no PostgreSQL or redis-server; a failure under `CI=true`).
    async fn start(name: &str) -> Option<Self> {
        let turn = TURN.lock().await;
        let db = postgres_database(&format!("outage_{name}"))?;
        let redis_port = free_port();
        let redis = RedisServer::start(redis_port)?;
        let dir =
            std::env::temp_dir().join(format!("authstar-outage-{name}-{}", std::process::id()));
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
        let a = Demo::start_with(&format!("outage-{name}-a"), &args);
        let b = Demo::start_with(&format!("outage-{name}-b"), &args);
        let (secret, key) = (a.value("client_secret:"), a.value("api_key:"));
        let mut cluster = Self {
            a,
            b,
            redis: Some(redis),
            redis_port,
            db,
            secrets,
            dir,
            probe: Probe {
                http: reqwest::Client::new(),
            },
            secret,
            key,
            cold_key: String::new(),
            _turn: turn,
        };
        let created: serde_json::Value = serde_json::from_str(&cluster.cli(&[
            "keys",
            "create",
            "--client-id",
            "demo-client",
            "--json",
        ]))
        .unwrap();
        cluster.cold_key = created["key"].as_str().unwrap().to_owned();
        for demo in [&cluster.a, &cluster.b] {
            assert_eq!(
                cluster.probe.key(&demo.base, &cluster.key).await.0,
                StatusCode::OK
            );
        }
        let redis = cluster.redis.as_ref().unwrap();
        authstar_testkit::serve::until(Duration::from_secs(5), "both instances subscribed", || {
            std::future::ready(redis.subscribers(LOCKS_CHANNEL) >= 2)
        })
        .await;
        Some(cluster)
    }

    /// The `authstar` command on the cluster's database.
    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_authstar"))
            .args(args)
            .args(["--db", &self.db, "--secrets"])
            .arg(&self.secrets)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// A new client `id`; its secret.
    fn client(&self, id: &str) -> String {
        let created: serde_json::Value =
            serde_json::from_str(&self.cli(&["clients", "create", "--id", id, "--json"])).unwrap();
        created["client_secret"].as_str().unwrap().to_owned()
    }

    fn kill_redis(&mut self) {
        drop(self.redis.take());
    }

    fn restart_redis(&mut self) {
        self.redis = Some(RedisServer::start(self.redis_port).expect("redis-server again"));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops PostgreSQL until dropped (it starts again however the test ends: a panic must not
/// leave the shared server stopped for every test after it).
struct Stopped;

impl Stopped {
    fn postgres() -> Self {
        save_server_options();
        pg_ctl("stop");
        Self
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        pg_ctl("start");
    }
}

/// Budgets are shared: 5 wrong secrets on A and 5 on B (each within its own budget of 10) lock
/// the id on both, even for the right secret from this address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_shared_by_the_instances() {
    let Some(cluster) = Cluster::start("shared").await else {
        return;
    };
    let (a, b, probe) = (&cluster.a, &cluster.b, &cluster.probe);
    let victim_secret = cluster.client("victim");
    assert_eq!(
        probe.basic(&b.base, "victim", &victim_secret).await.0,
        StatusCode::OK
    );
    for demo in [a, b] {
        for _ in 0..5 {
            assert_eq!(
                probe.basic(&demo.base, "victim", "wrong").await.0,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    for demo in [a, b] {
        until(
            Duration::from_secs(1),
            "a shared lock",
            StatusCode::TOO_MANY_REQUESTS,
            || async { probe.basic(&demo.base, "victim", &victim_secret).await.0 },
        )
        .await;
    }
}

/// Redis killed: each instance throttles on its own counters, and nothing waits for Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_each_instance_throttles_on_its_own_without_waiting() {
    let Some(mut cluster) = Cluster::start("no_redis").await else {
        return;
    };
    cluster.kill_redis();
    let (a, b, probe) = (&cluster.a, &cluster.b, &cluster.probe);
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
    assert_eq!(probe.key(&b.base, &cluster.key).await.0, StatusCode::OK);
}

/// PostgreSQL stopped: cached answers and JWTs keep working; uncached credentials get 503 +
/// Retry-After within the call timeout (2 s), never 401 and never 200; a client whose secret
/// was checked a moment ago gets its token (issuing reads no database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_postgres_cached_answers_hold_and_the_rest_is_503() {
    let Some(cluster) = Cluster::start("no_postgres").await else {
        return;
    };
    let (a, b, probe) = (&cluster.a, &cluster.b, &cluster.probe);
    let jwt = support::access_token(&a.base, "demo-client", &cluster.secret).await;
    let cold_secret = cluster.client("cold-client");
    let _stopped = Stopped::postgres();
    for demo in [a, b] {
        assert_eq!(
            probe.key(&demo.base, &cluster.key).await.0,
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
        let (status, took) = probe.key(&demo.base, &cluster.cold_key).await;
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
    let token = probe
        .http
        .post(format!("{}/oauth2/token", a.base))
        .basic_auth("demo-client", Some(&cluster.secret))
        .form(&[("grant_type", "client_credentials")]);
    assert_eq!(probe.timed(token).await.0, StatusCode::OK, "cached client");
}

/// After PostgreSQL comes back, both heal without a restart: the uncached key works, and a
/// revocation made now reaches the other instance within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_postgres_returns_both_instances_heal_and_hear_revocations() {
    let Some(cluster) = Cluster::start("postgres_back").await else {
        return;
    };
    let (a, b, probe) = (&cluster.a, &cluster.b, &cluster.probe);
    let jwt = support::access_token(&a.base, "demo-client", &cluster.secret).await;
    let stopped = Stopped::postgres();
    let (status, _) = probe.key(&b.base, &cluster.cold_key).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is down"
    );
    drop(stopped);
    for demo in [a, b] {
        let healed = until(
            Duration::from_secs(10),
            "the database back",
            StatusCode::OK,
            || async { probe.key(&demo.base, &cluster.cold_key).await.0 },
        )
        .await;
        eprintln!(
            "{}: answering from the database again {healed:?} after it started",
            demo.base
        );
    }
    let keys: serde_json::Value =
        serde_json::from_str(&cluster.cli(&["keys", "list", "--json"])).unwrap();
    let cold_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| cluster.cold_key.contains(k["key_id"].as_str().unwrap()))
        .unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = probe
        .http
        .post(format!("{}/oauth2/revoke", a.base))
        .basic_auth("demo-client", Some(&cluster.secret))
        .form(&[("token", &jwt)]);
    assert_eq!(probe.timed(revoke).await.0, StatusCode::OK);
    cluster.cli(&["keys", "revoke", &cold_id]);
    until(
        Duration::from_secs(1),
        "revoked key on B",
        StatusCode::UNAUTHORIZED,
        || async { probe.key(&b.base, &cluster.cold_key).await.0 },
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
}

/// Redis back on its port after an outage: sharing resumes by itself. Failures on A only; B,
/// which never saw one, comes to refuse the id even with its right secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_resumes_by_itself_when_redis_returns() {
    let Some(mut cluster) = Cluster::start("redis_back").await else {
        return;
    };
    let later_secret = cluster.client("victim-later");
    cluster.kill_redis();
    let (status, _) = cluster
        .probe
        .basic(&cluster.a.base, "victim-later", "wrong")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "served without Redis");
    cluster.restart_redis();
    let (a, b, probe) = (&cluster.a, &cluster.b, &cluster.probe);
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
}

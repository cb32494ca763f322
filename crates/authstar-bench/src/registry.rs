//! `authstar-bench registry`: what an API-key check, a Basic check and a token request cost on
//! each registry engine, in one run.
//!
//! For SQLite (a temporary file) and PostgreSQL (`AUTHSTAR_TEST_DATABASE_URL`, e.g. under
//! `scripts/services`): sequential checks that miss the cache (`check_key`: one database read
//! and one HMAC), then checks that hit it (`authenticate_key`). Reported: this process's CPU
//! per check and, for PostgreSQL, the server's (every `postgres` process, from `/proc`), and
//! the wall-clock latency p50/p99 of a miss.

use std::error::Error;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use authstar_registry::{Database, Registry};

const MISSES: u32 = 5_000;
const HITS: u32 = 200_000;

/// User + system CPU of the processes whose `comm` is `name` (or this process for `None`), in
/// clock ticks.
fn cpu_ticks(name: Option<&str>) -> u64 {
    let read = |pid: &str| -> Option<(String, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        Some((
            comm,
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
        ))
    };
    match name {
        None => read("self").map_or(0, |(_, ticks)| ticks),
        Some(name) => std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| read(&entry.file_name().to_string_lossy()))
            .filter(|(comm, _)| comm == name)
            .map(|(_, ticks)| ticks)
            .sum(),
    }
}

fn tick_us() -> f64 {
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    1e6 / hz
}

struct Row {
    engine: &'static str,
    operation: &'static str,
    miss: Timing,
    hit_cpu_ns: Option<f64>,
}

/// CPU and latency of `count` sequential calls.
struct Timing {
    cpu_us: f64,
    server_us: Option<f64>,
    p50: Duration,
    p99: Duration,
}

type BoxError = Box<dyn Error>;

/// Runs `call` `count` times one after the other: this process's CPU per call, the server's
/// (the `postgres` processes, when `server` names them), and the latency p50/p99.
async fn timed<F, Fut>(count: u32, server: Option<&str>, mut call: F) -> Result<Timing, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    let (own, theirs) = (cpu_ticks(None), server.map(|s| cpu_ticks(Some(s))));
    let mut latencies = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let started = Instant::now();
        call().await?;
        latencies.push(started.elapsed());
    }
    let tick = tick_us();
    let cpu_us = (cpu_ticks(None) - own) as f64 * tick / f64::from(count);
    let server_us = server
        .zip(theirs)
        .map(|(s, before)| (cpu_ticks(Some(s)) - before) as f64 * tick / f64::from(count));
    latencies.sort();
    Ok(Timing {
        cpu_us,
        server_us,
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    })
}

/// CPU per call of `count` calls answered from a cache, in ns.
async fn hits<F, Fut>(count: u32, mut call: F) -> Result<f64, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    let own = cpu_ticks(None);
    for _ in 0..count {
        call().await?;
    }
    Ok((cpu_ticks(None) - own) as f64 * tick_us() * 1e3 / f64::from(count))
}

fn found<T>(answer: Option<T>) -> Result<(), BoxError> {
    answer.map(|_| ()).ok_or_else(|| "not found".into())
}

async fn measure(
    engine: &'static str,
    database: Database,
    secrets: std::path::PathBuf,
) -> Result<Vec<Row>, BoxError> {
    use tower::ServiceExt as _;
    let registry = Registry::builder(database).secrets(secrets).open().await?;
    let client = registry.create_client(Some("bench"), None, &[]).await?;
    let secret = client.client_secret;
    let key = registry.create_key("bench", &[]).await?.key;
    for _ in 0..200 {
        registry.check_key(&key).await?; // warm up: connections, statements
    }
    let server = (engine == "PostgreSQL").then_some("postgres");
    let key_miss = timed(MISSES, server, || async {
        found(registry.check_key(&key).await?)
    })
    .await?;
    let key_hit = hits(HITS, || async {
        found(registry.authenticate_key(&key).await?)
    })
    .await?;
    let basic_miss = timed(MISSES, server, || async {
        found(registry.check_client("bench", &secret).await?)
    })
    .await?;
    let basic_hit = hits(HITS, || async {
        found(registry.authenticate_client("bench", &secret).await?)
    })
    .await?;
    // The misses above queued `last_used_at` writes: let the background writer finish them, so
    // their cost is not counted against the token endpoint.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let app = authstar_cli::demo::app(
        registry.clone(),
        "https://auth.example",
        authstar_cli::demo::AppOptions::default(),
    )?;
    let token = timed(MISSES, server, || {
        let (app, request) = (
            app.clone(),
            crate::demo_in_process::request("bench", &secret),
        );
        async move {
            let response = app.oneshot(request).await?;
            if response.status() == 200 {
                Ok(())
            } else {
                Err(format!("token endpoint answered {}", response.status()).into())
            }
        }
    })
    .await?;
    Ok(vec![
        Row {
            engine,
            operation: "API key",
            miss: key_miss,
            hit_cpu_ns: Some(key_hit),
        },
        Row {
            engine,
            operation: "Basic (generated secret)",
            miss: basic_miss,
            hit_cpu_ns: Some(basic_hit),
        },
        Row {
            engine,
            operation: "POST /oauth2/token (ES256)",
            miss: token,
            hit_cpu_ns: None,
        },
    ])
}

/// Password-hashed (imported) secrets: what one argon2id check costs, and what the gate lets
/// through when `tasks` callers check at once for `seconds`.
struct PasswordLoad {
    sequential: Timing,
    tasks: usize,
    permits: usize,
    checks_per_second: f64,
    busy_per_second: f64,
    cpu_ms_per_check: f64,
    p50: Duration,
    p99: Duration,
}

async fn passwords(dir: &std::path::Path) -> Result<PasswordLoad, BoxError> {
    const SEQUENTIAL: u32 = 40;
    const TASKS: usize = 64;
    const SECONDS: u64 = 5;
    let registry = Registry::builder(Database::Sqlite(dir.join("passwords.db")))
        .secrets(dir.join("passwords.json"))
        // Every check must reach argon2: no answer is cached.
        .cache_ttl(Duration::ZERO)
        .open()
        .await?;
    let secret = "correct horse battery staple";
    registry
        .create_client(Some("imported"), Some(secret), &[])
        .await?;
    let sequential = timed(SEQUENTIAL, None, || async {
        found(registry.check_client("imported", secret).await?)
    })
    .await?;
    let own = cpu_ticks(None);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(SECONDS);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let registry = registry.clone();
        tasks.spawn(async move {
            let (mut latencies, mut busy) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let asked = Instant::now();
                match registry.check_client("imported", secret).await {
                    Ok(Some(_)) => latencies.push(asked.elapsed()),
                    // Like a client told 503: back off a little (not the full
                    // `Retry-After`), rather than spin on the gate.
                    Err(authstar_registry::RegistryError::Busy) => {
                        busy += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Ok(None) => return Err("an imported secret was refused".to_owned()),
                    Err(error) => return Err(error.to_string()),
                }
            }
            Ok((latencies, busy))
        });
    }
    let (mut latencies, mut busy) = (Vec::new(), 0u64);
    while let Some(done) = tasks.join_next().await {
        let (mine, refused) = done??;
        latencies.extend(mine);
        busy += refused;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(None) - own) as f64 * tick_us();
    latencies.sort();
    let at = |q: usize| latencies.get(latencies.len() * q / 100).copied();
    Ok(PasswordLoad {
        sequential,
        tasks: TASKS,
        permits: std::thread::available_parallelism().map_or(1, usize::from),
        checks_per_second: latencies.len() as f64 / elapsed,
        busy_per_second: busy as f64 / elapsed,
        cpu_ms_per_check: cpu / 1e3 / latencies.len().max(1) as f64,
        p50: at(50).unwrap_or_default(),
        p99: at(99).unwrap_or_default(),
    })
}

/// A new, empty database on the server at `url`, so every run starts from nothing.
async fn fresh_database(url: &str) -> Result<Database, Box<dyn Error>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let name = format!("authstar_bench_{}", std::process::id());
    // Two calls: CREATE DATABASE may not share a batch (an implicit transaction) with another.
    let drop = format!("DROP DATABASE IF EXISTS {name}");
    client.batch_execute(&drop).await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let (server, _) = url.rsplit_once('/').ok_or("a database URL ends in /NAME")?;
    Ok(Database::Postgres(format!("{server}/{name}")))
}

/// Runs the measurement and returns the Markdown report.
pub(crate) fn run() -> Result<String, Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("authstar-bench-registry-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let rows = runtime.block_on(async {
        let mut rows = measure(
            "SQLite",
            Database::Sqlite(dir.join("bench.db")),
            dir.join("sqlite.json"),
        )
        .await?;
        match std::env::var("AUTHSTAR_TEST_DATABASE_URL") {
            Ok(url) => {
                let database = fresh_database(&url).await?;
                rows.extend(measure("PostgreSQL", database, dir.join("pg.json")).await?);
            }
            Err(_) => {
                eprintln!("PostgreSQL skipped: set AUTHSTAR_TEST_DATABASE_URL (scripts/services)")
            }
        }
        let passwords = passwords(&dir).await?;
        Ok::<_, Box<dyn Error>>((rows, passwords))
    })?;
    let (rows, passwords) = rows;
    let _ = std::fs::remove_dir_all(&dir);
    let mut report = String::from(
        "# Registry: credential checks and the token endpoint per engine\n\n\
         `cargo run -p authstar-bench --release -- registry` (PostgreSQL from \
         `AUTHSTAR_TEST_DATABASE_URL`, e.g. under `scripts/services`), sequential calls on one \
         runtime worker. A miss is `check_key` / `check_client` (one indexed read and one \
         HMAC-SHA256); a hit is `authenticate_key` / `authenticate_client` answered by the \
         cache. The token endpoint is the demo app in process: the layer's Basic check (a cache \
         hit), the revoked clients in memory (no database read on the request path), an ES256 \
         signature. A miss's CPU includes its share of the batched \
         `last_used_at` write every success queues. CPU from `/proc` (this process; every \
         `postgres` process for the server).\n\n\
         | engine | operation | miss: our CPU µs | miss: server CPU µs | miss p50 | miss p99 | hit: CPU ns |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let server = row
            .miss
            .server_us
            .map_or_else(|| "in process".to_owned(), |us| format!("{us:.1}"));
        let hit = row
            .hit_cpu_ns
            .map_or_else(|| "—".to_owned(), |ns| format!("{ns:.0}"));
        writeln!(
            report,
            "| {} | {} | {:.1} | {} | {:.0} µs | {:.0} µs | {} |",
            row.engine,
            row.operation,
            row.miss.cpu_us,
            server,
            row.miss.p50.as_secs_f64() * 1e6,
            row.miss.p99.as_secs_f64() * 1e6,
            hit
        )?;
    }
    writeln!(
        report,
        "\n## Password-hashed secrets (argon2id, imported)\n\n\
         A client whose secret was imported (chosen by a person) is checked with argon2id \
         (m = 19 MiB, t = 2, p = 1), through the gate: at most {permits} checks at once (the \
         core count), at most {waiting} waiting, each at most 1 s; anything more is `Busy` (the \
         demo answers 503 + `Retry-After`). SQLite, no cache (`cache_ttl(0)`), so every call \
         reaches argon2. Under load, a caller refused `Busy` waits 100 ms before asking again; \
         latencies are those of the checks that ran.\n\n\
         | load | checks/s | refused `Busy`/s | CPU ms per check | p50 | p99 |\n\
         |---|---:|---:|---:|---:|---:|\n\
         | one at a time | {:.0} | 0 | {:.1} | {:.1} ms | {:.1} ms |\n\
         | {} tasks at once for 5 s | {:.0} | {:.0} | {:.1} | {:.1} ms | {:.1} ms |",
        1e6 / (passwords.sequential.p50.as_secs_f64() * 1e6),
        passwords.sequential.cpu_us / 1e3,
        passwords.sequential.p50.as_secs_f64() * 1e3,
        passwords.sequential.p99.as_secs_f64() * 1e3,
        passwords.tasks,
        passwords.checks_per_second,
        passwords.busy_per_second,
        passwords.cpu_ms_per_check,
        passwords.p50.as_secs_f64() * 1e3,
        passwords.p99.as_secs_f64() * 1e3,
        permits = passwords.permits,
        waiting = 4 * passwords.permits,
    )?;
    Ok(report)
}

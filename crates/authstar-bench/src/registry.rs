//! `authstar-bench registry`: what an API-key check costs on each registry engine, in one run.
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
    miss_cpu_us: f64,
    miss_server_us: Option<f64>,
    p50: Duration,
    p99: Duration,
    hit_cpu_ns: f64,
}

async fn measure(
    engine: &'static str,
    database: Database,
    secrets: std::path::PathBuf,
) -> Result<Row, Box<dyn Error>> {
    let registry = Registry::builder(database).secrets(secrets).open().await?;
    registry.create_client(Some("bench"), None, &[]).await?;
    let key = registry.create_key("bench", &[]).await?.key;
    for _ in 0..200 {
        registry.check_key(&key).await?; // warm up: connections, statements
    }
    let server = (engine == "PostgreSQL").then_some("postgres");
    let (own, theirs) = (cpu_ticks(None), server.map(|s| cpu_ticks(Some(s))));
    let mut latencies = Vec::with_capacity(MISSES as usize);
    for _ in 0..MISSES {
        let started = Instant::now();
        let found = registry.check_key(&key).await?;
        latencies.push(started.elapsed());
        assert!(found.is_some());
    }
    let tick = tick_us();
    let miss_cpu_us = (cpu_ticks(None) - own) as f64 * tick / f64::from(MISSES);
    let miss_server_us = server
        .zip(theirs)
        .map(|(s, before)| (cpu_ticks(Some(s)) - before) as f64 * tick / f64::from(MISSES));
    latencies.sort();
    let own = cpu_ticks(None);
    for _ in 0..HITS {
        assert!(registry.authenticate_key(&key).await?.is_some());
    }
    let hit_cpu_ns = (cpu_ticks(None) - own) as f64 * tick * 1e3 / f64::from(HITS);
    Ok(Row {
        engine,
        miss_cpu_us,
        miss_server_us,
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
        hit_cpu_ns,
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
        let mut rows = vec![
            measure(
                "SQLite",
                Database::Sqlite(dir.join("bench.db")),
                dir.join("sqlite.json"),
            )
            .await?,
        ];
        match std::env::var("AUTHSTAR_TEST_DATABASE_URL") {
            Ok(url) => {
                let database = fresh_database(&url).await?;
                rows.push(measure("PostgreSQL", database, dir.join("pg.json")).await?);
            }
            Err(_) => {
                eprintln!("PostgreSQL skipped: set AUTHSTAR_TEST_DATABASE_URL (scripts/services)")
            }
        }
        Ok::<_, Box<dyn Error>>(rows)
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut report = String::from(
        "# Registry: an API-key check per engine\n\n\
         `cargo run -p authstar-bench --release -- registry` (PostgreSQL from \
         `AUTHSTAR_TEST_DATABASE_URL`, e.g. under `scripts/services`), sequential calls on one \
         runtime worker. A miss is `check_key` (one indexed read and one HMAC-SHA256); a hit is \
         `authenticate_key` answered by the cache. A miss's CPU includes its share of the batched \
         `last_used_at` write every success queues. CPU from `/proc` (this process; every \
         `postgres` process for the server).\n\n\
         | engine | miss: our CPU µs | miss: server CPU µs | miss p50 | miss p99 | hit: CPU ns |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let server = row
            .miss_server_us
            .map_or_else(|| "in process".to_owned(), |us| format!("{us:.1}"));
        writeln!(
            report,
            "| {} | {:.1} | {} | {:.0} µs | {:.0} µs | {:.0} |",
            row.engine,
            row.miss_cpu_us,
            server,
            row.p50.as_secs_f64() * 1e6,
            row.p99.as_secs_f64() * 1e6,
            row.hit_cpu_ns
        )?;
    }
    Ok(report)
}

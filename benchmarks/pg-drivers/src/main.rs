//! The registry's two hot statements (a client by id; `last_used_at` updated) through
//! `tokio-postgres` + `deadpool-postgres` (what `authstar-registry` uses) and through `sqlx`,
//! against one PostgreSQL: latency one at a time (p50/p99), and this process's CPU per query
//! with 64 tasks at once. Both use 16 connections and prepared statements.
//!
//! `cargo run --release -- postgres://authstar@127.0.0.1:PORT/postgres` (e.g. under
//! `scripts/services`, with `$AUTHSTAR_TEST_DATABASE_URL`).

use std::sync::Arc;
use std::time::{Duration, Instant};

const SELECT: &str = "SELECT client_id, secret_hash, scopes, created_at, last_used_at, revoked_at \
     FROM clients WHERE client_id = $1";
const UPDATE: &str = "UPDATE clients SET last_used_at = $1 WHERE client_id = $2";
const CLIENTS: usize = 1000;
const SEQUENTIAL: usize = 20_000;
const CONCURRENT_TASKS: usize = 64;
const CONCURRENT_EACH: usize = 2_000;

/// This process's CPU time (user + system) so far.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc");
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // After the command: state is field 3; utime 14 and stime 15 (1-based) are 11 and 12 here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ = 100
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

trait Driver: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn select(&self, id: String) -> impl std::future::Future<Output = ()> + Send;
    fn update(&self, id: String, at: i64) -> impl std::future::Future<Output = ()> + Send;
}

struct Deadpool(deadpool_postgres::Pool);

impl Driver for Deadpool {
    fn name(&self) -> &'static str {
        "tokio-postgres 0.7 + deadpool-postgres 0.14"
    }
    async fn select(&self, id: String) {
        let client = self.0.get().await.unwrap();
        let statement = client.prepare_cached(SELECT).await.unwrap();
        let row = client.query_opt(&statement, &[&id]).await.unwrap().unwrap();
        let _: (String, String, String, i64, Option<i64>, Option<i64>) = (
            row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5),
        );
    }
    async fn update(&self, id: String, at: i64) {
        let client = self.0.get().await.unwrap();
        let statement = client.prepare_cached(UPDATE).await.unwrap();
        client.execute(&statement, &[&at, &id]).await.unwrap();
    }
}

struct Sqlx(sqlx::PgPool);

impl Driver for Sqlx {
    fn name(&self) -> &'static str {
        "sqlx 0.8 (PgPool)"
    }
    async fn select(&self, id: String) {
        use sqlx::Row as _;
        let row = sqlx::query(SELECT).bind(id).fetch_one(&self.0).await.unwrap();
        let _: (String, String, String, i64, Option<i64>, Option<i64>) = (
            row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5),
        );
    }
    async fn update(&self, id: String, at: i64) {
        sqlx::query(UPDATE).bind(at).bind(id).execute(&self.0).await.unwrap();
    }
}

async fn measure<D: Driver>(driver: Arc<D>) -> String {
    // Warm every connection's statement cache.
    for n in 0..200 {
        driver.select(format!("client-{}", n % CLIENTS)).await;
    }
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    let cpu_before = cpu();
    for n in 0..SEQUENTIAL {
        let started = Instant::now();
        driver.select(format!("client-{}", n % CLIENTS)).await;
        latencies.push(started.elapsed());
    }
    let sequential_cpu = (cpu() - cpu_before).as_secs_f64() * 1e6 / SEQUENTIAL as f64;
    latencies.sort();

    let cpu_before = cpu();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|t| {
            let driver = Arc::clone(&driver);
            tokio::spawn(async move {
                for n in 0..CONCURRENT_EACH {
                    let id = format!("client-{}", (t * CONCURRENT_EACH + n) % CLIENTS);
                    if n % 10 == 0 {
                        driver.update(id, n as i64).await;
                    } else {
                        driver.select(id).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let total = CONCURRENT_TASKS * CONCURRENT_EACH;
    let elapsed = started.elapsed();
    let concurrent_cpu = (cpu() - cpu_before).as_secs_f64() * 1e6 / total as f64;
    format!(
        "| {} | {:.0} | {:.0} | {:.1} | {:.0} | {:.1} |",
        driver.name(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e6,
        percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        sequential_cpu,
        total as f64 / elapsed.as_secs_f64(),
        concurrent_cpu,
    )
}

#[tokio::main]
async fn main() {
    let url = std::env::args().nth(1).expect("a postgres:// URL");
    let (setup, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS clients;
             CREATE TABLE clients (client_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL,
               scopes TEXT NOT NULL, created_at BIGINT NOT NULL, last_used_at BIGINT, revoked_at BIGINT);",
        )
        .await
        .unwrap();
    for n in 0..CLIENTS {
        setup
            .execute(
                "INSERT INTO clients VALUES ($1, 'hmac-sha256$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', 'reports:read reports:export', 1, NULL, NULL)",
                &[&format!("client-{n}")],
            )
            .await
            .unwrap();
    }
    let deadpool = {
        let config: tokio_postgres::Config = url.parse().unwrap();
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        deadpool_postgres::Pool::builder(manager).max_size(16).build().unwrap()
    };
    let sqlx = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(&url)
        .await
        .unwrap();
    println!("| driver | p50 µs (one at a time) | p99 µs | client CPU µs/query | queries/s (64 tasks, 10 % updates) | client CPU µs/query |");
    println!("|---|---:|---:|---:|---:|---:|");
    // Interleaved, twice each, so drift on a shared machine hits both.
    for _ in 0..2 {
        println!("{}", measure(Arc::new(Deadpool(deadpool.clone()))).await);
        println!("{}", measure(Arc::new(Sqlx(sqlx.clone()))).await);
    }
}

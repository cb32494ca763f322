//! `growth`: what the registry costs as the work grows. Revocation (issue: revocation that
//! scales): For 10^3 … 10^6 revoked tokens outstanding (SQLite, inserted in one
//! transaction): an instance opening on them (CPU, resident memory per token), then 200 token
//! revocations made through another registry on the same database, one every 5 ms, and the CPU
//! the process spends per revocation until the reading instance has them all (the writer's
//! write, its change-log entry, and the reader's catch-up from the log, 50 ms polls). If a
//! revocation reloaded everything, that cost would grow with what is outstanding. API keys:
//! with 10^3 … 10^6 keys registered, one key checked on a cache miss (an indexed read and an
//! HMAC) and on a hit, p50/p99 and CPU, and the instance's resident memory.

use std::error::Error;
use std::time::{Duration, Instant};

use authstar_jwt::Revocations as _;
use authstar_registry::{Database, Registry};

use crate::e2e::median;

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
const REVOKED_DURING: usize = 200;

/// This process's resident memory in KiB.
fn rss_kib() -> u64 {
    crate::demo_process::rss_kib(std::process::id()).unwrap_or(0)
}

/// This process's CPU in µs to the nanosecond, every thread's, those that have exited too
/// (`CLOCK_PROCESS_CPUTIME_ID`; `/proc/self/stat` would count 10 ms ticks).
#[allow(unsafe_code)]
fn cpu_ns_us() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec that outlives the call; the clock id is
    // Linux's and the call only writes `now`.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if status != 0 {
        return 0.0;
    }
    now.tv_sec as f64 * 1e6 + now.tv_nsec as f64 / 1e3
}

/// Where the registry lives for a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// The engines to measure: SQLite, and PostgreSQL when `AUTHSTAR_TEST_DATABASE_URL` names
    /// a server (`scripts/services` starts one).
    fn all() -> Vec<Self> {
        let mut engines = vec![Self::Sqlite];
        if std::env::var("AUTHSTAR_TEST_DATABASE_URL").is_ok() {
            engines.push(Self::Postgres);
        }
        engines
    }

    /// A fresh database in `dir` (SQLite) or on the test server (PostgreSQL).
    async fn database(self, dir: &std::path::Path) -> Result<Database, Box<dyn Error>> {
        static FRESH: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        match self {
            Self::Sqlite => Ok(Database::Sqlite(dir.join("bench.db"))),
            Self::Postgres => {
                let url = std::env::var("AUTHSTAR_TEST_DATABASE_URL")?;
                let (client, connection) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                let n = FRESH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("authstar_growth_{}_{n}", std::process::id());
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await?;
                let (server, _) = url.rsplit_once('/').ok_or("a database URL ends in /NAME")?;
                Ok(Database::Postgres(format!("{server}/{name}")))
            }
        }
    }
}

/// Rows written straight into `database` (one transaction, or one statement): the revoked
/// tokens outstanding, or the other API keys.
async fn bulk(database: &Database, revoked: bool, count: usize) -> Result<(), Box<dyn Error>> {
    match database {
        Database::Sqlite(path) => {
            let mut connection = rusqlite::Connection::open(path)?;
            let transaction = connection.transaction()?;
            {
                let (sql, first) = match revoked {
                    true => (
                        "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) \
                         VALUES ('jti-outstanding-' || printf('%08d', ?1), 'bench', 4000000000, 1)",
                        0,
                    ),
                    false => (
                        "INSERT INTO api_keys (key_id, client_id, key_hash, scopes, created_at) \
                         VALUES ('k' || printf('%011x', ?1), 'bench', 'hmac-sha256$filler', 'read', 1)",
                        1,
                    ),
                };
                let mut insert = transaction.prepare(sql)?;
                for n in first..count {
                    insert.execute([n as i64])?;
                }
            }
            transaction.commit()?;
        }
        Database::Postgres(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            let sql = match revoked {
                true => {
                    "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) \
                         SELECT 'jti-outstanding-' || lpad(g::text, 8, '0'), 'bench', 4000000000, 1 \
                         FROM generate_series(0, $1::bigint - 1) g"
                }
                false => {
                    "INSERT INTO api_keys (key_id, client_id, key_hash, scopes, created_at) \
                          SELECT 'k' || lpad(to_hex(g), 11, '0'), 'bench', 'hmac-sha256$filler', \
                          'read', 1 FROM generate_series(1, $1::bigint - 1) g"
                }
            };
            client.execute(sql, &[&(count as i64)]).await?;
        }
    }
    Ok(())
}

struct Row {
    outstanding: usize,
    open_ms: f64,
    bytes_per_token: f64,
    resident_per_token: f64,
    /// Medians over `ROUNDS` of the writer alone (no other instance) and with the reader
    /// following; the reader's share per round, lowest and highest.
    cpu_alone_us: f64,
    cpu_per_revocation_us: f64,
    share_us: (f64, f64, f64),
    caught_up_ms: f64,
}

/// Rounds of (writer alone, writer followed) per row: the spread of their differences is the
/// measurement's noise.
const ROUNDS: usize = 3;

/// CPU per revocation over `REVOKED_DURING` of them, one every 5 ms, named `jti-{tag}-N`.
async fn revoke_paced(writer: &Registry, tag: &str) -> Result<f64, Box<dyn Error>> {
    let cpu = cpu_ns_us();
    for n in 0..REVOKED_DURING {
        writer
            .revoke_token(&format!("jti-{tag}-{n}"), "bench", 4_000_000_000)
            .await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((cpu_ns_us() - cpu) / REVOKED_DURING as f64)
}

async fn one(engine: Engine, outstanding: usize) -> Result<Row, Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!(
        "authstar-bench-revocations-{}-{outstanding}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (database, secrets) = (engine.database(&dir).await?, dir.join("secrets.json"));
    let open = |poll: Duration| {
        Registry::builder(database.clone())
            .secrets(&secrets)
            .revocation_poll(poll)
            .open()
    };
    let writer = open(Duration::from_secs(3_600)).await?;
    bulk(&database, true, outstanding).await?;
    let (mut alone, mut followed, mut caught_up) = (Vec::new(), Vec::new(), Vec::new());
    let (mut open_ms, mut bytes_per_token, mut resident_per_token) = (0.0, 0.0, 0.0);
    for round in 0..ROUNDS {
        alone.push(revoke_paced(&writer, &format!("alone-{round}")).await?);
        let (rss, held, started) = (rss_kib(), crate::alloc::live_bytes(), Instant::now());
        let reader = open(Duration::from_millis(50)).await?;
        if round == 0 {
            // The first opening, on a heap the reader has not used yet.
            open_ms = started.elapsed().as_secs_f64() * 1e3;
            let per_token = |bytes: u64| bytes as f64 / outstanding as f64;
            bytes_per_token = per_token(crate::alloc::live_bytes().saturating_sub(held));
            resident_per_token = per_token(rss_kib().saturating_sub(rss) * 1024);
        }
        let probe = |jti: &str| {
            reader.is_revoked(&authstar_jwt::TokenStamp {
                jti,
                client_id: "bench",
                iat: 0,
            })
        };
        assert!(probe("jti-outstanding-00000000"), "the reader loaded them");
        let started = Instant::now();
        let tag = format!("followed-{round}");
        followed.push(revoke_paced(&writer, &tag).await?);
        let last = format!("jti-{tag}-{}", REVOKED_DURING - 1);
        while !probe(&last) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        caught_up.push(started.elapsed().as_secs_f64() * 1e3);
        // Its poll stops with it: the next round's writer is alone again.
        drop(reader);
    }
    let shares: Vec<f64> = followed.iter().zip(&alone).map(|(f, a)| f - a).collect();
    let share_us = (
        median(&mut shares.clone()),
        shares.iter().copied().fold(f64::INFINITY, f64::min),
        shares.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    drop(writer);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Row {
        outstanding,
        open_ms,
        bytes_per_token,
        resident_per_token,
        cpu_alone_us: median(&mut alone),
        cpu_per_revocation_us: median(&mut followed),
        share_us,
        caught_up_ms: median(&mut caught_up),
    })
}

struct KeyRow {
    keys: usize,
    miss: (f64, f64, f64),
    hit: (f64, f64),
    rss_mib: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or(0.0)
}

async fn keys(engine: Engine, count: usize) -> Result<KeyRow, Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!(
        "authstar-bench-keys-{}-{count}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (database, secrets) = (engine.database(&dir).await?, dir.join("secrets.json"));
    let registry = Registry::builder(database.clone())
        .secrets(&secrets)
        .open()
        .await?;
    registry
        .create_client(Some("bench"), None, &["read".to_owned()])
        .await?;
    let real = registry.create_key("bench", &[]).await?;
    // The other keys: rows like any key's (their hashes are never checked here).
    bulk(&database, false, count).await?;
    const MISSES: usize = 2_000;
    const HITS: usize = 100_000;
    let mut latencies = Vec::with_capacity(MISSES);
    let cpu = cpu_ns_us();
    for _ in 0..MISSES {
        let started = Instant::now();
        let found = registry.check_key(&real.key).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
        assert!(found.is_some(), "the key checks");
    }
    let miss_cpu = (cpu_ns_us() - cpu) / MISSES as f64;
    latencies.sort_by(f64::total_cmp);
    let miss = (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        miss_cpu,
    );
    assert!(registry.authenticate_key(&real.key).await?.is_some());
    let (cpu, started) = (cpu_ns_us(), Instant::now());
    for _ in 0..HITS {
        std::hint::black_box(registry.cached_key(&real.key));
    }
    let hit = (
        started.elapsed().as_secs_f64() * 1e9 / HITS as f64,
        (cpu_ns_us() - cpu) * 1e3 / HITS as f64,
    );
    let rss_mib = rss_kib() as f64 / 1024.0;
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(KeyRow {
        keys: count,
        miss,
        hit,
        rss_mib,
    })
}

/// What a throttle's counter is kept for, as the layers key them.
#[derive(Clone, Copy)]
enum Counted {
    /// The failure throttle's per-address counters (distinct IPv6 /64s).
    Addresses,
    /// The failure throttle's per-identity counters (Basic user names).
    Identities,
    /// The rate limits' per-client counters (the scheme they count under).
    Clients,
}

/// The heap held, and the resident growth, when `count` distinct keys of one kind are counted
/// once into a fresh store of the default size (the failure throttle's and the rate limits'):
/// bounded by the store's capacity, not by how many an attacker makes up.
fn throttle_memory(count: usize, counted: Counted) -> (f64, f64) {
    use authstar::throttle::{Budget, MemoryStore, ThrottleKey, ThrottleStore as _};
    let (resident, held) = (rss_kib(), crate::alloc::live_bytes());
    let store = MemoryStore::default();
    let budget = Budget::per_period(10, Duration::from_secs(6));
    let now = Instant::now();
    let mut id = String::new();
    for n in 0..count {
        id.clear();
        id.push_str(&format!("made-up-{n:08}"));
        let key = match counted {
            Counted::Addresses => {
                let network = 0x2001_0db8_0000_0000_u64 | n as u64;
                ThrottleKey::Address(std::net::Ipv6Addr::from(u128::from(network) << 64).into())
            }
            Counted::Identities => ThrottleKey::Identity {
                scheme: "basic",
                id: &id,
            },
            Counted::Clients => ThrottleKey::Identity {
                scheme: "rate-limit",
                id: &id,
            },
        };
        store.fail(&key, budget, now);
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let grown = (
        mib(crate::alloc::live_bytes().saturating_sub(held)),
        mib(rss_kib().saturating_sub(resident) * 1024),
    );
    drop(store);
    grown
}

/// CPU per verification when `live` distinct ES256 tokens are presented in turn to a verifier
/// whose cache holds 10 000 (the demo's `VERIFIED_TOKENS`): under the capacity every one is a
/// hit after the first round; past it, most are misses (a signature check each). Also the
/// heap the verifier holds after the rounds over what it held with the tokens made: the
/// cache's, bounded by its capacity (live bytes from the counting allocator, not resident
/// memory, which the allocator's reuse of earlier rows' memory hides).
fn token_cache(live: usize) -> Result<(f64, f64, f64), Box<dyn Error>> {
    use authstar::AuthstarClient;
    use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
    let key = SigningKey::generate_es256("growth")?;
    let verifier = JwtVerifier::builder([key.verification_key()], "https://auth.example", "api")
        .cache(10_000)
        .build();
    let issuer = JwtIssuer::new(key, "https://auth.example", "api");
    let tokens: Vec<String> = (0..live)
        .map(|n| issuer.issue(&format!("client-{n}"), &["read".to_owned()]))
        .collect::<Result<_, _>>()?;
    let held = crate::alloc::live_bytes();
    // One round to warm the cache, then two measured.
    for token in &tokens {
        let _: AuthstarClient = verifier.verify(token).map_err(|e| e.to_string())?;
    }
    let (cpu, started) = (cpu_ns_us(), Instant::now());
    for _ in 0..2 {
        for token in &tokens {
            let client: AuthstarClient = verifier.verify(token).map_err(|e| e.to_string())?;
            std::hint::black_box(client);
        }
    }
    let count = (2 * live) as f64;
    let (wall, cpu) = (
        started.elapsed().as_secs_f64() * 1e6 / count,
        (cpu_ns_us() - cpu) / count,
    );
    Ok((
        wall,
        cpu,
        crate::alloc::live_bytes().saturating_sub(held) as f64 / (1024.0 * 1024.0),
    ))
}

pub(crate) fn run() -> Result<String, Box<dyn Error>> {
    // First, while the heap is fresh: resident growth is then the store's own.
    let throttle: Vec<(usize, [(f64, f64); 3])> = SIZES
        .iter()
        .map(|&count| {
            let [a, i, c] = [Counted::Addresses, Counted::Identities, Counted::Clients];
            (
                count,
                [
                    throttle_memory(count, a),
                    throttle_memory(count, i),
                    throttle_memory(count, c),
                ],
            )
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut out = String::from(
        "# Revocation as what is revoked grows\n\n\
         `cargo run -p authstar-bench --release -- growth` (SQLite, and PostgreSQL under \
         `scripts/services`). One process holds the writing and the reading registry. CPU is \
         the process's to the nanosecond (`CLOCK_PROCESS_CPUTIME_ID`) over 200 revocations one \
         every 5 ms, in 3 rounds of two passes: the writer alone, then with a reader opened on \
         them polling every 50 ms and applying each (medians); the difference is what the \
         other instance pays to follow a revocation (median, lowest and highest round: the \
         spread is this measurement's noise). On PostgreSQL the server's own CPU is not \
         counted. Memory \
         per token is the heap the reading instance holds once it has loaded them (bytes \
         allocated and not freed, from the bench's counting allocator; SQLite's own page \
         cache, in C, is not in it), over the number of tokens, so at 10^3 the registry's \
         fixed cost dominates; in parentheses the process's resident growth, which heap reuse \
         makes noise below 10^6.\n\n\
         | engine | revoked tokens outstanding | an instance opening on them | memory per token: heap (resident) | CPU per revocation, the writer alone | with the other instance following | the other instance's share (low–high) | 200 revocations, one every 5 ms, all seen by the other instance after |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut bars = Vec::new();
    for (engine, outstanding) in Engine::all()
        .into_iter()
        .flat_map(|engine| SIZES.map(|size| (engine, size)))
    {
        let row = runtime.block_on(one(engine, outstanding))?;
        let cpu = row.cpu_per_revocation_us;
        let label = format!(
            "{}: revocation CPU, {outstanding} outstanding",
            engine.name()
        );
        bars.push((label, cpu, cpu, cpu));
        out.push_str(&format!(
            "| {} | {} | {:.0} ms | {:.0} B ({:.0} B) | {:.0} µs | {:.0} µs | {:.0} µs ({:.0}–{:.0}) | {:.0} ms |\n",
            engine.name(),
            row.outstanding,
            row.open_ms,
            row.bytes_per_token,
            row.resident_per_token,
            row.cpu_alone_us,
            row.cpu_per_revocation_us,
            row.share_us.0,
            row.share_us.1,
            row.share_us.2,
            row.caught_up_ms
        ));
    }
    out.push_str(
        "\n## Throttle and rate-limit memory under made-up addresses and identities\n\nN \
         distinct keys each counted once into a fresh store of the default size (65 536 \
         counters; the failure throttle's and the rate limits' are the same store): the heap \
         it holds (bytes allocated and not freed, from the bench's counting allocator) and, in \
         parentheses, the process's resident growth. Both stop at the store's capacity.\n\n\
         | distinct keys | addresses (IPv6 /64s, failure throttle) | identities (Basic user names, failure throttle) | clients (rate limits) |\n\
         |---:|---:|---:|---:|\n",
    );
    for (count, kinds) in throttle {
        let cell = |(held, resident): (f64, f64)| format!("{held:.1} MiB ({resident:.1} MiB)");
        let [a, i, c] = kinds.map(cell);
        out.push_str(&format!("| {count} | {a} | {i} | {c} |\n"));
    }
    out.push_str(
        "\n## API-key checks as keys grow\n\nOne key of N checked (in the bench's process): \
         a miss is `check_key` (an indexed read of `api_keys` joined with `clients`, one \
         HMAC-SHA256), a hit `cached_key`. Resident memory of the whole bench process after \
         the row (the registry does not load keys: it grows with the database's page cache, \
         not with N).\n\n\
         | engine | keys registered | miss p50 | miss p99 | miss CPU (this process) | hit (wall) | hit CPU | RSS |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (engine, count) in Engine::all()
        .into_iter()
        .flat_map(|engine| SIZES.map(|size| (engine, size)))
    {
        let row = runtime.block_on(keys(engine, count))?;
        let (p50, p99) = (row.miss.0, row.miss.1);
        let label = format!("{}: API-key miss, {count} keys (p50, p99)", engine.name());
        bars.push((label, p50, p50, p99));
        out.push_str(&format!(
            "| {} | {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} ns | {:.0} ns | {:.0} MiB |\n",
            engine.name(),
            row.keys,
            row.miss.0,
            row.miss.1,
            row.miss.2,
            row.hit.0,
            row.hit.1,
            row.rss_mib
        ));
    }
    out.push_str(
        "\n## The verified-token cache past its capacity\n\nN distinct live ES256 tokens \
         presented in turn (two rounds after a warm-up) to a `JwtVerifier` caching 10 000 (the \
         demo's setting, `JwtVerifierBuilder::cache`): the knee is the capacity, past which a \
         request costs a signature check. The heap the cache holds is the bytes allocated and \
         not freed from the tokens being made to the end of the rounds (the bench's counting \
         allocator): bounded by the capacity.\n\n\
         | live tokens | wall per request | CPU per request | heap held by the cache |\n\
         |---:|---:|---:|---:|\n",
    );
    for live in [1_000, 5_000, 10_000, 20_000, 100_000, 1_000_000] {
        let (wall, cpu, grown) = token_cache(live)?;
        out.push_str(&format!(
            "| {live} | {wall:.1} µs | {cpu:.1} µs | {grown:.1} MiB |\n"
        ));
    }
    let chart = crate::results_dir().join("growth.png");
    crate::chart::draw(
        &chart,
        "Cost as the work grows (µs; flat is the goal)",
        "µs",
        &bars,
    )?;
    out.push_str("\n![cost as the work grows](growth.png)\n");
    Ok(out)
}

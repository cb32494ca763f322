//! `authstar-bench workloads`: the real `authstar demo` binary under wrk, one workload at a time,
//! interleaved: the server's CPU per operation (from `/proc`), latency at 16 and 64
//! connections, and the demo's RSS; against `openssl speed` for the ES256 signature floor, in the
//! same run.
//!
//! `cargo build --release -p authstar-cli -p authstar-bench && ./target/release/authstar-bench workloads`
//! (needs `wrk`, `openssl`, `curl`). `AUTHSTAR_WORKLOADS=<part of a name>` runs only those
//! workloads (and the floor); `AUTHSTAR_WORKLOAD_ROUNDS` and `AUTHSTAR_WORKLOAD_SECONDS` set the
//! rounds (default 2) and the seconds per wrk run (default 5).

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use authstar_jwt::{Algorithm, JwtIssuer, SigningKey};
use base64::Engine as _;

use crate::demo_process::{DemoProcess, rss_kib};
use crate::e2e::{cpu_ticks, latency_us, median, ticks_per_second};

type BoxError = Box<dyn Error>;

/// Never-seen tokens: more than the demo's verified-token cache holds (10 000), cycled in order.
const FRESH_TOKENS: usize = 30_000;

struct Workload {
    name: &'static str,
    /// A wrk Lua script (`None`: a plain GET of `path`).
    script: Option<String>,
    path: &'static str,
    header: Option<String>,
}

/// The demo's own signing key, from its secrets file, to pre-issue tokens it will accept.
fn demo_issuer(dir: &Path, issuer: &str) -> Result<JwtIssuer, BoxError> {
    let secrets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo.db.secrets.json"))?)?;
    let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secrets["jwt_key"].as_str().ok_or("no jwt_key")?)?;
    let kid = secrets["jwt_kid"].as_str().ok_or("no jwt_kid")?;
    let key = SigningKey::from_pkcs8(Algorithm::ES256, kid, &der)?;
    Ok(JwtIssuer::new(key, issuer, issuer))
}

/// Whether processes can be pinned to cores (`taskset`, and at least two cores).
fn pinned() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && Command::new("taskset").arg("--version").output().is_ok()
}

struct Sample {
    cpu_us: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    max_rss_kib: u64,
    errors: bool,
}

/// One wrk run of `workload` with `connections`, the server's CPU per request and its RSS peak.
fn run(
    demo: &DemoProcess,
    workload: &Workload,
    connections: u32,
    seconds: u64,
    dir: &Path,
) -> Result<Sample, BoxError> {
    let pid = demo.pid();
    let mut command = if pinned() {
        let mut command = Command::new("taskset");
        command.args(["-c", "1", "wrk"]);
        command
    } else {
        Command::new("wrk")
    };
    command.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(script) = &workload.script {
        let file: String = workload
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("{file}.lua"));
        std::fs::write(&path, script)?;
        command.arg("-s").arg(path);
    }
    if let Some(header) = &workload.header {
        command.args(["-H", header]);
    }
    command.arg(format!("{}{}", demo.base, workload.path));
    let before = cpu_ticks(pid).ok_or("no /proc")?;
    let mut wrk = command.stdout(Stdio::piped()).spawn()?;
    let mut max_rss = 0;
    while wrk.try_wait()?.is_none() {
        max_rss = max_rss.max(rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = cpu_ticks(pid).ok_or("no /proc")?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut wrk.stdout.take().ok_or("no wrk output")?, &mut text)?;
    let field = |prefix: &str, index: usize| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(index).map(str::to_owned))
    };
    let requests: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("wrk failed: {text}"))?;
    let ticks = 1e6 / ticks_per_second();
    Ok(Sample {
        cpu_us: (after - before) as f64 * ticks / requests,
        rps: field("Requests/sec:", 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_us: field("50%", 1)
            .as_deref()
            .and_then(latency_us)
            .unwrap_or(0.0),
        p99_us: field("99%", 1)
            .as_deref()
            .and_then(latency_us)
            .unwrap_or(0.0),
        max_rss_kib: max_rss,
        errors: text.contains("Non-2xx") || text.contains("Socket errors"),
    })
}

/// `openssl speed` for ES256: (sign µs, verify µs).
fn openssl_floor() -> Result<(f64, f64), BoxError> {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", "3", "ecdsap256"])
        .stderr(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("ecdsa (nistp256)"))
        .ok_or("no openssl speed line")?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // "256 bits ecdsa (nistp256) 0.0000s 0.0001s 37587.9 12932.5": the last two are per second.
    match numbers.as_slice() {
        [.., sign, verify] => Ok((1e6 / sign, 1e6 / verify)),
        _ => Err("unreadable openssl speed line".into()),
    }
}

/// Runs every workload and returns the Markdown report.
pub(crate) fn run_all() -> Result<String, BoxError> {
    let exe = std::env::current_exe()?.with_file_name("authstar");
    if !exe.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p authstar-cli",
            exe.display()
        )
        .into());
    }
    // Server on core 0, wrk on core 1 (when `taskset` exists): neither steals the other's CPU.
    let demo = DemoProcess::start(&exe, "workloads", &[], pinned().then_some(0))?;
    let dir = demo.dir.clone();
    let (client_id, secret, api_key) = (
        demo.value("client_id:")?,
        demo.value("client_secret:")?,
        demo.value("api_key:")?,
    );
    let idle_rss = rss_kib(demo.pid()).unwrap_or(0);
    let issuer = demo_issuer(&dir, &demo.base)?;
    let scopes = ["reports:read".to_owned()];
    let repeated = issuer.issue(&client_id, &scopes)?;
    let fresh: Vec<String> = (0..FRESH_TOKENS)
        .map(|_| issuer.issue(&client_id, &scopes))
        .collect::<Result<_, _>>()?;
    let tokens_file = dir.join("tokens.txt");
    std::fs::write(&tokens_file, fresh.join("\n"))?;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client_id, secret));
    let mut workloads = vec![
        Workload {
            name: "GET / (the HTTP stack)",
            script: None,
            path: "/",
            header: None,
        },
        Workload {
            name: "GET /me, X-API-Key",
            script: None,
            path: "/me",
            header: Some(format!("X-API-Key: {}", api_key)),
        },
        Workload {
            name: "GET /me, Basic (generated secret)",
            script: None,
            path: "/me",
            header: Some(format!("Authorization: Basic {basic}")),
        },
        Workload {
            name: "GET /me, the same ES256 JWT again",
            script: None,
            path: "/me",
            header: Some(format!("Authorization: Bearer {repeated}")),
        },
        Workload {
            name: "GET /me, a never-seen ES256 JWT",
            script: Some(format!(
                "local tokens = {{}}\nfor line in io.lines(\"{}\") do tokens[#tokens + 1] = line end\n\
                 local i = 0\nrequest = function()\n  i = i % #tokens + 1\n  \
                 return wrk.format(\"GET\", \"/me\", {{[\"Authorization\"] = \"Bearer \" .. tokens[i]}})\nend\n",
                tokens_file.display()
            )),
            path: "/me",
            header: None,
        },
        Workload {
            name: "POST /oauth2/token (Basic, ES256)",
            script: Some(format!(
                "wrk.method = \"POST\"\nwrk.body = \"grant_type=client_credentials\"\n\
                 wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
                 wrk.headers[\"Authorization\"] = \"Basic {basic}\"\n"
            )),
            path: "/oauth2/token",
            header: None,
        },
    ];
    // `AUTHSTAR_WORKLOADS=<part of a name>`: only those, with the floor (`GET /`).
    if let Ok(filter) = std::env::var("AUTHSTAR_WORKLOADS") {
        let mut index = 0;
        workloads.retain(|w| {
            index += 1;
            index == 1 || w.name.contains(filter.as_str())
        });
    }
    let rounds: usize = std::env::var("AUTHSTAR_WORKLOAD_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    let seconds: u64 = std::env::var("AUTHSTAR_WORKLOAD_SECONDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let (sign_us, verify_us) = openssl_floor()?;
    let mut at16: Vec<Vec<Sample>> = workloads.iter().map(|_| Vec::new()).collect();
    let mut at64: Vec<Vec<Sample>> = workloads.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..workloads.len() {
            let i = (k + round) % workloads.len();
            eprintln!("round {}/{rounds}: {}", round + 1, workloads[i].name);
            at16[i].push(run(&demo, &workloads[i], 16, seconds, &dir)?);
            at64[i].push(run(&demo, &workloads[i], 64, seconds, &dir)?);
        }
    }
    let peak_rss = at64
        .iter()
        .flatten()
        .map(|s| s.max_rss_kib)
        .max()
        .unwrap_or(0);
    drop(demo);

    let mut out = String::new();
    writeln!(
        out,
        "# Workloads on the demo\n\n`./target/release/authstar-bench workloads`: the release `authstar demo` (SQLite, \
         defaults){}, `wrk -t1 -d{seconds}s` at 16 then 64 connections, {rounds} interleaved rounds, medians. CPU is the \
         server's (user + system from `/proc`) per request at 16 connections. Floor in the same run: `openssl speed \
         ecdsap256`: sign {sign_us:.1} µs, verify {verify_us:.1} µs.\n",
        if pinned() {
            " pinned to core 0, wrk on core 1"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "| workload | CPU µs/op | over `GET /` | against the floor | req/s (16) | p50 / p99 µs (16) | p50 / p99 µs (64) |"
    )?;
    writeln!(out, "|---|---:|---:|---|---:|---:|---:|")?;
    let mut floor_cpu = 0.0;
    for (i, workload) in workloads.iter().enumerate() {
        let stat = |samples: &[Sample], f: fn(&Sample) -> f64| {
            median(&mut samples.iter().map(f).collect::<Vec<_>>())
        };
        let cpu = stat(&at16[i], |s| s.cpu_us);
        if i == 0 {
            floor_cpu = cpu;
        }
        let over = cpu - floor_cpu;
        let against = match workload.name {
            n if n.contains("never-seen") => {
                format!("{:.2}× an ES256 verification", over / verify_us)
            }
            n if n.contains("oauth2/token") => format!("{:.2}× an ES256 signature", over / sign_us),
            _ => String::new(),
        };
        let errors = if at16[i].iter().chain(&at64[i]).any(|s| s.errors) {
            " (errors!)"
        } else {
            ""
        };
        writeln!(
            out,
            "| {}{errors} | {cpu:.1} | {} | {against} | {:.0} | {:.0} / {:.0} | {:.0} / {:.0} |",
            workload.name,
            if i == 0 {
                "—".to_owned()
            } else {
                format!("{over:.1}")
            },
            stat(&at16[i], |s| s.rps),
            stat(&at16[i], |s| s.p50_us),
            stat(&at16[i], |s| s.p99_us),
            stat(&at64[i], |s| s.p50_us),
            stat(&at64[i], |s| s.p99_us),
        )?;
    }
    let mut bars: Vec<(String, f64, f64, f64)> = workloads
        .iter()
        .zip(&at16)
        .map(|(workload, samples)| {
            let cpu: Vec<f64> = samples.iter().map(|s| s.cpu_us).collect();
            let (min, max) = cpu
                .iter()
                .fold((f64::MAX, 0.0_f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            (workload.name.to_owned(), median(&mut cpu.clone()), min, max)
        })
        .collect();
    bars.push((
        "openssl ES256 sign (floor)".to_owned(),
        sign_us,
        sign_us,
        sign_us,
    ));
    bars.push((
        "openssl ES256 verify (floor)".to_owned(),
        verify_us,
        verify_us,
        verify_us,
    ));
    if let Err(error) = crate::chart::draw(
        &crate::results_dir().join("workloads.png"),
        "Server CPU µs per request on the demo, 16 connections (median, min–max; log scale)",
        "µs",
        &bars,
    ) {
        eprintln!("chart not drawn: {error}");
    }
    writeln!(
        out,
        "\n![CPU per request](workloads.png)\n\nRSS: {:.1} MiB idle, {:.1} MiB at most under 64 connections ({:.0} KiB per connection over idle).",
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        peak_rss.saturating_sub(idle_rss) as f64 / 64.0
    )?;
    Ok(out)
}

//! The soak: `authstar demo` (release) under `wrk` for a minute or more with a mix of valid,
//! invalid, malformed and throttled requests, plus 200 idle connections kept open and a
//! websocket share (sockets opened, echoed and closed in turn, some with oversized messages),
//! its RSS sampled every second. Writes `benchmarks/results/soak.md` (table) and `soak.png` (RSS over
//! time). Passes when no response is a 5xx other than the documented 503 and RSS after a 30 s
//! warm-up stays within 10 % of its mean.
//!
//! `scripts/soak` (builds both binaries in release, then runs `authstar-bench soak`);
//! `AUTHSTAR_SOAK_SECONDS` sets the length (default 120).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plotters::prelude::*;

use crate::demo_process::{DemoProcess, rss_kib};

type Error = Box<dyn std::error::Error>;

/// Seconds before RSS is judged: the first waves of idle connections closed by the header
/// timeout (every 10 s) grow the allocator's arenas to their working size.
const WARM_UP: f64 = 30.0;

/// The demo and the credentials it printed.
struct Demo {
    process: DemoProcess,
    secret: String,
    api_key: String,
}

fn start_demo(binary: &Path) -> Result<Demo, Error> {
    // wrk speaks for many clients: believe its X-Forwarded-For.
    let process = DemoProcess::start(binary, "soak", &["--trusted-proxies", "127.0.0.1"], None)?;
    Ok(Demo {
        secret: process.value("client_secret:")?,
        api_key: process.value("api_key:")?,
        process,
    })
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A token from the demo's token endpoint.
fn token(demo: &Demo) -> Result<String, Error> {
    let address = demo.process.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address)?;
    let body = "grant_type=client_credentials";
    let request = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        base64(&format!("demo-client:{}", demo.secret)),
        body.len()
    );
    std::io::Write::write_all(&mut stream, request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let json = response.split("\r\n\r\n").nth(1).ok_or("no body")?;
    // Chunked or not, the JSON object is in there whole.
    let start = json.find('{').ok_or("no JSON")?;
    let end = json.rfind('}').ok_or("no JSON")?;
    let value: serde_json::Value = serde_json::from_str(&json[start..=end])?;
    Ok(value["access_token"]
        .as_str()
        .ok_or("no access_token")?
        .to_owned())
}

/// The request mix, as a wrk Lua script: each request is a (method, path, headers, body), taken
/// in turn; every status is counted per thread and printed at the end.
fn lua(demo: &Demo, jwt: &str) -> String {
    let basic = base64(&format!("demo-client:{}", demo.secret));
    let wrong = base64("demo-client:not-the-secret");
    let requests = [
        ("valid", "GET", "/", String::new(), String::new()),
        (
            "valid",
            "GET",
            "/me",
            format!(
                "[\"X-API-Key\"]=\"{}\", [\"X-Forwarded-For\"]=\"10.0.0.1\"",
                demo.api_key
            ),
            String::new(),
        ),
        (
            "valid",
            "GET",
            "/reports",
            format!("[\"Authorization\"]=\"Basic {basic}\", [\"X-Forwarded-For\"]=\"10.0.0.2\""),
            String::new(),
        ),
        (
            "valid",
            "GET",
            "/reports/export",
            format!("[\"Authorization\"]=\"Bearer {jwt}\", [\"X-Forwarded-For\"]=\"10.0.0.3\""),
            String::new(),
        ),
        (
            "valid",
            "POST",
            "/oauth2/token",
            format!(
                "[\"Authorization\"]=\"Basic {basic}\", [\"Content-Type\"]=\"application/x-www-form-urlencoded\", [\"X-Forwarded-For\"]=\"10.0.0.4\""
            ),
            "grant_type=client_credentials".to_owned(),
        ),
        (
            "invalid",
            "GET",
            "/me",
            "[\"X-API-Key\"]=\"ask_0000000000_wrong\", [\"X-Forwarded-For\"]=\"10.0.1.1\""
                .to_owned(),
            String::new(),
        ),
        (
            "malformed",
            "GET",
            "/me",
            "[\"Authorization\"]=\"Basic !!not-base64!!\", [\"X-Forwarded-For\"]=\"10.0.1.2\""
                .to_owned(),
            String::new(),
        ),
        (
            "throttled",
            "GET",
            "/me",
            format!("[\"Authorization\"]=\"Basic {wrong}\", [\"X-Forwarded-For\"]=\"203.0.113.7\""),
            String::new(),
        ),
    ];
    let mut script = String::from("local requests = {}\n");
    for (_, method, path, headers, body) in &requests {
        let body = if body.is_empty() {
            "nil".to_owned()
        } else {
            format!("\"{body}\"")
        };
        let _ = writeln!(
            script,
            "table.insert(requests, wrk.format(\"{method}\", \"{path}\", {{{headers}}}, {body}))"
        );
    }
    script.push_str(
        r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  n = 0
  counts = {}
end
function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local counts = thread:get("counts")
    for status, count in pairs(counts) do
      io.write(string.format("status %d %d\n", status, count))
    end
  end
end
"#,
    );
    script
}

/// Keeps `count` idle connections open (reopening those the server closes) until `stop`.
fn idle_connections(
    address: String,
    count: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut open: Vec<TcpStream> = Vec::new();
        let mut reopened = 0u64;
        while !stop.load(Ordering::Relaxed) {
            open.retain(|stream| {
                let mut byte = [0u8; 1];
                // Still open with nothing to read: keep. Closed by the server, or reset: drop.
                matches!(
                    (&*stream).read(&mut byte),
                    Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock
                )
            });
            while open.len() < count {
                match TcpStream::connect(&address) {
                    Ok(stream) => {
                        let _ = stream.set_nonblocking(true);
                        open.push(stream);
                        reopened += 1;
                    }
                    Err(_) => break,
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        reopened
    })
}

/// What the websocket share saw.
#[derive(Default)]
struct Sockets {
    opened: u64,
    echoed: u64,
    /// Oversized messages that ended their socket (the server's 1009, or the connection cut).
    oversized_closed: u64,
    /// Oversized messages echoed back: a missing limit.
    oversized_echoed: u64,
    failed: u64,
}

/// Websockets beside the HTTP mix, on `threads` threads: each opens `/ws` with the API key,
/// echoes five 1 KiB messages, and every tenth socket then sends 200 KiB (over the 64 KiB limit,
/// which must end it); then it closes and the next opens.
fn websockets(
    address: String,
    api_key: String,
    threads: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Sockets>> {
    (0..threads)
        .map(|_| {
            let (address, api_key, stop) = (address.clone(), api_key.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut tally = Sockets::default();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match websocket_round(&address, &api_key, n.is_multiple_of(10), &mut tally) {
                        Ok(()) => {}
                        Err(_) => tally.failed += 1,
                    }
                }
                tally
            })
        })
        .collect()
}

fn websocket_round(
    address: &str,
    api_key: &str,
    oversized: bool,
    tally: &mut Sockets,
) -> Result<(), Error> {
    use tungstenite::Message;
    let stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = tungstenite::http::Request::builder()
        .uri(format!("ws://{address}/ws"))
        .header("host", address)
        .header("x-api-key", api_key)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header(
            "sec-websocket-key",
            tungstenite::handshake::client::generate_key(),
        )
        .body(())?;
    let (mut socket, _) = tungstenite::client(request, stream).map_err(|e| e.to_string())?;
    tally.opened += 1;
    socket.read()?; // the hello
    let text = "x".repeat(1024);
    for _ in 0..5 {
        socket.send(Message::Text(text.clone().into()))?;
        if socket.read()?.len() == text.len() {
            tally.echoed += 1;
        }
    }
    if oversized {
        let _ = socket.send(Message::Binary(vec![1u8; 200 * 1024].into()));
        match socket.read() {
            Ok(Message::Binary(echo)) if echo.len() == 200 * 1024 => tally.oversized_echoed += 1,
            _ => tally.oversized_closed += 1,
        }
        return Ok(());
    }
    let _ = socket.close(None);
    while socket.read().is_ok() {}
    Ok(())
}

/// Runs the soak; returns the report.
pub(crate) fn run() -> Result<String, Error> {
    let seconds: u64 = std::env::var("AUTHSTAR_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let binary = std::env::current_exe()?
        .parent()
        .ok_or("no directory")?
        .join("authstar");
    if !binary.exists() {
        return Err(format!(
            "{} not found: cargo build --release -p authstar-cli",
            binary.display()
        )
        .into());
    }
    let demo = start_demo(&binary)?;
    let jwt = token(&demo)?;
    let script_path = demo.process.dir.join("mix.lua");
    std::fs::write(&script_path, lua(&demo, &jwt))?;
    let address = demo.process.base.trim_start_matches("http://").to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let idle = idle_connections(address.clone(), 200, stop.clone());
    let sockets = websockets(address, demo.api_key.clone(), 2, stop.clone());

    let pid = demo.process.pid();
    let wrk = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&script_path)
        .arg(&demo.process.base)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("wrk: {e} (apt-get install wrk)"))?;
    let started = Instant::now();
    let mut samples: Vec<(f64, u64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        if let Some(rss) = rss_kib(pid) {
            samples.push((started.elapsed().as_secs_f64(), rss));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let output = wrk.wait_with_output()?;
    stop.store(true, Ordering::Relaxed);
    let reopened = idle.join().map_err(|_| "idle thread panicked")?;
    let mut ws = Sockets::default();
    for thread in sockets {
        let tally = thread.join().map_err(|_| "websocket thread panicked")?;
        ws.opened += tally.opened;
        ws.echoed += tally.echoed;
        ws.oversized_closed += tally.oversized_closed;
        ws.oversized_echoed += tally.oversized_echoed;
        ws.failed += tally.failed;
    }
    let wrk_text = String::from_utf8_lossy(&output.stdout).into_owned();

    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for line in wrk_text.lines() {
        let mut words = line.split_whitespace();
        if let (Some("status"), Some(status), Some(count)) =
            (words.next(), words.next(), words.next())
            && let (Ok(status), Ok(count)) = (status.parse(), count.parse::<u64>())
        {
            *statuses.entry(status).or_default() += count;
        }
    }
    let total: u64 = statuses.values().sum();
    let server_errors: u64 = statuses
        .iter()
        .filter(|(status, _)| **status >= 500 && **status != 503)
        .map(|(_, count)| count)
        .sum();
    let warm: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= WARM_UP)
        .map(|(_, rss)| *rss)
        .collect();
    let mean = warm.iter().sum::<u64>() as f64 / warm.len().max(1) as f64;
    let (low, high) = (
        warm.iter().copied().min().unwrap_or(0),
        warm.iter().copied().max().unwrap_or(0),
    );
    let spread = if mean > 0.0 {
        (high as f64 - low as f64) / mean
    } else {
        0.0
    };
    let flat = spread <= 0.10;

    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benchmarks/results/soak.png");
    draw(&png, &samples, seconds)?;

    let mut report = String::new();
    let _ = writeln!(report, "# Soak: `authstar demo` under a hostile mix\n");
    let _ = writeln!(
        report,
        "`scripts/soak` ({seconds} s; wrk -t2 -c32 plus 200 idle connections kept open; \
         demo release build, throttling and limits at their defaults, `--trusted-proxies 127.0.0.1` \
         so wrk's `X-Forwarded-For` speaks for many clients). Mix, in turn: `GET /`, API key, \
         Basic (cached), ES256 JWT, `POST /oauth2/token`; a wrong API key; malformed Basic; a wrong \
         password from one address (throttled). Beside it, two threads open websockets with the \
         API key one after another: five 1 KiB echoes each, and every tenth sends 200 KiB (over \
         the 64 KiB limit, which must end it).\n"
    );
    let _ = writeln!(report, "| status | responses | share |\n|---:|---:|---:|");
    for (status, count) in &statuses {
        let _ = writeln!(
            report,
            "| {status} | {count} | {:.1} % |",
            100.0 * *count as f64 / total.max(1) as f64
        );
    }
    let _ = writeln!(
        report,
        "\n5xx other than 503: **{server_errors}**. RSS after the {WARM_UP} s warm-up: min {low} KiB, \
         max {high} KiB, mean {mean:.0} KiB, spread {:.1} % of the mean ({}). Idle connections \
         (re)opened: {reopened} (the 10 s header timeout closes idle ones).\n",
        spread * 100.0,
        if flat {
            "flat: within 10 %"
        } else {
            "NOT flat"
        }
    );
    let _ = writeln!(
        report,
        "Websockets: {} opened, {} messages echoed, {} oversized messages ended their socket, \
         **{}** oversized messages echoed, {} rounds failed.\n",
        ws.opened, ws.echoed, ws.oversized_closed, ws.oversized_echoed, ws.failed
    );
    let _ = writeln!(report, "![RSS over time](soak.png)\n");
    let _ = writeln!(report, "wrk's summary:\n\n```");
    for line in wrk_text.lines().filter(|l| !l.starts_with("status ")) {
        let _ = writeln!(report, "{line}");
    }
    let _ = writeln!(report, "```");
    if server_errors > 0 || !flat || total == 0 || ws.opened == 0 || ws.oversized_echoed > 0 {
        return Err(format!("soak failed:\n{report}").into());
    }
    Ok(report)
}

fn draw(path: &Path, samples: &[(f64, u64)], seconds: u64) -> Result<(), Error> {
    crate::chart::register_font()?;
    let root = BitMapBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = samples.iter().map(|s| s.1).max().unwrap_or(1) as f64 / 1024.0 * 1.3;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "authstar demo under the soak mix: RSS (MiB)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..seconds as f64, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("RSS, MiB")
        .label_style(("sans-serif", 14))
        .draw()?;
    chart.draw_series(LineSeries::new(
        samples.iter().map(|(t, rss)| (*t, *rss as f64 / 1024.0)),
        BLUE.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

//! End to end: an axum server on 127.0.0.1 with one worker thread, pinned to core 0, driven by
//! `wrk` (Debian's package) pinned to core 1. For each route, interleaved over rounds: requests
//! per second, p50/p99 latency, and the server's CPU time per request read from
//! `/proc/PID/stat` (user + system), which is what authentication actually costs. The DPoP
//! route gets a fresh proof on every request: signed before each sample by this process (not
//! timed, not on the server's core) and handed out one per request by a wrk script.
//!
//! `cargo run -p authstar-bench --release -- e2e` (needs `wrk`; `taskset` is used when present).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use authstar::{AuthstarClient, AuthstarLayer, BearerToken, HeaderAuth, HeaderCredential, sync_fn};
use authstar_axum::RouteSecurity;
use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
use axum::Router;
use axum::routing::get;
use tower_layer::Layer as _;

use authstar::DpopAuth;
use authstar_jwt::dpop::DpopVerifier;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::demo_in_process::DpopClient;
use crate::peers::{self, Noop, TOKEN};

/// A route, the header it sends, and how it is secured.
struct Route {
    path: &'static str,
    label: &'static str,
}

const ROUTES: [Route; 5] = [
    Route {
        path: "/open",
        label: "open route (no authentication)",
    },
    Route {
        path: "/key",
        label: "X-API-Key, in-memory table (sync_fn)",
    },
    Route {
        path: "/bearer",
        label: "Bearer, in-memory table (sync_fn)",
    },
    Route {
        path: "/jwt",
        label: "Bearer ES256 JWT, verified-token cache",
    },
    Route {
        path: "/dpop",
        label: "DPoP: a fresh ES256 proof per request, bound JWT from the cache",
    },
];

/// Proofs signed ahead of each DPoP sample, per second of it: more than the server verifies
/// (about 15 000/s on one core), so that none is sent twice.
const PROOFS_PER_SECOND: u64 = 25_000;

/// `serve`: the server half, run as a child process. Prints `port <n>`, the JWT to use, and a
/// DPoP client's key (PKCS#8, base64) with a token bound to it.
pub(crate) fn serve() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let tokens = peers::tokens();
        let keys = tokens.clone();
        let key = SigningKey::generate_es256("bench").map_err(std::io::Error::other)?;
        let jwt = JwtVerifier::builder([key.verification_key()], "https://bench", "api")
            .cache(10_000)
            .build();
        let issuer =
            JwtIssuer::new(key, "https://bench", "api").lifetime(Duration::from_secs(3600));
        let issued = issuer
            .issue("reporting", &["reports:read".to_owned()])
            .map_err(std::io::Error::other)?;
        let client_key = SigningKey::generate_es256("client").map_err(std::io::Error::other)?;
        let client_der = STANDARD.encode(client_key.to_bytes());
        let client = DpopClient::with_key(client_key);
        let bound = issuer
            .issue_bound("reporting", &["reports:read".to_owned()], &client.jkt())
            .map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        // Sized for this run's proofs (every one within one window): past its capacity the
        // memory would refuse proofs as old as the ones it forgot.
        let proofs = DpopVerifier::new().replay_capacity(1_000_000);
        // Nested under `/dpop`, so the proofs name the path axum kept.
        let dpop = DpopAuth::new(proofs, jwt.clone())
            .origin(&origin)
            .path_from(authstar_axum::original_path);
        let dpop_layer = AuthstarLayer::<AuthstarClient>::builder()
            .on_auth_dpop(dpop)
            .build()
            .map_err(std::io::Error::other)?;
        let bearer_layer = AuthstarLayer::builder()
            .on_auth_bearer_with(sync_fn(move |token: BearerToken| {
                tokens.get(token.as_str()).cloned()
            }))
            .build()
            .map_err(std::io::Error::other)?;
        let key_layer = AuthstarLayer::builder()
            .on_auth_header(HeaderAuth::x_api_key_with(sync_fn(
                move |key: HeaderCredential| keys.get(key.as_str()).cloned(),
            )))
            .build()
            .map_err(std::io::Error::other)?;
        let jwt_layer = AuthstarLayer::<AuthstarClient>::builder()
            .on_auth_bearer_with(jwt)
            .build()
            .map_err(std::io::Error::other)?;
        let guarded = |layer_security: RouteSecurity<AuthstarClient>| {
            Router::new().route(
                "/",
                get(|| async { "ok" }).route_layer(layer_security.authenticated()),
            )
        };
        // Every route has the same shape (a nested router behind a layer, a route layer on the
        // handler), so the open route differs from the others only by authentication.
        let open = Noop.layer(Router::new().route("/", get(|| async { "ok" }).route_layer(Noop)));
        let app = Router::new()
            .nest_service("/open", open)
            .nest_service(
                "/key",
                key_layer.layer(guarded(RouteSecurity::new(&key_layer))),
            )
            .nest_service(
                "/bearer",
                bearer_layer.layer(guarded(RouteSecurity::new(&bearer_layer))),
            )
            .nest_service(
                "/jwt",
                jwt_layer.layer(guarded(RouteSecurity::new(&jwt_layer))),
            )
            .nest_service(
                "/dpop",
                dpop_layer.layer(guarded(RouteSecurity::new(&dpop_layer))),
            );
        println!("port {}", listener.local_addr()?.port());
        println!("jwt {issued}");
        println!("dpop {bound} {client_der}");
        axum::serve(listener, app).await
    })
}

/// The server's user + system CPU time so far, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub(crate) fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

struct Sample {
    requests_per_second: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_request: f64,
}

/// A wrk latency (`812.00us`, `1.20ms`, `2.00s`) in µs.
pub(crate) fn latency_us(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1000.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// What wrk sends: one header on every request, or a script that gives each request its own
/// `Authorization` and DPoP proof (read from a file, one per line).
enum Load {
    Plain,
    Header(String),
    Proofs { authorization: String, file: String },
}

/// A wrk script: each request the next proof of the file given after `--`.
const PROOFS_SCRIPT: &str = r#"local proofs, sent, authorization = {}, 0, ""
function init(args)
  authorization = args[1]
  for line in io.lines(args[2]) do proofs[#proofs + 1] = line end
end
function request()
  sent = sent + 1
  return wrk.format(nil, nil, { ["Authorization"] = authorization, ["DPoP"] = proofs[sent] })
end
"#;

fn run_wrk(url: &str, load: &Load, seconds: u64, pid: u32, pin: bool) -> Option<Sample> {
    let mut command = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "wrk"]);
        c
    } else {
        Command::new("wrk")
    };
    command.args(["-t1", "-c16", &format!("-d{seconds}s"), "--latency"]);
    let script = std::env::temp_dir().join(format!("authstar-e2e-{}.lua", std::process::id()));
    match load {
        Load::Plain => {}
        Load::Header(header) => {
            command.args(["-H", header]);
        }
        Load::Proofs { .. } => {
            std::fs::write(&script, PROOFS_SCRIPT).ok()?;
            command.arg("-s").arg(&script);
        }
    }
    command.arg(url);
    if let Load::Proofs {
        authorization,
        file,
    } = load
    {
        command.args(["--", authorization, file]);
    }
    let before = cpu_ticks(pid)?;
    let output = command.output().ok();
    let _ = std::fs::remove_file(&script);
    let output = output?;
    let after = cpu_ticks(pid)?;
    let text = String::from_utf8_lossy(&output.stdout);
    let requests: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let rps: f64 = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let percentile = |p: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(p))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(latency_us)
    };
    let non_2xx = text.lines().any(|l| l.contains("Non-2xx"));
    if non_2xx {
        eprintln!("warning: {url} answered non-2xx responses");
    }
    Some(Sample {
        requests_per_second: rps,
        p50_us: percentile("50%")?,
        p99_us: percentile("99%")?,
        cpu_us_per_request: (after - before) as f64 / ticks_per_second() * 1e6 / requests,
    })
}

/// The median (the upper one of an even count).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// This binary in `mode` as a child process, on core 0 when `taskset` is present (the `bool`),
/// its standard output piped.
pub(crate) fn spawn_server(mode: &str) -> Result<(std::process::Child, bool), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let pin = Command::new("taskset").arg("--version").output().is_ok();
    let mut server = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let server = server
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    Ok((server, pin))
}

/// `AUTHSTAR_E2E_ROUNDS` (default 3) and `AUTHSTAR_E2E_SECONDS` per sample (default 5).
pub(crate) fn rounds_and_seconds() -> (usize, u64) {
    let rounds = std::env::var("AUTHSTAR_E2E_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let seconds = std::env::var("AUTHSTAR_E2E_SECONDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    (rounds, seconds)
}

/// `e2e`: starts the server, drives every route with wrk, writes the report.
pub(crate) fn run() -> Result<String, String> {
    let (mut server, pin) = spawn_server("serve")?;
    let pid = server.id();
    let mut lines = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
    let port = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("port ").map(str::to_owned))
        .ok_or("no port")?;
    let jwt = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("jwt ").map(str::to_owned))
        .ok_or("no jwt")?;
    let dpop = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("dpop ").map(str::to_owned))
        .ok_or("no dpop")?;
    let (bound, client_der) = dpop.split_once(' ').ok_or("no dpop key")?;
    let client_key = STANDARD
        .decode(client_der)
        .map_err(|e| e.to_string())
        .and_then(|der| {
            SigningKey::from_pkcs8(jsonwebtoken::Algorithm::ES256, "client", &der)
                .map_err(|e| e.to_string())
        })?;
    let client = DpopClient::with_key(client_key);
    let proofs_file =
        std::env::temp_dir().join(format!("authstar-e2e-{}.proofs", std::process::id()));
    let (rounds, seconds) = rounds_and_seconds();
    let load = |path: &str| -> Result<Load, String> {
        Ok(match path {
            "/key" => Load::Header(format!("X-API-Key: {TOKEN}")),
            "/bearer" => Load::Header(format!("Authorization: Bearer {TOKEN}")),
            "/jwt" => Load::Header(format!("Authorization: Bearer {jwt}")),
            "/dpop" => {
                // Fresh proofs for this sample (each used once; `iat` within the window).
                let url = format!("http://127.0.0.1:{port}/dpop");
                let mut text = String::new();
                for _ in 0..PROOFS_PER_SECOND * seconds {
                    let proof = client.proof("GET", &url, Some(bound));
                    text.push_str(&proof);
                    text.push('\n');
                }
                std::fs::write(&proofs_file, text).map_err(|e| e.to_string())?;
                Load::Proofs {
                    authorization: format!("DPoP {bound}"),
                    file: proofs_file.display().to_string(),
                }
            }
            _ => Load::Plain,
        })
    };
    let mut samples: Vec<Vec<Sample>> = ROUTES.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..ROUTES.len() {
            let i = (k + round) % ROUTES.len();
            let route = &ROUTES[i];
            eprintln!("round {}/{rounds}: {}", round + 1, route.path);
            let url = format!("http://127.0.0.1:{port}{}", route.path);
            let load = match load(route.path) {
                Ok(load) => load,
                Err(error) => {
                    let _ = server.kill();
                    return Err(error);
                }
            };
            match run_wrk(&url, &load, seconds, pid, pin) {
                Some(sample) => samples[i].push(sample),
                None => {
                    let _ = server.kill();
                    return Err(format!(
                        "wrk failed on {url}: is wrk installed (apt-get install wrk)?"
                    ));
                }
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&proofs_file);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# authstar end to end\n\n`cargo run -p authstar-bench --release -- e2e` — axum on 127.0.0.1, one worker \
         thread{}, `wrk -t1 -c16 -d{seconds}s`, {rounds} interleaved rounds. Medians over rounds, \
         with the min–max of the server's CPU per request (its run-to-run spread).\n",
        if pin { " on core 0, wrk on core 1" } else { "" }
    );
    let _ = writeln!(
        out,
        "| route | req/s | p50 µs | p99 µs | server CPU µs/request (min–max) | Δ CPU vs open |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let mut open_cpu = 0.0;
    for (route, samples) in ROUTES.iter().zip(&samples) {
        let mut rps: Vec<f64> = samples.iter().map(|s| s.requests_per_second).collect();
        let mut p50: Vec<f64> = samples.iter().map(|s| s.p50_us).collect();
        let mut p99: Vec<f64> = samples.iter().map(|s| s.p99_us).collect();
        let mut cpu: Vec<f64> = samples.iter().map(|s| s.cpu_us_per_request).collect();
        let (min, max) = cpu
            .iter()
            .fold((f64::INFINITY, 0.0_f64), |(a, b), &c| (a.min(c), b.max(c)));
        let cpu_median = median(&mut cpu);
        if route.path == "/open" {
            open_cpu = cpu_median;
        }
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} ({:.2}–{:.2}) | {:+.2} |",
            route.label,
            median(&mut rps),
            median(&mut p50),
            median(&mut p99),
            cpu_median,
            min,
            max,
            cpu_median - open_cpu
        );
    }
    Ok(out)
}

//! A unary gRPC call over a real socket: the example service of
//! `crates/authstar-tonic/examples/grpc_reports.rs` served by tonic on 127.0.0.1 (one worker thread,
//! pinned to core 0), once bare and once behind the authstar layer and its per-method guard;
//! a tonic client (this process, pinned to core 1) keeps 16 calls in flight on one HTTP/2
//! connection, presenting an API key in metadata. Interleaved rounds; calls per second,
//! p50/p99 latency, and the server's CPU time per call from `/proc/PID/stat`.
//!
//! `cargo run -p authstar-bench --release -- grpc-e2e` (`taskset` is used when present).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use tonic::metadata::MetadataValue;

use crate::e2e::{cpu_ticks, median, rounds_and_seconds, spawn_server, ticks_per_second};
use crate::grpc::reports;

/// Calls in flight at once.
const IN_FLIGHT: usize = 16;

/// `serve-grpc`: the server half, run as a child process. Prints `ports <bare> <secured>`.
pub(crate) fn serve() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let secured = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!(
            "ports {} {}",
            bare.local_addr()?.port(),
            secured.local_addr()?.port()
        );
        let plain = tonic::transport::Server::builder()
            .add_service(reports::ReportsServer)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(bare));
        let (plain, guarded) = tokio::join!(plain, reports::serve(secured));
        plain.and(guarded).map_err(std::io::Error::other)
    })
}

struct Sample {
    calls_per_second: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_call: f64,
}

/// Drives `url` for `seconds` with [`IN_FLIGHT`] concurrent unary calls.
async fn drive(url: &str, seconds: u64, pid: u32) -> Result<Sample, String> {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    // Warm the connection (and the server's caches) before measuring.
    call(channel.clone()).await?;
    let before = cpu_ticks(pid).ok_or("no /proc")?;
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let start = Instant::now();
                call(channel.clone()).await?;
                latencies.push(start.elapsed().as_secs_f64() * 1e6);
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = cpu_ticks(pid).ok_or("no /proc")?;
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let calls = latencies.len() as f64;
    Ok(Sample {
        calls_per_second: calls / elapsed,
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
        cpu_us_per_call: (after - before) as f64 / ticks_per_second() * 1e6 / calls,
    })
}

/// One `Export` call with the API key; an error unless it succeeds.
async fn call(channel: tonic::transport::Channel) -> Result<(), String> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| e.to_string())?;
    let mut request = tonic::Request::new(reports::ExportRequest {
        report: "q3".into(),
    });
    request
        .metadata_mut()
        .insert("x-api-key", MetadataValue::from_static("demo-key"));
    let codec = tonic_prost::ProstCodec::<reports::ExportRequest, reports::ExportReply>::default();
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static(reports::EXPORT),
        codec,
    )
    .await
    .map(|_| ())
    .map_err(|status| format!("the call failed: {status}"))
}

/// `grpc-e2e`: starts the server, drives both endpoints, writes the report.
pub(crate) fn run() -> Result<String, String> {
    let (mut server, pin) = spawn_server("serve-grpc")?;
    if pin {
        // This process (the client, all its threads) on core 1.
        let _ = Command::new("taskset")
            .args(["-a", "-cp", "1", &std::process::id().to_string()])
            .output();
    }
    let pid = server.id();
    let mut lines = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
    let ports: Vec<String> = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("ports ").map(str::to_owned))
        .ok_or("no ports")?
        .split(' ')
        .map(str::to_owned)
        .collect();
    let endpoints = [
        (
            "unary call, no layer",
            ports.first().ok_or("no port")?.clone(),
        ),
        (
            "unary call, authstar layer + method guard (API key in metadata)",
            ports.get(1).ok_or("no port")?.clone(),
        ),
    ];
    let (rounds, seconds) = rounds_and_seconds();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut samples: Vec<Vec<Sample>> = endpoints.iter().map(|_| Vec::new()).collect();
    let measured = runtime.block_on(async {
        for round in 0..rounds {
            for k in 0..endpoints.len() {
                let i = (k + round) % endpoints.len();
                let (label, port) = &endpoints[i];
                eprintln!("round {}/{rounds}: {label}", round + 1);
                let url = format!("http://127.0.0.1:{port}");
                samples[i].push(drive(&url, seconds, pid).await?);
            }
        }
        Ok::<_, String>(())
    });
    let _ = server.kill();
    let _ = server.wait();
    measured?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# gRPC end to end\n\n`cargo run -p authstar-bench --release -- grpc-e2e`: the example \
         tonic service (`crates/authstar-tonic/examples/grpc_reports.rs`) on 127.0.0.1, one worker \
         thread{}, a tonic client with {IN_FLIGHT} unary calls in flight on one HTTP/2 \
         connection for {seconds} s, {rounds} interleaved rounds. Medians over rounds, with the \
         min–max of the server's CPU per call.\n",
        if pin {
            " on core 0, the client on core 1"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "| endpoint | calls/s | p50 µs | p99 µs | server CPU µs/call (min–max) | Δ CPU vs bare |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let mut bare_cpu = 0.0;
    for (index, ((label, _), samples)) in endpoints.iter().zip(&samples).enumerate() {
        let mut rate: Vec<f64> = samples.iter().map(|s| s.calls_per_second).collect();
        let mut p50: Vec<f64> = samples.iter().map(|s| s.p50_us).collect();
        let mut p99: Vec<f64> = samples.iter().map(|s| s.p99_us).collect();
        let mut cpu: Vec<f64> = samples.iter().map(|s| s.cpu_us_per_call).collect();
        let (min, max) = cpu
            .iter()
            .fold((f64::INFINITY, 0.0_f64), |(a, b), &c| (a.min(c), b.max(c)));
        let cpu_median = median(&mut cpu);
        if index == 0 {
            bare_cpu = cpu_median;
        }
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.0} | {:.0} | {:.2} ({:.2}–{:.2}) | {:+.2} |",
            median(&mut rate),
            median(&mut p50),
            median(&mut p99),
            cpu_median,
            min,
            max,
            cpu_median - bare_cpu
        );
    }
    Ok(out)
}

//! ES256 and EdDSA sign and verify with the three pure-registry candidates for authstar's
//! signature backend, interleaved in one process, against `openssl speed` in the same run.
//!
//! `cargo run --release --manifest-path benchmarks/signatures/Cargo.toml`
//! (`SIGNATURE_ROUNDS`, default 7; pin it with `taskset -c 0` on a shared machine).
//!
//! Each case signs or verifies a JWS signing input of the size authstar issues (a ~330-byte
//! `header.claims`). Time is the thread's CPU (user + system, from `/proc/thread-self/stat`)
//! over the whole run divided by the operations, and the median of the rounds' wall clock.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::Signer as _;
use ed25519_dalek::Verifier as _;

/// A JWS signing input the size of an authstar access token's.
const MESSAGE: &[u8] = b"eyJhbGciOiJFUzI1NiIsImtpZCI6ImRlbW8iLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwMDAiLCJzdWIiOiJkZW1vIiwiYXVkIjoiaHR0cDovLzEyNy4wLjAuMTo4MDAwIiwiY2xpZW50X2lkIjoiZGVtbyIsImV4cCI6MTc2NDY5NDQwMCwiaWF0IjoxNzY0NjkwODAwLCJqdGkiOiJvVjNxN0JwWk5xR3BfNUtXWjhZUmd3Iiwic2NvcGUiOiJyZXBvcnRzOnJlYWQifQ";

struct Case {
    backend: &'static str,
    operation: &'static str,
    run: Box<dyn FnMut()>,
    /// Operations per round (calibrated to ~0.3 s).
    per_round: u64,
    ops: u64,
    cpu: Duration,
    walls: Vec<f64>,
}

fn case(backend: &'static str, operation: &'static str, run: impl FnMut() + 'static) -> Case {
    Case {
        backend,
        operation,
        run: Box::new(run),
        per_round: 0,
        ops: 0,
        cpu: Duration::ZERO,
        walls: Vec::new(),
    }
}

/// This thread's CPU time so far, from `/proc` (clock ticks, 100 per second on Linux).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces: the state
    // is the first, utime and stime (fields 14 and 15 of the line) the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

fn ring_cases() -> Vec<Case> {
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("ring P-256 key");
    let ecdsa = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("ring P-256 key");
    let public = ecdsa.public_key().as_ref().to_vec();
    let signed = ecdsa.sign(&rng, MESSAGE).expect("sign").as_ref().to_vec();
    let verifier = signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public);
    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("ring Ed25519 key");
    let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).expect("ring Ed25519 key");
    let ed_signed = ed.sign(MESSAGE).as_ref().to_vec();
    let ed_verifier =
        signature::UnparsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref().to_vec());
    let sign_rng = SystemRandom::new();
    let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]);
    let tag = ring::hmac::sign(&hmac, MESSAGE).as_ref().to_vec();
    vec![
        case("ring 0.17", "HS256 verify", move || {
            ring::hmac::verify(&hmac, black_box(MESSAGE), black_box(&tag)).expect("verify");
        }),
        case("ring 0.17", "ES256 sign", move || {
            black_box(ecdsa.sign(&sign_rng, black_box(MESSAGE)).expect("sign"));
        }),
        case("ring 0.17", "ES256 verify", move || {
            verifier
                .verify(black_box(MESSAGE), black_box(&signed))
                .expect("verify");
        }),
        case("ring 0.17", "EdDSA sign", move || {
            black_box(ed.sign(black_box(MESSAGE)));
        }),
        case("ring 0.17", "EdDSA verify", move || {
            ed_verifier
                .verify(black_box(MESSAGE), black_box(&ed_signed))
                .expect("verify");
        }),
    ]
}

fn aws_lc_cases() -> Vec<Case> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("aws-lc P-256 key");
    let ecdsa = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("aws-lc P-256 key");
    let public = ecdsa.public_key().as_ref().to_vec();
    let signed = ecdsa.sign(&rng, MESSAGE).expect("sign").as_ref().to_vec();
    let verifier = signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public);
    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("aws-lc Ed25519 key");
    let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).expect("aws-lc Ed25519 key");
    let ed_signed = ed.sign(MESSAGE).as_ref().to_vec();
    let ed_verifier =
        signature::UnparsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref().to_vec());
    let hmac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7; 32]);
    let tag = aws_lc_rs::hmac::sign(&hmac, MESSAGE).as_ref().to_vec();
    vec![
        case("aws-lc-rs 1", "HS256 verify", move || {
            aws_lc_rs::hmac::verify(&hmac, black_box(MESSAGE), black_box(&tag)).expect("verify");
        }),
        case("aws-lc-rs 1", "ES256 sign", move || {
            black_box(ecdsa.sign(&rng, black_box(MESSAGE)).expect("sign"));
        }),
        case("aws-lc-rs 1", "ES256 verify", move || {
            verifier
                .verify(black_box(MESSAGE), black_box(&signed))
                .expect("verify");
        }),
        case("aws-lc-rs 1", "EdDSA sign", move || {
            black_box(ed.sign(black_box(MESSAGE)));
        }),
        case("aws-lc-rs 1", "EdDSA verify", move || {
            ed_verifier
                .verify(black_box(MESSAGE), black_box(&ed_signed))
                .expect("verify");
        }),
    ]
}

fn rust_crypto_cases() -> Vec<Case> {
    use rand_core::OsRng;
    let ecdsa = p256::ecdsa::SigningKey::random(&mut OsRng);
    let verifying = *ecdsa.verifying_key();
    let signed: p256::ecdsa::Signature = ecdsa.sign(MESSAGE);
    let ed = ed25519_dalek::SigningKey::generate(&mut OsRng);
    let ed_verifying = ed.verifying_key();
    let ed_signed = ed.sign(MESSAGE);
    vec![
        case(
            "RustCrypto (p256 0.13, ed25519-dalek 2)",
            "ES256 sign",
            move || {
                let signature: p256::ecdsa::Signature = ecdsa.sign(black_box(MESSAGE));
                black_box(signature);
            },
        ),
        case(
            "RustCrypto (p256 0.13, ed25519-dalek 2)",
            "ES256 verify",
            move || {
                verifying
                    .verify(black_box(MESSAGE), black_box(&signed))
                    .expect("verify");
            },
        ),
        case(
            "RustCrypto (p256 0.13, ed25519-dalek 2)",
            "EdDSA sign",
            move || {
                black_box(ed.sign(black_box(MESSAGE)));
            },
        ),
        case(
            "RustCrypto (p256 0.13, ed25519-dalek 2)",
            "EdDSA verify",
            move || {
                ed_verifying
                    .verify(black_box(MESSAGE), black_box(&ed_signed))
                    .expect("verify");
            },
        ),
    ]
}

/// `openssl speed` in µs per operation: [ES256 sign, ES256 verify, EdDSA sign, EdDSA verify].
fn openssl_speed() -> Option<[f64; 4]> {
    let output = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "2", "ecdsap256", "ed25519"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let per_second = |needle: &str| -> Option<(f64, f64)> {
        let line = text.lines().find(|l| l.contains(needle))?;
        let numbers: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match numbers.as_slice() {
            [.., sign, verify] => Some((1e6 / sign, 1e6 / verify)),
            _ => None,
        }
    };
    let (es_sign, es_verify) = per_second("ecdsa (nistp256)")?;
    let (ed_sign, ed_verify) = per_second("(Ed25519)")?;
    Some([es_sign, es_verify, ed_sign, ed_verify])
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let rounds: usize = std::env::var("SIGNATURE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    // aws-lc seeds its random generator on first use (a CPU-jitter entropy source, then the
    // OS): a one-time cost a process pays at its first signature or random token id.
    let first = Instant::now();
    let mut byte = [0u8; 1];
    aws_lc_rs::rand::fill(&mut byte).expect("aws-lc random");
    let first_random = first.elapsed();
    let mut cases: Vec<Case> = ring_cases()
        .into_iter()
        .chain(aws_lc_cases())
        .chain(rust_crypto_cases())
        .collect();
    let floor_before = openssl_speed();
    for case in &mut cases {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(100) {
            (case.run)();
            n += 1;
        }
        case.per_round = (n * 3).max(10);
    }
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        let count = cases.len();
        for k in 0..count {
            let case = &mut cases[(k + round) % count];
            let (cpu, wall) = (thread_cpu(), Instant::now());
            for _ in 0..case.per_round {
                (case.run)();
            }
            let elapsed = wall.elapsed();
            case.cpu += thread_cpu().saturating_sub(cpu);
            case.ops += case.per_round;
            case.walls
                .push(elapsed.as_secs_f64() * 1e6 / case.per_round as f64);
        }
    }
    let floor_after = openssl_speed();
    let floor = match (floor_before, floor_after) {
        (Some(a), Some(b)) => Some(std::array::from_fn::<f64, 4, _>(|i| (a[i] + b[i]) / 2.0)),
        (a, b) => a.or(b),
    };
    let operations = [
        "ES256 sign",
        "ES256 verify",
        "EdDSA sign",
        "EdDSA verify",
        "HS256 verify",
    ];
    println!("| backend | {} |", operations.join(" µs | ") + " µs");
    println!("|---|{}", "---:|".repeat(operations.len()));
    if let Some(floor) = floor {
        let mut cells: Vec<String> = floor.iter().map(|v| format!("{v:.1}")).collect();
        cells.push("—".to_owned());
        println!(
            "| `openssl speed` (the floor; mean of before and after) | {} |",
            cells.join(" | ")
        );
    }
    eprintln!(
        "aws-lc-rs: first random bytes after {:.1} ms",
        first_random.as_secs_f64() * 1e3
    );
    let mut backends: Vec<&'static str> = cases.iter().map(|c| c.backend).collect();
    backends.dedup();
    for backend in backends {
        let cells: Vec<String> = operations
            .iter()
            .enumerate()
            .map(|(i, operation)| {
                let Some(case) = cases
                    .iter_mut()
                    .find(|c| c.backend == backend && c.operation == *operation)
                else {
                    return "—".to_owned();
                };
                let cpu = case.cpu.as_secs_f64() * 1e6 / case.ops as f64;
                let wall = median(&mut case.walls);
                let ratio = floor
                    .and_then(|f| f.get(i).copied())
                    .map_or(String::new(), |f| format!(", {:.2}×", cpu / f));
                let digits = if cpu < 10.0 { 2 } else { 1 };
                format!("{cpu:.digits$} (wall {wall:.digits$}{ratio})")
            })
            .collect();
        println!("| {backend} | {} |", cells.join(" | "));
    }
}

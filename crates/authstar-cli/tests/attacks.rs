//! `authstar demo` tried as an attacker would, over real sockets on 127.0.0.1: each test is a
//! defect found that way (issue "Security: close the holes ..."), failing before its fix.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use support::Demo;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

const IMPORTED: &str = "an imported secret, long enough";

/// Creates a client with an imported (argon2) secret through the CLI.
fn imported_client(demo: &Demo, id: &str, secret: &str) {
    let output = demo.cli(&["clients", "create", "--id", id, "--secret", secret]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn login(demo: &Demo) -> String {
    let secret = demo.value("client_secret:");
    let response = reqwest::Client::new()
        .post(format!("{}/session", demo.base))
        .basic_auth("demo-client", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_with_its_client_and_never_renews_itself() {
    let demo = Demo::start("attack-session", &[]);
    let cookie = cookie_pair(&login(&demo).await);
    let http = reqwest::Client::new();
    let me = |cookie: String| {
        let http = http.clone();
        let url = format!("{}/me", demo.base);
        async move {
            let response = http.get(url).header("cookie", cookie).send().await.unwrap();
            response.status()
        }
    };
    assert_eq!(me(cookie.clone()).await, StatusCode::OK);

    // The renewal loop: a session presented alone does not mint a new one.
    let renew = http
        .post(format!("{}/session", demo.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(renew.status(), StatusCode::BAD_REQUEST);
    assert!(renew.headers().get("set-cookie").is_none());

    // Revoked by another process: the cookie stops working (the demo runs with --cache-ttl 0).
    let revoked = demo.cli(&["clients", "revoke", "demo-client"]);
    assert!(revoked.status.success());
    assert_eq!(me(cookie).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_secure_when_the_service_is_reached_over_https() {
    let plain = Demo::start("attack-cookie-http", &[]);
    assert!(!login(&plain).await.contains("Secure"));
    drop(plain);
    let https = Demo::start(
        "attack-cookie-https",
        &["--issuer", "https://auth.example.test"],
    );
    assert!(login(&https).await.contains("Secure"));
    drop(https);
    let forced = Demo::start("attack-cookie-flag", &["--secure-cookies", "true"]);
    assert!(login(&forced).await.contains("Secure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_meets_429_per_identity_and_on_the_token_endpoint() {
    let demo = Demo::start("attack-guess", &[]);
    imported_client(&demo, "imported", IMPORTED);
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 0..12 {
        let response = http
            .get(format!("{}/me", demo.base))
            .basic_auth("imported", Some(format!("guess number {n:02} !!")))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry));
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10], "10 mistakes are forgiven");
    assert_eq!(&statuses[10..], &[429, 429]);
    // Other clients from the same address are not punished.
    let secret = demo.value("client_secret:");
    let other = http
        .get(format!("{}/me", demo.base))
        .basic_auth("demo-client", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    // The token endpoint's body credentials share the identity's budget.
    let posted = http
        .post(format!("{}/oauth2/token", demo.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "imported"),
            ("client_secret", "yet another guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(posted.headers()["cache-control"], "no-store");
    let logs = demo.stop();
    assert_eq!(
        logs.matches("locking out").count(),
        1,
        "one warning per lockout:\n{logs}"
    );
    assert!(!logs.contains("guess number"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guesser_cannot_lock_a_client_out_of_its_own_address() {
    let demo = Demo::start("attack-lockout", &["--trusted-proxies", "127.0.0.1"]);
    let secret = demo.value("client_secret:");
    let http = reqwest::Client::new();
    let me = |from: &str, password: String| {
        http.get(format!("{}/me", demo.base))
            .header("x-forwarded-for", from)
            .basic_auth("demo-client", Some(password))
            .send()
    };
    for n in 0..10 {
        let guess = me("203.0.113.66", format!("guess {n}")).await.unwrap();
        assert_eq!(guess.status(), 401);
    }
    assert_eq!(
        me("203.0.113.66", secret.clone()).await.unwrap().status(),
        429,
        "the guesser's address is locked for this client, right secret or not"
    );
    assert_eq!(
        me("10.9.9.9", secret).await.unwrap().status(),
        200,
        "the client itself, from its own address, gets in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_password_flood_is_bounded_answers_503_and_does_not_tell_which_ids_exist() {
    // 96 clients at once from one address: above the per-address cap (64) on purpose here.
    let demo = Demo::start(
        "attack-flood",
        &["--no-throttle", "--max-connections-per-address", "1000"],
    );
    imported_client(&demo, "imported", IMPORTED);
    let http = reqwest::Client::new();
    let before = demo.rss_kib();
    let mut tasks = Vec::new();
    for n in 0..96 {
        let http = http.clone();
        let url = format!("{}/oauth2/token", demo.base);
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for round in 0..3 {
                let response = http
                    .post(&url)
                    .basic_auth("imported", Some(format!("wrong guess {n}-{round} xx")))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                if status == 503 {
                    assert!(response.headers().contains_key("retry-after"));
                }
                statuses.push(status);
            }
            statuses
        }));
    }
    let mut peak = before;
    let mut statuses = Vec::new();
    for task in tasks {
        peak = peak.max(demo.rss_kib());
        statuses.extend(task.await.unwrap());
    }
    peak = peak.max(demo.rss_kib());
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "beyond the bound: 503, not a queue"
    );
    let growth_mib = (peak.saturating_sub(before)) / 1024;
    println!(
        "flood: RSS {before} KiB → peak {peak} KiB (+{growth_mib} MiB); 401: {}, 503: {}",
        statuses.iter().filter(|s| **s == 401).count(),
        statuses.iter().filter(|s| **s == 503).count()
    );
    assert!(growth_mib < 256, "RSS grew {growth_mib} MiB");

    // Unknown ids answer as slowly as a wrong imported secret (interleaved medians).
    let time = |id: &'static str| {
        let http = http.clone();
        let url = format!("{}/oauth2/token", demo.base);
        async move {
            let started = Instant::now();
            let response = http
                .post(url)
                .basic_auth(id, Some("a wrong guess, timed"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
            started.elapsed()
        }
    };
    // Paired: each unknown-id answer against the known-id answer just before it, so a busy
    // moment (other tests share these two cores) slows both sides of a pair; the median of the
    // pairs' ratios. What this must catch is a difference an attacker can see, such as a
    // missing dummy hash (an unknown id answering ~100× faster), not a scheduler's 15 %.
    time("imported").await;
    let mut ratios = Vec::new();
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..25 {
        let k = time("imported").await;
        let u = time("no-such-client").await;
        ratios.push(u.as_secs_f64() / k.as_secs_f64());
        known.push(k);
        unknown.push(u);
    }
    ratios.sort_by(f64::total_cmp);
    known.sort();
    unknown.sort();
    let ratio = ratios[12];
    println!(
        "timing: known id {:?}, unknown id {:?} (medians), median paired ratio {ratio:.3}",
        known[12], unknown[12]
    );
    assert!((0.8..1.25).contains(&ratio), "{ratio}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rfc6749_escaped_secret_is_not_cut_at_the_ampersand() {
    let demo = Demo::start("attack-escaped", &[]);
    let secret = "secret & more = yes, 100%";
    imported_client(&demo, "escaped", secret);
    let encode =
        |part: &str| -> String { form_urlencoded::byte_serialize(part.as_bytes()).collect() };
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encode("escaped"),
        encode(secret)
    ));
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/token", demo.base))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[test]
fn a_lost_secrets_file_stops_the_service_with_one_line_and_no_new_pepper() {
    let demo = Demo::start("attack-lost", &[]);
    let secrets = demo.dir().join("demo.db.secrets.json");
    std::fs::remove_file(&secrets).unwrap();
    let listed = demo.cli(&["clients", "list"]);
    assert!(!listed.status.success());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authstar"))
        .args(["demo", "--port", "0", "--db", "demo.db"])
        .current_dir(demo.dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains("restore"), "{message}");
    assert!(!secrets.exists(), "no new pepper was written");
}

/// Opens a connection that sends half a request head and stops.
fn half_a_header(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    stream
}

#[test]
fn slow_clients_are_cut_off_and_cannot_starve_real_ones() {
    let demo = Demo::start(
        "attack-slow",
        &["--header-timeout", "1", "--max-connections", "8"],
    );
    let address = demo.base.trim_start_matches("http://").to_owned();
    let mut slow: Vec<TcpStream> = (0..8).map(|_| half_a_header(&address)).collect();
    // All slots are taken; a real request waits for the slow ones to be cut off, then succeeds.
    let started = Instant::now();
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{}/", demo.base))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buffer = Vec::new();
        // The server closed it (EOF, or a reset): it is not held open.
        let closed = match stream.read_to_end(&mut buffer) {
            Ok(_) => true,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "a slow connection was still open");
    }
    // An idle keep-alive connection is closed after the same timeout.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buffer = Vec::new();
    let started = Instant::now();
    let _ = idle.read_to_end(&mut buffer);
    assert!(String::from_utf8_lossy(&buffer).starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn bodies_over_the_limit_are_refused() {
    let demo = Demo::start("attack-body", &["--max-body", "1024"]);
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/oauth2/token", demo.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&pad={}",
            "x".repeat(4096)
        ))
        .send()
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_websocket_opens_only_from_an_allowed_origin() {
    let demo = Demo::start(
        "attack-ws",
        &["--allowed-origin", "https://app.example.test"],
    );
    let cookie = cookie_pair(&login(&demo).await);
    let url = format!("{}/ws", demo.base.replacen("http://", "ws://", 1));
    let handshake = |headers: Vec<(&'static str, String)>| {
        let url = url.clone();
        async move {
            let mut request = url.into_client_request().unwrap();
            for (name, value) in headers {
                request.headers_mut().insert(name, value.parse().unwrap());
            }
            match tokio_tungstenite::connect_async(request).await {
                Ok((mut socket, _)) => {
                    let hello = socket.next().await.unwrap().unwrap();
                    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
                    assert_eq!(hello["client_id"], "demo-client");
                    101
                }
                Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
                Err(other) => panic!("{other}"),
            }
        }
    };
    let evil = "https://evil.example".to_owned();
    assert_eq!(
        handshake(vec![("cookie", cookie.clone()), ("origin", evil.clone())]).await,
        403,
        "cross-site websocket hijacking"
    );
    assert_eq!(
        handshake(vec![
            ("cookie", cookie.clone()),
            ("origin", demo.base.clone())
        ])
        .await,
        101
    );
    assert_eq!(
        handshake(vec![
            ("cookie", cookie.clone()),
            ("origin", "https://app.example.test".into())
        ])
        .await,
        101
    );
    assert_eq!(
        handshake(vec![("cookie", cookie)]).await,
        101,
        "not a browser"
    );
    // Any handshake that carries an `Origin` is checked, whatever its credential: a browser
    // attaches a cached Basic credential by itself (issue 20, item 13: it was let through).
    let key = demo.value("api_key:");
    assert_eq!(
        handshake(vec![("x-api-key", key.clone()), ("origin", evil.clone())]).await,
        403
    );
    let secret = demo.value("client_secret:");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("demo-client:{secret}"));
    assert_eq!(
        handshake(vec![
            ("authorization", format!("Basic {basic}")),
            ("origin", evil)
        ])
        .await,
        403
    );
    assert_eq!(handshake(vec![("x-api-key", key)]).await, 101);
}

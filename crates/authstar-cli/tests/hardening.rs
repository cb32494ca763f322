//! `authstar demo` tried as an attacker would, second pass (issue 20), over real sockets on
//! 127.0.0.1: each test is a defect found that way and failed before its fix.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use support::Demo;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A websocket to the demo's `/ws` with `header`, past its hello.
async fn open_socket(demo: &Demo, header: (&str, &str)) -> Socket {
    let url = format!("{}/ws", demo.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        tungstenite::http::HeaderName::from_bytes(header.0.as_bytes()).unwrap(),
        header.1.parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = socket.next().await.unwrap().unwrap();
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello["client_id"], "demo-client");
    socket
}

/// How the socket ends within `within`: the close code the server sent, or `None` when the
/// connection just broke; panics if it stays open or echoes.
async fn ends_with(socket: &mut Socket, within: Duration) -> Option<u16> {
    let ended = tokio::time::timeout(within, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(other)) => panic!("the socket answered: {:?}", other.len()),
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await;
    ended.expect("the socket is still open")
}

/// Item 1: a valid credential opened `/ws` and then had no limit: 60 MiB messages echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_message_over_the_limit_closes_the_socket() {
    let demo = Demo::start("hardening-ws-size", &[]);
    let key = demo.value("api_key:");
    let mut socket = open_socket(&demo, ("x-api-key", &key)).await;
    socket.send(Message::Text("small".into())).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap().to_text().unwrap(),
        "small"
    );
    let _ = socket
        .send(Message::Binary(vec![7u8; 200 * 1024].into()))
        .await;
    let code = ends_with(&mut socket, Duration::from_secs(5)).await;
    assert!(
        code.is_none_or(|code| code == u16::from(CloseCode::Size)),
        "{code:?}"
    );
}

/// Item 1: the connection slot was handed back on upgrade, so sockets escaped
/// `--max-connections` (40 open beside normal HTTP with a limit of 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_hold_their_connection_slot_until_they_close() {
    // Four connections; sockets may take half of them.
    let demo = Demo::start("hardening-ws-slots", &["--max-connections", "4"]);
    let key = demo.value("api_key:");
    let mut sockets = Vec::new();
    for _ in 0..2 {
        sockets.push(open_socket(&demo, ("x-api-key", &key)).await);
    }
    // Two silent connections hold the other two slots (until the 10 s header timeout).
    let address = demo.base.trim_start_matches("http://").to_owned();
    let _silent = [
        TcpStream::connect(&address).unwrap(),
        TcpStream::connect(&address).unwrap(),
    ];
    let http = reqwest::Client::new();
    let url = format!("{}/", demo.base);
    let waiting = http
        .get(&url)
        .timeout(Duration::from_millis(800))
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "a fifth connection was served while two websockets and two connections held every slot"
    );
    let mut first = sockets.remove(0);
    first.close(None).await.unwrap();
    let _ = ends_with(&mut first, Duration::from_secs(5)).await;
    served_within(&url, Duration::from_secs(5), "the closed socket's slot").await;
}

/// Retries `GET url` until it is answered 200, for at most `limit`.
async fn served_within(url: &str, limit: Duration, what: &str) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        match http.get(url).timeout(Duration::from_secs(1)).send().await {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                return;
            }
            Err(_) => assert!(started.elapsed() < limit, "{what}: never came back"),
        }
    }
}

/// Finding of the review of issue 20: the timeouts ran only while the handler waited for a
/// message; a client that sends and never reads blocked the echo's send, and its socket then
/// held its slot forever, revoked or not. A send now waits at most the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_loses_its_socket() {
    let demo = Demo::start(
        "hardening-ws-noread",
        &["--max-connections", "2", "--ws-idle-timeout", "2"],
    );
    let key = demo.value("api_key:");
    let mut socket = open_socket(&demo, ("x-api-key", &key)).await;
    // Frames the server echoes into a client that never reads, until its sends stall.
    let frame = vec![b'x'; 16 * 1024];
    for _ in 0..4_096 {
        let sent = tokio::time::timeout(
            Duration::from_millis(200),
            socket.send(Message::Binary(frame.clone().into())),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
    }
    // The other slot is held by a silent connection: a request gets in only once the stalled
    // socket gives its slot back.
    let address = demo.base.trim_start_matches("http://").to_owned();
    let _silent = TcpStream::connect(&address).unwrap();
    served_within(
        &format!("{}/", demo.base),
        Duration::from_secs(8),
        "the slot of a socket whose client never reads",
    )
    .await;
    drop(socket);
}

/// The review's second websocket finding: one credential from many addresses could take every
/// connection with sockets. Sockets have a pool of their own (half the connections) and a share
/// per client (8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_every_websocket() {
    let demo = Demo::start("hardening-ws-share", &[]);
    let key = demo.value("api_key:");
    let mut sockets = Vec::new();
    for _ in 0..8 {
        sockets.push(open_socket(&demo, ("x-api-key", &key)).await);
    }
    let url = format!("{}/ws", demo.base.replacen("http://", "ws://", 1));
    let mut request = url.clone().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", key.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
        }
        Ok(_) => panic!("a ninth socket for one client"),
        Err(other) => panic!("{other}"),
    }
    // The client's own socket closed: it may open another.
    let mut first = sockets.remove(0);
    first.close(None).await.unwrap();
    let _ = ends_with(&mut first, Duration::from_secs(5)).await;
    authstar_testkit::serve::until(Duration::from_secs(5), "the socket's place back", || {
        let mut request = url.clone().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("x-api-key", key.parse().unwrap());
        async move { tokio_tungstenite::connect_async(request).await.is_ok() }
    })
    .await;
}

/// Item 1: idle sockets outlived every timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_websocket_is_closed() {
    let demo = Demo::start("hardening-ws-idle", &["--ws-idle-timeout", "1"]);
    let key = demo.value("api_key:");
    let mut socket = open_socket(&demo, ("x-api-key", &key)).await;
    let started = Instant::now();
    let code = ends_with(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(code, Some(u16::from(CloseCode::Away)));
    assert!(started.elapsed() >= Duration::from_millis(800));
}

/// Item 1: sockets of a client (or key, token, session) revoked meanwhile kept echoing; they
/// close with 1008 at the next check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_when_what_opened_it_is_revoked() {
    let demo = Demo::start("hardening-ws-revoked", &["--ws-recheck", "1"]);
    let key = demo.value("api_key:");
    let secret = demo.value("client_secret:");
    let token = support::access_token(&demo.base, "demo-client", &secret).await;
    let key_id = key.split('_').nth(1).unwrap().to_owned();
    let mut by_key = open_socket(&demo, ("x-api-key", &key)).await;
    let bearer = format!("Bearer {token}");
    let mut by_token = open_socket(&demo, ("authorization", &bearer)).await;
    // Both stay open while their credentials hold (two checks).
    for socket in [&mut by_key, &mut by_token] {
        socket.send(Message::Text("still".into())).await.unwrap();
        assert_eq!(
            socket.next().await.unwrap().unwrap().to_text().unwrap(),
            "still"
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for socket in [&mut by_key, &mut by_token] {
        socket.send(Message::Text("here".into())).await.unwrap();
        assert_eq!(
            socket.next().await.unwrap().unwrap().to_text().unwrap(),
            "here"
        );
    }

    assert!(demo.cli(&["keys", "revoke", &key_id]).status.success());
    assert_eq!(
        ends_with(&mut by_key, Duration::from_secs(4)).await,
        Some(u16::from(CloseCode::Policy))
    );
    let revoked = reqwest::Client::new()
        .post(format!("{}/oauth2/revoke", demo.base))
        .basic_auth("demo-client", Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        ends_with(&mut by_token, Duration::from_secs(4)).await,
        Some(u16::from(CloseCode::Policy))
    );
}

/// Item 2: after a lock on `demo-client`, guesses as `%64emo-client` (an RFC 6749 §2.3.1
/// spelling of the same id) were each checked, and the right secret under an escaped id got
/// 200 and a token while the id was locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_id_stays_locked_under_every_spelling() {
    let demo = Demo::start("hardening-spelling", &[]);
    let secret = demo.value("client_secret:");
    let http = reqwest::Client::new();
    for n in 0..10 {
        let spelling = ["demo-client", "%64emo-client", "d%65mo-client"][n % 3];
        let guess = http
            .get(format!("{}/me", demo.base))
            .basic_auth(spelling, Some(format!("guess {n}")))
            .send()
            .await
            .unwrap();
        assert_eq!(guess.status(), 401, "guess {n} as {spelling}");
    }
    // Spelled twice over (`%2564`: decoded once, `%64emo-client`, another id): never the
    // locked client's token, at any endpoint, in either client authentication method.
    for spelling in ["%2564emo-client", "%252564emo-client"] {
        let basic = http
            .post(format!("{}/oauth2/token", demo.base))
            .basic_auth(spelling, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert!(
            matches!(basic.status().as_u16(), 401 | 429),
            "{spelling}: {}",
            basic.status()
        );
        let decoded_once = spelling.replacen("%25", "%", 1);
        let posted = http
            .post(format!("{}/oauth2/token", demo.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", decoded_once.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            matches!(posted.status().as_u16(), 401 | 429),
            "{spelling} posted: {}",
            posted.status()
        );
    }
    for spelling in ["demo-client", "%64emo-client", "demo%2Dclient"] {
        let me = http
            .get(format!("{}/me", demo.base))
            .basic_auth(spelling, Some(&secret))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::TOO_MANY_REQUESTS, "{spelling}");
        let token = http
            .post(format!("{}/oauth2/token", demo.base))
            .basic_auth(spelling, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), StatusCode::TOO_MANY_REQUESTS, "{spelling}");
    }
}

async fn session_from(demo: &Demo, header: (&str, &str)) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/session", demo.base))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn with_cookie(demo: &Demo, cookie: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/reports", demo.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

/// Item 4: a session cookie outlived the key or token that minted it (the key revoked, the
/// token revoked at `/oauth2/revoke`: the cookie still 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_with_the_key_or_token_that_minted_it() {
    let demo = Demo::start("hardening-session", &[]);
    let key = demo.value("api_key:");
    let secret = demo.value("client_secret:");
    let by_key = session_from(&demo, ("x-api-key", &key)).await;
    let token = support::access_token(&demo.base, "demo-client", &secret).await;
    let by_token = session_from(&demo, ("authorization", &format!("Bearer {token}"))).await;
    let other_token = support::access_token(&demo.base, "demo-client", &secret).await;
    let by_other = session_from(&demo, ("authorization", &format!("Bearer {other_token}"))).await;
    for cookie in [&by_key, &by_token, &by_other] {
        assert_eq!(with_cookie(&demo, cookie).await, StatusCode::OK);
    }
    let key_id = key.split('_').nth(1).unwrap();
    assert!(demo.cli(&["keys", "revoke", key_id]).status.success());
    assert_eq!(with_cookie(&demo, &by_key).await, StatusCode::UNAUTHORIZED);
    let revoked = reqwest::Client::new()
        .post(format!("{}/oauth2/revoke", demo.base))
        .basic_auth("demo-client", Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        with_cookie(&demo, &by_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with_cookie(&demo, &by_other).await,
        StatusCode::OK,
        "only the session of the revoked token"
    );
}

/// Item 7: an API key sent as a Basic user name (as Stripe-style clients send keys) was
/// logged whole when its lockout started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_sent_as_a_basic_user_name_never_reaches_the_log() {
    let demo = Demo::start("hardening-key-log", &[]);
    let key = demo.value("api_key:");
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let response = http
            .get(format!("{}/me", demo.base))
            .basic_auth(&key, Some(""))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let secret_part = key.rsplit('_').next().unwrap().to_owned();
    let logs = demo.stop();
    assert!(logs.contains("locking out"), "{logs}");
    assert!(
        !logs.contains(&secret_part),
        "the key reached the log:\n{logs}"
    );
}

/// Item 9: the metrics listener was served without timeouts or a connection cap: half-open
/// sockets stayed forever.
#[test]
fn the_metrics_listener_cuts_slow_clients_like_the_service() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let demo = Demo::start(
        "hardening-metrics",
        &["--metrics-addr", &address, "--header-timeout", "1"],
    );
    let mut slow = TcpStream::connect(&address).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a half-sent request held the metrics listener for {:?}",
        started.elapsed()
    );
    let metrics = reqwest::blocking::get(format!("http://{address}/metrics")).unwrap();
    assert_eq!(metrics.status(), 200);
    // Many silent connections: the listener serves 16 at once, the rest wait in the kernel's
    // queue, so they cost the process no file descriptor (with 1024 slots of its own, 300
    // such sockets left the service's `accept` without descriptors under a low limit).
    let descriptors = || {
        std::fs::read_dir(format!("/proc/{}/fd", demo.pid()))
            .unwrap()
            .count()
    };
    let before = descriptors();
    let _silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    // The listener is taking them (a descriptor each; one of its 16 slots may still hold the
    // scrape above), then holds no more however long the rest wait.
    authstar_testkit::serve::until_blocking(
        Duration::from_secs(5),
        "the metrics listener taking connections",
        || descriptors() >= before + 8,
    );
    std::thread::sleep(Duration::from_millis(300));
    let held = descriptors() - before;
    assert!(
        held <= 16,
        "{held} descriptors for 100 silent metrics connections"
    );
    drop(demo);
}

/// Item 15: a secrets file other users can read was used silently.
#[cfg(unix)]
#[test]
fn a_secrets_file_others_can_read_stops_the_service_with_its_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("authstar-hardening-modes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let authstar = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_authstar"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    // The registry and its secrets file, made by the CLI (0600), then opened up.
    assert!(
        authstar(&["clients", "create", "--id", "svc", "--db", "demo.db"])
            .status
            .success()
    );
    let secrets = dir.join("demo.db.secrets.json");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut demo = std::process::Command::new(env!("CARGO_BIN_EXE_authstar"))
        .args(["demo", "--port", "0", "--db", "demo.db"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = demo.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = demo.kill();
            panic!("the service started with a secrets file others can read");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    demo.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("readable by other users") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Item 16: one address could hold every connection slot (1,030 idle connections made a
/// legitimate request wait 7.3 s). Past the per-address cap its connections are closed at once;
/// another address is served (Linux: 127.0.0.2, loopback too, stands for another client).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let demo = Demo::start(
        "hardening-per-address",
        &[
            "--max-connections-per-address",
            "4",
            "--max-connections",
            "64",
        ],
    );
    let address = demo.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    // The fifth from the same address is closed without an answer.
    let mut fifth = tokio::net::TcpStream::connect(&address).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = fifth.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
        let mut buffer = [0u8; 64];
        matches!(fifth.read(&mut buffer).await, Ok(0) | Err(_))
    })
    .await;
    assert_eq!(
        closed,
        Ok(true),
        "the fifth connection from one address was served"
    );
    // Another address (127.0.0.2 is loopback too) is served at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = socket.connect(address.parse().unwrap()).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(3), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        other
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        other.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200")
    })
    .await;
    assert_eq!(answered, Ok(true));
    // A held connection closed gives its place back.
    drop(held.pop());
    authstar_testkit::serve::until(Duration::from_secs(5), "the place back", || async {
        reqwest::get(format!("{}/", demo.base))
            .await
            .is_ok_and(|again| again.status() == 200)
    })
    .await;
}

/// Item 3: every RFC 7009 revocation made every instance drop all its caches; now a client has
/// a revocation budget (100 at once, then 10 a second), beyond which it is told to retry (RFC
/// 7009 §2.2.1: 503, the token stays valid meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_revoking_without_bound_is_told_to_retry() {
    let demo = Demo::start("hardening-revocations", &[]);
    let secret = demo.value("client_secret:");
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for _ in 0..160 {
        tokens.push(support::access_token(&demo.base, "demo-client", &secret).await);
    }
    // All at once (eight in flight), faster than the budget refills.
    let revoke = |token: String| {
        let (http, url, secret) = (
            http.clone(),
            format!("{}/oauth2/revoke", demo.base),
            secret.clone(),
        );
        async move {
            let response = http
                .post(url)
                .basic_auth("demo-client", Some(&secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                assert!(response.headers().contains_key("retry-after"));
            }
            response.status().as_u16()
        }
    };
    let started = Instant::now();
    let statuses: Vec<u16> = futures_util::stream::iter(tokens.into_iter().map(revoke))
        .buffer_unordered(8)
        .collect()
        .await;
    // The budget: 100 at once, then one every 100 ms while the revocations ran.
    let refilled = (started.elapsed().as_millis() / 100) as usize + 1;
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        served >= 100 && served <= 100 + refilled,
        "{served} of 160 in {:?}: {statuses:?}",
        started.elapsed()
    );
    if 100 + refilled < 160 {
        assert!(statuses.contains(&503), "{statuses:?}");
    }
    assert!(statuses.iter().all(|s| *s == 200 || *s == 503));
}

/// Item 30, documented rather than changed: with PostgreSQL down at start the demo exits with
/// one line (it checks the pepper's fingerprint and the schema before serving anything), within
/// its call timeout, never a hang or a panic.
#[test]
fn a_demo_whose_database_is_down_exits_with_one_line() {
    let dir =
        std::env::temp_dir().join(format!("authstar-hardening-pgdown-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authstar"))
        .args(["demo", "--port", "0", "--secrets", "secrets.json", "--db"])
        .arg(format!(
            "postgres://authstar:hunter2@127.0.0.1:{closed}/authstar"
        ))
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The review of item 6: with no trusted proxy configured, a forwarded request's client is
/// unknown; its failures must still count against the peer's address, or a guesser escapes
/// the per-address budget by adding `X-Forwarded-For` to every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarding_header_does_not_escape_the_address_budget() {
    let demo = Demo::start("hardening-xff-budget", &[]);
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    // 100 failures at once, then one more every 0.6 s: 130 tries outrun the refill.
    for n in 0..130 {
        // A new identity each time (no identity lock), a made-up client address each time.
        let response = http
            .get(format!("{}/me", demo.base))
            .basic_auth(format!("guesser-{n}"), Some("wrong"))
            .header("x-forwarded-for", format!("198.51.100.{}", n % 250))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..100], &[401; 100][..]);
    assert!(statuses.contains(&429), "{statuses:?}");
}

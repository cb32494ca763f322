//! Each outcome is one `tracing` event, and no event ever carries a credential.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, BearerToken, Verdict};
use http::{Request, Response};
use tower::{Layer, ServiceExt, service_fn};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn events_name_the_method_and_never_the_credential() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|token: BearerToken| async move {
            match token.as_str() {
                "secret-valid-token" => Verdict::Authenticated(AuthstarClient::new("c1", ["r"])),
                "secret-outage-token" => Verdict::Unavailable("database timed out".into()),
                _ => Verdict::Rejected,
            }
        })
        .on_auth_basic(|_: BasicCredentials| async { None::<AuthstarClient> })
        .unavailable_on_backend_error(Duration::from_secs(1))
        .build()
        .unwrap();
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    }));
    let secrets = [
        "Bearer secret-valid-token",
        "Bearer secret-outage-token",
        "Bearer secret-wrong-token",
        "Bearer secret bad syntax",
        "Basic c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3N3b3Jk", // secret-user:secret-password
    ];
    for value in secrets {
        let request = Request::builder()
            .header("authorization", value)
            .body(())
            .unwrap();
        service.clone().oneshot(request).await.unwrap();
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), secrets.len(), "one event per request:\n{logs}");
    assert!(lines[0].contains("authenticated") && lines[0].contains("client_id=\"c1\""));
    assert!(lines[1].contains("WARN") && lines[1].contains("database timed out"));
    assert!(lines[2].contains("rejected"));
    assert!(lines[3].contains("malformed"));
    assert!(
        !logs.contains("secret"),
        "a credential leaked into the logs:\n{logs}"
    );
    assert!(
        !logs.contains("c2VjcmV0"),
        "a credential leaked into the logs:\n{logs}"
    );
}

#[tokio::test]
async fn a_lockout_logs_one_warning_when_it_starts_and_never_the_password() {
    use authstar::throttle::{Budget, FailureThrottle};
    use std::net::{IpAddr, SocketAddr};

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let throttle = FailureThrottle::new()
        .client_address(|extensions, _| extensions.get::<SocketAddr>().map(|a| a.ip()))
        .per_address(Some(Budget::new(3, 1)));
    let layer = AuthstarLayer::builder()
        .on_auth_basic(|_: BasicCredentials| async { None::<AuthstarClient> })
        .throttle(throttle)
        .build()
        .unwrap();
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    }));
    let peer = SocketAddr::new(IpAddr::from([192, 0, 2, 1]), 4000);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let mut request = Request::builder()
            // secret-user:secret-password
            .header(
                "authorization",
                "Basic c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3N3b3Jk",
            )
            .body(())
            .unwrap();
        request.extensions_mut().insert(peer);
        statuses.push(
            service
                .clone()
                .oneshot(request)
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 17);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("locking out")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "one line per lockout, not per request:\n{logs}"
    );
    assert!(warnings[0].contains("192.0.2.1"), "{logs}");
    assert!(!logs.contains("secret-password"), "{logs}");
}

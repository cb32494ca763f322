//! A browser test: headless Chromium (Debian's `chromium`, driven by `playwright-core`; no
//! browser download) opens the demo's Swagger UI at `/docs`, authorises with OAuth2 client
//! credentials, runs "Try it out" on `GET /me` and sees 200.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Demo;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

fn ready() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let missing: Vec<&str> = [
        (!Path::new(&chromium).exists()).then_some("chromium (apt-get install chromium)"),
        (!browser_dir().join("node_modules/playwright-core").exists())
            .then_some("playwright-core (npm install in tests/browser)"),
        Command::new("node")
            .arg("--version")
            .output()
            .is_err()
            .then_some("node"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the browser test lacks: {missing:?}"
    );
    eprintln!("skipped: missing {missing:?}");
    false
}

#[test]
fn swagger_ui_authorises_with_client_credentials_and_calls_me() {
    if !ready() {
        return;
    }
    let demo = Demo::start("browser", &[]);
    let secret = demo.value("client_secret:");
    let screenshot =
        std::env::temp_dir().join(format!("authstar-swagger-{}.png", std::process::id()));
    let output = Command::new("node")
        .arg(browser_dir().join("swagger_authorize.mjs"))
        .args([demo.base.as_str(), "demo-client", secret.as_str()])
        .arg(&screenshot)
        .current_dir(browser_dir())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("the script prints JSON");
    assert_eq!(result["status"], "200");
    assert!(
        result["body"]
            .as_str()
            .unwrap_or_default()
            .contains("demo-client")
    );
    assert_eq!(
        result["outside"],
        serde_json::json!([]),
        "Swagger UI must load nothing from outside"
    );
    assert!(screenshot.exists());
}

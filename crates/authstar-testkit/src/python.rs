//! Running the Python clients in `tests/python/`: skipped on a laptop without the packages,
//! a failure under `CI=true`.

use std::path::PathBuf;
use std::process::Command;

/// The repository's `tests/python` folder.
pub fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python")
}

/// Whether `python3` can import `modules`; panics under `CI=true` when it cannot.
pub fn available(modules: &str) -> bool {
    let imported = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|output| output.status.success());
    crate::require(
        imported,
        &format!(
            "python3 cannot import {modules} (python3 -m pip install -r tests/python/requirements.txt)"
        ),
    )
}

/// Runs `python3 tests/python/<script> <args>` and asserts success, showing its output.
///
/// # Panics
///
/// When the script fails.
pub fn run(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg(scripts().join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

//! The `authstar` command through the built binary.

use std::path::PathBuf;
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::Value;

struct Workdir(PathBuf);

impl Workdir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("authstar-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_authstar"))
            .args(args)
            .current_dir(&self.0)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn entropy_bits(secret: &str) -> usize {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret)
        .unwrap()
        .len()
        * 8
}

#[test]
fn clients_create_list_revoke_with_json() {
    let dir = Workdir::new("clients");
    let created = dir.json(&[
        "clients",
        "create",
        "--id",
        "svc",
        "--scope",
        "reports:read",
        "--scope",
        "admin",
        "--json",
    ]);
    assert_eq!(created["client_id"], "svc");
    assert_eq!(
        created["scopes"],
        serde_json::json!(["reports:read", "admin"])
    );
    assert!(entropy_bits(created["client_secret"].as_str().unwrap()) >= 128);

    let generated = dir.json(&["clients", "create", "--json"]);
    assert!(
        generated["client_id"]
            .as_str()
            .unwrap()
            .starts_with("client-")
    );

    let imported = dir.json(&[
        "clients",
        "create",
        "--id",
        "imp",
        "--secret",
        "a chosen long secret",
        "--json",
    ]);
    assert_eq!(
        imported["client_secret"], "a chosen long secret",
        "an imported secret is echoed on create"
    );
    let short = dir.run(&["clients", "create", "--id", "weak", "--secret", "hunter2"]);
    assert!(!short.status.success());
    let message = String::from_utf8_lossy(&short.stderr);
    assert!(message.contains("at least 16 characters"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the secret is not echoed in errors"
    );

    let list = dir.json(&["clients", "list", "--json"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"svc") && ids.contains(&"imp"));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("client_secret").is_none()),
        "no secret in list"
    );

    dir.ok(&["clients", "revoke", "svc"]);
    let list = dir.json(&["clients", "list", "--json"]);
    let svc = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == "svc")
        .unwrap();
    assert_eq!(svc["revoked"], true);
}

#[test]
fn keys_create_list_revoke_with_json() {
    let dir = Workdir::new("keys");
    dir.ok(&[
        "clients", "create", "--id", "svc", "--scope", "a", "--scope", "b",
    ]);
    let key = dir.json(&[
        "keys",
        "create",
        "--client-id",
        "svc",
        "--scope",
        "a",
        "--json",
    ]);
    assert_eq!(key["client_id"], "svc");
    assert_eq!(key["scopes"], serde_json::json!(["a"]));
    let secret = key["key"].as_str().unwrap();
    assert!(
        secret.starts_with("ask_"),
        "recognisable prefix for secret scanners"
    );
    // ask_<key id>_<secret><checksum>: the key id is hex, the secret base64url (which may hold
    // '_'), the checksum six base-62 characters that a scanner checks with no database.
    let (_, key_secret) = secret["ask_".len()..].split_once('_').unwrap();
    let (key_secret, checksum) = key_secret.split_at(key_secret.len() - 6);
    assert!(entropy_bits(key_secret) >= 128);
    assert!(checksum.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(authstar_cli::registry::is_well_formed_api_key(secret));
    let key_id = key["key_id"].as_str().unwrap().to_owned();

    let list = dir.json(&["keys", "list", "--json"]);
    assert_eq!(list[0]["key_id"], key_id.as_str());
    assert!(list[0].get("key").is_none(), "keys are never listed");
    dir.ok(&["keys", "revoke", &key_id]);
    assert_eq!(dir.json(&["keys", "list", "--json"])[0]["revoked"], true);
}

#[test]
fn db_is_accepted_anywhere_after_the_subcommand() {
    let dir = Workdir::new("db");
    dir.ok(&["clients", "--db", "one.db", "create", "--id", "a"]);
    dir.ok(&["clients", "create", "--id", "b", "--db", "two.db"]);
    assert_eq!(
        dir.json(&["clients", "list", "--json", "--db", "one.db"])[0]["client_id"],
        "a"
    );
    assert_eq!(
        dir.json(&["clients", "--db", "two.db", "list", "--json"])[0]["client_id"],
        "b"
    );
    dir.ok(&["keys", "create", "--db", "one.db", "--client-id", "a"]);
    assert!(dir.0.join("one.db").exists() && dir.0.join("two.db").exists());
    assert!(!dir.0.join("authstar.db").exists());
}

#[test]
fn errors_are_one_clear_line_and_a_non_zero_exit() {
    let dir = Workdir::new("errors");
    for args in [
        &["clients", "revoke", "nobody"][..],
        &["keys", "revoke", "nokey"],
        &["keys", "create", "--client-id", "ghost"],
        &["clients", "create", "--id", "bad id!"],
        &["clients", "create", "--scope", "has\"quote"],
        &[
            "token",
            "--url",
            "http://127.0.0.1:9/oauth2/token",
            "--client-id",
            "a",
            "--client-secret",
            "b",
        ],
    ] {
        let output = dir.run(args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains(" INFO ")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    dir.ok(&["clients", "create", "--id", "dup"]);
    let output = dir.run(&["clients", "create", "--id", "dup"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
}

#[test]
fn help_everywhere() {
    let dir = Workdir::new("help");
    for args in [
        &["--help"][..],
        &["demo", "--help"],
        &["clients", "--help"],
        &["clients", "create", "--help"],
        &["clients", "list", "--help"],
        &["clients", "revoke", "--help"],
        &["keys", "--help"],
        &["keys", "create", "--help"],
        &["keys", "list", "--help"],
        &["keys", "revoke", "--help"],
        &["token", "--help"],
    ] {
        let text = dir.ok(args);
        assert!(text.contains("Usage:"), "{args:?}");
    }
}

#[test]
fn secrets_can_stay_out_of_the_process_list() {
    use std::io::Write as _;
    let dir = Workdir::new("stdin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_authstar"))
        .args([
            "clients",
            "create",
            "--id",
            "piped",
            "--secret-stdin",
            "--json",
        ])
        .current_dir(&dir.0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"secret from a pipe!\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["client_secret"], "secret from a pipe!");

    let from_env = Command::new(env!("CARGO_BIN_EXE_authstar"))
        .args(["clients", "create", "--id", "env", "--json"])
        .env("AUTHSTAR_IMPORT_SECRET", "secret from the env")
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(from_env.status.success());
    let created: Value = serde_json::from_slice(&from_env.stdout).unwrap();
    assert_eq!(created["client_secret"], "secret from the env");

    // `--help` names the variable but never shows its value.
    let help = Command::new(env!("CARGO_BIN_EXE_authstar"))
        .args(["token", "--help"])
        .env("AUTHSTAR_CLIENT_SECRET", "do-not-print-me")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("AUTHSTAR_CLIENT_SECRET") && !help.contains("do-not-print-me"));
}

#[test]
fn an_out_of_range_cache_ttl_is_refused_before_any_file_is_made() {
    let dir = Workdir::new("ttl");
    let output = dir.run(&["demo", "--port", "0", "--cache-ttl", "99999999999"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cache-ttl"));
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        0,
        "no file created"
    );
}

#[test]
fn migrate_brings_a_database_to_this_version_and_adopts_an_unversioned_one() {
    let dir = Workdir::new("migrate");
    assert_eq!(
        dir.ok(&["migrate", "--db", "new.db"]).trim(),
        "new.db: schema version 10"
    );
    assert_eq!(
        dir.ok(&["migrate", "--db", "new.db"]).trim(),
        "new.db: schema version 10"
    );
    // A database from before versioning (its tables, no `authstar_schema`) keeps its clients,
    // which keep authenticating with their secrets (schema 5 adds how clients authenticate).
    dir.ok(&["clients", "create", "--id", "old", "--db", "old.db"]);
    let old = rusqlite::Connection::open(dir.0.join("old.db")).unwrap();
    old.execute_batch(
        "DROP TABLE authstar_schema; DROP TABLE revision; DROP TABLE revoked_tokens; \
         DROP TABLE revocation_log; ALTER TABLE clients DROP COLUMN jwks; \
         ALTER TABLE clients DROP COLUMN auth_method; ALTER TABLE clients DROP COLUMN certificate; \
         ALTER TABLE api_keys DROP COLUMN expires_at; ALTER TABLE api_keys DROP COLUMN name; \
         ALTER TABLE api_keys DROP COLUMN replaces; DROP TABLE audit_log; \
         DROP TABLE audit_counter; ALTER TABLE clients DROP COLUMN rate_limit; \
         ALTER TABLE api_keys DROP COLUMN rate_limit;",
    )
    .unwrap();
    drop(old);
    assert_eq!(
        dir.ok(&["migrate", "--db", "old.db"]).trim(),
        "old.db: schema version 10"
    );
    let listed = dir.json(&["clients", "list", "--json", "--db", "old.db"]);
    assert_eq!(listed[0]["client_id"], "old");
    assert_eq!(listed[0]["auth_method"], "client_secret_basic");
    // The password of a PostgreSQL URL is never printed, even in an error, wherever the URL
    // carries it (issue 20, item 14: `?password=` was printed).
    for url in [
        "postgres://authstar:hunter2@127.0.0.1:1/none",
        "postgres://authstar@127.0.0.1:1/none?password=hunter2",
    ] {
        let failed = dir.run(&["migrate", "--db", url]);
        assert!(!failed.status.success());
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&failed.stdout),
            String::from_utf8_lossy(&failed.stderr)
        );
        assert!(
            said.starts_with("error: ") && !said.contains("hunter2"),
            "{said}"
        );
    }
}

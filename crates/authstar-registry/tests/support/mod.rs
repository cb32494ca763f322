//! What the registry's socket-free engine tests share: a fresh database on each engine the
//! tests can reach (SQLite always; PostgreSQL from `AUTHSTAR_TEST_DATABASE_URL`, skipped
//! without it except under `CI=true`), and registries and stores opened on it.

#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authstar_registry::store::Store;
use authstar_registry::{Database, Registry, random};

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authstar-engines-{name}-{}-{}",
        std::process::id(),
        hex(&random::<4>().unwrap())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A new, empty PostgreSQL database on the test server, or `None` to skip.
pub(crate) async fn postgres_database() -> Option<String> {
    let Ok(url) = std::env::var("AUTHSTAR_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but AUTHSTAR_TEST_DATABASE_URL is not set: run the tests under scripts/services"
        );
        eprintln!("skipped: no AUTHSTAR_TEST_DATABASE_URL (run under scripts/services)");
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL answers");
    tokio::spawn(connection);
    let name = format!("authstar_test_{}", hex(&random::<6>().unwrap()));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// Each engine the tests can reach, as a fresh database plus a secrets file.
pub(crate) async fn engines(name: &str) -> Vec<(Database, PathBuf)> {
    let dir = fresh_dir(name);
    let mut engines = vec![(
        Database::Sqlite(dir.join("registry.db")),
        dir.join("sqlite.secrets.json"),
    )];
    if let Some(url) = postgres_database().await {
        engines.push((Database::Postgres(url), dir.join("postgres.secrets.json")));
    }
    engines
}

pub(crate) async fn open(database: &Database, secrets: &PathBuf) -> Registry {
    Registry::builder(database.clone())
        .secrets(secrets)
        .revocation_poll(Duration::from_millis(100))
        .open()
        .await
        .unwrap_or_else(|error| panic!("{database}: {error}"))
}

pub(crate) fn store(database: &Database) -> Arc<dyn Store> {
    match database {
        Database::Sqlite(path) => {
            Arc::new(authstar_registry::store::SqliteStore::open(path).unwrap())
        }
        Database::Postgres(url) => {
            Arc::new(authstar_registry::store::PostgresStore::connect(url).unwrap())
        }
    }
}

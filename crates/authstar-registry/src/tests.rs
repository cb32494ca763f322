//! The registry's own tests: clients and keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::*;

/// Whether `condition` holds within two seconds.
async fn eventually<F, Fut>(condition: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The stored hash of the only client, read with a connection of the test's own.
fn stored_hash(db: &Path) -> String {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT secret_hash FROM clients", [], |r| r.get(0))
        .unwrap()
}

async fn registry() -> (Registry, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "authstar-registry-{}-{}",
        std::process::id(),
        hex(&random::<4>().unwrap())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("test.db");
    (Registry::open(&db).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_secrets_authenticate_and_are_stored_only_as_keyed_hashes() {
    let (registry, dir) = registry().await;
    let created = registry
        .create_client(Some("svc"), None, &["read".into()])
        .await
        .unwrap();
    assert!(
        URL_SAFE_NO_PAD
            .decode(&created.client_secret)
            .unwrap()
            .len()
            >= 16,
        "≥128 bits"
    );
    let client = registry
        .authenticate_client("svc", &created.client_secret)
        .await
        .unwrap()
        .unwrap();
    assert!(
        eventually(|| async {
            registry.list_clients().await.unwrap()[0]
                .last_used_at
                .is_some()
        })
        .await,
        "a successful check records its use, off the request path"
    );
    assert!(registry.list_clients().await.unwrap()[0].created_at > 0);
    assert_eq!(client.scopes(), ["read"]);
    assert!(
        registry
            .authenticate_client("svc", "wrong")
            .await
            .unwrap()
            .is_none()
    );
    let stored = stored_hash(&dir.join("test.db"));
    assert!(stored.starts_with("hmac-sha256$") && !stored.contains(&created.client_secret));
    let file = std::fs::read(dir.join("test.db")).unwrap();
    assert!(!String::from_utf8_lossy(&file).contains(&created.client_secret));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_secrets_use_argon2() {
    let (registry, dir) = registry().await;
    registry
        .create_client(Some("imp"), Some("correct horse battery"), &[])
        .await
        .unwrap();
    let stored = stored_hash(&dir.join("test.db"));
    assert!(stored.starts_with("argon2-peppered$$argon2id$"), "{stored}");
    assert!(
        registry
            .authenticate_client("imp", "correct horse battery")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        registry
            .authenticate_client("imp", "correct horse batterx")
            .await
            .unwrap()
            .is_none()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_carry_a_prefix_and_stop_working_when_revoked() {
    let (registry, dir) = registry().await;
    registry
        .create_client(Some("svc"), None, &["a".into(), "b".into()])
        .await
        .unwrap();
    let key = registry.create_key("svc", &["a".into()]).await.unwrap();
    assert!(key.key.starts_with("ask_"));
    assert!(
        registry.list_keys().await.unwrap()[0]
            .last_used_at
            .is_none()
    );
    assert_eq!(
        registry
            .authenticate_key(&key.key)
            .await
            .unwrap()
            .unwrap()
            .scopes(),
        ["a"]
    );
    assert!(
        eventually(|| async {
            registry.list_keys().await.unwrap()[0]
                .last_used_at
                .is_some()
        })
        .await
    );
    assert!(
        registry
            .authenticate_key(&format!("{}x", key.key))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        registry.create_key("svc", &["c".into()]).await.is_err(),
        "scopes beyond the client's"
    );
    registry.revoke_key(&key.key_id).await.unwrap();
    assert!(registry.authenticate_key(&key.key).await.unwrap().is_none());
    let second = registry.create_key("svc", &[]).await.unwrap();
    registry.revoke_client("svc").await.unwrap();
    assert!(
        registry
            .authenticate_key(&second.key)
            .await
            .unwrap()
            .is_none(),
        "a revoked client's keys stop"
    );
    assert!(matches!(
        registry.revoke_client("nobody").await,
        Err(RegistryError::UnknownClient(_))
    ));
    assert!(matches!(
        registry.revoke_key("nokey").await,
        Err(RegistryError::UnknownKey(_))
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_key_stops_being_active_from_the_cache_too() {
    let (registry, dir) = registry().await;
    registry
        .create_client(Some("svc"), None, &["read".into()])
        .await
        .unwrap();
    let options = KeyOptions::default().expires_in(Duration::from_secs(1));
    let key = registry.create_key_with("svc", options).await.unwrap();
    // What a session minted from the key is checked with: active, and now cached.
    assert!(registry.is_key_active_cached(&key.key_id).await.unwrap());
    assert_eq!(registry.cached_key_active(&key.key_id), Some(true));
    assert!(registry.authenticate_key(&key.key).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        registry.cached_key_active(&key.key_id),
        Some(false),
        "expired in the cache"
    );
    assert!(
        registry.cached_key(&key.key).is_none(),
        "and its cached check with it"
    );
    assert!(registry.authenticate_key(&key.key).await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(dir);
}

//! Credentials as operators run them, on both engines and across instances: clients' and
//! keys' own rate limits and a key's expiry reaching every instance, the audit trail kept
//! append-only by the database, a change a newer authstar logged, and SQLite writers that
//! never fail each other.
//!
//! PostgreSQL comes from `AUTHSTAR_TEST_DATABASE_URL` (`scripts/services`); without it the
//! PostgreSQL half skips, except under `CI=true`, where it fails.

mod support;

use std::time::{Duration, Instant};

use authstar_registry::{Database, KeyEnd};
use support::{engines, open};

/// Own rate limits of clients and keys, on every engine and across two instances: set on one,
/// read by the other within a second; a rotated key keeps its key's limit; a revoked key's
/// limit leaves the other instance's memory; an instance opening later reads them all; a key's
/// limit is never lent to another client's credential of the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_key_rate_limits_reach_every_instance() {
    use authstar::throttle::Budget;
    let budget = Budget::per_period(7, Duration::from_secs(60));
    let key_budget = Budget::per_period(3, Duration::from_secs(1));
    for (database, secrets) in engines("rate-limits").await {
        let first = open(&database, &secrets).await;
        let second = open(&database, &secrets).await;
        first
            .create_client(Some("svc"), None, &["read".into()])
            .await
            .unwrap();
        let key = first.create_key("svc", &[]).await.unwrap();
        let other = first.create_key("svc", &[]).await.unwrap();
        assert_eq!(second.key_rate_limit("svc", &key.key_id), None);

        for huge in [
            Budget::per_period(u32::MAX, Duration::from_millis(1)),
            Budget::per_period(2, Duration::from_secs(200 * 86_400)),
        ] {
            assert!(matches!(
                first.set_key_rate_limit(&key.key_id, Some(huge)).await,
                Err(authstar_registry::RegistryError::InvalidRateLimit)
            ));
            assert!(matches!(
                first.set_client_rate_limit("svc", Some(huge)).await,
                Err(authstar_registry::RegistryError::InvalidRateLimit)
            ));
        }
        first
            .set_client_rate_limit("svc", Some(budget))
            .await
            .unwrap();
        first
            .set_key_rate_limit(&key.key_id, Some(key_budget))
            .await
            .unwrap();
        assert_eq!(first.key_rate_limit("svc", &key.key_id), Some(key_budget));
        let set = Instant::now();
        while second.key_rate_limit("svc", &key.key_id).is_none()
            || second.client_rate_limit("svc").is_none()
        {
            assert!(
                set.elapsed() < Duration::from_secs(1),
                "{database}: not seen"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(second.key_rate_limit("svc", &key.key_id), Some(key_budget));
        assert_eq!(second.client_rate_limit("svc"), Some(budget));
        assert_eq!(second.key_rate_limit("svc", &other.key_id), None);
        assert_eq!(
            second.key_rate_limit("someone-else", &key.key_id),
            None,
            "{database}: a key's limit belongs to its client"
        );
        let listed = first.key_page(None, 10).await.unwrap();
        let row = listed.iter().find(|k| k.key_id == key.key_id).unwrap();
        assert_eq!(row.rate_limit.as_ref().unwrap()["burst"], 3);

        // Rotation: the new key has the limit, here and there.
        let rotated = first
            .rotate_key(&key.key_id, Duration::from_secs(60), None)
            .await
            .unwrap();
        assert_eq!(
            first.key_rate_limit("svc", &rotated.key_id),
            Some(key_budget)
        );
        let set = Instant::now();
        while second.key_rate_limit("svc", &rotated.key_id).is_none() {
            assert!(
                set.elapsed() < Duration::from_secs(1),
                "{database}: rotation"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // Revoked: gone from the other instance's memory.
        first.revoke_key(&key.key_id).await.unwrap();
        let revoked = Instant::now();
        while second.key_rate_limit("svc", &key.key_id).is_some() {
            assert!(
                revoked.elapsed() < Duration::from_secs(1),
                "{database}: revoked"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(matches!(
            first
                .set_key_rate_limit(&key.key_id, Some(key_budget))
                .await,
            Err(authstar_registry::RegistryError::UnknownKey(_))
        ));
        // Nor an expired key, nor a key of a revoked client; their limits leave memory.
        let brief = first
            .create_key_with(
                "svc",
                authstar_registry::KeyOptions::default().expires_in(Duration::from_secs(1)),
            )
            .await
            .unwrap();
        first
            .create_client(Some("gone"), None, &["read".into()])
            .await
            .unwrap();
        let orphan = first.create_key("gone", &[]).await.unwrap();
        first
            .set_key_rate_limit(&orphan.key_id, Some(key_budget))
            .await
            .unwrap();
        let set = Instant::now();
        while second.key_rate_limit("gone", &orphan.key_id).is_none() {
            assert!(set.elapsed() < Duration::from_secs(1), "{database}: orphan");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        first.revoke_client("gone").await.unwrap();
        assert!(matches!(
            first.set_key_rate_limit(&orphan.key_id, None).await,
            Err(authstar_registry::RegistryError::UnknownKey(_))
        ));
        let revoked = Instant::now();
        while second.key_rate_limit("gone", &orphan.key_id).is_some() {
            assert!(
                revoked.elapsed() < Duration::from_secs(1),
                "{database}: client"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert!(matches!(
            first
                .set_key_rate_limit(&brief.key_id, Some(key_budget))
                .await,
            Err(authstar_registry::RegistryError::UnknownKey(_))
        ));

        // Opening later: every limit read at once; taking one away reaches the other.
        let third = open(&database, &secrets).await;
        assert_eq!(
            third.key_rate_limit("svc", &rotated.key_id),
            Some(key_budget)
        );
        assert_eq!(third.key_rate_limit("svc", &key.key_id), None, "revoked");
        assert_eq!(
            third.key_rate_limit("gone", &orphan.key_id),
            None,
            "its client revoked"
        );
        assert_eq!(third.client_rate_limit("svc"), Some(budget));
        first
            .set_key_rate_limit(&rotated.key_id, None)
            .await
            .unwrap();
        let cleared = Instant::now();
        while third.key_rate_limit("svc", &rotated.key_id).is_some() {
            assert!(
                cleared.elapsed() < Duration::from_secs(1),
                "{database}: cleared"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut query = authstar_registry::store::AuditQuery::default();
        query.client_id = Some("svc".into());
        query.limit = 100;
        let trail = first.audit_log(query).await.unwrap();
        let actions: Vec<_> = trail.iter().map(|entry| entry.action.as_str()).collect();
        assert_eq!(
            actions.iter().filter(|a| **a == "key.rate_limit").count(),
            2,
            "{actions:?}"
        );
    }
}

/// The audit trail is append-only in the database itself: an update, a delete (and, on
/// PostgreSQL, a truncate) of its rows fails on every engine, and the rows stay as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_refuses_to_be_rewritten() {
    for (database, secrets) in engines("append-only").await {
        let registry = open(&database, &secrets).await;
        registry
            .create_client(Some("audited"), None, &["read".into()])
            .await
            .unwrap();
        let attempts = [
            "UPDATE audit_log SET actor = 'nobody'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ];
        match &database {
            Database::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).unwrap();
                for attempt in &attempts[..2] {
                    let error = connection.execute(attempt, []).unwrap_err();
                    assert!(
                        error.to_string().contains("append-only"),
                        "{attempt}: {error}"
                    );
                }
            }
            Database::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                for attempt in attempts {
                    let error = client.batch_execute(attempt).await.unwrap_err();
                    let error = error.as_db_error().map(|e| e.message().to_owned());
                    assert!(
                        error.as_deref().is_some_and(|m| m.contains("append-only")),
                        "{attempt}: {error:?}"
                    );
                }
            }
        }
        let mut query = authstar_registry::store::AuditQuery::default();
        query.client_id = Some("audited".into());
        query.limit = 10;
        let trail = registry.audit_log(query).await.unwrap();
        assert_eq!(trail.len(), 1, "{database}");
        assert_eq!(trail[0].action, "client.create");
        assert_ne!(trail[0].actor, "nobody");
    }
}

/// A change-log entry this version does not know (a newer authstar wrote it, during a rolling
/// upgrade) makes a registry reload everything instead of stalling: the revocations after it
/// still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_from_a_newer_authstar_reloads_instead_of_stalling() {
    for (database, secrets) in engines("newer-change").await {
        let first = open(&database, &secrets).await;
        let second = open(&database, &secrets).await;
        first
            .create_client(Some("svc"), None, &["read".into()])
            .await
            .unwrap();
        let key = first.create_key("svc", &[]).await.unwrap();
        assert!(second.authenticate_key(&key.key).await.unwrap().is_some());
        assert!(second.cached_key(&key.key).is_some(), "cached there");
        // The newer authstar's change: the key revoked, logged in a way this one cannot read.
        // Only a reload (every cache dropped) tells the other instance.
        let revoke = format!(
            "UPDATE api_keys SET revoked_at = 1 WHERE key_id = '{}'",
            key.key_id
        );
        let bump = "UPDATE revision SET value = value + 1 WHERE id = 1";
        let newer = "INSERT INTO revocation_log (revision, kind, id, expires_at, at) \
             SELECT value, 'from-the-future', 'x', NULL, 0 FROM revision WHERE id = 1";
        match &database {
            Database::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.execute(&revoke, []).unwrap();
                connection.execute(bump, []).unwrap();
                connection.execute(newer, []).unwrap();
            }
            Database::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client.batch_execute(&revoke).await.unwrap();
                client.batch_execute(bump).await.unwrap();
                client.batch_execute(newer).await.unwrap();
            }
        }
        let revoked = Instant::now();
        while second.authenticate_key(&key.key).await.unwrap().is_some() {
            assert!(
                revoked.elapsed() < Duration::from_secs(1),
                "{database}: the unknown change did not make the instance reload"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Two processes' registries writing one SQLite file at once: a rotation (which reads, then
/// writes, in one transaction) never fails because the other wrote in between (a deferred
/// transaction did, with SQLITE_BUSY, which no busy timeout waits out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_fail_a_read_then_write_transaction() {
    for (database, secrets) in engines("writers").await {
        let first = open(&database, &secrets).await;
        let second = open(&database, &secrets).await;
        first
            .create_client(Some("svc"), None, &["read".into(), "write".into()])
            .await
            .unwrap();
        let mut key = first.create_key("svc", &[]).await.unwrap().key_id;
        let writer = tokio::spawn(async move {
            for round in 0..200 {
                let scopes = if round % 2 == 0 {
                    "read write"
                } else {
                    "write read"
                };
                let scopes: Vec<String> = scopes.split(' ').map(str::to_owned).collect();
                second.set_client_scopes("svc", &scopes).await.unwrap();
            }
        });
        for _ in 0..40 {
            key = first
                .rotate_key(&key, Duration::from_secs(60), None)
                .await
                .unwrap_or_else(|error| panic!("{database}: {error}"))
                .key_id;
        }
        writer.await.unwrap();
    }
}

/// A key's expiry changed after it was made, on every engine and across two instances: brought
/// forward, the other instance refuses the key once it passes (its cached check dropped); taken
/// away, a key that was about to end keeps working there; an expired key stays expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_expiry_changes_reach_every_instance() {
    use authstar_registry::{KeyOptions, RegistryError};
    for (database, secrets) in engines("key-expiry").await {
        let first = open(&database, &secrets).await;
        let second = open(&database, &secrets).await;
        first
            .create_client(Some("svc"), None, &["read".into()])
            .await
            .unwrap();
        let ending = first.create_key("svc", &[]).await.unwrap();
        let kept = first
            .create_key_with(
                "svc",
                KeyOptions::default().expires_in(Duration::from_secs(1)),
            )
            .await
            .unwrap();
        for key in [&ending.key, &kept.key] {
            assert!(
                second.authenticate_key(key).await.unwrap().is_some(),
                "cached"
            );
        }
        let at = first
            .set_key_expiry(&ending.key_id, Some(Duration::from_secs(1).into()))
            .await
            .unwrap();
        assert!(at.is_some());
        assert_eq!(
            first.set_key_expiry(&kept.key_id, None).await.unwrap(),
            None
        );
        let changed = Instant::now();
        while second
            .authenticate_key(&ending.key)
            .await
            .unwrap()
            .is_some()
        {
            assert!(
                changed.elapsed() < Duration::from_secs(3),
                "{database}: the new expiry never reached the other instance"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            second.authenticate_key(&kept.key).await.unwrap().is_some(),
            "{database}: the expiry taken away"
        );
        let listed = first.key_page(None, 10).await.unwrap();
        let row = |id: &str| listed.iter().find(|k| k.key_id == id).unwrap().clone();
        assert!(row(&ending.key_id).expired);
        assert_eq!(row(&kept.key_id).expires_at, None);
        assert!(matches!(
            first.set_key_expiry(&ending.key_id, None).await,
            Err(RegistryError::UnknownKey(_))
        ));
        assert!(matches!(
            first
                .set_key_expiry(&kept.key_id, Some(Duration::ZERO.into()))
                .await,
            Err(RegistryError::InvalidKeyLifetime)
        ));
        let max = authstar_registry::MAX_KEY_LIFETIME;
        assert!(matches!(
            first
                .set_key_expiry(&kept.key_id, Some((max + Duration::from_secs(1)).into()))
                .await,
            Err(RegistryError::InvalidKeyLifetime)
        ));
        assert!(
            first
                .set_key_expiry(&kept.key_id, Some(max.into()))
                .await
                .is_ok()
        );
        // A Unix time is stored as given, whenever the write happens; one not in the future, or
        // past the ten years, is refused.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let exactly = now + 3_600;
        assert_eq!(
            first
                .set_key_expiry(&kept.key_id, Some(KeyEnd::At(exactly)))
                .await
                .unwrap(),
            Some(exactly)
        );
        for refused in [
            now.saturating_sub(5),
            now,
            now + max.as_secs() + 5,
            u64::MAX,
        ] {
            assert!(
                matches!(
                    first
                        .set_key_expiry(&kept.key_id, Some(KeyEnd::At(refused)))
                        .await,
                    Err(RegistryError::InvalidKeyLifetime)
                ),
                "{refused}"
            );
        }
        assert_eq!(
            first.set_key_expiry(&kept.key_id, None).await.unwrap(),
            None
        );
        // A key a rotation replaced keeps the overlap's end: extending it would undo the
        // rotation.
        let rotated = first
            .rotate_key(&kept.key_id, Duration::from_secs(60), None)
            .await
            .unwrap();
        assert!(matches!(
            first.set_key_expiry(&kept.key_id, None).await,
            Err(RegistryError::UnknownKey(_))
        ));
        assert!(first.set_key_expiry(&rotated.key_id, None).await.is_ok());
        let mut query = authstar_registry::store::AuditQuery::default();
        query.client_id = Some("svc".into());
        query.limit = 100;
        let trail = first.audit_log(query).await.unwrap();
        let expiries: Vec<_> = trail.iter().filter(|e| e.action == "key.expiry").collect();
        assert_eq!(expiries.len(), 6, "{database}");
        assert_eq!(expiries[0].target, ending.key_id);
        assert_eq!(expiries[0].actor, authstar_registry::LIBRARY_ACTOR);
        let detail: serde_json::Value = serde_json::from_str(&expiries[0].detail).unwrap();
        assert_eq!(detail["expires_at"].as_u64(), at, "{database}");
    }
}

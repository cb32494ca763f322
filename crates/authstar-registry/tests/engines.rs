//! The registry on both engines: the same contract on SQLite and on a real PostgreSQL, and
//! revocation reaching a second registry (another instance) within a second.
//!
//! PostgreSQL comes from `AUTHSTAR_TEST_DATABASE_URL` (`scripts/services` starts a throwaway
//! one; `.ci/run` does so for CI). Without it the PostgreSQL half skips, except under
//! `CI=true`, where it fails.

use std::time::{Duration, Instant};

use authstar_jwt::{JwtIssuer, JwtVerifier, SigningKey};
use authstar_registry::store::{
    ChangeKind, ClientRow, KeyRow, Revoked, RevokedToken, StoreError, Usage,
};
use authstar_registry::{Database, Registry, RegistryError};

mod support;

use support::{engines, fresh_dir, open, postgres_database, store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_keeps_the_store_contract() {
    for (database, _) in engines("contract").await {
        let store = store(&database);
        assert_eq!(store.migrate().await.unwrap(), 10, "{database}");
        assert_eq!(
            store.migrate().await.unwrap(),
            10,
            "migrating twice is harmless"
        );
        assert_eq!(store.count_clients().await.unwrap(), 0);
        assert_eq!(store.init_meta("m", "first").await.unwrap(), "first");
        assert_eq!(store.init_meta("m", "second").await.unwrap(), "first");

        let row = ClientRow::new("svc".into(), "hash".into(), "a b".into(), 100);
        store.insert_client(&row).await.unwrap();
        assert!(matches!(
            store.insert_client(&row).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(store.client("svc").await.unwrap(), Some(row.clone()));
        assert_eq!(store.client("nobody").await.unwrap(), None);
        let key = KeyRow::new("k1".into(), "svc".into(), "khash".into(), "a".into(), 101);
        store.insert_key(&key).await.unwrap();
        // An active key is read with its client's scopes (a key never grants more).
        let mut with_client = key.clone();
        with_client.client_scopes = Some("a b".into());
        assert_eq!(store.active_key("k1").await.unwrap(), Some(with_client));
        // Schema 7: a rotation in one transaction (the old key's expiry only ever brought
        // forward); pages by id; re-scoping; the audit log numbered in commit order.
        let mut next = KeyRow::new("k9".into(), "svc".into(), "h9".into(), "a".into(), 102);
        next.replaces = Some("k1".into());
        assert!(store.rotate_key(&next, "k1", 5_000, 102).await.unwrap());
        next.key_id = "k8".into();
        assert!(
            !store
                .rotate_key(&next, "nothing", 5_000, 102)
                .await
                .unwrap()
        );
        let expiry = |page: Vec<KeyRow>| {
            page.into_iter()
                .find(|k| k.key_id == "k1")
                .and_then(|k| k.expires_at)
        };
        next.key_id = "k7".into();
        assert!(store.rotate_key(&next, "k1", 9_000, 103).await.unwrap());
        let all = store.keys_page("", 10).await.unwrap();
        assert!(
            all.iter().all(|k| k.key_id != "k8"),
            "{database}: nothing of a failed rotation"
        );
        assert_eq!(expiry(all), Some(5_000), "{database}: never later");
        next.key_id = "k6".into();
        assert!(store.rotate_key(&next, "k1", 4_000, 104).await.unwrap());
        assert_eq!(expiry(store.keys_page("", 10).await.unwrap()), Some(4_000));
        assert_eq!(
            store.keys_page("", 10).await.unwrap().len(),
            4,
            "{database}"
        );
        assert_eq!(store.keys_page("k7", 10).await.unwrap().len(), 1, "k9 only");
        assert_eq!(store.clients_page("", 10).await.unwrap().len(), 1);
        assert!(store.clients_page("svc", 10).await.unwrap().is_empty());
        assert!(store.set_client_scopes("svc", "a b").await.unwrap());
        assert!(!store.set_client_scopes("nobody", "a").await.unwrap());
        let mut numbers = Vec::new();
        for (at, client) in [(10, Some("svc")), (10, None), (11, Some("svc"))] {
            let mut row = authstar_registry::store::AuditRow::default();
            (row.at, row.client_id) = (at, client.map(Into::into));
            (row.actor, row.action, row.target) = ("cli".into(), "x".into(), "t".into());
            numbers.push(store.append_audit(&row).await.unwrap());
        }
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "{database}: {numbers:?}"
        );
        let mut query = authstar_registry::store::AuditQuery::default();
        query.limit = 2;
        let first = store.audit_page(&query).await.unwrap();
        let seqs: Vec<_> = first.iter().map(|row| row.seq).collect();
        assert_eq!(seqs, numbers[..2], "{database}: in the order written");
        query.after = Some(numbers[1]);
        assert_eq!(store.audit_page(&query).await.unwrap()[0].seq, numbers[2]);
        query.after = None;
        query.client_id = Some("svc".into());
        query.since = 11;
        let mine = store.audit_page(&query).await.unwrap();
        assert_eq!(mine.len(), 1, "{database}");
        assert!(
            matches!(
                store
                    .insert_key(&KeyRow::new(
                        "k2".into(),
                        "ghost".into(),
                        "h".into(),
                        "".into(),
                        1
                    ))
                    .await,
                Err(StoreError::Engine(_)),
            ),
            "a key for a client that does not exist is refused by the schema"
        );

        store
            .record_usage(&[
                Usage::Client {
                    client_id: "svc".into(),
                    at: 200,
                },
                Usage::Key {
                    key_id: "k1".into(),
                    at: 201,
                },
            ])
            .await
            .unwrap();
        assert_eq!(store.clients().await.unwrap()[0].last_used_at, Some(200));
        assert_eq!(store.keys().await.unwrap()[0].last_used_at, Some(201));

        let before = store.revision().await.unwrap();
        assert_eq!(store.revoke_key("k1", 300).await.unwrap(), Revoked::Now);
        assert_eq!(store.revoke_key("k1", 301).await.unwrap(), Revoked::Already);
        assert_eq!(
            store.revoke_key("nokey", 301).await.unwrap(),
            Revoked::Unknown
        );
        assert_eq!(store.active_key("k1").await.unwrap(), None);
        assert_eq!(store.keys().await.unwrap()[0].revoked_at, Some(300));
        assert_eq!(
            store.revision().await.unwrap(),
            before + 1,
            "one bump per revocation"
        );

        let other = KeyRow::new("k3".into(), "svc".into(), "h".into(), "a".into(), 102);
        store.insert_key(&other).await.unwrap();
        assert_eq!(store.revoke_client("svc", 400).await.unwrap(), Revoked::Now);
        assert_eq!(
            store.active_key("k3").await.unwrap(),
            None,
            "a revoked client's keys are not active"
        );
        assert_eq!(
            store.client("svc").await.unwrap().unwrap().revoked_at,
            Some(400)
        );
        assert_eq!(
            store.revoke_client("nobody", 1).await.unwrap(),
            Revoked::Unknown
        );
        assert_eq!(store.revision().await.unwrap(), before + 2);

        let token = RevokedToken::new("jti-1".into(), "svc".into(), 1_000);
        assert_eq!(store.revoke_token(&token, 500).await.unwrap(), Revoked::Now);
        assert_eq!(
            store.revoke_token(&token, 501).await.unwrap(),
            Revoked::Already
        );
        assert_eq!(store.revision().await.unwrap(), before + 3, "once");
        let old = RevokedToken::new("jti-old".into(), "svc".into(), 600);
        store.revoke_token(&old, 550).await.unwrap();
        let list = store.revocations(590).await.unwrap();
        assert_eq!(list.clients, ["svc"]);
        let mut tokens = list.tokens.clone();
        tokens.sort();
        assert_eq!(
            tokens,
            [("jti-1".to_owned(), 1_000), ("jti-old".into(), 600)]
        );
        assert_eq!(
            store.revocations(700).await.unwrap().tokens,
            [("jti-1".to_owned(), 1_000)],
            "expired tokens are not listed"
        );
        let later = RevokedToken::new("jti-2".into(), "svc".into(), 2_000);
        store.revoke_token(&later, 800).await.unwrap();
        let listed = |list: authstar_registry::store::RevocationList| {
            let mut jtis: Vec<_> = list.tokens.into_iter().map(|(jti, _)| jti).collect();
            jtis.sort();
            jtis
        };
        assert_eq!(
            listed(store.revocations(0).await.unwrap()),
            ["jti-1", "jti-2", "jti-old"],
            "a revoked token is kept the margin past its exp (a verifier's leeway accepts it)"
        );
        let last = RevokedToken::new("jti-3".into(), "svc".into(), 3_000);
        store.revoke_token(&last, 1_000).await.unwrap();
        assert_eq!(
            listed(store.revocations(0).await.unwrap()),
            ["jti-1", "jti-2", "jti-3"],
            "rows of tokens expired more than the margin ago are deleted by the next revocation"
        );

        // The change log: one entry per revision, in order, what each revoked.
        let changes = store.changes_since(before, 100).await.unwrap();
        let seen: Vec<_> = changes
            .iter()
            .map(|c| (c.revision - before, c.kind, c.id.as_str(), c.expires_at))
            .collect();
        assert_eq!(
            seen,
            [
                (1, ChangeKind::Key, "k1", None),
                (2, ChangeKind::Client, "svc", None),
                (3, ChangeKind::Token, "jti-1", Some(1_000)),
                (4, ChangeKind::Token, "jti-old", Some(600)),
                (5, ChangeKind::Token, "jti-2", Some(2_000)),
                (6, ChangeKind::Token, "jti-3", Some(3_000)),
            ],
            "{database}"
        );
        assert_eq!(store.revision().await.unwrap(), before + 6);
        let tail = store.changes_since(before + 4, 1).await.unwrap();
        assert_eq!(tail.len(), 1, "at most the limit");
        assert_eq!(tail[0].id, "jti-2");
        assert!(
            store
                .changes_since(before + 6, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_another_instance_within_a_second() {
    for (database, secrets) in engines("fanout").await {
        let first = open(&database, &secrets).await;
        let second = open(&database, &secrets).await;
        let client = first
            .create_client(Some("svc"), None, &["read".into()])
            .await
            .unwrap();
        let key = first.create_key("svc", &[]).await.unwrap();
        let other_key = first.create_key("svc", &[]).await.unwrap();
        // The second instance authenticates (and caches) what the first created.
        assert!(second.authenticate_key(&key.key).await.unwrap().is_some());
        assert!(
            second
                .authenticate_key(&other_key.key)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            second
                .authenticate_client("svc", &client.client_secret)
                .await
                .unwrap()
                .is_some()
        );
        assert!(second.is_active_cached("svc").await.unwrap());
        assert!(
            second.cached_key(&key.key).is_some(),
            "cached on the second instance"
        );

        first.revoke_key(&key.key_id).await.unwrap();
        let revoked = Instant::now();
        while second.authenticate_key(&key.key).await.unwrap().is_some() {
            assert!(
                revoked.elapsed() < Duration::from_secs(1),
                "{database}: key still works"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            second
                .authenticate_key(&other_key.key)
                .await
                .unwrap()
                .is_some()
        );

        first.revoke_client("svc").await.unwrap();
        let revoked = Instant::now();
        loop {
            let key_works = second
                .authenticate_key(&other_key.key)
                .await
                .unwrap()
                .is_some();
            let secret_works = second
                .authenticate_client("svc", &client.client_secret)
                .await
                .unwrap()
                .is_some();
            let active = second.is_active_cached("svc").await.unwrap();
            if !key_works && !secret_works && !active {
                break;
            }
            assert!(
                revoked.elapsed() < Duration::from_secs(1),
                "{database}: client still works"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Refused within a second, polling every 10 ms; how long it took.
async fn refused_within_a_second(what: &str, mut works: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while works() {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: still accepted after a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_or_client_is_refused_by_every_instance_within_a_second() {
    for (database, secrets) in engines("tokens").await {
        let first = open(&database, &secrets).await;
        let second = open(&database, &secrets).await;
        for id in ["svc", "other"] {
            first.create_client(Some(id), None, &[]).await.unwrap();
        }
        let key = SigningKey::generate_es256("k").unwrap();
        let public = key.verification_key();
        let issuer = JwtIssuer::new(key, "https://as", "api");
        // Each instance verifies with a cache in front: a revocation must get past it.
        let verifier = |registry: &Registry| {
            JwtVerifier::builder([public.clone()], "https://as", "api")
                .cache(100)
                .revocations(registry.clone())
                .build()
        };
        let (on_first, on_second) = (verifier(&first), verifier(&second));
        let token = issuer.issue("svc", &[]).unwrap();
        let kept = issuer.issue("svc", &[]).unwrap();
        let others = issuer.issue("other", &[]).unwrap();
        for token in [&token, &kept, &others] {
            assert!(on_second.verify(token).is_ok(), "{database}: cached");
        }

        let claims = on_first.claims(&token).unwrap();
        first
            .revoke_token(&claims.jti, &claims.client_id, claims.exp)
            .await
            .unwrap();
        assert!(on_first.verify(&token).is_err(), "at once where revoked");
        let took = refused_within_a_second(&format!("{database}: revoked token"), || {
            on_second.verify(&token).is_ok()
        })
        .await;
        eprintln!("{database}: a revoked token refused elsewhere after {took:?}");
        assert!(on_second.verify(&kept).is_ok(), "only that token");
        first
            .revoke_token(&claims.jti, &claims.client_id, claims.exp)
            .await
            .expect("revoking twice is not an error");

        first.revoke_client("other").await.unwrap();
        refused_within_a_second(&format!("{database}: revoked client's token"), || {
            on_second.verify(&others).is_ok()
        })
        .await;
        assert!(on_second.verify(&kept).is_ok());

        // A new instance learns both on opening.
        let third = verifier(&open(&database, &secrets).await);
        assert!(third.verify(&token).is_err() && third.verify(&others).is_err());
        assert!(third.verify(&kept).is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_one_pepper_and_refuse_another() {
    for (database, secrets) in engines("pepper").await {
        let first = open(&database, &secrets).await;
        let client = first.create_client(Some("svc"), None, &[]).await.unwrap();
        let second = open(&database, &secrets).await;
        assert!(
            second
                .authenticate_client("svc", &client.client_secret)
                .await
                .unwrap()
                .is_some()
        );
        // An instance started with another secrets file is refused before it serves anything.
        let stranger = secrets.with_extension("stranger.json");
        let error = Registry::builder(database.clone())
            .secrets(&stranger)
            .open()
            .await
            .unwrap_err();
        assert!(
            matches!(error, RegistryError::Secrets { .. }) && error.to_string().contains("restore"),
            "{database}: {error}"
        );
        assert!(
            !stranger.exists(),
            "no pepper written for a database that has one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_fails_within_the_call_timeout() {
    let dir = fresh_dir("unreachable");
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let error =
        Registry::builder(format!("postgres://authstar:hunter2@127.0.0.1:{port}/none").as_str())
            .secrets(dir.join("s.json"))
            .call_timeout(Duration::from_millis(500))
            .open()
            .await
            .unwrap_err();
    assert!(matches!(error, RegistryError::Store(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Neither the error nor its sources show the URL's password.
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    assert!(!chain.contains("hunter2"), "{chain}");
    // The URL's password never shows.
    let database = Database::parse("postgres://user:hunter2@db/x");
    assert_eq!(database.to_string(), "postgres://user:***@db/x");
    assert!(!format!("{database:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_registry_needs_a_secrets_file() {
    let error = Registry::builder("postgres://authstar@127.0.0.1:1/none")
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::SecretsPathRequired),
        "{error}"
    );
}

/// A TCP relay to the test PostgreSQL that can be made to hang or to refuse, for outages
/// without touching the shared server.
mod flaky {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, Ordering};

    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::broadcast;

    pub(crate) const FORWARD: u8 = 0;
    /// Accepts connections and holds them open without a byte: a hung server or network.
    pub(crate) const HANG: u8 = 1;
    /// Closes every connection at once: a server that is down.
    pub(crate) const DOWN: u8 = 2;

    pub(crate) struct Relay {
        pub(crate) port: u16,
        mode: Arc<AtomicU8>,
        cut: broadcast::Sender<()>,
    }

    impl Relay {
        pub(crate) async fn start(target: String) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let mode = Arc::new(AtomicU8::new(FORWARD));
            let (cut, _) = broadcast::channel(1);
            let (accept_mode, accept_cut) = (Arc::clone(&mode), cut.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        return;
                    };
                    let mut cut = accept_cut.subscribe();
                    match accept_mode.load(Ordering::SeqCst) {
                        DOWN => drop(inbound),
                        HANG => {
                            tokio::spawn(async move {
                                let _ = cut.recv().await;
                                drop(inbound);
                            });
                        }
                        _ => {
                            let target = target.clone();
                            tokio::spawn(async move {
                                let Ok(mut outbound) = TcpStream::connect(target).await else {
                                    return;
                                };
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                    _ = cut.recv() => {}
                                }
                            });
                        }
                    }
                }
            });
            Self { port, mode, cut }
        }

        /// Switches mode and cuts every open connection.
        pub(crate) fn set(&self, mode: u8) {
            self.mode.store(mode, Ordering::SeqCst);
            let _ = self.cut.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_never_opens_the_door_never_hangs_and_heals_by_itself() {
    let Some(url) = postgres_database().await else {
        return;
    };
    // The same database, reached through the relay.
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (server, database) = rest.split_once('/').unwrap();
    let relay = flaky::Relay::start(server.to_owned()).await;
    let relayed = format!("{scheme_user}@127.0.0.1:{}/{database}", relay.port);
    let dir = fresh_dir("outage");
    let timeout = Duration::from_millis(500);
    let registry = Registry::builder(relayed.as_str())
        .secrets(dir.join("secrets.json"))
        .call_timeout(timeout)
        .open()
        .await
        .unwrap();
    registry
        .create_client(Some("svc"), None, &[])
        .await
        .unwrap();
    let cached = registry.create_key("svc", &[]).await.unwrap();
    let uncached = registry.create_key("svc", &[]).await.unwrap();
    assert!(
        registry
            .authenticate_key(&cached.key)
            .await
            .unwrap()
            .is_some()
    );

    for mode in [flaky::HANG, flaky::DOWN] {
        relay.set(mode);
        // A cached answer keeps working for its TTL.
        assert!(
            registry
                .authenticate_key(&cached.key)
                .await
                .unwrap()
                .is_some()
        );
        // Anything else is an error (the demo's 503), never a client, never a long wait.
        let started = Instant::now();
        let answer = registry.authenticate_key(&uncached.key).await;
        assert!(
            matches!(answer, Err(RegistryError::Store(_))),
            "mode {mode}: {answer:?}"
        );
        assert!(
            started.elapsed() < timeout * 3,
            "mode {mode}: waited {:?}",
            started.elapsed()
        );
        let revoked = registry.revoke_key(&uncached.key_id).await;
        assert!(
            revoked.is_err(),
            "mode {mode}: a revocation that did not happen is not reported"
        );
    }

    // The server is back: the pool replaces its broken connections, no restart needed.
    relay.set(flaky::FORWARD);
    let healed = Instant::now();
    loop {
        if let Ok(answer) = registry.authenticate_key(&uncached.key).await {
            assert!(answer.is_some());
            break;
        }
        assert!(healed.elapsed() < Duration::from_secs(3), "did not heal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_authstar_is_refused_not_rewritten() {
    for (database, secrets) in engines("newer").await {
        let store = store(&database);
        store.migrate().await.unwrap();
        let newer = "INSERT INTO authstar_schema (version, applied_at) VALUES (99, 0)";
        match &database {
            Database::Sqlite(path) => {
                rusqlite::Connection::open(path)
                    .unwrap()
                    .execute(newer, [])
                    .unwrap();
            }
            Database::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client.batch_execute(newer).await.unwrap();
            }
        }
        assert!(
            matches!(
                store.migrate().await,
                Err(StoreError::NewerSchema {
                    found: 99,
                    known: 10
                })
            ),
            "{database}"
        );
        let error = Registry::builder(database.clone())
            .secrets(&secrets)
            .open()
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("upgrade authstar"),
            "{database}: {error}"
        );
    }
}

fn stamp<'a>(jti: &'a str, client_id: &'a str) -> authstar_jwt::TokenStamp<'a> {
    authstar_jwt::TokenStamp {
        jti,
        client_id,
        iat: 0,
    }
}

/// Issue 20, item 3: every RFC 7009 revocation made every instance drop all its client, key and
/// session caches, so a client revoking its own tokens a few times a second kept every
/// instance's caches cold (argon2 on every Basic request). A token revocation now adds that
/// token and drops nothing; a key revocation drops that key's entry only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revocation_drops_no_cache_and_a_key_revocation_only_its_own() {
    use authstar_jwt::Revocations as _;
    for (database, secrets) in engines("targeted").await {
        let first = open(&database, &secrets).await;
        let second = open(&database, &secrets).await;
        let client = first.create_client(Some("svc"), None, &[]).await.unwrap();
        let revoked_key = first.create_key("svc", &[]).await.unwrap();
        let kept_key = first.create_key("svc", &[]).await.unwrap();
        for key in [&revoked_key, &kept_key] {
            assert!(second.authenticate_key(&key.key).await.unwrap().is_some());
        }
        let secret = &client.client_secret;
        assert!(
            second
                .authenticate_client("svc", secret)
                .await
                .unwrap()
                .is_some()
        );
        assert!(second.is_active_cached("svc").await.unwrap());

        let exp = authstar_jwt::unix_now() + 600;
        for n in 0..20 {
            first
                .revoke_token(&format!("jti-{n}"), "svc", exp)
                .await
                .unwrap();
        }
        refused_within_a_second(&format!("{database}: the last revoked token"), || {
            !second.is_revoked(&stamp("jti-19", "svc"))
        })
        .await;
        assert!(second.is_revoked(&stamp("jti-0", "svc")), "{database}");
        assert!(
            second.cached_client("svc", secret).is_some()
                && second.cached_key(&revoked_key.key).is_some()
                && second.cached_key(&kept_key.key).is_some()
                && second.cached_active("svc") == Some(true),
            "{database}: a token revocation dropped cached checks"
        );

        first.revoke_key(&revoked_key.key_id).await.unwrap();
        refused_within_a_second(&format!("{database}: the revoked key"), || {
            second.cached_key(&revoked_key.key).is_some()
        })
        .await;
        assert!(
            second.cached_key(&kept_key.key).is_some()
                && second.cached_client("svc", secret).is_some(),
            "{database}: a key revocation dropped other entries"
        );
        // A revoked client's keys are refused from the cache at once, where it was revoked and,
        // within the poll, elsewhere.
        first.revoke_client("svc").await.unwrap();
        assert!(first.cached_key(&kept_key.key).is_none());
        refused_within_a_second(&format!("{database}: the revoked client's key"), || {
            second.cached_key(&kept_key.key).is_some()
        })
        .await;
    }
}

/// Issue 20, item 11: a verifier accepts a token up to its leeway past `exp`; revocations were
/// reloaded only while `exp >= now`, so a revoked token came back for the leeway on an instance
/// that opened (or reloaded) in that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stays_revoked_through_the_verifier_s_leeway() {
    for (database, secrets) in engines("leeway").await {
        let first = open(&database, &secrets).await;
        first.create_client(Some("svc"), None, &[]).await.unwrap();
        let key = SigningKey::generate_es256("k").unwrap();
        let public = key.verification_key();
        let token = JwtIssuer::new(key, "https://as", "api")
            .lifetime(Duration::from_secs(1))
            .issue("svc", &[])
            .unwrap();
        let verifier = |registry: &Registry| {
            JwtVerifier::builder([public.clone()], "https://as", "api")
                .revocations(registry.clone())
                .build()
        };
        let claims = verifier(&first).claims(&token).unwrap();
        first
            .revoke_token(&claims.jti, &claims.client_id, claims.exp)
            .await
            .unwrap();
        while authstar_jwt::unix_now() <= claims.exp {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Past `exp`, within the default 30 s leeway: a verifier without revocations takes it.
        assert!(
            JwtVerifier::new([public.clone()], "https://as", "api")
                .verify(&token)
                .is_ok()
        );
        let reloaded = open(&database, &secrets).await;
        assert!(
            verifier(&reloaded).verify(&token).is_err(),
            "{database}: a revoked token accepted again after its exp"
        );
    }
}

/// Issue 20, item 27: an instance cut off from its database kept honouring the JWTs of a client
/// revoked elsewhere for as long as the partition lasted (its revocations frozen as it last
/// saw them). Once it has not heard from the database for its cache TTL, it vouches for no
/// token (a backend error, 503 in the demo) until it catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_instance_stops_vouching_for_tokens_after_its_cache_ttl() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (server, database) = rest.split_once('/').unwrap();
    let relay = flaky::Relay::start(server.to_owned()).await;
    let relayed = format!("{scheme_user}@127.0.0.1:{}/{database}", relay.port);
    let dir = fresh_dir("partition");
    let secrets = dir.join("secrets.json");
    let direct = Registry::builder(url.as_str())
        .secrets(&secrets)
        .open()
        .await
        .unwrap();
    direct.create_client(Some("svc"), None, &[]).await.unwrap();
    let ttl = Duration::from_secs(2);
    let partitioned = Registry::builder(relayed.as_str())
        .secrets(&secrets)
        .cache_ttl(ttl)
        .call_timeout(Duration::from_millis(300))
        .revocation_poll(Duration::from_millis(100))
        .open()
        .await
        .unwrap();
    let key = SigningKey::generate_es256("k").unwrap();
    let verifier = JwtVerifier::builder([key.verification_key()], "https://as", "api")
        .cache(100)
        .revocations(partitioned.clone())
        .build();
    let token = JwtIssuer::new(key, "https://as", "api")
        .issue("svc", &[])
        .unwrap();
    assert!(verifier.verify(&token).is_ok());

    relay.set(flaky::DOWN);
    direct.revoke_client("svc").await.unwrap();
    let cut = Instant::now();
    loop {
        match verifier.verify(&token) {
            Ok(_) => assert!(
                cut.elapsed() <= ttl + Duration::from_millis(500),
                "still vouched for after {:?}",
                cut.elapsed()
            ),
            Err(authstar_jwt::InvalidToken::RevocationsUnknown) => break,
            Err(other) => panic!("{other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!partitioned.revocations_current());

    // Back in touch: it catches up and refuses the revoked client's token as such.
    relay.set(flaky::FORWARD);
    let healed = Instant::now();
    loop {
        match verifier.verify(&token) {
            Err(authstar_jwt::InvalidToken::Revoked) => break,
            Ok(_) => panic!("the revoked client's token accepted after the partition"),
            Err(_) => assert!(
                healed.elapsed() < Duration::from_secs(3),
                "did not catch up"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_jwt_client_signs_in_with_its_key_and_never_with_a_secret() {
    use authstar::{AuthstarClient, Client, Verdict};
    use authstar_oauth2::ClientAssertions;
    use authstar_testkit::assertion::KeyClient;
    const ISSUER: &str = "https://as.example";
    for (database, secrets) in engines("key-clients").await {
        let registry = open(&database, &secrets).await;
        let svc = KeyClient::new("svc");
        let created = registry
            .create_key_client("svc", &svc.jwks(), &["reports:read".to_owned()])
            .await
            .unwrap();
        assert_eq!(created.auth_method, "private_key_jwt", "{database}");
        let listed = registry.list_clients().await.unwrap();
        assert_eq!(listed[0].auth_method, "private_key_jwt");
        let verifier = registry.client_assertions(ISSUER);
        let name = database.to_string();
        let verdict = |assertion: String| {
            let verifier = verifier.clone();
            let name = name.clone();
            async move {
                match ClientAssertions::<AuthstarClient>::verify(&verifier, &assertion, "svc").await
                {
                    Verdict::Authenticated(client) => Some(client),
                    Verdict::Rejected => None,
                    Verdict::Unavailable(error) => panic!("{name}: {error}"),
                }
            }
        };
        let client = verdict(svc.assertion(ISSUER))
            .await
            .expect("a signed assertion");
        assert_eq!(
            (client.client_id(), client.has_scope("reports:read")),
            ("svc", true)
        );
        // Another key with the same kid, or another server's assertion: refused.
        let impostor = KeyClient::new("svc");
        assert!(verdict(impostor.assertion(ISSUER)).await.is_none());
        assert!(
            verdict(svc.assertion("https://other.example"))
                .await
                .is_none()
        );
        // No secret ever opens it, not even an empty one.
        for secret in ["", "secret", "private_key_jwt"] {
            assert!(
                registry
                    .check_client("svc", secret)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        // A client with a secret has no keys; a private key or a symmetric key is no JWKS.
        let with_secret = registry
            .create_client(Some("legacy"), None, &[])
            .await
            .unwrap();
        let listed = registry.list_clients().await.unwrap();
        let legacy = listed.iter().find(|c| c.client_id == "legacy").unwrap();
        assert_eq!(legacy.auth_method, "client_secret_basic");
        let legacy = ClientAssertions::<AuthstarClient>::verify(
            &verifier,
            &svc.assertion(ISSUER),
            &with_secret.client_id,
        )
        .await;
        assert!(matches!(legacy, Verdict::Rejected));
        for bad in [
            r#"{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}"#,
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#,
            r#"{"keys":[]}"#,
            "not json",
        ] {
            let refused = registry.create_key_client("bad", bad, &[]).await;
            assert!(
                matches!(refused, Err(RegistryError::InvalidJwks(_))),
                "{bad}: {refused:?}"
            );
        }
        // No API key for a client that keeps no secret.
        assert!(matches!(
            registry.create_key("svc", &[]).await,
            Err(RegistryError::KeyClient(_))
        ));
        // Revoked: its assertions stop working.
        registry.revoke_client("svc").await.unwrap();
        assert!(verdict(svc.assertion(ISSUER)).await.is_none(), "{database}");
    }
}

/// The method a client registered decides, not what its row happens to hold: a secret client
/// whose row also holds keys signs in with no assertion, a key client whose row also holds a
/// secret's hash with no secret (rows edited by hand, or a future migration gone wrong).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_registered_method_authenticates_whatever_else_a_row_holds() {
    use authstar::{AuthstarClient, Verdict};
    use authstar_oauth2::ClientAssertions;
    use authstar_testkit::assertion::KeyClient;
    const ISSUER: &str = "https://as.example";
    let (database, secrets) = engines("methods").await.remove(0);
    let Database::Sqlite(path) = &database else {
        unreachable!("the first engine is SQLite");
    };
    let registry = open(&database, &secrets).await;
    let secret = "an imported secret, long enough";
    registry
        .create_client(Some("legacy"), Some(secret), &[])
        .await
        .unwrap();
    let keys = KeyClient::new("legacy");
    registry
        .create_key_client("modern", &KeyClient::new("modern").jwks(), &[])
        .await
        .unwrap();
    let sql = rusqlite::Connection::open(path).unwrap();
    // `legacy` (a secret client) now also holds keys; `modern` (a key client) a secret's hash.
    sql.execute(
        "UPDATE clients SET jwks = ?1 WHERE client_id = 'legacy'",
        [keys.jwks()],
    )
    .unwrap();
    sql.execute(
        "UPDATE clients SET secret_hash = (SELECT secret_hash FROM clients WHERE client_id = 'legacy') \
         WHERE client_id = 'modern'",
        [],
    )
    .unwrap();
    drop(sql);
    let registry = open(&database, &secrets).await;
    assert!(
        registry
            .check_client("legacy", secret)
            .await
            .unwrap()
            .is_some()
    );
    let verifier = registry.client_assertions(ISSUER);
    let legacy =
        ClientAssertions::<AuthstarClient>::verify(&verifier, &keys.assertion(ISSUER), "legacy")
            .await;
    assert!(
        matches!(legacy, Verdict::Rejected),
        "a secret client took an assertion"
    );
    assert!(
        registry
            .check_client("modern", secret)
            .await
            .unwrap()
            .is_none(),
        "a key client took a secret"
    );
}

/// Self-signed certificates made for these tests (P-256, valid until 2126).
const ROBOT: &[u8] = include_bytes!("fixtures/robot.pem");
const OTHER: &[u8] = include_bytes!("fixtures/other.pem");

fn certificate_of(pem: &[u8]) -> authstar::credentials::ClientCertificate {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    authstar_jwt::client_certificate(der)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_clients_on_every_engine() {
    use authstar::Verdict;
    use authstar_oauth2::ClientCertificates as _;
    use authstar_oauth2::mtls::CertificateRule;
    for (database, secrets) in engines("certificates").await {
        let registry = open(&database, &secrets).await;
        let scopes = ["reports:read".to_owned()];
        let robot = CertificateRule::self_signed_pem(ROBOT).unwrap();
        let created = registry
            .create_certificate_client("robot", robot, &scopes)
            .await
            .unwrap();
        assert_eq!(
            created.auth_method, "self_signed_tls_client_auth",
            "{database}"
        );
        let by_name = CertificateRule::SanDns("billing.example".into());
        registry
            .create_certificate_client("billing", by_name.clone(), &scopes)
            .await
            .unwrap();
        let check = registry.client_certificates(None);
        let (ours, other) = (certificate_of(ROBOT), certificate_of(OTHER));
        assert!(
            matches!(check.verify(&ours, "robot").await, Verdict::Authenticated(c) if authstar::Client::client_id(&c) == "robot"),
            "{database}"
        );
        assert!(
            matches!(check.verify(&other, "robot").await, Verdict::Rejected),
            "{database}"
        );
        assert!(
            matches!(check.verify(&ours, "billing").await, Verdict::Rejected),
            "{database}"
        );
        assert!(
            matches!(check.verify(&ours, "nobody").await, Verdict::Rejected),
            "{database}"
        );
        // A renewed certificate replaces the old one; a rule of the other method is refused.
        let renewed = CertificateRule::self_signed_pem(OTHER).unwrap();
        registry
            .set_client_certificate("robot", renewed)
            .await
            .unwrap();
        assert!(
            matches!(
                check.verify(&other, "robot").await,
                Verdict::Authenticated(_)
            ),
            "{database}"
        );
        assert!(
            matches!(check.verify(&ours, "robot").await, Verdict::Rejected),
            "{database}"
        );
        assert!(matches!(
            registry
                .set_client_certificate("robot", by_name.clone())
                .await,
            Err(RegistryError::InvalidCertificate(_))
        ));
        // A row edited by hand to hold a rule of the other method adds no power: the
        // self-signed client's row now names a subject, and nothing authenticates it.
        let store = store(&database);
        let edited = serde_json::to_string(&by_name).unwrap();
        assert!(
            store
                .set_client_certificate("robot", &edited)
                .await
                .unwrap()
        );
        assert!(
            matches!(check.verify(&other, "robot").await, Verdict::Rejected),
            "{database}"
        );
        // Revoked: its certificate opens nothing.
        registry.revoke_client("billing").await.unwrap();
        assert!(
            !store
                .set_client_certificate("billing", &edited)
                .await
                .unwrap(),
            "{database}"
        );
        let row = store.client("robot").await.unwrap().unwrap();
        assert_eq!(
            row.certificate.as_deref(),
            Some(edited.as_str()),
            "{database}"
        );
    }
}

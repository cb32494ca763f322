//! What failed-authentication throttling costs a request that passes: a valid Basic request
//! through the layer with no throttle, with the in-memory store, and with the Redis store (no
//! lock heard, and 1 000 locks heard from another instance, which makes every check hash its
//! keys to look them up).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use authstar::throttle::{Budget, FailureThrottle, ThrottleKey, ThrottleStore};
use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials, sync_fn};
use authstar_redis::RedisThrottle;
use tower::Layer as _;
use tower::service_fn;

use crate::variants::{inner, tower};
use crate::{Group, Variant, lazy, peers};

/// Throttled with the in-memory store.
pub(crate) const MEMORY: &str = "authstar Basic, throttled (memory store)";
/// Throttled with the Redis store, no lock heard.
pub(crate) const REDIS: &str = "authstar Basic, throttled (Redis store)";
/// Throttled with the Redis store, 1 000 locks heard from another instance.
pub(crate) const REDIS_LOCKS: &str = "authstar Basic, throttled (Redis store, 1000 locks heard)";

fn layer(
    users: peers::Users,
    throttle: FailureThrottle,
) -> AuthstarLayer<AuthstarClient, impl authstar::MethodSet<AuthstarClient>> {
    AuthstarLayer::builder()
        .on_auth_basic_with(sync_fn(move |credentials: BasicCredentials| {
            users
                .get(credentials.username())
                .filter(|(password, _)| password == credentials.password())
                .map(|(_, client)| client.clone())
        }))
        .throttle(throttle)
        .build()
        .expect("valid configuration")
}

fn throttle() -> FailureThrottle {
    FailureThrottle::new().client_address(|_, _| Some(IpAddr::from([10, 0, 0, 1])))
}

/// A runtime for the stores' background tasks, alive as long as the process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// A Redis store on `url`, started on the bench's runtime.
fn redis_store(url: &str, prefix: &str) -> RedisThrottle {
    let _entered = runtime().enter();
    RedisThrottle::builder(url)
        .prefix(prefix)
        .start()
        .expect("a Redis URL")
}

/// Locks 1 000 made-up identities through `other` (for an hour: nothing expires during a
/// run), and waits until `store` heard them all.
fn hear_locks(other: &RedisThrottle, store: &RedisThrottle) -> bool {
    let budget = Budget::per_period(1, Duration::from_secs(3600));
    let now = Instant::now();
    for n in 0..1000 {
        let id = format!("guessed-{n}");
        let key = ThrottleKey::Identity {
            scheme: "basic",
            id: &id,
        };
        other.fail(&key, budget, now);
    }
    let started = Instant::now();
    while store.remote_locks() < 1000 {
        if started.elapsed() > Duration::from_secs(30) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The throttle variants; the one with locks heard needs a Redis (`AUTHSTAR_TEST_REDIS_URL`,
/// e.g. under `scripts/services`).
pub(crate) fn all() -> Vec<Variant> {
    let users = peers::users();
    let bare = || service_fn(inner);
    let mut variants = vec![tower(
        MEMORY,
        layer(users.clone(), throttle()).layer(bare()),
        peers::basic(),
    )];
    // Nobody listens on port 1: the store counts locally and never waits for Redis.
    let redis_users = users.clone();
    variants.push(lazy(REDIS, Group::InProcess, move || {
        let unreachable = redis_store("redis://127.0.0.1:1", "bench");
        tower(
            REDIS,
            layer(redis_users, throttle().store(unreachable)).layer(service_fn(inner)),
            peers::basic(),
        )
    }));
    if let Ok(url) = std::env::var("AUTHSTAR_TEST_REDIS_URL") {
        variants.push(lazy(REDIS_LOCKS, Group::InProcess, move || {
            let prefix = format!("bench-{}", std::process::id());
            let (store, other) = (redis_store(&url, &prefix), redis_store(&url, &prefix));
            std::thread::sleep(Duration::from_millis(300)); // subscribed
            assert!(
                hear_locks(&other, &store),
                "the locks were not heard from Redis"
            );
            tower(
                REDIS_LOCKS,
                layer(users, throttle().store(store)).layer(service_fn(inner)),
                peers::basic(),
            )
        }));
    }
    variants
}

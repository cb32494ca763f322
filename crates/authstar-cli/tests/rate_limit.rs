//! Rate limits for valid clients (`--rate-limit N/WINDOW`) on the demo over a real socket: a
//! client gets its burst, then 429 with `Retry-After` and the IETF `RateLimit-Policy` and
//! `RateLimit` fields, other clients unaffected; with `--redis` two instances share the count
//! (a real redis-server), and without it each counts alone.

mod support;

use authstar_testkit::redis::{RedisServer, free_port};
use support::Demo;

async fn get_me(base: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/me"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_budget_gets_429_with_the_ietf_fields_and_others_do_not() {
    let demo = Demo::start("rate-limit", &["--rate-limit", "5/60s"]);
    let key = demo.value("api_key:");
    for _ in 0..5 {
        assert_eq!(get_me(&demo.base, &key).await.status(), 200);
    }
    let limited = get_me(&demo.base, &key).await;
    assert_eq!(limited.status(), 429);
    let headers = limited.headers();
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=12).contains(&retry),
        "one request refills in 12 s: {retry}"
    );
    assert_eq!(headers["ratelimit-policy"], "\"default\";q=5;w=60");
    assert_eq!(
        headers["ratelimit"].to_str().unwrap(),
        format!("\"default\";r=0;t={retry}")
    );
    // Another client is counted apart; nobody authenticated is not counted at all.
    let created = demo.cli(&["clients", "create", "--id", "other", "--json"]);
    let other: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let secret = other["client_secret"].as_str().unwrap();
    let basic = reqwest::Client::new()
        .get(format!("{}/me", demo.base))
        .basic_auth("other", Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    for _ in 0..10 {
        let anonymous = reqwest::get(format!("{}/", demo.base)).await.unwrap();
        assert_eq!(anonymous.status(), 200);
    }
}

/// Clients the token endpoint authenticates itself (a secret in the body) are counted there;
/// Basic, which the layer authenticates, is counted once, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_counts_the_clients_it_authenticates() {
    let demo = Demo::start("rate-limit-token", &["--rate-limit", "3/60s"]);
    let (id, secret) = (demo.value("client_id:"), demo.value("client_secret:"));
    let http = reqwest::Client::new();
    let url = format!("{}/oauth2/token", demo.base);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = http
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let created = demo.cli(&["clients", "create", "--id", "basic", "--json"]);
    let basic: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let basic_secret = basic["client_secret"].as_str().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = http
            .post(&url)
            .basic_auth("basic", Some(basic_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429], "counted once per request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_a_clients_count_through_redis() {
    let Some(redis) = RedisServer::start(free_port()) else {
        return;
    };
    let url = redis.url();
    for (name, shared) in [("rate-shared", true), ("rate-apart", false)] {
        let dir = std::env::temp_dir().join(format!("authstar-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (db, secrets) = (dir.join("shared.db"), dir.join("secrets.json"));
        let mut args = vec![
            "--db",
            db.to_str().unwrap(),
            "--secrets",
            secrets.to_str().unwrap(),
            "--cache-ttl",
            "0",
            "--rate-limit",
            "4/60s",
        ];
        if shared {
            args.extend(["--redis", url.as_str()]);
        }
        let first = Demo::start_with(&format!("{name}-a"), &args);
        let second = Demo::start_with(&format!("{name}-b"), &args);
        let key = first.value("api_key:");
        for _ in 0..4 {
            assert_eq!(get_me(&first.base, &key).await.status(), 200);
        }
        assert_eq!(get_me(&first.base, &key).await.status(), 429);
        // The other instance hears of the lock through Redis (propagation is within a
        // second; a probe would spend the budget there too, so one request after it), or,
        // alone, has counted nothing yet.
        tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
        let status = get_me(&second.base, &key).await.status();
        match shared {
            true => assert_eq!(status, 429, "shared through Redis"),
            false => assert_eq!(status, 200, "each instance counts alone"),
        }
        drop((first, second));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A client's own limit, set from another process (the CLI) and from the admin API, reaches a
/// serving instance at its next poll; without one, the client is not limited (no default here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_own_limit_from_the_registry_reaches_every_instance() {
    let demo = Demo::start("rate-limit-own", &[]);
    let key = demo.value("api_key:");
    let client = demo.value("client_id:");
    for _ in 0..10 {
        assert_eq!(get_me(&demo.base, &key).await.status(), 200, "no limit yet");
    }
    let set = demo.cli(&["clients", "set-rate-limit", &client, "--rate", "3/60s"]);
    assert!(set.status.success(), "{set:?}");
    // The serving instance reads it again at its next poll (a second at most).
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get_me(&demo.base, &key).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let listed = demo.cli(&["clients", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let own = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client.as_str())
        .unwrap();
    assert_eq!(own["rate_limit"]["burst"], 3);
    // The admin API takes it away again.
    let ops = demo.cli(&[
        "clients", "create", "--id", "ops", "--scope", "admin", "--json",
    ]);
    let ops: serde_json::Value = serde_json::from_slice(&ops.stdout).unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/admin/clients/{client}/rate-limit", demo.base);
    let bad = http
        .put(&url)
        .basic_auth("ops", ops["client_secret"].as_str())
        .json(&serde_json::json!({"rate": "3/0s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let cleared = http
        .put(&url)
        .basic_auth("ops", ops["client_secret"].as_str())
        .json(&serde_json::json!({"rate": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(
        get_me(&demo.base, &key).await.status(),
        200,
        "no limit of its own"
    );
    let trail = demo.cli(&["audit", "--client", &client, "--json"]);
    let trail = String::from_utf8_lossy(&trail.stdout);
    assert_eq!(trail.matches("client.rate_limit").count(), 2, "{trail}");
}

/// An API key's own limit (CLI and admin API), counted besides its client's: that key gets its
/// burst then 429 naming the `credential` policy while the client's other key goes on; a key
/// rotated from it keeps the limit; bad and unknown keys get 400 and 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_own_limit_refuses_that_key_alone_and_survives_rotation() {
    let demo = Demo::start("rate-limit-key", &[]);
    let client = demo.value("client_id:");
    let key = demo.value("api_key:");
    let created = demo.cli(&["keys", "create", "--client-id", &client, "--json"]);
    let limited: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let limited_key = limited["key"].as_str().unwrap();
    let limited_id = limited["key_id"].as_str().unwrap();
    let set = demo.cli(&["keys", "set-rate-limit", limited_id, "--rate", "2/60s"]);
    assert!(set.status.success(), "{set:?}");
    // Another process set it: the serving instance reads it at its next poll.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get_me(&demo.base, limited_key).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let refused = get_me(&demo.base, limited_key).await;
    assert_eq!(
        refused.headers()["ratelimit-policy"],
        "\"credential\";q=2;w=60"
    );
    for _ in 0..5 {
        assert_eq!(get_me(&demo.base, &key).await.status(), 200, "its sibling");
    }

    let ops = demo.cli(&[
        "clients", "create", "--id", "ops", "--scope", "admin", "--json",
    ]);
    let ops: serde_json::Value = serde_json::from_slice(&ops.stdout).unwrap();
    let ops_secret = ops["client_secret"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let rotated: serde_json::Value = http
        .post(format!("{}/admin/keys/{limited_id}/rotate", demo.base))
        .basic_auth("ops", Some(&ops_secret))
        .json(&serde_json::json!({"overlap": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_key = rotated["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{rotated}"));
    let new_id = rotated["key_id"].as_str().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get_me(&demo.base, new_key).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429], "the rotated key keeps the limit");
    let listed = demo.cli(&["keys", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == new_id)
        .unwrap();
    assert_eq!(row["rate_limit"]["burst"], 2);

    // A session minted with a limited key is counted against that key too.
    let created = demo.cli(&["keys", "create", "--client-id", &client, "--json"]);
    let minting: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let set = http
        .put(format!(
            "{}/admin/keys/{}/rate-limit",
            demo.base,
            minting["key_id"].as_str().unwrap()
        ))
        .basic_auth("ops", Some(&ops_secret))
        .json(&serde_json::json!({"rate": "2/60s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204, "set here: in force at once");
    let session = http
        .post(format!("{}/session", demo.base))
        .header("x-api-key", minting["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 200);
    let cookie = session.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let me = || {
        http.get(format!("{}/me", demo.base))
            .header("cookie", &cookie)
            .send()
    };
    assert_eq!(
        me().await.unwrap().status(),
        200,
        "the key's second request"
    );
    let refused = me().await.unwrap();
    assert_eq!(refused.status(), 429, "the session spends the key's budget");
    assert_eq!(
        refused.headers()["ratelimit-policy"],
        "\"credential\";q=2;w=60"
    );

    let put = |id: String, body: serde_json::Value| {
        http.put(format!("{}/admin/keys/{id}/rate-limit", demo.base))
            .basic_auth("ops", Some(&ops_secret))
            .json(&body)
            .send()
    };
    let bad = put(new_id.into(), serde_json::json!({"rate": "2/0s"}));
    assert_eq!(bad.await.unwrap().status(), 400);
    let empty = put(new_id.into(), serde_json::json!({}));
    assert_eq!(
        empty.await.unwrap().status(),
        400,
        "an empty object clears nothing"
    );
    let unknown = put("nokey".into(), serde_json::json!({"rate": "2/60s"}));
    assert_eq!(unknown.await.unwrap().status(), 404);
    let cleared = put(new_id.into(), serde_json::json!({"rate": null}));
    assert_eq!(cleared.await.unwrap().status(), 204);
    assert_eq!(get_me(&demo.base, new_key).await.status(), 200, "cleared");
    let trail = demo.cli(&["audit", "--client", &client, "--json"]);
    let trail = String::from_utf8_lossy(&trail.stdout);
    assert_eq!(trail.matches("key.rate_limit").count(), 3, "{trail}");
}

/// Redis killed under the demo's shared rate limits: by default each instance limits on its
/// own count (the client stays refused); with `--rate-limit-unlimited-if-redis-down` nothing is
/// refused until Redis answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outage_switch_decides_between_limits_per_instance_and_none() {
    for unlimited in [false, true] {
        let port = free_port();
        let Some(redis) = RedisServer::start(port) else {
            return;
        };
        let url = redis.url();
        let mut args = vec![
            "--rate-limit",
            "2/60s",
            "--redis",
            url.as_str(),
            "--metrics-addr",
            "127.0.0.1:0",
        ];
        if unlimited {
            args.push("--rate-limit-unlimited-if-redis-down");
        }
        let name = format!("rate-outage-{unlimited}");
        let demo = Demo::start(&name, &args);
        let key = demo.value("api_key:");
        let statuses = |n| {
            let (base, key) = (demo.base.clone(), key.clone());
            async move {
                let mut out = Vec::new();
                for _ in 0..n {
                    out.push(get_me(&base, &key).await.status().as_u16());
                }
                out
            }
        };
        let created = demo.cli(&["clients", "create", "--id", "other", "--json"]);
        let other: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
        let other_secret = other["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(statuses(3).await, [200, 200, 429], "Redis up");
        drop(redis);
        // Another client's request carries a count to Redis and finds it gone (refused at
        // once): from then on the switch decides.
        let http = reqwest::Client::new();
        let basic = |secret: String| {
            http.get(format!("{}/me", demo.base))
                .basic_auth("other", Some(secret))
                .send()
        };
        assert_eq!(basic(other_secret.clone()).await.unwrap().status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let during = statuses(3).await;
        match unlimited {
            false => assert_eq!(during, [429, 429, 429], "limits per instance"),
            true => assert_eq!(during, [200, 200, 200], "no limit while Redis is down"),
        }
        // The failure throttle is never switched off: a guesser is locked out all the same.
        let mut guesses = Vec::new();
        for _ in 0..12 {
            guesses.push(basic("wrong".repeat(5)).await.unwrap().status().as_u16());
        }
        assert!(guesses.contains(&429), "{guesses:?}");
        // The store's errors are counted, beside the allowed and limited requests.
        let metrics = demo
            .printed
            .iter()
            .find_map(|line| line.strip_prefix("metrics on "))
            .unwrap()
            .to_owned();
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        let count = |name: &str| -> f64 {
            text.lines()
                .filter(|line| line.starts_with(name))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        assert!(count("authstar_redis_errors_total") >= 1.0, "{text}");
        assert!(
            count("authstar_rate_limit_total{outcome=\"allowed\"}") >= 1.0,
            "{text}"
        );
        assert!(
            count("authstar_rate_limit_total{outcome=\"limited\"}") >= 1.0,
            "{text}"
        );
    }
}

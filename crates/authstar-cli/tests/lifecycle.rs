//! Credentials as operators run them, on the demo over a real socket: API keys that expire,
//! rotate with an overlap and carry a checksum; clients re-scoped (their keys never grant more);
//! lists read a page at a time; and the audit trail of all of it, from the CLI, the admin API and
//! a client revoking its own token.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::Demo;

async fn me(base: &str, key: &str, path: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_rotate_and_carry_a_checksum_and_every_change_is_audited() {
    let demo = Demo::start("lifecycle", &[]);
    let base = demo.base.clone();
    let client = demo.value("client_id:");

    // A key that expires: works, then refused, and listed as expired.
    let short = json(&demo.cli(&[
        "keys",
        "create",
        "--client-id",
        &client,
        "--expires-in",
        "2s",
        "--name",
        "nightly",
        "--json",
    ]));
    let short_key = short["key"].as_str().unwrap().to_owned();
    assert_eq!(me(&base, &short_key, "/me").await, 200);

    // A checksum: a key with one character changed is refused before any lookup, and
    // is_well_formed_api_key tells it.
    let mut forged = short_key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(authstar_cli::registry::is_well_formed_api_key(&short_key));
    assert!(!authstar_cli::registry::is_well_formed_api_key(&forged));
    assert_eq!(me(&base, &forged, "/me").await, 401);

    // Rotation: both keys work during the overlap, then only the new one.
    let long = json(&demo.cli(&["keys", "create", "--client-id", &client, "--json"]));
    let (old_id, old_key) = (
        long["key_id"].as_str().unwrap(),
        long["key"].as_str().unwrap(),
    );
    let rotated = json(&demo.cli(&["keys", "rotate", old_id, "--overlap", "2s", "--json"]));
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    assert_eq!(rotated["replaces"], old_id);
    assert_eq!(me(&base, old_key, "/me").await, 200, "within the overlap");
    assert_eq!(me(&base, &new_key, "/me").await, 200);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(me(&base, &short_key, "/me").await, 401, "expired");
    assert_eq!(me(&base, old_key, "/me").await, 401, "the overlap is over");
    assert_eq!(me(&base, &new_key, "/me").await, 200);
    let listed = demo.cli(&["keys", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    let line = |id: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_owned()
    };
    assert!(
        line(short["key_id"].as_str().unwrap()).contains("\texpired\t"),
        "{listed}"
    );
    assert!(
        line(short["key_id"].as_str().unwrap()).contains("nightly"),
        "{listed}"
    );
    // Columns: id, client, state, scopes, expiry, name, the key it replaces, its own limit.
    assert_eq!(
        line(rotated["key_id"].as_str().unwrap()).split('\t').nth(6),
        Some(old_id),
        "{listed}"
    );

    // A revocation, recorded with the key's client.
    let spare = json(&demo.cli(&["keys", "create", "--client-id", &client, "--json"]));
    let spare_id = spare["key_id"].as_str().unwrap();
    assert!(demo.cli(&["keys", "revoke", spare_id]).status.success());

    // Re-scoping the client: its key keeps its own scopes but never grants more.
    assert_eq!(me(&base, &new_key, "/reports").await, 200);
    let rescoped = demo.cli(&[
        "clients",
        "set-scopes",
        &client,
        "--scope",
        "reports:export",
    ]);
    assert!(rescoped.status.success(), "{rescoped:?}");
    assert_eq!(
        me(&base, &new_key, "/reports").await,
        403,
        "reports:read is gone"
    );

    // Paging: three more clients, read two at a time, from the CLI and the admin API.
    for id in ["page-a", "page-b", "page-c"] {
        assert!(
            demo.cli(&["clients", "create", "--id", id])
                .status
                .success()
        );
    }
    let ops = json(&demo.cli(&[
        "clients", "create", "--id", "ops", "--scope", "admin", "--json",
    ]));
    let secret = ops["client_secret"].as_str().unwrap().to_owned();
    let first = demo.cli(&["clients", "list", "--limit", "2"]);
    assert_eq!(String::from_utf8_lossy(&first.stdout).lines().count(), 2);
    let all = demo.cli(&["clients", "list"]);
    assert_eq!(String::from_utf8_lossy(&all.stdout).lines().count(), 5);
    let http = reqwest::Client::new();
    let seen: Vec<String> =
        support::every_page(&base, "/admin/clients?limit=2", ("ops", &secret), 2)
            .await
            .iter()
            .map(|c| c["client_id"].as_str().unwrap().to_owned())
            .collect();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "by id");
    assert_eq!(seen.len(), 5, "{seen:?}");

    // The admin API: a key rotated and a client re-scoped by ops, recorded as ops.
    let created: Value = http
        .post(format!("{base}/admin/keys"))
        .basic_auth("ops", Some(&secret))
        .json(&serde_json::json!({"client_id": "page-a", "expires_in": 3600, "name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = http
        .post(format!(
            "{base}/admin/keys/{}/rotate",
            created["key_id"].as_str().unwrap()
        ))
        .basic_auth("ops", Some(&secret))
        .json(&serde_json::json!({"overlap": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 201);
    let scoped = http
        .put(format!("{base}/admin/clients/page-b/scopes"))
        .basic_auth("ops", Some(&secret))
        .json(&serde_json::json!({"scopes": ["reports:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(scoped.status(), 204);

    // A client revoking its own token: recorded as that client.
    let token = support::access_token(&base, &client, &demo.value("client_secret:")).await;
    let revoked = http
        .post(format!("{base}/oauth2/revoke"))
        .basic_auth(&client, Some(demo.value("client_secret:")))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    // The trail, from the CLI: every change in order, with its actor, and never a secret.
    let trail = json(&demo.cli(&["audit", "--limit", "1000", "--json"]));
    let entries = trail.as_array().unwrap();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    for expected in [
        ("cli", "key.revoke"),
        ("cli", "key.create"),
        ("cli", "key.rotate"),
        ("cli", "client.scopes"),
        ("cli", "client.create"),
        ("admin:ops", "key.create"),
        ("admin:ops", "key.rotate"),
        ("admin:ops", "client.scopes"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
    }
    let own = format!("client:{client}");
    assert!(
        actions.contains(&(own.as_str(), "token.revoke")),
        "{actions:?}"
    );
    let text = trail.to_string();
    for secret in [&short_key, &new_key, &secret] {
        assert!(
            !text.contains(secret.as_str()),
            "a secret in the audit trail"
        );
    }
    // ... paged, and by client, from the admin API too.
    let of_page_b: Vec<Value> = http
        .get(format!("{base}/admin/audit?client=page-b"))
        .basic_auth("ops", Some(&secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let of_page_b: Vec<&str> = of_page_b
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(of_page_b, ["client.create", "client.scopes"]);
    let revocation = entries
        .iter()
        .find(|e| e["action"] == "key.revoke")
        .unwrap();
    assert_eq!(revocation["client_id"], client.as_str());
    let first = json(&demo.cli(&["audit", "--limit", "2", "--json"]));
    let cursor = first[1]["seq"].to_string();
    let next = json(&demo.cli(&["audit", "--limit", "2", "--after", &cursor, "--json"]));
    assert_eq!(next[0]["seq"], entries[2]["seq"]);
    // Numbered in the order written: a reader following the numbers misses nothing.
    let numbers: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
}

/// What another process changes (the CLI, another instance) reaches a serving instance that
/// caches checks (here for 60 s) at its next poll, not at the end of its cache TTL: a rotation
/// with no overlap and a re-scope. And a rotation never grants what the old key did not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_and_rescopes_reach_a_caching_instance_within_a_poll() {
    let demo = Demo::start_with(
        "lifecycle-cached",
        &["--db", "demo.db", "--cache-ttl", "60"],
    );
    let base = demo.base.clone();
    let client = demo.value("client_id:");
    let created = json(&demo.cli(&["keys", "create", "--client-id", &client, "--json"]));
    let (old_id, old_key) = (
        created["key_id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    assert_eq!(
        me(&base, old_key, "/reports").await,
        200,
        "checked, then cached"
    );
    let rotated = json(&demo.cli(&["keys", "rotate", old_id, "--overlap", "0s", "--json"]));
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    let refused_within = |key: String, path: &'static str, status: u16| {
        let base = base.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                if me(&base, &key, path).await == status {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        }
    };
    assert!(
        refused_within(old_key.to_owned(), "/me", 401).await,
        "the rotated-out key"
    );
    assert_eq!(me(&base, &new_key, "/reports").await, 200);
    let narrowed = demo.cli(&[
        "clients",
        "set-scopes",
        &client,
        "--scope",
        "reports:export",
    ]);
    assert!(narrowed.status.success(), "{narrowed:?}");
    assert!(
        refused_within(new_key.clone(), "/reports", 403).await,
        "the re-scope"
    );

    // A key that grants nothing keeps granting nothing when rotated, whatever its client
    // holds by then; an expired key cannot be rotated back to life.
    assert!(
        demo.cli(&["clients", "create", "--id", "bare"])
            .status
            .success()
    );
    let bare = json(&demo.cli(&["keys", "create", "--client-id", "bare", "--json"]));
    assert_eq!(bare["scopes"], serde_json::json!([]));
    let widened = demo.cli(&["clients", "set-scopes", "bare", "--scope", "admin"]);
    assert!(widened.status.success());
    let bare_id = bare["key_id"].as_str().unwrap();
    let rotated = json(&demo.cli(&["keys", "rotate", bare_id, "--json"]));
    assert_eq!(rotated["scopes"], serde_json::json!([]), "no scope gained");
    let short = json(&demo.cli(&[
        "keys",
        "create",
        "--client-id",
        &client,
        "--expires-in",
        "1s",
        "--json",
    ]));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let revived = demo.cli(&["keys", "rotate", short["key_id"].as_str().unwrap()]);
    assert!(!revived.status.success(), "an expired key is no key");
}

/// A key's expiry changed after it was made, from the admin API and the CLI: brought forward,
/// the key is refused (a denied credential, not a missing one) once it passes; taken away (`--never`), it works on;
/// zero, ten years and more, an empty body, unknown and expired keys are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_expiry_is_changed_from_the_admin_api_and_the_cli() {
    let demo = Demo::start("key-expiry", &[]);
    let client = demo.value("client_id:");
    let key = demo.value("api_key:");
    let ops = json(&demo.cli(&[
        "clients", "create", "--id", "ops", "--scope", "admin", "--json",
    ]));
    let ops_secret = ops["client_secret"].as_str().unwrap().to_owned();
    let other = json(&demo.cli(&[
        "keys",
        "create",
        "--client-id",
        &client,
        "--expires-in",
        "90s",
        "--json",
    ]));
    let listed = json(&demo.cli(&["keys", "list", "--json"]));
    let key_id = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap().to_owned())
        .find(|id| key.contains(&format!("_{id}_")))
        .unwrap();
    let http = reqwest::Client::new();
    let put = |id: &str, body: Value| {
        http.put(format!("{}/admin/keys/{id}/expiry", demo.base))
            .basic_auth("ops", Some(&ops_secret))
            .json(&body)
            .send()
    };
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"expires_in": 0}),
        serde_json::json!({"expires_in": 400_000_000}),
        serde_json::json!({"expires_in": "1h"}),
    ] {
        assert_eq!(
            put(&key_id, bad.clone()).await.unwrap().status(),
            400,
            "{bad}"
        );
    }
    assert_eq!(
        put("nokey", serde_json::json!({"expires_in": 60}))
            .await
            .unwrap()
            .status(),
        404
    );
    let set = put(&key_id, serde_json::json!({"expires_in": 1}))
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let set: Value = set.json().await.unwrap();
    assert!(set["expires_at"].as_u64().is_some(), "{set}");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let refused = http
        .get(format!("{}/me", demo.base))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let challenges: Vec<String> = refused
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    let body = refused.text().await.unwrap();
    // Refused as any key the registry does not vouch for: a key was presented and denied (not
    // missing), with the ApiKey challenge (RFC 6750's codes belong to Bearer).
    assert!(
        challenges.iter().any(|c| c.starts_with("ApiKey ")),
        "{challenges:?}"
    );
    assert!(
        body.contains("x-api-key") && body.contains("denied"),
        "{body}"
    );
    assert_eq!(
        put(&key_id, serde_json::json!({"expires_in": null}))
            .await
            .unwrap()
            .status(),
        404,
        "an expired key stays expired"
    );
    // The CLI takes another key's end away: it works on, listed without one.
    let other_id = other["key_id"].as_str().unwrap();
    let never = demo.cli(&["keys", "set-expiry", other_id, "--never"]);
    assert!(never.status.success(), "{never:?}");
    assert_eq!(
        me(&demo.base, other["key"].as_str().unwrap(), "/me").await,
        200
    );
    let listed = json(&demo.cli(&["keys", "list", "--json"]));
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == other_id)
        .unwrap();
    assert_eq!(row["expires_at"], Value::Null);
    let trail = demo.cli(&["audit", "--client", &client, "--json"]);
    let trail = String::from_utf8_lossy(&trail.stdout);
    assert_eq!(trail.matches("key.expiry").count(), 2, "{trail}");
    assert!(trail.contains("admin:ops"), "{trail}");
}

/// The admin API takes a key's end as `expires_at`, a Unix time, as well as `expires_in`: on
/// creation, rotation and change; never both, never in the past; null takes the end away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_takes_a_keys_end_as_a_unix_time() {
    let demo = Demo::start("key-expires-at", &[]);
    let client = demo.value("client_id:");
    let ops = json(&demo.cli(&[
        "clients", "create", "--id", "ops", "--scope", "admin", "--json",
    ]));
    let ops_secret = ops["client_secret"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{}{path}", demo.base))
            .basic_auth("ops", Some(&ops_secret))
            .json(&body)
            .send()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = now + 3_600;
    // Stored exactly as given, however long the registry takes to write it.
    let exactly = |value: &Value, expected: u64| {
        assert_eq!(value.as_u64(), Some(expected), "{value}");
    };

    let created = send(
        reqwest::Method::POST,
        "/admin/keys",
        serde_json::json!({"client_id": client, "expires_at": at}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    exactly(&created["expires_at"], at);
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    assert_eq!(
        me(&demo.base, created["key"].as_str().unwrap(), "/me").await,
        200
    );

    for bad in [
        serde_json::json!({"client_id": client, "expires_at": now - 1}),
        serde_json::json!({"client_id": client, "expires_at": now}),
        serde_json::json!({"client_id": client, "expires_at": at, "expires_in": 60}),
        serde_json::json!({"client_id": client, "expires_at": now + 400_000_000}),
    ] {
        let refused = send(reqwest::Method::POST, "/admin/keys", bad.clone())
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{bad}");
        let body = refused.text().await.unwrap();
        assert!(body.contains("invalid_request"), "{body}");
    }

    let expiry = format!("/admin/keys/{key_id}/expiry");
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"expires_at": now - 10}),
        serde_json::json!({"expires_at": at, "expires_in": null}),
        serde_json::json!({"expires_at": "tomorrow"}),
    ] {
        let refused = send(reqwest::Method::PUT, &expiry, bad.clone())
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{bad}");
    }
    let later = now + 7_200;
    let set = send(
        reqwest::Method::PUT,
        &expiry,
        serde_json::json!({"expires_at": later}),
    )
    .await
    .unwrap();
    assert_eq!(set.status(), 200);
    exactly(&set.json::<Value>().await.unwrap()["expires_at"], later);
    let set = send(
        reqwest::Method::PUT,
        &expiry,
        serde_json::json!({"expires_at": null}),
    )
    .await
    .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(
        set.json::<Value>().await.unwrap()["expires_at"],
        Value::Null
    );

    let rotated = send(
        reqwest::Method::POST,
        &format!("/admin/keys/{key_id}/rotate"),
        serde_json::json!({"overlap": 60, "expires_at": at}),
    )
    .await
    .unwrap();
    assert_eq!(rotated.status(), 201);
    let rotated: Value = rotated.json().await.unwrap();
    let listed = json(&demo.cli(&["keys", "list", "--json"]));
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == rotated["key_id"])
        .unwrap_or_else(|| panic!("{listed}"));
    exactly(&row["expires_at"], at);
    let refused = send(
        reqwest::Method::POST,
        &format!("/admin/keys/{}/rotate", rotated["key_id"].as_str().unwrap()),
        serde_json::json!({"expires_at": now - 1}),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 400);
}

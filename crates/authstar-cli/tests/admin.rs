//! The demo's `/admin` API, tried as an attacker and as an operator: who may call it, what bad
//! bodies get, that secrets are shown once and never listed, that the CLI and the API see the
//! same registry, and the OpenAPI document.

mod support;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use support::Demo;

struct Api<'a> {
    demo: &'a Demo,
    http: reqwest::Client,
}

impl Api<'_> {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.demo.base))
    }

    async fn send(&self, request: RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn as_admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        secret: &str,
    ) -> (u16, Value) {
        let mut request = self.request(method, path).basic_auth("ops", Some(secret));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }
}

fn cli_json(demo: &Demo, args: &[&str]) -> Value {
    let output = demo.cli(args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_credentials_manage_the_registry_and_the_cli_sees_the_same_rows() {
    let demo = Demo::start("admin", &[]);
    let ops = cli_json(
        &demo,
        &[
            "clients", "create", "--id", "ops", "--scope", "admin", "--json",
        ],
    );
    let ops_secret = ops["client_secret"].as_str().unwrap().to_owned();
    let api = Api {
        demo: &demo,
        http: reqwest::Client::new(),
    };
    let admin = |method: Method, path: &'static str, body: Option<Value>| {
        api.as_admin(method, path, body, &ops_secret)
    };

    // Nobody, a client without the scope, a wrong secret: refused before anything is read.
    let (status, _) = api.send(api.request(Method::GET, "/admin/clients")).await;
    assert_eq!(status, 401);
    let demo_secret = demo.value("client_secret:");
    let plain = api
        .request(Method::POST, "/admin/clients")
        .basic_auth("demo-client", Some(&demo_secret));
    let response = plain
        .json(&json!({"client_id": "sneaky"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let (status, _) = api
        .as_admin(Method::GET, "/admin/clients", None, "wrong")
        .await;
    assert_eq!(status, 401);
    // The demo's API key holds reports:read only.
    let key = demo.value("api_key:");
    let (status, _) = api
        .send(
            api.request(Method::GET, "/admin/keys")
                .header("x-api-key", &key),
        )
        .await;
    assert_eq!(status, 403);

    // Create a client: 201, the secret once, not cacheable; it works at once.
    let response = api
        .request(Method::POST, "/admin/clients")
        .basic_auth("ops", Some(&ops_secret))
        .json(&json!({"client_id": "reports-job", "scopes": ["reports:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let job_secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["scopes"], json!(["reports:read"]));
    let me = api
        .request(Method::GET, "/me")
        .basic_auth("reports-job", Some(&job_secret));
    assert_eq!(api.send(me).await.0, 200);

    // Bad input: a clear 4xx in the same JSON shape, never a 500.
    for (body, want) in [
        (json!({"client_id": "reports-job"}), 409),
        (json!({"client_id": "has space"}), 400),
        (json!({"scopes": ["two words"]}), 400),
        (json!({"client_id": "x", "secret": "mine"}), 400),
        (json!({"client_id": 7}), 400),
        (json!(["not", "an", "object"]), 400),
    ] {
        let (status, answer) = admin(Method::POST, "/admin/clients", Some(body.clone())).await;
        assert_eq!(status, want, "{body}: {answer}");
        assert!(
            answer["error"].is_string() && answer["error_description"].is_string(),
            "{answer}"
        );
    }
    let raw = api
        .request(Method::POST, "/admin/clients")
        .basic_auth("ops", Some(&ops_secret))
        .header("content-type", "application/json")
        .body("{not json");
    assert_eq!(api.send(raw).await.0, 400);
    let form = api
        .request(Method::POST, "/admin/clients")
        .basic_auth("ops", Some(&ops_secret))
        .form(&[("client_id", "x")]);
    assert_eq!(api.send(form).await.0, 415);

    // Keys: created for a client, never beyond its scopes; unknown clients are 404.
    let (status, key) = admin(
        Method::POST,
        "/admin/keys",
        Some(json!({"client_id": "reports-job"})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let job_key = key["key"].as_str().unwrap().to_owned();
    let key_id = key["key_id"].as_str().unwrap().to_owned();
    let with_key = || {
        api.request(Method::GET, "/reports")
            .header("x-api-key", &job_key)
    };
    assert_eq!(api.send(with_key()).await.0, 200);
    let (status, _) = admin(
        Method::POST,
        "/admin/keys",
        Some(json!({"client_id": "reports-job", "scopes": ["admin"]})),
    )
    .await;
    assert_eq!(status, 400, "a key never holds more than its client");
    let (status, _) = admin(
        Method::POST,
        "/admin/keys",
        Some(json!({"client_id": "ghost"})),
    )
    .await;
    assert_eq!(status, 404);

    // Listing shows no secret; the CLI sees the API's rows and the API the CLI's.
    let (status, clients) = admin(Method::GET, "/admin/clients", None).await;
    assert_eq!(status, 200);
    let listed = clients.to_string();
    assert!(
        listed.contains("reports-job")
            && !listed.contains(&job_secret)
            && !listed.contains(&ops_secret)
    );
    let (_, keys) = admin(Method::GET, "/admin/keys", None).await;
    assert!(keys.to_string().contains(&key_id) && !keys.to_string().contains(&job_key));
    let from_cli = cli_json(&demo, &["clients", "list", "--json"]).to_string();
    assert!(from_cli.contains("reports-job"));
    cli_json(
        &demo,
        &["clients", "create", "--id", "made-by-cli", "--json"],
    );
    let (_, clients) = admin(Method::GET, "/admin/clients", None).await;
    assert!(clients.to_string().contains("made-by-cli"));

    // The session cookie is refused here, even an admin's: a browser sends it by itself.
    let login = api
        .request(Method::POST, "/session")
        .basic_auth("ops", Some(&ops_secret));
    let login = login.send().await.unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let by_cookie = api
        .request(Method::DELETE, &format!("/admin/keys/{key_id}"))
        .header("cookie", &cookie);
    assert_eq!(api.send(by_cookie).await.0, 403);
    assert_eq!(api.send(with_key()).await.0, 200, "nothing was revoked");

    // An admin token works like Basic.
    let bearer = support::access_token(&demo.base, "ops", &ops_secret).await;
    let revoke = api
        .request(Method::DELETE, &format!("/admin/keys/{key_id}"))
        .bearer_auth(bearer);
    assert_eq!(api.send(revoke).await.0, 204);
    assert_eq!(api.send(with_key()).await.0, 401);
    let (status, _) = admin(Method::DELETE, "/admin/keys/nokey", None).await;
    assert_eq!(status, 404);

    // Revoking a client stops its secret and everything it holds.
    let (status, _) = admin(Method::DELETE, "/admin/clients/reports-job", None).await;
    assert_eq!(status, 204);
    let me = api
        .request(Method::GET, "/me")
        .basic_auth("reports-job", Some(&job_secret));
    assert_eq!(api.send(me).await.0, 401);
    let (status, _) = admin(
        Method::POST,
        "/admin/keys",
        Some(json!({"client_id": "reports-job"})),
    )
    .await;
    assert_eq!(status, 409, "no key for a revoked client");
    let (status, _) = admin(Method::DELETE, "/admin/clients/ghost", None).await;
    assert_eq!(status, 404);

    let logs = demo.stop();
    for secret in [&ops_secret, &job_secret, &job_key] {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
    }
    // Field names may be styled (ANSI) depending on the terminal: look for the parts.
    let created = logs
        .lines()
        .find(|line| line.contains("client created"))
        .expect("admin actions are logged");
    assert!(
        created.contains("admin") && created.contains("ops"),
        "with who did them: {created}"
    );
}

#[tokio::test]
async fn the_admin_api_is_in_the_openapi_document_behind_the_admin_scope() {
    let demo = Demo::start("admin-openapi", &[]);
    let doc: Value = reqwest::get(format!("{}/openapi.json", demo.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Every admin operation, whichever it is: the admin scope, and the refusals it may answer.
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/admin/") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let security = operation["security"].to_string();
            assert!(security.contains("admin"), "{method} {path}: {security}");
            let mut refusals = vec!["401", "403", "429", "503"];
            if method == "post" || method == "put" {
                refusals.push("415");
            }
            for status in refusals {
                assert!(
                    operation["responses"][status]["description"].is_string(),
                    "{method} {path} documents {status}"
                );
            }
        }
    }
    // The fourteen the demo serves (contract.rs checks each is in the document by name).
    assert_eq!(operations, 14, "every admin operation");
    assert!(doc["components"]["schemas"]["NewClient"].is_object());
}

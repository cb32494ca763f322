//! RFC 7009 revocation and RFC 7662 introspection on the demo, read as an attacker would:
//! who may revoke or introspect what, with malformed and missing parameters, and a real client
//! (Python's authlib) doing the whole round.

mod support;

use authstar_testkit::python;

use serde_json::Value;
use support::Demo;

struct Round<'a> {
    demo: &'a Demo,
    http: reqwest::Client,
}

impl Round<'_> {
    async fn token(&self, id: &str, secret: &str) -> String {
        support::access_token(&self.demo.base, id, secret).await
    }

    /// POSTs `form` to `path` as client `id`; status and body.
    async fn post(
        &self,
        path: &str,
        id: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.demo.base))
            .form(form);
        if let Some((id, secret)) = id {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        (status, response.text().await.unwrap())
    }

    async fn me(&self, token: &str) -> u16 {
        self.http
            .get(format!("{}/me", self.demo.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn introspect(&self, caller: (&str, &str), token: &str) -> Value {
        let (status, body) = self
            .post("/oauth2/introspect", Some(caller), &[("token", token)])
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

fn error_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_revokes_its_own_tokens_only_and_introspection_tells_nothing_of_invalid_ones() {
    let demo = Demo::start("lifecycle", &[]);
    let secret = demo.value("client_secret:");
    let other: Value = serde_json::from_slice(
        &demo
            .cli(&[
                "clients",
                "create",
                "--id",
                "other",
                "--scope",
                "introspect",
                "--json",
            ])
            .stdout,
    )
    .unwrap();
    let other_secret = other["client_secret"].as_str().unwrap().to_owned();
    let round = Round {
        demo: &demo,
        http: reqwest::Client::new(),
    };
    let me = ("demo-client", secret.as_str());
    let them = ("other", other_secret.as_str());
    let token = round.token(me.0, me.1).await;
    let kept = round.token(me.0, me.1).await;
    assert_eq!(round.me(&token).await, 200, "verified, now cached");

    // What the answer says about an active token: the claims, no more.
    let answer = round.introspect(them, &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "demo-client");
    assert_eq!(answer["scope"], "reports:read reports:export");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["iss"], demo.base.as_str());
    assert_eq!(answer["aud"], demo.base.as_str());
    assert!(answer["jti"].is_string() && answer["exp"].is_u64() && answer["iat"].is_u64());

    // A client without the `introspect` scope learns about its own tokens only: another
    // client's valid token is `{"active": false}`, as an invalid one would be (issue 20, item
    // 17: any authenticated client could introspect any token).
    let plain: Value = serde_json::from_slice(
        &demo
            .cli(&["clients", "create", "--id", "plain", "--json"])
            .stdout,
    )
    .unwrap();
    let plain = ("plain", plain["client_secret"].as_str().unwrap().to_owned());
    let nosy = (plain.0, plain.1.as_str());
    assert_eq!(
        round.introspect(nosy, &token).await,
        serde_json::json!({"active": false})
    );
    let own = round.token(nosy.0, nosy.1).await;
    assert_eq!(round.introspect(nosy, &own).await["active"], true);

    // Asking needs client authentication; a wrong secret is 401 with the Basic challenge.
    for caller in [None, Some(("other", "wrong"))] {
        let (status, body) = round
            .post("/oauth2/introspect", caller, &[("token", &token)])
            .await;
        assert_eq!((status, error_of(&body).as_str()), (401, "invalid_client"));
        let (status, _) = round
            .post("/oauth2/revoke", caller, &[("token", &token)])
            .await;
        assert_eq!(status, 401);
    }
    // No token, a repeated one, one in the query string: invalid_request, nothing revoked.
    for (path, form) in [
        ("/oauth2/revoke", vec![]),
        (
            "/oauth2/revoke",
            vec![("token", token.as_str()), ("token", "x")],
        ),
        ("/oauth2/introspect", vec![("token", "")]),
    ] {
        let (status, body) = round.post(path, Some(me), &form).await;
        assert_eq!(
            (status, error_of(&body).as_str()),
            (400, "invalid_request"),
            "{path} {form:?}"
        );
    }
    let in_query = round
        .post(&format!("/oauth2/revoke?token={token}"), Some(me), &[])
        .await;
    assert_eq!(in_query.0, 400);
    assert_eq!(round.me(&token).await, 200);

    // Garbage, a token signed by someone else, a truncated token: inactive, and "revoked"
    // with 200 (RFC 7009 §2.2), never a 500.
    let forged = {
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[2] = "AAAA";
        parts.join(".")
    };
    let huge = "a".repeat(8000);
    for garbage in [
        "garbage",
        forged.as_str(),
        &token[..token.len() - 5],
        huge.as_str(),
    ] {
        assert_eq!(
            round.introspect(me, garbage).await,
            serde_json::json!({"active": false})
        );
        let (status, body) = round
            .post("/oauth2/revoke", Some(me), &[("token", garbage)])
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // Another client cannot revoke my token: refused, and the token keeps working.
    let (status, body) = round
        .post("/oauth2/revoke", Some(them), &[("token", &token)])
        .await;
    assert_eq!(
        (status, error_of(&body).as_str()),
        (400, "unauthorized_client")
    );
    assert_eq!(round.me(&token).await, 200);

    // I can, with any hint (RFC 7009 §2.1: a hint is advisory): refused at once, though cached.
    let (status, body) = round
        .post(
            "/oauth2/revoke",
            Some(me),
            &[("token", &token), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(round.me(&token).await, 401);
    assert_eq!(
        round.introspect(them, &token).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(round.me(&kept).await, 200, "only that token");

    // client_secret_post works at both endpoints too.
    let posted = [
        ("token", kept.as_str()),
        ("client_id", "other"),
        ("client_secret", &other_secret),
    ];
    let (status, body) = round.post("/oauth2/introspect", None, &posted).await;
    assert_eq!(status, 200, "{body}");

    // Revoking the client refuses every token it still holds, at once.
    assert!(
        demo.cli(&["clients", "revoke", "demo-client"])
            .status
            .success()
    );
    let started = std::time::Instant::now();
    while round.me(&kept).await != 401 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "a revoked client's token works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let logs = demo.stop();
    for secret_value in [
        secret.as_str(),
        other_secret.as_str(),
        token.as_str(),
        kept.as_str(),
    ] {
        assert!(
            !logs.contains(secret_value),
            "a secret leaked into the logs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_revokes_and_introspects_through_the_advertised_endpoints() {
    if !python::available("authlib, httpx") {
        return;
    }
    let demo = Demo::start("lifecycle-authlib", &[]);
    let (base, secret) = (demo.base.clone(), demo.value("client_secret:"));
    let output = tokio::task::spawn_blocking(move || {
        python::run(
            "authlib_revoke_introspect.py",
            &[&base, "demo-client", &secret],
        )
    })
    .await
    .unwrap();
    assert!(output.contains("ok"), "{output}");
}

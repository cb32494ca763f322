//! `examples/openapi.rs` over a real socket: the Python package's three security schemes, locks only on
//! guarded operations, 401/403 documented, Swagger UI served locally, and the document valid
//! against the OpenAPI 3.x schema (Python's openapi-spec-validator).

#[allow(dead_code)]
#[path = "../examples/openapi.rs"]
mod openapi_example;
use authstar_testkit::python;

use serde_json::{Value, json};

async fn serve() -> String {
    authstar_testkit::serve::serve(openapi_example::app()).await
}

async fn document(base: &str) -> Value {
    reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_three_common_schemes_are_in_the_components() {
    let doc = document(&serve().await).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["api_key"],
        json!({"type": "apiKey", "in": "header", "name": "x-api-key"})
    );
    assert_eq!(
        schemes["http_basic"],
        json!({"type": "http", "scheme": "basic"})
    );
    assert_eq!(
        schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"],
        "/oauth2/token"
    );
    assert_eq!(
        schemes["oauth2"]["flows"]["clientCredentials"]["scopes"]["reports:read"],
        "Read reports"
    );
}

#[tokio::test]
async fn locks_only_where_a_guard_is_with_alternatives_and_responses() {
    let doc = document(&serve().await).await;
    let paths = &doc["paths"];
    assert!(
        paths["/"]["get"].get("security").is_none(),
        "the public route has no lock"
    );
    assert_eq!(
        paths["/me"]["get"]["security"],
        json!([{"api_key": []}, {"http_basic": []}, {"oauth2": []}])
    );
    assert_eq!(
        paths["/reports"]["get"]["security"],
        json!([{"api_key": []}, {"oauth2": ["reports:read"]}])
    );
    assert!(paths["/me"]["get"]["responses"]["401"].is_object());
    assert!(paths["/me"]["get"]["responses"].get("403").is_none());
    assert!(paths["/reports"]["get"]["responses"]["403"].is_object());
}

#[tokio::test]
async fn markers_perform_no_authentication_the_guards_do() {
    let base = serve().await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{base}/")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let me = http
        .get(format!("{base}/me"))
        .basic_auth("svc", Some("svc-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let base = serve().await;
    let page = reqwest::get(format!("{base}/docs/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("cdn"), "Swagger UI must not load from a CDN");
    let bundle = reqwest::get(format!("{base}/docs/swagger-ui-bundle.js"))
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_3() {
    if !python::available("openapi_spec_validator") {
        return;
    }
    let doc = document(&serve().await).await;
    let path = std::env::temp_dir().join(format!("authstar-openapi-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        python::run("validate_openapi.py", &[path.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(output.starts_with("valid OpenAPI 3."), "{output}");
}

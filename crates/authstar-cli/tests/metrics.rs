//! The demo's Prometheus metrics, read by Prometheus's own text parser (Python
//! `prometheus_client`): counters move with requests, no credential appears, and the
//! service's own port does not serve them.

mod support;

use authstar_testkit::python;

use support::Demo;

fn metrics_url(demo: &Demo) -> String {
    demo.printed
        .iter()
        .find_map(|line| line.strip_prefix("metrics on "))
        .expect("the demo prints where its metrics are")
        .to_owned()
}

#[tokio::test]
async fn metrics_move_with_requests_and_stay_off_the_service_port() {
    let demo = Demo::start("metrics", &["--metrics-addr", "127.0.0.1:0"]);
    let url = metrics_url(&demo);
    let http = reqwest::Client::new();
    // Apart from the service: its port has no /metrics.
    let on_service = http
        .get(format!("{}/metrics", demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(on_service.status(), 404);
    let text = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("panicked"));
    if python::available("prometheus_client, httpx") {
        let (id, secret, key) = (
            demo.value("client_id:"),
            demo.value("client_secret:"),
            demo.value("api_key:"),
        );
        let out = python::run(
            "prometheus_metrics.py",
            &[&url, &demo.base, &id, &secret, &key],
        );
        assert!(out.contains("metrics ok"), "{out}");
    }
}

#[tokio::test]
async fn without_the_flag_nothing_is_served() {
    let demo = Demo::start("no-metrics", &[]);
    assert!(
        !demo.printed.iter().any(|l| l.starts_with("metrics on ")),
        "{:?}",
        demo.printed
    );
}

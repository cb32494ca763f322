"""The demo's /metrics read with Prometheus's own Python client parser: the counters move as
requests are made, and no credential ever appears in the exposition.

usage: prometheus_metrics.py METRICS_URL BASE CLIENT_ID CLIENT_SECRET API_KEY
"""

import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

metrics_url, base, client_id, client_secret, api_key = sys.argv[1:6]


def scrape():
    response = httpx.get(metrics_url, timeout=10)
    assert response.status_code == 200, response.status_code
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    text = response.text
    for secret in (client_secret, api_key):
        assert secret not in text, "a credential in the metrics"
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            values[key] = sample.value
    return values


def value(values, name, **labels):
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


before = scrape()
http = httpx.Client(base_url=base, timeout=10)
assert http.get("/me", headers={"X-API-Key": api_key}).status_code == 200
assert http.get("/me", auth=(client_id, "wrong-secret")).status_code == 401
assert http.get("/me", headers={"Authorization": "Basic !!!"}).status_code == 401
token = http.post(
    "/oauth2/token",
    auth=(client_id, client_secret),
    data={"grant_type": "client_credentials"},
)
assert token.status_code == 200, token.text
access = token.json()["access_token"]
refused = http.post(
    "/oauth2/token",
    data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"},
)
assert refused.status_code == 401, refused.text
for _ in range(2):
    assert http.get("/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200
after = scrape()

checks = {
    ("authstar_authentications_total", "header", "authenticated"): 1,
    ("authstar_authentications_total", "basic", "rejected"): 1,
    ("authstar_authentications_total", "basic", "malformed"): 1,
    ("authstar_authentications_total", "bearer", "authenticated"): 2,
}
for (name, method, outcome), expected in checks.items():
    got = moved(before, after, name, method=method, outcome=outcome)
    assert got == expected, f"{name}{{method={method},outcome={outcome}}} moved by {got}, not {expected}"
# The token request authenticated its Basic credentials in the layer too.
assert moved(before, after, "authstar_authentications_total", method="basic", outcome="authenticated") >= 1
for result, expected in (("ok", 1), ("invalid_client", 1)):
    got = moved(before, after, "authstar_token_endpoint_requests_total", endpoint="token", result=result)
    assert got == expected, f"token endpoint {result} moved by {got}"
assert moved(before, after, "authstar_jwt_cache_total", result="miss") == 1
assert moved(before, after, "authstar_jwt_cache_total", result="hit") == 1
# The wrong Basic secret went to the database: an authenticator that had to wait, timed.
timed = moved(before, after, "authstar_authenticator_duration_seconds_count", method="basic")
assert timed >= 1, f"no basic authenticator timing ({timed})"
# Guessing one client id until the layer answers 429: counted as throttled, never by id.
statuses = [http.get("/me", auth=("guessed-id", f"guess-{i}")).status_code for i in range(15)]
assert 429 in statuses, statuses
throttled = scrape()
assert moved(after, throttled, "authstar_throttled_total") >= 1
print("metrics ok")

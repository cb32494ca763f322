#!/usr/bin/env bash
# Revocations under load (issue: credential lifecycle): two release demos on one PostgreSQL and
# one Redis (scripts/services), wrk on instance A's API-key route while instance B revokes tokens
# at 0, 10 and 100 a second; then the propagation of a key revocation from B to A.
#
#   cargo build --release -p authstar-cli && \
#     scripts/services benchmarks/revocations_under_load.sh > benchmarks/results/revocations_under_load.md
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/authstar
dsn=${AUTHSTAR_TEST_DATABASE_URL:?run under scripts/services}
redis=${AUTHSTAR_TEST_REDIS_URL:?run under scripts/services}
work=$(mktemp -d /tmp/authstar-revocations-load.XXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 200); do grep -q "listening on" "$1" && return; sleep 0.1; done; echo "no start: $1" >&2; exit 1; }
cd "$work"
a_port=$(port); b_port=$(port)
common=(--db "$dsn" --secrets secrets.json --redis "$redis" --issuer https://auth.example.test --cache-ttl 30 --no-throttle)
taskset -c 0 "$bin" demo --port "$a_port" "${common[@]}" > a.log 2>&1 &
a_pid=$!
wait_for a.log
"$bin" demo --port "$b_port" "${common[@]}" > b.log 2>&1 &
wait_for b.log
client=$(awk '/client_id:/ {print $2}' a.log); secret=$(awk '/client_secret:/ {print $2}' a.log)
key=$(awk '/api_key:/ {print $2}' a.log)
ops=$("$bin" clients create --id ops --scope admin --json --db "$dsn" --secrets secrets.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
echo "# Revocations under load ($(date -u +%F), two instances, PostgreSQL and Redis; A on core 0, wrk on core 1, 10 s a row)"
echo
python3 "$OLDPWD/benchmarks/revocations_under_load.py" "http://127.0.0.1:$a_port" "http://127.0.0.1:$b_port" \
  "$client" "$secret" "$key" "$a_pid" "$dsn" "$bin" "$work" "$ops"

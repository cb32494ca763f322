#!/usr/bin/env bash
# Revocations under load (issue: credential lifecycle): two release demos on one PostgreSQL and
# one Redis (scripts/services) with 10^5 revoked tokens outstanding. Instance A runs on core 0;
# B, this run's PostgreSQL and Redis, the revoking Python and wrk on core 1. Instance B revokes
# tokens at 0, 10 and 100 a second (spread over 20 clients) while (1) A is idle: A's own CPU
# for following them, and (2) wrk sends A a paced load of API-key, then Basic, requests: A's
# CPU per request. Then the propagation of a key revocation from B to A.
#
#   cargo build --release -p authstar-cli && \
#     scripts/services benchmarks/revocations_under_load.sh > benchmarks/results/revocations_under_load.md
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/authstar
dsn=${AUTHSTAR_TEST_DATABASE_URL:?run under scripts/services}
redis=${AUTHSTAR_TEST_REDIS_URL:?run under scripts/services}
outstanding=${OUTSTANDING:-100000}
work=$(mktemp -d /tmp/authstar-revocations-load.XXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 200); do grep -q "listening on" "$1" && return; sleep 0.1; done; echo "no start: $1" >&2; exit 1; }
# Everything but instance A runs on core 1: this run's engines (started by scripts/services;
# PostgreSQL's backends fork later from its postmaster and inherit the mask), B, the revoking
# Python and wrk. Other processes on the machine are left alone.
services=${AUTHSTAR_TEST_SERVICES_DIR:?run under scripts/services}
postmaster=$(head -n 1 "$services/pg/postmaster.pid")
redis_pid=$(redis-cli -u "$redis" INFO server | awk -F: '/^process_id:/ {print $2}' | tr -d '\r')
for pid in "$postmaster" $(pgrep -P "$postmaster") "$redis_pid"; do taskset -a -p -c 1 "$pid" >/dev/null; done
cd "$work"
# The schema, then the revoked tokens outstanding (unexpired), written by the database itself.
"$bin" clients list --db "$dsn" --secrets secrets.json >/dev/null
psql "$dsn" -qc "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at)
  SELECT 'jti-outstanding-' || g, 'bench', 4000000000, 1 FROM generate_series(1, $outstanding) g"
a_port=$(port); b_port=$(port)
common=(--db "$dsn" --secrets secrets.json --redis "$redis" --issuer https://auth.example.test --cache-ttl 30 --no-throttle)
taskset -c 0 "$bin" demo --port "$a_port" "${common[@]}" > a.log 2>&1 &
a_pid=$!
wait_for a.log
taskset -c 1 "$bin" demo --port "$b_port" "${common[@]}" > b.log 2>&1 &
wait_for b.log
client=$(awk '/client_id:/ {print $2}' a.log); secret=$(awk '/client_secret:/ {print $2}' a.log)
key=$(awk '/api_key:/ {print $2}' a.log)
ops=$("$bin" clients create --id ops --scope admin --json --db "$dsn" --secrets secrets.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
echo "# Revocations under load ($(date -u +%F), two instances, PostgreSQL and Redis, $outstanding revoked tokens outstanding)"
echo
taskset -c 1 python3 "$OLDPWD/benchmarks/revocations_under_load.py" "http://127.0.0.1:$a_port" "http://127.0.0.1:$b_port" \
  "$client" "$secret" "$key" "$a_pid" "$dsn" "$bin" "$work" "$ops"

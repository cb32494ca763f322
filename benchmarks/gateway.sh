#!/usr/bin/env bash
# The gateway's cost (issue: authstar in front of any service), on this machine:
#  (a) server CPU per forward-auth check (the gateway process's utime+stime from /proc over the
#      requests wrk counted), against the same build's demo answering GET / (the HTTP floor)
#      and GET /me with the same credential (the floor plus the layer), both hit directly;
#  (b) the latency nginx `auth_request` adds: wrk --latency through nginx to a static upstream,
#      with and without the check (deploy/nginx.conf as it is), at 16 and 64 connections.
# The gateway runs on core 0; nginx and wrk share core 1.
#
#   cargo build --release -p authstar-cli && benchmarks/gateway.sh > benchmarks/results/gateway.md
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/authstar
work=$(mktemp -d /tmp/authstar-gateway-bench.XXXX)
trap 'kill $(jobs -p) 2>/dev/null; [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)
duration=${DURATION:-5}

demo_port=$(free_port); gateway_port=$(free_port); upstream_port=$(free_port)
direct_port=$(free_port); checked_port=$(free_port)
cd "$work"
taskset -c 0 "$bin" demo --port "$demo_port" --db demo.db --no-throttle > demo.log 2>&1 &
demo_pid=$!
wait_port "$demo_port"
api_key=$(awk '/api_key:/ {print $2}' demo.log)
cp "$OLDPWD/deploy/policy.toml" policy.toml
taskset -c 0 "$bin" gateway --port "$gateway_port" --db demo.db --no-throttle \
  --trusted-proxies 127.0.0.1/32 --issuer "http://127.0.0.1:$demo_port" --policy policy.toml > gateway.log 2>&1 &
gateway_pid=$!
wait_port "$gateway_port"

# nginx: a static upstream, the service without a check, and deploy/nginx.conf in front of it.
mkdir -p temp
sed -e "s/127.0.0.1:8080/127.0.0.1:$checked_port/" -e "s/127.0.0.1:9000/127.0.0.1:$gateway_port/" \
    -e "s/127.0.0.1:3000/127.0.0.1:$upstream_port/" "$OLDPWD/deploy/nginx.conf" > checked.conf
cat > nginx.conf <<EOF
user root; worker_processes 1; daemon on; pid $work/nginx.pid; error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/temp/b; proxy_temp_path $work/temp/p; fastcgi_temp_path $work/temp/f;
  uwsgi_temp_path $work/temp/u; scgi_temp_path $work/temp/s;
  server { listen 127.0.0.1:$upstream_port; location / { return 200 "ok\n"; } }
  server {
    listen 127.0.0.1:$direct_port;
    location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://app; }
  }
  include $work/checked.conf;
}
EOF
taskset -c 1 nginx -c "$work/nginx.conf" -p "$work"
wait_port "$checked_port"

# (a) CPU per request, direct and through the gateway's check.
cpu_per_request() { # pid url header
  local before after requests
  before=$(cpu_ticks "$1")
  requests=$(taskset -c 1 wrk -t1 -c16 -d"${duration}s" -H "$3" "$2" | awk '/requests in/ {print $1}')
  after=$(cpu_ticks "$1")
  python3 -c "print(f'{($after - $before) / $ticks_per_second / $requests * 1e6:.2f} µs ({$requests} requests)')"
}
echo "# authstar gateway: cost per check ($(date -u +%F), $(nproc) cores, ${duration} s per row)"
echo
echo "## (a) Server CPU per request, from /proc (utime+stime) over the requests wrk counted"
echo
echo "| what | server CPU per request |"
echo "|---|---:|"
warm=$(cpu_per_request "$demo_pid" "http://127.0.0.1:$demo_port/" "X-Warm: 1")
echo "| demo, GET / (the HTTP floor: hyper, axum, the layer with nothing presented) | $(cpu_per_request "$demo_pid" "http://127.0.0.1:$demo_port/" "X-Nothing: 1") |"
echo "| demo, GET /me with X-API-Key (the floor + the layer + the route) | $(cpu_per_request "$demo_pid" "http://127.0.0.1:$demo_port/me" "X-API-Key: $api_key") |"
original="X-Original-Method: GET"
check() { taskset -c 1 wrk -t1 -c16 -d"${duration}s" -H "$original" -H "X-Original-URI: /me" -H "X-API-Key: $api_key" "http://127.0.0.1:$gateway_port/auth/nginx" | awk '/requests in/ {print $1}'; }
before=$(cpu_ticks "$gateway_pid"); requests=$(check); after=$(cpu_ticks "$gateway_pid")
echo "| gateway, GET /auth/nginx for GET /me with X-API-Key (the check alone) | $(python3 -c "print(f'{($after - $before) / $ticks_per_second / $requests * 1e6:.2f} µs ({$requests} requests)')") |"
echo
echo "## (b) Latency nginx auth_request adds (wrk --latency, through nginx to a static upstream)"
echo
echo "| connections | route | req/s | p50 | p99 |"
echo "|---:|---|---:|---:|---:|"
latency() { # connections label url header
  taskset -c 1 wrk -t1 -c"$1" -d"${duration}s" --latency -H "$4" "$3" | awk -v c="$1" -v l="$2" '
    /Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
    END {printf "| %s | %s | %s | %s | %s |\n", c, l, rps, p50, p99}'
}
token=$(curl -s -u "$(awk '/client_id:/ {print $2}' demo.log):$(awk '/client_secret:/ {print $2}' demo.log)" \
  -d grant_type=client_credentials "http://127.0.0.1:$demo_port/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
for connections in 16 64; do
  latency "$connections" "no check" "http://127.0.0.1:$direct_port/me" "X-API-Key: $api_key"
  latency "$connections" "auth_request, X-API-Key" "http://127.0.0.1:$checked_port/me" "X-API-Key: $api_key"
  latency "$connections" "auth_request, Bearer JWT (cached)" "http://127.0.0.1:$checked_port/me" "Authorization: Bearer $token"
done
: "$warm"

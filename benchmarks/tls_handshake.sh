#!/usr/bin/env bash
# The demo's TLS handshake (rustls, ring; its certificate P-256), server CPU per connection
# from /proc (utime+stime) over the connections `openssl s_time` made: full handshakes and
# resumed sessions, without and with a client certificate (RFC 8705: the client signs the
# handshake, the server checks that signature). The demo runs on core 0, openssl on core 1.
#
#   cargo build --release -p authstar-cli && benchmarks/tls_handshake.sh > benchmarks/results/tls_handshake.md
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/authstar
work=$(mktemp -d /tmp/authstar-tls-bench.XXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
seconds=${DURATION:-5}
cd "$work"
make() { # name subject
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "$2" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$1.key" -out "$1.pem" 2>/dev/null
}
make server /CN=localhost
make client /CN=bench-client
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$bin" demo --port "$port" --db demo.db --tls-cert server.pem --tls-key server.key > demo.log 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on" demo.log && break; sleep 0.1; done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
row() { # label, s_time flags...
  local label=$1; shift
  local before after connections
  before=$(cpu)
  connections=$(taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -time "$seconds" "$@" 2>/dev/null \
    | awk '/connections in/ {print $1; exit}')
  after=$(cpu)
  python3 -c "print(f'| $label | {$connections} | {($after - $before) / $ticks / $connections * 1e6:.1f} µs |')"
}
echo "# The demo's TLS handshake ($(date -u +%F), $(openssl version | cut -d' ' -f1-2) client, ${seconds} s per row)"
echo
echo "| handshake | connections | server CPU per connection |"
echo "|---|---:|---:|"
# Each connection also fetches `GET /` (-www): a TLS 1.3 client learns its session ticket only
# after the handshake, by reading, and s_time resumes only with one.
for version in tls1_3 tls1_2; do
  row "$version, full, no client certificate" -"$version" -www / -new
  row "$version, full, client certificate (ECDSA P-256)" -"$version" -www / -new -cert client.pem -key client.key
  row "$version, resumed, no client certificate" -"$version" -www / -reuse
  row "$version, resumed, client certificate" -"$version" -www / -reuse -cert client.pem -key client.key
done

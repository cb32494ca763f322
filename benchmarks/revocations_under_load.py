"""Two demo instances on one PostgreSQL and one Redis: API-key requests on instance A under wrk
while token revocations (RFC 7009) run on instance B at 0, 10 and 100 a second, then the time a
key revoked on B takes to be refused on A. Run by benchmarks/revocations_under_load.sh, which
starts the instances; prints Markdown.

    python3 revocations_under_load.py A_BASE B_BASE CLIENT_ID SECRET API_KEY A_PID DSN CLI DIR
"""

import json
import subprocess
import sys
import threading
import time

import httpx

a, b, client_id, secret, api_key, a_pid, dsn, cli, workdir = sys.argv[1:10]
TICK = 100.0  # clock ticks a second on Debian


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def commits():
    out = subprocess.run(
        ["psql", dsn, "-Atc", "SELECT sum(xact_commit) FROM pg_stat_database"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    return int(out or 0)


def tokens(n):
    with httpx.Client() as http:
        return [
            http.post(f"{b}/oauth2/token", auth=(client_id, secret),
                      data={"grant_type": "client_credentials"}).json()["access_token"]
            for _ in range(n)
        ]


def revoker(rate, stop, pool, done):
    # Four workers between them aim at `rate`: one revocation is a round trip to B.
    def work():
        with httpx.Client() as http:
            interval = 4.0 / rate
            while not stop.is_set() and pool:
                started = time.monotonic()
                try:
                    token = pool.pop()
                except IndexError:
                    return
                http.post(f"{b}/oauth2/revoke", auth=(client_id, secret), data={"token": token})
                done.append(1)
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def wrk(seconds):
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", "-c16", f"-d{seconds}s", "-H", f"X-API-Key: {api_key}",
         f"{a}/me"], capture_output=True, text=True, check=True,
    ).stdout
    return int(next(line for line in out.splitlines() if "requests in" in line).split()[0])


SECONDS = 10
rows = []
for rate in (0, 10, 100):
    pool = tokens(rate * SECONDS + 50) if rate else []
    stop, done = threading.Event(), []
    thread = threading.Thread(target=revoker, args=(rate, stop, pool, done)) if rate else None
    cpu, db = cpu_seconds(a_pid), commits()
    if thread:
        thread.start()
    requests = wrk(SECONDS)
    stop.set()
    if thread:
        thread.join()
    cpu, db = cpu_seconds(a_pid) - cpu, commits() - db
    rows.append((rate, len(done) / SECONDS, requests / SECONDS, cpu / requests * 1e6, db / SECONDS))

print("| token revocations a second on B (aimed, done) | API-key requests a second on A | A's CPU per request | database commits a second |")
print("|---:|---:|---:|---:|")
for rate, achieved, rps, us, qps in rows:
    print(f"| {rate}, {achieved:.0f} | {rps:,.0f} | {us:.1f} µs | {qps:,.0f} |")

# A key revoked on B: how long until A refuses it (its poll, 1 s by default).
delays = []
with httpx.Client() as http:
    for n in range(20):
        created = json.loads(subprocess.run(
            [cli, "keys", "create", "--client-id", client_id, "--db", dsn,
             "--secrets", "secrets.json", "--json"],
            capture_output=True, text=True, check=True, cwd=workdir,
        ).stdout)
        key = created["key"]
        assert http.get(f"{a}/me", headers={"x-api-key": key}).status_code == 200
        started = time.monotonic()
        http.delete(f"{b}/admin/keys/{created['key_id']}", auth=("ops", sys.argv[10]))
        while http.get(f"{a}/me", headers={"x-api-key": key}).status_code == 200:
            time.sleep(0.01)
        delays.append(time.monotonic() - started)
delays.sort()
print()
print(f"A key revoked on B is refused on A after: p50 {delays[len(delays) // 2] * 1e3:.0f} ms, "
      f"p99 (max of 20) {delays[-1] * 1e3:.0f} ms.")

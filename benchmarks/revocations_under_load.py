"""Two demo instances on one PostgreSQL and one Redis. Instance B revokes tokens (RFC 7009) at
0, 10 and 100 a second; instance A follows them through its change-log poll. Measured on A:

1. idle: A's own CPU for following the revocations, with no requests to A;
2. under a fixed rate of requests (wrk, one connection sleeping 1 ms between requests, so the
   offered load does not change with the row): A's CPU per API-key and per Basic request, and
   the reads of the credential tables (cache misses) a second;
3. how long a key revoked on B takes to be refused on A.

Run by benchmarks/revocations_under_load.sh, which pins and starts everything; prints Markdown.

    python3 revocations_under_load.py A_BASE B_BASE CLIENT_ID SECRET API_KEY A_PID DSN CLI DIR OPS_SECRET
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import httpx

a, b, client_id, secret, api_key, a_pid, dsn, cli, workdir, ops_secret = sys.argv[1:11]
TICK = os.sysconf("SC_CLK_TCK")
SECONDS = 10
RATES = (0, 10, 100)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def psql(sql):
    return subprocess.run(["psql", dsn, "-Atc", sql], capture_output=True, text=True,
                          check=True).stdout.strip()


def credential_reads():
    # Index and sequential scans of the tables a cache miss reads.
    return int(psql("SELECT coalesce(sum(coalesce(idx_scan, 0) + coalesce(seq_scan, 0)), 0) "
                    "FROM pg_stat_user_tables WHERE relname IN ('clients', 'api_keys')") or 0)


def commits():
    return int(psql("SELECT sum(xact_commit) FROM pg_stat_database") or 0)


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
            while not stop.is_set():
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


PACED = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
PACED.write("function delay() return 1 end\n")
PACED.close()


def wrk(header):
    out = subprocess.run(
        ["wrk", "-t1", "-c24", f"-d{SECONDS}s", "-s", PACED.name, "-H", header, f"{a}/me"],
        capture_output=True, text=True, check=True,
    ).stdout
    return int(next(line for line in out.splitlines() if "requests in" in line).split()[0])


def with_revocations(rate, measure, seconds=SECONDS):
    """Runs `measure()` while B revokes `rate` tokens a second; A's CPU, what measure returned,
    the revocations done a second, credential reads and commits a second."""
    pool = tokens(rate * seconds + 50) if rate else []
    stop, done = threading.Event(), []
    thread = threading.Thread(target=revoker, args=(rate, stop, pool, done)) if rate else None
    cpu, reads, db = cpu_seconds(a_pid), credential_reads(), commits()
    if thread:
        thread.start()
    result = measure()
    stop.set()
    if thread:
        thread.join()
    return (cpu_seconds(a_pid) - cpu, result, len(done) / seconds,
            (credential_reads() - reads) / seconds, (commits() - db) / seconds)


IDLE_SECONDS = 30


def pause():
    time.sleep(IDLE_SECONDS)
    return None


print("## A's own cost of following revocations (A idle)")
print()
print(f"CPU from /proc/PID/stat in ticks of {1000 // TICK} ms over {IDLE_SECONDS} s: a row reads "
      f"to ±{1000 / TICK / IDLE_SECONDS:.1f} ms a second, so a revocation seen costs A at most the rise "
      "plus that resolution, over the revocations a second.")
print()
print("| token revocations a second on B (aimed, done) | A's CPU a second | A's CPU per revocation seen, at most |")
print("|---:|---:|---:|")
idle = {}
for rate in RATES:
    cpu, _, achieved, _, _ = with_revocations(rate, pause, IDLE_SECONDS)
    idle[rate] = cpu / IDLE_SECONDS
    bound = ((max(0.0, idle[rate] - idle[0]) + 1.0 / TICK / IDLE_SECONDS) / achieved * 1e6
             if rate else None)
    print(f"| {rate}, {achieved:.0f} | {idle[rate] * 1e3:.2f} ms | "
          f"{'—' if bound is None else f'{bound:.0f} µs'} |")

basic = "Authorization: Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
ROUNDS = 3
print()
print("## A under a fixed rate of requests")
print()
print(f"Each row is the median of {ROUNDS} rounds taken in turn (0, 10, 100, 0, 10, 100, …), "
      "with the lowest and highest round: the spread of the rounds without revocations is this "
      "machine's noise.")
print()
print("| credential | token revocations a second on B (aimed, done) | requests a second on A | "
      "A's CPU per request: median (low–high) | median vs no revocations | "
      "credential-table reads a second | database commits a second (all) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, header in (("API key", f"X-API-Key: {api_key}"), ("Basic", basic)):
    rounds = {rate: [] for rate in RATES}
    for _ in range(ROUNDS):
        for rate in RATES:
            cpu, requests, achieved, reads, db = with_revocations(rate, lambda: wrk(header))
            rounds[rate].append((cpu / requests * 1e6, requests / SECONDS, achieved, reads, db))
    base = sorted(r[0] for r in rounds[0])[ROUNDS // 2]
    for rate in RATES:
        ordered = sorted(rounds[rate])
        us, rps, achieved, reads, db = ordered[ROUNDS // 2]
        print(f"| {name} | {rate}, {achieved:.0f} | {rps:,.0f} | {us:.2f} µs "
              f"({ordered[0][0]:.2f}–{ordered[-1][0]:.2f}) | {(us / base - 1) * 100:+.1f} % | "
              f"{reads:.1f} | {db:.0f} |")

# A key revoked on B: how long until A refuses it (A polls every 200 ms by default).
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
        http.delete(f"{b}/admin/keys/{created['key_id']}", auth=("ops", ops_secret))
        while http.get(f"{a}/me", headers={"x-api-key": key}).status_code == 200:
            time.sleep(0.01)
        delays.append(time.monotonic() - started)
delays.sort()
print()
print(f"A key revoked on B is refused on A after: p50 {delays[len(delays) // 2] * 1e3:.0f} ms, "
      f"p99 (max of 20) {delays[-1] * 1e3:.0f} ms.")
os.unlink(PACED.name)

"""Two demo instances on one PostgreSQL and one Redis. Instance B revokes tokens (RFC 7009) at
0, 10 and 100 a second, spread over 20 clients (the demo lets one client revoke 10 a second
after a burst of 100; only answers 200 count); instance A follows them through its change-log
poll. Measured on A, its CPU as the nanoseconds its threads ran (/proc/PID/task/*/schedstat):

1. idle: A's own CPU for following the revocations, with no requests to A, per change it
   followed (the revision's rise over the window);
2. under a paced load (wrk, 24 connections each waiting 1 ms after every answer: closed-loop,
   so the rate sags when wrk's core is busier): A's CPU per API-key and per Basic request, in
   interleaved rounds, and the reads of the credential tables (cache misses, A's and B's);
3. how long a key revoked on B takes to be refused on A (at a random point of A's poll).

Run by benchmarks/revocations_under_load.sh, which pins and starts everything; prints Markdown.

    python3 revocations_under_load.py A_BASE B_BASE CLIENT_ID SECRET API_KEY A_PID DSN CLI DIR OPS_SECRET
"""

import base64
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

import httpx

a, b, client_id, secret, api_key, a_pid, dsn, cli, workdir, ops_secret = sys.argv[1:11]
SECONDS = 10
RATES = (0, 10, 100)


def cpu_seconds(pid):
    # Nanoseconds on a CPU, summed over the process's threads (tokio's workers live as long as
    # the process; /proc/PID/stat's 10 ms ticks are too coarse for the idle rows).
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def psql(sql):
    return subprocess.run(["psql", dsn, "-Atc", sql], capture_output=True, text=True,
                          check=True).stdout.strip()


def credential_reads():
    # Index and sequential scans of the tables a cache miss reads.
    return int(psql("SELECT coalesce(sum(coalesce(idx_scan, 0) + coalesce(seq_scan, 0)), 0) "
                    "FROM pg_stat_user_tables WHERE relname IN ('clients', 'api_keys')") or 0)


def commits():
    return int(psql("SELECT sum(xact_commit) FROM pg_stat_database") or 0)


def revision():
    return int(psql("SELECT value FROM revision WHERE id = 1") or 0)


# The revoking clients: B lets one client revoke 10 a second after a burst of 100.
REVOKERS = []
for n in range(20):
    created = json.loads(subprocess.run(
        [cli, "clients", "create", "--id", f"revoker-{n}", "--db", dsn, "--secrets",
         "secrets.json", "--json"],
        capture_output=True, text=True, check=True, cwd=workdir,
    ).stdout)
    REVOKERS.append((created["client_id"], created["client_secret"]))


def tokens(n):
    with httpx.Client() as http:
        minted = []
        for i in range(n):
            who, password = REVOKERS[i % len(REVOKERS)]
            answer = http.post(f"{b}/oauth2/token", auth=(who, password),
                               data={"grant_type": "client_credentials"})
            minted.append((who, password, answer.json()["access_token"]))
        return minted


def revoker(rate, stop, pool, done):
    # Four workers between them aim at `rate`: one revocation is a round trip to B.
    def work():
        with httpx.Client() as http:
            interval = 4.0 / rate
            while not stop.is_set():
                started = time.monotonic()
                try:
                    who, password, token = pool.pop()
                except IndexError:
                    return
                answer = http.post(f"{b}/oauth2/revoke", auth=(who, password),
                                   data={"token": token})
                if answer.status_code == 200:
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
    cpu, reads, db, seen = cpu_seconds(a_pid), credential_reads(), commits(), revision()
    if thread:
        thread.start()
    result = measure()
    stop.set()
    if thread:
        thread.join()
    return (cpu_seconds(a_pid) - cpu, result, len(done) / seconds,
            (credential_reads() - reads) / seconds, (commits() - db) / seconds,
            (revision() - seen) / seconds)


IDLE_SECONDS = 30


def pause():
    time.sleep(IDLE_SECONDS)
    return None


print("## A's own cost of following revocations (A idle)")
print()
print(f"Each row {IDLE_SECONDS} s; changes followed: the revision's rise over the window (one a "
      "revocation; a key revoked for the propagation below is not in these rows).")
print()
print("| token revocations a second on B (aimed, answered 200) | changes A followed a second | "
      "A's CPU a second | A's CPU per change followed, over the idle row |")
print("|---:|---:|---:|---:|")
idle = {}
for rate in RATES:
    cpu, _, achieved, _, _, changes = with_revocations(rate, pause, IDLE_SECONDS)
    idle[rate] = cpu / IDLE_SECONDS
    per = ((idle[rate] - idle[0]) / changes * 1e6) if rate and changes else None
    print(f"| {rate}, {achieved:.0f} | {changes:.1f} | {idle[rate] * 1e3:.2f} ms | "
          f"{'—' if per is None else f'{per:.0f} µs'} |")

basic = "Authorization: Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
ROUNDS = 5
print()
print("## A under a paced load")
print()
print(f"Each row is the round with the median CPU per request of {ROUNDS} rounds taken in turn "
      "(0, 10, 100, 0, 10, 100, …; the other columns are that round's), with the lowest and "
      "highest round: the spread of the rounds without revocations is this machine's noise.")
print()
print("| credential | token revocations a second on B (aimed, answered 200) | requests a second on A | "
      "A's CPU per request: median (low–high) | median vs no revocations | "
      "credential-table reads a second | database commits a second (all) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, header in (("API key", f"X-API-Key: {api_key}"), ("Basic", basic)):
    rounds = {rate: [] for rate in RATES}
    for _ in range(ROUNDS):
        for rate in RATES:
            cpu, requests, achieved, reads, db, _ = with_revocations(rate, lambda: wrk(header))
            rounds[rate].append((cpu / requests * 1e6, requests / SECONDS, achieved, reads, db))
    base = sorted(r[0] for r in rounds[0])[ROUNDS // 2]
    for rate in RATES:
        ordered = sorted(rounds[rate])
        us, rps, achieved, reads, db = ordered[ROUNDS // 2]
        print(f"| {name} | {rate}, {achieved:.0f} | {rps:,.0f} | {us:.2f} µs "
              f"({ordered[0][0]:.2f}–{ordered[-1][0]:.2f}) | {(us / base - 1) * 100:+.1f} % | "
              f"{reads:.1f} | {db:.0f} |")

# A key revoked on B: how long until A refuses it (A polls every 250 ms by default), the
# revocation sent at a random point of A's poll.
delays = []
with httpx.Client() as http:
    for n in range(40):
        created = json.loads(subprocess.run(
            [cli, "keys", "create", "--client-id", client_id, "--db", dsn,
             "--secrets", "secrets.json", "--json"],
            capture_output=True, text=True, check=True, cwd=workdir,
        ).stdout)
        key = created["key"]
        assert http.get(f"{a}/me", headers={"x-api-key": key}).status_code == 200
        time.sleep(random.uniform(0, 0.25))
        started = time.monotonic()
        answer = http.delete(f"{b}/admin/keys/{created['key_id']}", auth=("ops", ops_secret))
        assert answer.status_code == 204, answer.text
        while http.get(f"{a}/me", headers={"x-api-key": key}).status_code == 200:
            time.sleep(0.005)
        delays.append(time.monotonic() - started)
delays.sort()
print()
print(f"A key revoked on B is refused on A after: p50 {delays[len(delays) // 2] * 1e3:.0f} ms, "
      f"p90 {delays[int(len(delays) * 0.9)] * 1e3:.0f} ms, max of {len(delays)} "
      f"{delays[-1] * 1e3:.0f} ms.")
os.unlink(PACED.name)

#!/usr/bin/env bash
# How fast a control-plane change reaches the rest of a fleet (SPEC §9, issue 13).
#
# Starts one redis-server and three certgate members (A, B, C) on loopback, then makes
# CHANGES changes through A's admin API (each `POST /keys` issues a token for the `orders`
# API) and, for each one, polls B's and C's data plane with the new token until it is
# accepted. Reports p50 / p99 / max of the time from sending the change to A until B (and C)
# serves it. Target: p99 < 1 s, ideally < 100 ms.
#
# Usage: scripts/fleet-propagation.sh [BIN] [CHANGES]   (default target/release/certgate 200)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/certgate}
CHANGES=${2:-200}
if [ ! -x "$BIN" ]; then
  scripts/install-deps.sh
  cargo build --release --locked
fi
command -v redis-server >/dev/null || scripts/install-deps.sh
BIN=$(realpath "$BIN")
SCRIPTS=$(pwd)/scripts exec python3 - "$BIN" "$CHANGES" <<'PY'
import http.client, json, os, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, os.environ["SCRIPTS"])
from fleet_lib import free_port, wait_port, start_upstream, start_redis

bin_path, changes = sys.argv[1], int(sys.argv[2])
work = tempfile.mkdtemp(prefix="certgate-fleet-")
procs = []

up_port = start_upstream()
redis, redis_port = start_redis(work, appendonly=True)
procs.append(redis)

env = dict(os.environ, CERTGATE_ADMIN_KEY="admin-key-for-the-fleet-bench-0001", CERTGATE_FLEET_SECRET="fleet-secret-for-the-fleet-bench-01")
members = []
for name in "ABC":
    d = f"{work}/{name}"; os.makedirs(d)
    http_port, admin_port, metrics_port = free_port(), free_port(), free_port()
    open(f"{d}/certgate.yaml", "w").write(f"""
listen:
  http: "127.0.0.1:{http_port}"
  admin: "127.0.0.1:{admin_port}"
  metrics: "127.0.0.1:{metrics_port}"
  threads: 1
admin: {{data_dir: data}}
fleet: {{redis_url: "redis://127.0.0.1:{redis_port}/0", name: bench}}
apis:
  - name: orders
    listen_path: /orders/
    auth: {{type: token, mutual_tls: false}}
    upstream: {{url: "http://127.0.0.1:{up_port}"}}
""")
    procs.append(subprocess.Popen([bin_path, "run", "-c", f"{d}/certgate.yaml"], env=env,
                                  stdout=open(f"{d}/certgate.log", "w"), stderr=subprocess.STDOUT))
    members.append((name, http_port, admin_port))
for name, http_port, admin_port in members:
    wait_port(http_port, f"certgate {name}", work); wait_port(admin_port, f"certgate {name} admin", work)

def conn(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=5)

admin = conn(members[0][2])
def change():
    body = json.dumps({"apis": ["orders"]})
    admin.request("POST", "/keys", body, {"Authorization": "Bearer " + env["CERTGATE_ADMIN_KEY"], "Content-Type": "application/json"})
    r = admin.getresponse(); data = r.read()
    if r.status != 201:
        sys.exit(f"POST /keys on A: {r.status} {data!r}")
    return json.loads(data)["token"]

def served(c, token):
    c.request("GET", "/orders/x", headers={"Authorization": "Bearer " + token})
    r = c.getresponse(); r.read()
    return r.status == 200

time.sleep(1)  # members finish their first full load
readers = {name: conn(http_port) for name, http_port, _ in members[1:]}
lat = {name: [] for name in readers}
try:
    for i in range(changes):
        t0 = time.perf_counter()
        token = change()
        pending = set(readers)
        while pending:
            for name in list(pending):
                if served(readers[name], token):
                    lat[name].append(time.perf_counter() - t0); pending.discard(name)
            if time.perf_counter() - t0 > 10:
                sys.exit(f"change {i} not served by {sorted(pending)} after 10 s (logs in {work})")
finally:
    for p in procs:
        p.kill()

def q(xs, f):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(f * (len(xs) - 1))))]
print(f"{changes} changes through A (POST /keys), time until each member's data plane accepts the new token:")
for name, xs in lat.items():
    print(f"  {name}: p50 {q(xs, .5)*1000:7.1f} ms   p99 {q(xs, .99)*1000:7.1f} ms   max {max(xs)*1000:7.1f} ms")
PY

#!/usr/bin/env bash
# A fleet member's data plane while control-plane changes stream in (SPEC §9, issue 13).
#
# Starts one redis-server and two certgate members (A, B) on loopback with a throwaway PKI.
# oha drives B's mTLS API over keep-alive connections for DURATION seconds twice: once
# quiet, once while A makes RATE changes per second (`POST /keys`), each of which B replays
# and patches into its running snapshot. Prints both runs' throughput, latency and non-200
# count, and how many changes B applied. Expected: no failed request, latency unchanged.
# The upstream is Python (a new connection per request), so req/s measures the harness,
# not certgate; the comparison between the two runs is the point.
#
# Usage: scripts/fleet-under-load.sh [BIN] [DURATION] [RATE]   (default target/release/certgate 30 10)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/certgate}
DURATION=${2:-30}
RATE=${3:-10}
if [ ! -x "$BIN" ]; then
  scripts/install-deps.sh
  cargo build --release --locked
fi
command -v redis-server >/dev/null || scripts/install-deps.sh
command -v oha >/dev/null || cargo install oha --locked
BIN=$(realpath "$BIN")
SCRIPTS=$(pwd)/scripts exec python3 - "$BIN" "$DURATION" "$RATE" <<'PY'
import http.client, json, os, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.environ["SCRIPTS"])
from fleet_lib import free_port, wait_port, start_upstream, start_redis

bin_path, duration, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
work = tempfile.mkdtemp(prefix="certgate-fleet-load-")
procs = []

def run(*cmd):
    subprocess.run(cmd, check=True, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

# Throwaway PKI: a CA, a server certificate for localhost, a client certificate.
run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
    "-out", "ca.crt", "-subj", "/CN=load CA", "-days", "2")
for name, ext in (("server", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth"),
                  ("client", "extendedKeyUsage=clientAuth")):
    open(f"{work}/{name}.ext", "w").write(ext + "\n")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.csr", "-subj", f"/CN={name}")
    run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")

up_port = start_upstream()
redis, redis_port = start_redis(work, appendonly=False)
procs.append(redis)

env = dict(os.environ, CERTGATE_ADMIN_KEY="admin-key-for-the-fleet-bench-0001", CERTGATE_FLEET_SECRET="fleet-secret-for-the-fleet-bench-01")
members = {}
for name in "AB":
    d = f"{work}/{name}"; os.makedirs(d)
    https, admin_port, metrics = free_port(), free_port(), free_port()
    open(f"{d}/certgate.yaml", "w").write(f"""
listen:
  https: "127.0.0.1:{https}"
  admin: "127.0.0.1:{admin_port}"
  metrics: "127.0.0.1:{metrics}"
tls: {{certificate: ../server.crt, key: ../server.key}}
admin: {{data_dir: data}}
fleet: {{redis_url: "redis://127.0.0.1:{redis_port}/0", name: load}}
apis:
  - name: orders
    listen_path: /orders/
    auth: {{type: none, mutual_tls: true, client_certificates: [../client.crt]}}
    upstream: {{url: "http://127.0.0.1:{up_port}"}}
""")
    procs.append(subprocess.Popen([bin_path, "run", "-c", f"{d}/certgate.yaml"], env=env,
                                  stdout=open(f"{d}/certgate.log", "w"), stderr=subprocess.STDOUT))
    members[name] = (https, admin_port, metrics)
for name, (https, admin_port, metrics) in members.items():
    wait_port(https, f"certgate {name}", work); wait_port(admin_port, f"certgate {name} admin", work)
time.sleep(1)

def metric(name, port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5); c.request("GET", "/metrics")
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0

def oha():
    url = f"https://localhost:{members['B'][0]}/orders/x"
    out = subprocess.run(["oha", "-z", f"{duration}s", "-c", "16", "--no-tui", "--output-format", "json",
                          "--cacert", f"{work}/ca.crt", "--cert", f"{work}/client.crt", "--key", f"{work}/client.key",
                          "--connect-to", f"localhost:{members['B'][0]}:127.0.0.1:{members['B'][0]}", url],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)

stop = threading.Event()
made = [0]
def changes():
    c = http.client.HTTPConnection("127.0.0.1", members["A"][1], timeout=5)
    nxt = time.perf_counter()
    while not stop.is_set():
        c.request("POST", "/keys", json.dumps({"apis": ["orders"]}),
                  {"Authorization": "Bearer " + env["CERTGATE_ADMIN_KEY"], "Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        if r.status != 201:
            print(f"POST /keys on A: {r.status}", file=sys.stderr)
        made[0] += 1
        nxt += 1 / rate
        time.sleep(max(0, nxt - time.perf_counter()))

def report(label, res):
    s = res["summary"]; lat = res.get("latencyPercentiles", {})
    codes = res.get("statusCodeDistribution", {})
    # oha cuts the requests in flight when the time is up; those are not failures.
    errors = {k: v for k, v in res.get("errorDistribution", {}).items() if "deadline" not in k}
    bad = sum(v for k, v in codes.items() if k != "200") + sum(errors.values())
    print(f"  {label:<22} {s['requestsPerSec']:9.0f} req/s   p50 {lat.get('p50', 0)*1000:6.2f} ms   "
          f"p99 {lat.get('p99', 0)*1000:6.2f} ms   max {s['slowest']*1000:7.2f} ms   not 200: {bad}" + (f" {codes} {errors}" if bad else ""))

try:
    quiet = oha()
    rev0 = metric("certgate_fleet_revision", members["B"][2])
    t = threading.Thread(target=changes, daemon=True); t.start()
    busy = oha()
    stop.set(); t.join()
    time.sleep(0.5)
    rev1 = metric("certgate_fleet_revision", members["B"][2])
finally:
    for p in procs:
        p.kill()
print(f"oha -c 16 keep-alive mTLS on B for {duration} s, twice:")
report("quiet", quiet)
report(f"{rate:g} changes/s via A", busy)
print(f"changes made through A: {made[0]}; revisions B applied meanwhile: {rev1 - rev0:.0f}")
PY

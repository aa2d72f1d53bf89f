#!/usr/bin/env bash
# A fleet member's data plane while control-plane changes stream in (SPEC §9, issue 13).
#
# Starts one redis-server and two certgate members (A, B) on loopback with a throwaway PKI.
# oha drives B's mTLS API over keep-alive connections for DURATION seconds twice: once
# quiet, once while A makes RATE changes per second (`POST /keys`), each of which B replays
# and patches into its running snapshot. Prints both runs' throughput, latency and non-200
# count, and how many changes B applied. Expected: no failed request, latency unchanged.
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
exec python3 - "$BIN" "$DURATION" "$RATE" <<'PY'
import http.client, http.server, json, os, socket, subprocess, sys, tempfile, threading, time

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

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def wait_port(port, what):
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start (logs in {work})")

class Up(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass

up = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Up)
threading.Thread(target=up.serve_forever, daemon=True).start()

redis_port = free_port()
procs.append(subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", work], stdout=open(f"{work}/redis.log", "w"), stderr=subprocess.STDOUT))
wait_port(redis_port, "redis-server")

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
    upstream: {{url: "http://127.0.0.1:{up.server_address[1]}"}}
""")
    procs.append(subprocess.Popen([bin_path, "run", "-c", f"{d}/certgate.yaml"], env=env,
                                  stdout=open(f"{d}/certgate.log", "w"), stderr=subprocess.STDOUT))
    members[name] = (https, admin_port, metrics)
for name, (https, admin_port, metrics) in members.items():
    wait_port(https, f"certgate {name}"); wait_port(admin_port, f"certgate {name} admin")
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
    bad = sum(v for k, v in codes.items() if k != "200") + sum(res.get("errorDistribution", {}).values())
    print(f"  {label:<22} {s['requestsPerSec']:9.0f} req/s   p50 {lat.get('p50', 0)*1000:6.2f} ms   "
          f"p99 {lat.get('p99', 0)*1000:6.2f} ms   max {s['slowest']*1000:7.2f} ms   not 200: {bad}")

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

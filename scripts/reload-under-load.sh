#!/usr/bin/env bash
# Latency under repeated reloads: runs oha (mTLS, keep-alive) against certgate for SECS
# seconds without reloads, then again while a SIGHUP arrives every INTERVAL seconds, and
# prints both p99s and their ratio. Loopback only; installs nginx (the upstream) and oha if
# missing. Usage: scripts/reload-under-load.sh [path/to/certgate] [secs=10] [interval=0.2]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release/certgate}")
SECS=${2:-10}; INTERVAL=${3:-0.2}
./scripts/install-deps.sh nginx
command -v oha >/dev/null || cargo install oha --locked
[ -x "$BIN" ] || cargo build --release --locked
W=$(mktemp -d -t certgate-reload.XXXXXX); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true; sleep 0.3; rm -rf "$W"; }
trap cleanup EXIT
cd "$W"; mkdir -p pki certs
ec() { # name cn ext [ca]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/$1.key -out pki/$1.csr -subj "/CN=$2" 2>/dev/null
  printf "$3" > pki/$1.ext
  openssl x509 -req -in pki/$1.csr -CA pki/ca.crt -CAkey pki/ca.key -CAcreateserial -out pki/$1.crt -days 30 -extfile pki/$1.ext 2>/dev/null; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/ca.key -out pki/ca.crt -days 30 -subj "/CN=Reload CA" 2>/dev/null
ec server localhost "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth"
ec backend localhost "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth"
ec client client "extendedKeyUsage=clientAuth"
ec gw gateway "extendedKeyUsage=clientAuth"
cat pki/gw.crt pki/gw.key > pki/gw.pem
cp pki/client.crt certs/
ID=$(openssl x509 -in pki/client.crt -outform DER | sha256sum | cut -d' ' -f1)
UP=$((20000 + RANDOM % 10000)); GW=$((30000 + RANDOM % 10000)); MET=$((40000 + RANDOM % 10000))
cat > nginx.conf <<NG
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err warn; daemon on;
events { worker_connections 4096; }
http { access_log off;
  server { listen 127.0.0.1:$UP ssl; ssl_certificate $W/pki/backend.crt; ssl_certificate_key $W/pki/backend.key;
    ssl_client_certificate $W/pki/ca.crt; ssl_verify_client on; keepalive_requests 1000000;
    location / { return 200 "ok\n"; } } }
NG
nginx -c "$W/nginx.conf"
config() { # $1: extra token count, so each reload really changes the policy
  { echo "listen: {https: \"127.0.0.1:$GW\", metrics: \"127.0.0.1:$MET\", threads: 1}"
    echo "tls: {certificate: pki/server.crt, key: pki/server.key}"
    echo "certificate_store: {dir: certs/}"
    echo "security: {upstream_ca: pki/ca.crt, upstream_certificates: {\"localhost:$UP\": pki/gw.pem}}"
    echo "tokens:"; echo "  - {token: tok, apis: [api]}"
    for i in $(seq "$1"); do echo "  - {token: extra-$i, apis: [api]}"; done
    echo "apis:"
    echo "  - {name: api, listen_path: /api/, strip_listen_path: true, auth: {type: token, mutual_tls: true, client_certificates: [$ID]}, upstream: {url: \"https://localhost:$UP\"}}"
  } > certgate.yaml; }
config 0
"$BIN" run -c certgate.yaml --upgrade-sock "$W/upgrade.sock" 2> certgate.log & PIDS+=($!); CG=$!
for _ in $(seq 50); do curl -sf -o /dev/null --cacert pki/ca.crt --cert pki/client.crt --key pki/client.key -H "Authorization: Bearer tok" "https://localhost:$GW/api/x" && break; sleep 0.2; done
load() { oha -z "${SECS}s" -c 16 --no-tui --cacert pki/ca.crt --cert pki/client.crt --key pki/client.key -H "Authorization: Bearer tok" "https://localhost:$GW/api/x" > "$1" 2>&1 || true; }
p99() { awk '/99.00% in/{u=$4; v=$3; if(u=="secs"||u=="sec"||u=="s")v*=1000; else if(u=="us"||u=="µs")v/=1000; print v}' "$1"; }
rps() { awk '/Requests\/sec/{print $2}' "$1"; }
# oha's -z cuts the requests in flight at the deadline; those are not failures.
bad() { sed -n '/Status code distribution/,$p' "$1" | grep -E '^\s+\[' | grep -vE '^\s+\[200\]|aborted due to deadline' || echo "  none"; }
load quiet.txt
( n=0; end=$((SECONDS + SECS)); while [ $SECONDS -lt $end ]; do n=$((n + 1)); config $((n % 50)); kill -HUP "$CG"; sleep "$INTERVAL"; done; echo $n > reloads.txt ) &
RELOADER=$!
load reloading.txt
wait "$RELOADER"
kill -0 "$CG" 2>/dev/null || { echo "certgate exited during the run:"; tail -20 certgate.log; exit 1; }
ok=$(grep -c "event=reload result=success" certgate.log || true)
printf "%-22s %10s %10s\n" run "req/s" "p99(ms)"
printf "%-22s %10.0f %10.2f\n" "no reloads" "$(rps quiet.txt)" "$(p99 quiet.txt)"
printf "%-22s %10.0f %10.2f\n" "SIGHUP every ${INTERVAL}s" "$(rps reloading.txt)" "$(p99 reloading.txt)"
awk -v a="$(p99 reloading.txt)" -v b="$(p99 quiet.txt)" 'BEGIN{printf "p99 ratio (reloading/quiet) = %.2f\n", a/b}'
echo "reloads sent: $(cat reloads.txt), applied: $ok"
echo "non-200 answers or errors while reloading:"; bad reloading.txt

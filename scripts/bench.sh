#!/usr/bin/env bash
# certgate against NGINX and HAProxy on the same job, on loopback, one worker thread each:
#   client mTLS (allow list by SHA-256) + bearer token at the edge, mTLS to an NGINX upstream
#   that requires a client certificate, keep-alive on both sides.
# Runs (each proxy, same order, ROUNDS times):
#   1. oha, keep-alive clients (32 connections)           -> req/s, p99
#   2. oha, a new TLS connection per request (16 clients) -> req/s, p99
#   3. wrk on a route without client certificates (wrk cannot present one)
#   4. RSS growth with 2,000 idle keep-alive mTLS connections open
# Usage: scripts/bench.sh [seconds-per-run (default 10)] [rounds (default 1)]
# Installs what is missing (nginx, haproxy, wrk, python3 via apt-get; oha via cargo, ~9 min
# once), builds certgate in release mode, and stops every process it started.
set -euo pipefail
SECS=${1:-10}; ROUNDS=${2:-1}; IDLE=${IDLE_CONNECTIONS:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

need=()
for t in nginx haproxy wrk python3 openssl curl; do command -v $t >/dev/null || need+=($t); done
if ((${#need[@]})); then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || timeout 1800 cargo install oha --locked --quiet
"$ROOT/scripts/install-deps.sh"
(cd "$ROOT" && cargo build --release --locked --quiet)
BIN="$ROOT/target/release/certgate"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

W=$(mktemp -d -t certgate-bench.XXXXXX); PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.3; rm -rf "$W"
}
trap cleanup EXIT
cd "$W"; mkdir -p pki run store

# --- throwaway PKI (ECDSA P-256, as operators deploy for speed) ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/ca.key \
  -out pki/ca.crt -days 7 -subj "/CN=bench CA" 2>/dev/null
issue() { # name CN extensions
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/$1.key \
    -out pki/$1.csr -subj "/CN=$2" 2>/dev/null
  printf "$3" >pki/$1.ext
  openssl x509 -req -in pki/$1.csr -CA pki/ca.crt -CAkey pki/ca.key -CAcreateserial \
    -out pki/$1.crt -days 7 -extfile pki/$1.ext 2>/dev/null
}
issue edge localhost "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"
issue upstream localhost "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth"
issue client client-a "extendedKeyUsage=clientAuth"
issue gateway gateway "extendedKeyUsage=clientAuth"
cat pki/edge.crt pki/edge.key >pki/edge.pem; cat pki/gateway.crt pki/gateway.key >pki/gateway.pem
SHA1=$(openssl x509 -in pki/client.crt -noout -fingerprint -sha1 | cut -d= -f2 | tr -d : | tr A-F a-f)
SHA256=$(openssl x509 -in pki/client.crt -outform DER | sha256sum | cut -d' ' -f1)
cp pki/client.crt store/client-a.pem

# --- the upstream: NGINX requiring a client certificate from the bench CA ---
cat >upstream.conf <<EOF
worker_processes 1; pid $W/upstream.pid; error_log $W/run/upstream.err warn;
events { worker_connections 8192; }
http { access_log off;
  server { listen 127.0.0.1:29443 ssl; ssl_certificate $W/pki/upstream.crt;
    ssl_certificate_key $W/pki/upstream.key; ssl_client_certificate $W/pki/ca.crt;
    ssl_verify_client on; keepalive_requests 1000000;
    location / { return 200 "hello from upstream\n"; } } }
EOF
# --- NGINX at the edge (:28443) ---
cat >nginx.conf <<EOF
worker_processes 1; pid $W/nginx.pid; error_log $W/run/nginx.err warn;
events { worker_connections 8192; }
http { access_log off;
  map \$ssl_client_fingerprint \$cert_ok { default 0; "$SHA1" 1; }
  map \$http_authorization \$token_ok { default 0; "Bearer bench-token" 1; }
  upstream up { server 127.0.0.1:29443; keepalive 64; }
  server { listen 127.0.0.1:28443 ssl; ssl_certificate $W/pki/edge.crt;
    ssl_certificate_key $W/pki/edge.key; ssl_client_certificate $W/pki/ca.crt;
    ssl_verify_client optional; keepalive_requests 1000000;
    location /api/ { if (\$cert_ok = 0) { return 403; } if (\$token_ok = 0) { return 401; }
      proxy_pass https://up/; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_certificate $W/pki/gateway.crt; proxy_ssl_certificate_key $W/pki/gateway.key;
      proxy_ssl_trusted_certificate $W/pki/ca.crt; proxy_ssl_verify on;
      proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on; }
    location /open/ { proxy_pass https://up/; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_certificate $W/pki/gateway.crt; proxy_ssl_certificate_key $W/pki/gateway.key;
      proxy_ssl_trusted_certificate $W/pki/ca.crt; proxy_ssl_verify on;
      proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on; } } }
EOF
# --- HAProxy at the edge (:28444) ---
cat >haproxy.cfg <<EOF
global
  nbthread 1
  maxconn 6000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend edge
  bind 127.0.0.1:28444 ssl crt $W/pki/edge.pem ca-file $W/pki/ca.crt verify optional
  acl open path_beg /open/
  acl cert_ok ssl_c_sha1,hex,lower -m str $SHA1
  acl token_ok req.hdr(authorization) -m str "Bearer bench-token"
  http-request deny deny_status 403 if !open !cert_ok
  http-request deny deny_status 401 if !open !token_ok
  http-request set-path %[path,regsub(^/api/,/)] if !open
  http-request set-path %[path,regsub(^/open/,/)] if open
  default_backend up
backend up
  server u1 127.0.0.1:29443 ssl crt $W/pki/gateway.pem ca-file $W/pki/ca.crt verify required sni str(localhost) verifyhost localhost
EOF
# --- certgate at the edge (:28445) ---
cat >certgate.yaml <<EOF
listen:
  https: "127.0.0.1:28445"
  metrics: "127.0.0.1:29091"
  threads: 1
tls:
  certificate: pki/edge.crt
  key: pki/edge.key
certificate_store:
  dir: store/
security:
  upstream_ca: pki/ca.crt
  upstream_certificates:
    "localhost:29443": pki/gateway.pem
tokens:
  - token: bench-token
    apis: [api]
apis:
  - name: api
    listen_path: /api/
    strip_listen_path: true
    auth:
      type: token
      mutual_tls: true
      client_certificates: [$SHA256]
    upstream: {url: "https://localhost:29443"}
  - name: open
    listen_path: /open/
    strip_listen_path: true
    upstream: {url: "https://localhost:29443"}
EOF

nginx -c "$W/upstream.conf"; nginx -c "$W/nginx.conf"
haproxy -D -f haproxy.cfg -p "$W/haproxy.pid"
"$BIN" run -c certgate.yaml >run/certgate.log 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null --cacert pki/ca.crt https://localhost:28445/ && break; sleep 0.1; done
declare -A PORT=([nginx]=28443 [haproxy]=28444 [certgate]=28445)
pid_of() {
  case $1 in
    nginx) pgrep -P "$(cat nginx.pid)" | head -1 ;;
    haproxy) cat haproxy.pid ;;
    certgate) echo "${PIDS[0]}" ;;
  esac
}

# Every proxy must answer the job correctly before it is timed.
for p in nginx haproxy certgate; do
  c() { curl -s -o /dev/null -w '%{http_code}' --cacert pki/ca.crt "$@"; }
  u=https://localhost:${PORT[$p]}
  ok=$(c --cert pki/client.crt --key pki/client.key -H "Authorization: Bearer bench-token" $u/api/x)
  nocert=$(c -H "Authorization: Bearer bench-token" $u/api/x)
  notoken=$(c --cert pki/client.crt --key pki/client.key $u/api/x)
  open=$(c $u/open/x)
  echo "check $p: allowed=$ok no-cert=$nocert no-token=$notoken open=$open"
  [[ $ok == 200 && $nocert == 403 && $notoken == 401 && $open == 200 ]] || { echo "$p answers wrongly" >&2; exit 1; }
done

declare -A RPS P99
oha_run() { # proxy mode
  local extra=() conc=32
  [[ $2 == new ]] && extra=(--disable-keepalive) && conc=16
  oha -z "${SECS}s" -c $conc --no-tui "${extra[@]}" --cacert pki/ca.crt --cert pki/client.crt \
    --key pki/client.key -H "Authorization: Bearer bench-token" \
    "https://localhost:${PORT[$1]}/api/x" >run/oha.txt 2>&1 || true
  grep -qE '^\s+\[200\]' run/oha.txt || { echo "$1 $2: no 200 answers" >&2; tail -5 run/oha.txt >&2; }
  local r p
  r=$(awk '/Requests\/sec/{print $2}' run/oha.txt)
  p=$(awk '/99.00% in/{v=$3; u=$4; if (u ~ /^s/) v*=1000; else if (u ~ /s$/ && u != "ms") v/=1000; print v}' run/oha.txt)
  RPS[$1.$2]=$(awk -v a="${RPS[$1.$2]:-0}" -v b="${r:-0}" 'BEGIN{print a+b}')
  P99[$1.$2]=$(awk -v a="${P99[$1.$2]:-0}" -v b="${p:-0}" 'BEGIN{print (b>a)?b:a}')
}
wrk_run() { # proxy
  wrk -t1 -c32 -d"${SECS}s" --latency "https://localhost:${PORT[$1]}/open/x" >run/wrk.txt 2>&1 || true
  local r p
  r=$(awk '/Requests\/sec/{print $2}' run/wrk.txt)
  p=$(awk '$1=="99%"{v=$2; if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' run/wrk.txt)
  RPS[$1.wrk]=$(awk -v a="${RPS[$1.wrk]:-0}" -v b="${r:-0}" 'BEGIN{print a+b}')
  P99[$1.wrk]=$(awk -v a="${P99[$1.wrk]:-0}" -v b="${p:-0}" 'BEGIN{print (b>a)?b:a}')
}
for _ in $(seq "$ROUNDS"); do
  for mode in keepalive new; do for p in nginx haproxy certgate; do oha_run $p $mode; done; done
  for p in nginx haproxy certgate; do wrk_run $p; done
done

# Idle memory: RSS growth of the proxy process with IDLE mTLS keep-alive connections open,
# each having completed one allowed request.
cat >idle.py <<'EOF'
import socket, ssl, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
ctx = ssl.create_default_context(cafile="pki/ca.crt")
ctx.load_cert_chain("pki/client.crt", "pki/client.key")
conns = []
req = (f"GET /api/x HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer bench-token\r\n\r\n").encode()
for _ in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.sendall(req)
    data = b""
    while b"hello from upstream" not in data:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection closed early")
        data += chunk
    conns.append(s)
print("open", flush=True)
time.sleep(hold)
EOF
declare -A IDLE_KIB
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
for p in nginx haproxy certgate; do
  pid=$(pid_of $p); before=$(rss "$pid")
  python3 idle.py "${PORT[$p]}" "$IDLE" 6 >run/idle.txt 2>&1 & ip=$!
  for _ in $(seq 600); do grep -q open run/idle.txt 2>/dev/null && break; sleep 0.1; done
  sleep 1; after=$(rss "$pid"); wait $ip || true
  IDLE_KIB[$p]=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN{printf "%.1f", (a-b)/n}')
  echo "idle $p: RSS ${before} KiB -> ${after} KiB with $IDLE connections"
done

echo
echo "machine: $(nproc) cores, $(awk '/model name/{$1=$2=$3="";print;exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "versions: $("$BIN" --version 2>/dev/null | head -1), $(nginx -v 2>&1), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(oha --version), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "each run ${SECS}s, ${ROUNDS} round(s); req/s is the mean over rounds, p99 the worst"
printf "\n%-9s %-22s %12s %10s\n" proxy run "req/s" "p99 ms"
for mode in keepalive new wrk; do
  label=$mode; [[ $mode == keepalive ]] && label="mTLS keep-alive (oha)"
  [[ $mode == new ]] && label="mTLS new conn (oha)"; [[ $mode == wrk ]] && label="no client cert (wrk)"
  for p in nginx haproxy certgate; do
    printf "%-9s %-22s %12.0f %10.2f\n" $p "$label" \
      "$(awk -v a="${RPS[$p.$mode]}" -v n="$ROUNDS" 'BEGIN{print a/n}')" "${P99[$p.$mode]}"
  done
done
printf "\n%-9s %s\n" proxy "idle KiB per mTLS connection (RSS growth / $IDLE)"
for p in nginx haproxy certgate; do printf "%-9s %s\n" $p "${IDLE_KIB[$p]}"; done
echo
for mode in keepalive new wrk; do
  awk -v c="${RPS[certgate.$mode]}" -v n="${RPS[nginx.$mode]}" -v h="${RPS[haproxy.$mode]}" -v m=$mode \
    'BEGIN{printf "ratio %-9s certgate/nginx=%.2f certgate/haproxy=%.2f\n", m, c/n, c/h}'
done

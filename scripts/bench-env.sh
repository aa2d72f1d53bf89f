#!/usr/bin/env bash
# The benchmark job, shared by scripts/bench.sh and scripts/profile.sh (source it, do not run
# it). It installs what is missing, builds certgate in release mode, writes a throwaway PKI
# and the configs in a temporary directory, starts the NGINX upstream and the proxies, checks
# that every proxy answers the job correctly, and stops all of it on exit.
#
# The proxies, one worker thread each, all doing the same job on loopback: client mTLS (allow
# list by fingerprint) + bearer token at the edge, mTLS to an NGINX upstream that requires a
# client certificate, keep-alive on both sides.
#   nginx            :28443
#   haproxy          :28444
#   certgate         :28445  defaults (post-quantum hybrid X25519MLKEM768 key exchange first)
#   certgate-x25519  :28446  tls.groups [X25519, P-256]: the key exchange the peers' OpenSSL 3.0 does
# Sets: ROOT BIN W PORT[] PROXIES; defines pid_of NAME, wait_https PORT... and oha_job MODE PORT AMOUNT...
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROXIES=(nginx haproxy certgate certgate-x25519)

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
BIN="${CERTGATE_BIN:-$ROOT/target/release/certgate}"
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

# --- the same certgate with the peers' classical key exchange (:28446) ---
sed -e 's/28445/28446/; s/29091/29092/' -e 's/^tls:$/tls:\n  groups: [X25519, P-256]/' certgate.yaml >certgate-x25519.yaml

nginx -c "$W/upstream.conf"; nginx -c "$W/nginx.conf"
haproxy -D -f haproxy.cfg -p "$W/haproxy.pid"
"$BIN" run -c certgate.yaml >run/certgate.log 2>&1 & PIDS+=($!)
"$BIN" run -c certgate-x25519.yaml >run/certgate-x25519.log 2>&1 & PIDS+=($!)
declare -A PORT=([nginx]=28443 [haproxy]=28444 [certgate]=28445 [certgate-x25519]=28446)
# wait_https PORT...: until each local HTTPS port answers (at most 10 s each).
wait_https() {
  local port
  for port in "$@"; do
    for _ in $(seq 100); do curl -s -o /dev/null --cacert pki/ca.crt "https://localhost:$port/" && break; sleep 0.1; done
  done
}
wait_https 28445 28446
# pid_of NAME: the process that does the proxy's work (NGINX's worker, not its master).
pid_of() {
  case $1 in
    nginx) pgrep -P "$(cat nginx.pid)" | head -1 ;;
    haproxy) cat haproxy.pid ;;
    certgate) echo "${PIDS[0]}" ;;
    certgate-x25519) echo "${PIDS[1]}" ;;
  esac
}

# Every proxy must answer the job correctly before it is timed.
for p in "${PROXIES[@]}"; do
  c() { curl -s -o /dev/null -w '%{http_code}' --cacert pki/ca.crt "$@"; }
  u=https://localhost:${PORT[$p]}
  ok=$(c --cert pki/client.crt --key pki/client.key -H "Authorization: Bearer bench-token" $u/api/x)
  nocert=$(c -H "Authorization: Bearer bench-token" $u/api/x)
  notoken=$(c --cert pki/client.crt --key pki/client.key $u/api/x)
  open=$(c $u/open/x)
  echo "check $p: allowed=$ok no-cert=$nocert no-token=$notoken open=$open"
  [[ $ok == 200 && $nocert == 403 && $notoken == 401 && $open == 200 ]] || { echo "$p answers wrongly" >&2; exit 1; }
done

# oha_job MODE PORT AMOUNT...: the allowed mTLS call with oha, into run/oha.txt. MODE is
# keepalive (32 connections) or new (16 clients, a new TLS connection per request); AMOUNT
# is oha's `-n N` or `-z 10s`. Returns 1 when no request got a 200.
oha_job() {
  local mode=$1 port=$2 extra=() conc=32
  shift 2
  [[ $mode == new ]] && extra=(--disable-keepalive) && conc=16
  oha "$@" -c $conc --no-tui "${extra[@]}" --cacert pki/ca.crt --cert pki/client.crt \
    --key pki/client.key -H "Authorization: Bearer bench-token" "https://localhost:$port/api/x" >run/oha.txt 2>&1 || true
  grep -qE '^\s+\[200\]' run/oha.txt
}

#!/usr/bin/env bash
# The benchmark job, shared by scripts/bench.sh and scripts/profile.sh (source it, do not run
# it). It installs what is missing, builds certgate in release mode, writes a throwaway PKI
# and the configs in a temporary directory, starts the NGINX upstream and the proxies, checks
# that every proxy answers the job correctly, and stops all of it on exit.
#
# The proxies, one worker thread each, all doing the same job on loopback: client mTLS (allow
# list by fingerprint) + bearer token at the edge, mTLS to an NGINX upstream that requires a
# client certificate, keep-alive on both sides. Every edge also speaks HTTP/2 (ALPN) to its
# clients, with HTTP/1.1 to the NGINX upstream, and routes gRPC calls under /test.Echo/ over
# HTTP/2 with mTLS to a gRPC upstream on :29446 (examples/grpc_bench.rs: certgate's echo
# server answering every call with its own message and grpc-status 0).
#   nginx            :28443
#   haproxy          :28444
#   certgate         :28445  defaults (post-quantum hybrid X25519MLKEM768 key exchange first)
#   certgate-x25519  :28446  tls.groups [X25519, P-256]: the key exchange the peers' OpenSSL 3.0 does
# Sets: ROOT BIN GRPC_BENCH W PORT[] PROXIES; defines pid_of NAME, wait_https PORT...,
# oha_job MODE PORT AMOUNT... and grpc_job PORT SECONDS.
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
(cd "$ROOT" && cargo build --release --locked --quiet && cargo build --release --locked --quiet --example grpc_bench)
BIN="${CERTGATE_BIN:-$ROOT/target/release/certgate}"
GRPC_BENCH="$ROOT/target/release/examples/grpc_bench"
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
  upstream grpcup { server 127.0.0.1:29446; keepalive 64; }
  server { listen 127.0.0.1:28443 ssl http2; ssl_certificate $W/pki/edge.crt;
    ssl_certificate_key $W/pki/edge.key; ssl_client_certificate $W/pki/ca.crt;
    ssl_verify_client optional; keepalive_requests 1000000;
    location /api/ { if (\$cert_ok = 0) { return 403; } if (\$token_ok = 0) { return 401; }
      proxy_pass https://up/; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_certificate $W/pki/gateway.crt; proxy_ssl_certificate_key $W/pki/gateway.key;
      proxy_ssl_trusted_certificate $W/pki/ca.crt; proxy_ssl_verify on;
      proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on; }
    location /test.Echo/ { if (\$cert_ok = 0) { return 403; } if (\$token_ok = 0) { return 401; }
      grpc_pass grpcs://grpcup;
      grpc_ssl_certificate $W/pki/gateway.crt; grpc_ssl_certificate_key $W/pki/gateway.key;
      grpc_ssl_trusted_certificate $W/pki/ca.crt; grpc_ssl_verify on;
      grpc_ssl_name localhost; grpc_ssl_server_name on; grpc_ssl_session_reuse on; }
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
  bind 127.0.0.1:28444 ssl crt $W/pki/edge.pem ca-file $W/pki/ca.crt verify optional alpn h2,http/1.1
  acl open path_beg /open/
  acl grpc path_beg /test.Echo/
  acl cert_ok ssl_c_sha1,hex,lower -m str $SHA1
  acl token_ok req.hdr(authorization) -m str "Bearer bench-token"
  http-request deny deny_status 403 if !open !cert_ok
  http-request deny deny_status 401 if !open !token_ok
  http-request set-path %[path,regsub(^/api/,/)] if !open !grpc
  http-request set-path %[path,regsub(^/open/,/)] if open
  use_backend grpcup if grpc
  default_backend up
backend up
  server u1 127.0.0.1:29443 ssl crt $W/pki/gateway.pem ca-file $W/pki/ca.crt verify required sni str(localhost) verifyhost localhost
backend grpcup
  server g1 127.0.0.1:29446 ssl crt $W/pki/gateway.pem ca-file $W/pki/ca.crt verify required sni str(localhost) verifyhost localhost alpn h2
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
    "localhost:29446": pki/gateway.pem
tokens:
  - token: bench-token
    apis: [api, grpc]
apis:
  - name: api
    listen_path: /api/
    strip_listen_path: true
    auth:
      type: token
      mutual_tls: true
      client_certificates: [$SHA256]
    upstream: {url: "https://localhost:29443"}
  - name: grpc
    listen_path: /test.Echo/
    auth:
      type: token
      mutual_tls: true
      client_certificates: [$SHA256]
    upstream: {url: "https://localhost:29446", protocol: h2}
  - name: open
    listen_path: /open/
    strip_listen_path: true
    upstream: {url: "https://localhost:29443"}
EOF

# --- the same certgate with the peers' classical key exchange (:28446) ---
sed -e 's/28445/28446/; s/29091/29092/' -e 's/^tls:$/tls:\n  groups: [X25519, P-256]/' certgate.yaml >certgate-x25519.yaml

nginx -c "$W/upstream.conf"
"$GRPC_BENCH" serve 127.0.0.1:29446 pki/upstream.crt pki/upstream.key pki/ca.crt >run/grpc-upstream.log 2>&1 &
echo $! >grpc-upstream.pid
nginx -c "$W/nginx.conf"
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

# grpc_job PORT SECONDS [CONNECTIONS STREAMS]: unary gRPC calls with the allowed certificate
# and token (examples/grpc_bench.rs; 4 connections x 8 calls in flight by default), to stdout.
grpc_job() {
  "$GRPC_BENCH" load "localhost:$1" pki/ca.crt pki/client.crt pki/client.key /test.Echo/Unary "$2" \
    "${3:-4}" "${4:-8}" "Authorization: Bearer bench-token"
}
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/29446) 2>/dev/null && break; sleep 0.1; done

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
  h2=$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --cacert pki/ca.crt --http2 --cert pki/client.crt --key pki/client.key -H "Authorization: Bearer bench-token" $u/api/x)
  grpc_job "${PORT[$p]}" 1 1 1 >run/grpc-check.txt 2>&1
  echo "check $p: h2 keep-alive=$h2, gRPC $(grep -E '^(ok|failed)' run/grpc-check.txt | tr '\n' ' ')"
  [[ $h2 == "200 2" ]] && grep -q '^failed 0$' run/grpc-check.txt && ! grep -q '^ok 0$' run/grpc-check.txt ||
    { echo "$p answers h2 or gRPC wrongly" >&2; cat run/grpc-check.txt >&2; exit 1; }
done

# oha_job MODE PORT AMOUNT...: the allowed mTLS call with oha, into run/oha.txt. MODE is
# keepalive (32 connections), h2 (HTTP/2 keep-alive: 4 connections x 8 streams in flight) or
# new (16 clients, a new TLS connection per request); AMOUNT is oha's `-n N` or `-z 10s`.
# Returns 1 when no request got a 200.
oha_job() {
  local mode=$1 port=$2 extra=() conc=32
  shift 2
  [[ $mode == new ]] && extra=(--disable-keepalive) && conc=16
  [[ $mode == h2 ]] && extra=(--http2 -p 8) && conc=4
  oha "$@" -c $conc --no-tui "${extra[@]}" --cacert pki/ca.crt --cert pki/client.crt \
    --key pki/client.key -H "Authorization: Bearer bench-token" "https://localhost:$port/api/x" >run/oha.txt 2>&1 || true
  grep -qE '^\s+\[200\]' run/oha.txt
}


# paired_cpu ROUNDS N MODE NAME_A PID_A PORT_A NAME_B PID_B PORT_B: the CPU per request of two
# processes on the oha_job MODE call, in paired rounds. After a warm-up of each, every round
# times A and B back to back over N requests (order alternating), from /proc utime+stime of
# the process, and the verdict is the median of the per-round ratios B/A: on a shared VM the
# machine's speed drifts between rounds far more than within one pair.
paired_cpu() {
  local rounds=$1 n=$2 mode=$3 na=$4 pa=$5 qa=$6 nb=$7 pb=$8 qb=$9 r a b
  ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  spent() { # pid port: clock ticks spent on n requests
    local t1 t2; t1=$(ticks_of "$1"); oha_job "$mode" "$2" -n "$n" || true; t2=$(ticks_of "$1")
    echo $((t2 - t1))
  }
  spent "$pa" "$qa" >/dev/null; spent "$pb" "$qb" >/dev/null
  for r in $(seq "$rounds"); do
    if ((r % 2)); then a=$(spent "$pa" "$qa"); b=$(spent "$pb" "$qb")
    else b=$(spent "$pb" "$qb"); a=$(spent "$pa" "$qa"); fi
    echo "$r $a $b"
  done | python3 -c '
import statistics as st, sys
hz, n, na, nb = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
A, B, R = [], [], []
for line in sys.stdin:
    r, a, b = line.split()
    a, b = int(a) * 1e6 / hz / n, int(b) * 1e6 / hz / n
    A.append(a); B.append(b); R.append(b / a)
    print(f"round {r}: {na} {a:.1f} us/request, {nb} {b:.1f} us/request, {nb}/{na} {b / a:.3f}")
q = st.quantiles(R, n=4) if len(R) > 1 else R * 3
print(f"medians: {na} {st.median(A):.1f}, {nb} {st.median(B):.1f} us/request; {nb}/{na} median "
      f"{st.median(R):.3f} (quartiles {q[0]:.3f}-{q[-1]:.3f}), rounds with {nb} < {na}: "
      f"{sum(x < 1 for x in R)}/{len(R)}")
' "$(getconf CLK_TCK)" "$n" "$na" "$nb"
}

#!/usr/bin/env bash
# certgate against NGINX and HAProxy on the same job, on loopback, one worker thread each:
#   client mTLS (allow list by SHA-256) + bearer token at the edge, mTLS to an NGINX upstream
#   that requires a client certificate, keep-alive on both sides.
# Runs (each proxy, same order, ROUNDS times):
#   1. oha, keep-alive clients (32 connections)           -> req/s, p99
#   2. oha, a new TLS connection per request (16 clients) -> req/s, p99; also for a second
#      certgate configured with the peers' classical key exchange (tls.groups [X25519, P-256])
#   3. wrk on a route without client certificates (wrk cannot present one)
#   4. oha --http2, HTTP/2 keep-alive clients (4 connections x 8 streams in flight), the same
#      mTLS call (HTTP/1.1 to the upstream, as NGINX's proxy_pass speaks)
#   5. gRPC unary calls (examples/grpc_bench.rs, 4 connections x 8 calls in flight) over mTLS
#      both legs, HTTP/2 to the gRPC upstream (NGINX: grpc_pass; HAProxy: alpn h2); also
#      straight to the gRPC upstream, for what the upstream alone costs
#   6. RSS growth with 2,000 idle keep-alive mTLS connections open
# Usage: scripts/bench.sh [seconds-per-run (default 10)] [rounds (default 1)]
# The job, the proxies and their configs are in scripts/bench-env.sh. It installs what is
# missing (nginx, haproxy, wrk, python3 via apt-get; oha via cargo, ~9 min once), builds
# certgate in release mode, and stops every process it started.
set -euo pipefail
SECS=${1:-10}; ROUNDS=${2:-1}; IDLE=${IDLE_CONNECTIONS:-2000}
# shellcheck source=scripts/bench-env.sh
source "$(dirname "$0")/bench-env.sh"

declare -A RPS P99
oha_run() { # proxy mode
  oha_job "$2" "${PORT[$1]}" -z "${SECS}s" || { echo "$1 $2: no 200 answers" >&2; tail -5 run/oha.txt >&2; }
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
grpc_run() { # proxy port
  grpc_job "$2" "$SECS" >run/grpc.txt 2>&1 || true
  grep -q '^failed 0$' run/grpc.txt || echo "$1 grpc: $(grep -E '^(ok|failed)' run/grpc.txt | tr '\n' ' ')" >&2
  local r p
  r=$(awk '$1=="calls/s"{print $2}' run/grpc.txt)
  p=$(awk '$1=="p99"{print $3}' run/grpc.txt)
  RPS[$1.grpc]=$(awk -v a="${RPS[$1.grpc]:-0}" -v b="${r:-0}" 'BEGIN{print a+b}')
  P99[$1.grpc]=$(awk -v a="${P99[$1.grpc]:-0}" -v b="${p:-0}" 'BEGIN{print (b>a)?b:a}')
}
for _ in $(seq "$ROUNDS"); do
  for p in nginx haproxy certgate; do oha_run $p keepalive; done
  for p in "${PROXIES[@]}"; do oha_run $p new; done
  for p in nginx haproxy certgate; do wrk_run $p; done
  for p in nginx haproxy certgate; do oha_run $p h2; done
  for p in nginx haproxy certgate; do grpc_run $p "${PORT[$p]}"; done
  grpc_run upstream 29446
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
printf "\n%-15s %-22s %12s %10s\n" proxy run "req/s" "p99 ms"
for mode in keepalive new wrk h2 grpc; do
  label=$mode; [[ $mode == keepalive ]] && label="mTLS keep-alive (oha)"
  [[ $mode == new ]] && label="mTLS new conn (oha)"; [[ $mode == wrk ]] && label="no client cert (wrk)"
  [[ $mode == h2 ]] && label="mTLS h2 keep-alive"; [[ $mode == grpc ]] && label="gRPC unary, calls/s"
  for p in "${PROXIES[@]}" upstream; do
    [[ -n ${RPS[$p.$mode]:-} ]] || continue
    printf "%-15s %-22s %12.0f %10.2f\n" $p "$label" \
      "$(awk -v a="${RPS[$p.$mode]}" -v n="$ROUNDS" 'BEGIN{print a/n}')" "${P99[$p.$mode]}"
  done
done
printf "\n%-9s %s\n" proxy "idle KiB per mTLS connection (RSS growth / $IDLE)"
for p in nginx haproxy certgate; do printf "%-9s %s\n" $p "${IDLE_KIB[$p]}"; done
echo
for mode in keepalive new wrk h2 grpc; do
  awk -v c="${RPS[certgate.$mode]}" -v n="${RPS[nginx.$mode]}" -v h="${RPS[haproxy.$mode]}" -v m=$mode \
    'BEGIN{printf "ratio %-9s certgate/nginx=%.2f certgate/haproxy=%.2f\n", m, c/n, c/h}'
done
awk -v c="${RPS[certgate-x25519.new]}" -v n="${RPS[nginx.new]}" -v h="${RPS[haproxy.new]}" \
  'BEGIN{printf "ratio new, same key exchange as the peers: certgate-x25519/nginx=%.2f certgate-x25519/haproxy=%.2f\n", c/n, c/h}'

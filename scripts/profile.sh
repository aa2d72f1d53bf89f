#!/usr/bin/env bash
# Where the CPU goes: the benchmark job of scripts/bench.sh (see scripts/bench-env.sh), measured
# per request instead of per second.
#   1. CPU per proxied request, user space and kernel, for every proxy: oha sends a fixed
#      number of requests (keep-alive, then a new TLS connection per request) and the proxy's
#      utime/stime from /proc are divided by that number. Beside it, the upstream NGINX's CPU
#      per request and the whole machine's (all CPUs busy, from /proc/stat: proxy, upstream,
#      oha and anything else running), which is what bounds req/s when the machine is
#      saturated, as it is on a 2-core machine. Also the share of requests that
#      went upstream on a reused connection: TCP connections opened on the machine during the
#      run (TcpActiveOpens), minus the ones oha opened, are the proxy's new upstream ones.
#      The same keep-alive run also goes through the Pingora floor (examples/pingora_floor.rs):
#      Pingora with certgate's listener TLS and upstream peer but no per-request logic at all
#      (no routing, allow list, token, metrics, header or log), to show how much of certgate's
#      cost per request is Pingora's own.
#      The HTTP/2 keep-alive run (oha --http2) and unary gRPC calls get the same columns.
#   2. Full mTLS handshakes (openssl s_time, no resumption) with an RSA server certificate
#      alone and with an ECDSA one as its `alternate`: what serving ECDSA first saves.
#   3. When perf can record (root or perf_event_paranoid <= 1): a call-graph profile of
#      certgate in both runs, summarised into the groups of functions the README discusses
#      (kernel, Pingora's upstream pool, the HTTP/1 code, OpenSSL, certgate's own code; for
#      handshakes the key exchange, the certificate checks and the resumption lookup).
# Usage: scripts/profile.sh [keep-alive requests (default 60000)] [new-conn requests (default 4000)]
set -euo pipefail
KA_N=${1:-60000}; NEW_N=${2:-4000}
# shellcheck source=scripts/bench-env.sh
source "$(dirname "$0")/bench-env.sh"
command -v perf >/dev/null || "$ROOT/scripts/install-deps.sh" linux-perf >/dev/null 2>&1 || true

# The Pingora floor on :28447, from certgate's config (it answers every request it gets).
(cd "$ROOT" && cargo build --release --locked --quiet --example pingora_floor)
sed -e 's/28445/28447/; s/29091/29093/' certgate.yaml >floor.yaml
"$ROOT/target/release/examples/pingora_floor" floor.yaml >run/floor.log 2>&1 & PIDS+=($!)
FLOOR_PID=$!; PORT[pingora-floor]=28447
wait_https 28447
proc_of() { if [[ $1 == pingora-floor ]]; then echo "$FLOOR_PID"; else pid_of "$1"; fi; }

# load MODE PORT AMOUNT...: the job's oha run (see oha_job); stops the script on failure.
load() {
  oha_job "$@" || { echo "no 200 answers:" >&2; tail -5 run/oha.txt >&2; exit 1; }
}
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # utime stime, all threads, in clock ticks
active_opens() { awk '/^Tcp:/ {if (!h) {for (i = 1; i <= NF; i++) if ($i == "ActiveOpens") c = i; h = 1} else print $c}' /proc/net/snmp; }
HZ=$(getconf CLK_TCK)
declare -A CPU_US
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; } # all CPUs, not idle, in ticks
upstream_pid() { pgrep -P "$(cat upstream.pid)" | head -1; }
cpu_per_request() { # proxy mode n
  local pid up u1 s1 u2 s2 o1 o2 m1 m2 v1 v2 clients=32
  pid=$(proc_of "$1"); up=$(upstream_pid)
  [[ $2 == new ]] && clients=$3
  [[ $2 == h2 ]] && clients=4
  load "$2" "${PORT[$1]}" -n 2000 # warm up: sessions, upstream pool
  read -r u1 s1 < <(ticks "$pid"); o1=$(active_opens); m1=$(busy); v1=$(ticks "$up" | awk '{print $1 + $2}')
  load "$2" "${PORT[$1]}" -n "$3"
  read -r u2 s2 < <(ticks "$pid"); o2=$(active_opens); m2=$(busy); v2=$(ticks "$up" | awk '{print $1 + $2}')
  awk -v u=$((u2 - u1)) -v s=$((s2 - s1)) -v n="$3" -v hz="$HZ" -v p="$1" -v m="$2" \
    -v up=$((o2 - o1 - clients)) -v us=$((v2 - v1)) -v mb=$((m2 - m1)) \
    'BEGIN{f=1e6/hz/n; if (up < 0) up = 0
      printf "%-15s %-10s %8.1f %8.1f %8.1f %9.2f%% %9.1f %8.1f\n", p, m, u*f, s*f, (u+s)*f, 100*(1-up/n), us*f, mb*f}'
}

echo
echo "CPU per proxied request (microseconds; $KA_N keep-alive requests, $NEW_N new connections)"
printf "%-15s %-10s %8s %8s %8s %10s %9s %8s\n" proxy run user kernel total "up. reuse" upstream machine
for p in nginx haproxy certgate pingora-floor; do
  line=$(cpu_per_request $p keepalive "$KA_N"); echo "$line"; CPU_US[$p.keepalive]=$(awk '{print $5}' <<<"$line")
done
for p in "${PROXIES[@]}"; do
  line=$(cpu_per_request "$p" new "$NEW_N"); echo "$line"; CPU_US[$p.new]=$(awk '{print $5}' <<<"$line")
done
for p in nginx haproxy certgate; do
  line=$(cpu_per_request $p h2 "$KA_N"); echo "$line"; CPU_US[$p.h2]=$(awk '{print $5}' <<<"$line")
done
# cpu_per_call PROXY: the same columns for unary gRPC calls (grpc_job for 8 s; the upstream
# column is the gRPC upstream's CPU).
cpu_per_call() {
  local pid up u1 s1 u2 s2 m1 m2 v1 v2 n
  pid=$(proc_of "$1"); up=$(cat grpc-upstream.pid)
  grpc_job "${PORT[$1]}" 2 >/dev/null # warm up
  read -r u1 s1 < <(ticks "$pid"); m1=$(busy); v1=$(ticks "$up" | awk '{print $1 + $2}')
  grpc_job "${PORT[$1]}" 8 >run/grpc.txt
  read -r u2 s2 < <(ticks "$pid"); m2=$(busy); v2=$(ticks "$up" | awk '{print $1 + $2}')
  n=$(awk '$1=="ok"{print $2}' run/grpc.txt)
  awk -v u=$((u2 - u1)) -v s=$((s2 - s1)) -v n="$n" -v hz="$HZ" -v p="$1" -v us=$((v2 - v1)) -v mb=$((m2 - m1)) \
    'BEGIN{f=1e6/hz/n; printf "%-15s %-10s %8.1f %8.1f %8.1f %10s %9.1f %8.1f\n", p, "grpc", u*f, s*f, (u+s)*f, "-", us*f, mb*f}'
}
for p in nginx haproxy certgate; do
  line=$(cpu_per_call $p); echo "$line"; CPU_US[$p.grpc]=$(awk '{print $5}' <<<"$line")
done
echo "(h2: oha --http2, 4 connections x 8 streams, HTTP/1.1 upstream; grpc: unary calls, h2 both legs)"
echo "(upstream: the NGINX upstream's CPU; machine: all $(nproc) CPUs' busy time, so req/s can be at most"
echo " $(nproc) x 10^6 / machine; user, kernel and total are the proxy's own)"

# Full handshakes only (openssl s_time -new: no resumption, no request), with an RSA-2048
# server certificate alone and with an ECDSA P-256 one as its `alternate`: what ECDSA-first
# saves per full mTLS handshake. Two more certgates, on :28448 and :28449.
openssl req -newkey rsa:2048 -nodes -keyout pki/edge-rsa.key -out pki/edge-rsa.csr -subj "/CN=localhost" 2>/dev/null
printf "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth" >pki/edge-rsa.ext
openssl x509 -req -in pki/edge-rsa.csr -CA pki/ca.crt -CAkey pki/ca.key -CAcreateserial -out pki/edge-rsa.crt \
  -days 7 -extfile pki/edge-rsa.ext 2>/dev/null
sed -e 's/28445/28448/; s/29091/29094/; s#pki/edge\.#pki/edge-rsa.#g' certgate.yaml >rsa.yaml
sed -e 's/28445/28449/; s/29091/29095/; s#pki/edge\.#pki/edge-rsa.#g' \
  -e 's#^  key: pki/edge-rsa.key$#&\n  alternate: {certificate: pki/edge.crt, key: pki/edge.key}#' certgate.yaml >rsa-ecdsa.yaml
"$BIN" run -c rsa.yaml >run/rsa.log 2>&1 & PIDS+=($!); RSA_PID=$!
"$BIN" run -c rsa-ecdsa.yaml >run/rsa-ecdsa.log 2>&1 & PIDS+=($!); DUAL_PID=$!
wait_https 28448 28449
echo
echo "Full mTLS handshakes (openssl s_time -new, 5 s per run): certgate CPU per handshake"
for round in 1 2; do
  for v in "RSA-2048 alone:28448:$RSA_PID" "RSA-2048 + ECDSA alternate:28449:$DUAL_PID"; do
    IFS=: read -r name port pid <<<"$v"
    read -r u1 s1 < <(ticks "$pid")
    n=$(openssl s_time -connect "localhost:$port" -new -time 5 -CAfile pki/ca.crt -cert pki/client.crt \
      -key pki/client.key 2>/dev/null | awk '/real seconds/ {print $1; exit}')
    read -r u2 s2 < <(ticks "$pid")
    awk -v t=$((u2 + s2 - u1 - s1)) -v n="${n:-0}" -v hz="$HZ" -v p="$name" -v r=$round \
      'BEGIN{if (n == 0) {printf "%-28s round %d: no handshake completed\n", p, r; exit}
        printf "%-28s round %d: %5d handshakes, %6.1f us each\n", p, r, n, t * 1e6 / hz / n}'
  done
done

if ! perf record -q -o /dev/null -- true 2>/dev/null; then
  echo; echo "perf cannot record here (install linux-perf, run as root or lower perf_event_paranoid); no profile"
  exit 0
fi
# profile MODE: record certgate under load, print the groups for that mode.
profile() {
  local pid; pid=$(pid_of certgate)
  perf record -q -F 999 --call-graph dwarf,16384 -p "$pid" -o run/perf.data -- sleep 6 2>/dev/null &
  local rec=$!
  sleep 0.5
  if [[ $1 == grpc ]]; then grpc_job "${PORT[certgate]}" 5 >/dev/null; else load "$1" "${PORT[certgate]}" -z 5s; fi
  wait $rec || true
  perf script -i run/perf.data -F ip,sym 2>/dev/null >run/perf.txt
}
echo; echo "certgate, keep-alive: inclusive share of the samples (and of its ${CPU_US[certgate.keepalive]} us per request)"
profile keepalive
python3 "$ROOT/scripts/perf-frames.py" run/perf.txt "${CPU_US[certgate.keepalive]}" \
  "OpenSSL record layer (SSL_read, SSL_write)=SSL_read|SSL_write|ssl3_read_bytes|ssl3_write_bytes" \
  "Pingora HTTP/1 reading and writing=pingora_core::protocols::http::v1::" \
  "Pingora upstream pool (take, return, idle watch)=pingora_core::connectors::http::Connector<C>::release_http_session|pingora_core::connectors::http::Connector<C>::get_http_session|pingora_pool::connection::ConnectionPool<S>::idle_poll" \
  "certgate's own code (route, decision, metrics), inclusive=certgate::|<certgate::" \
  "certgate's own code without the I/O under its stream wrapper=certgate::|<certgate::^SSL_read|SSL_write|ssl3_|pingora_core::protocols::|pingora_core::connectors::|tokio::net::|tokio::io::" \
  "allocator (mimalloc, glibc)=mi_|_mi_|malloc|free|cfree|_int_malloc|_int_free"
echo; echo "certgate, new connection per request (default groups): inclusive share (of ${CPU_US[certgate.new]} us per request)"
profile new
python3 "$ROOT/scripts/perf-frames.py" run/perf.txt "${CPU_US[certgate.new]}" \
  "TLS handshake (all of it, user space)=tokio_openssl::SslStream<S>::poll_accept|state_machine" \
  "key exchange: ML-KEM-768 encapsulation=ml_kem_encapsulate" \
  "key exchange: decoding the client's key share=tls_accept_ksgroup" \
  "key exchange: X25519 key generation and derivation=EVP_PKEY_generate|ossl_ecx_compute_key" \
  "client certificate parse and chain verification=tls_process_client_certificate" \
  "client CertificateVerify (ECDSA verify)=tls_process_cert_verify" \
  "server CertificateVerify (ECDSA sign)=tls_construct_cert_verify" \
  "resumption (PSK binder, certgate's session store)=tls_parse_ctos_psk" \
  "TLS 1.3 key schedule=tls13_change_cipher_state|tls13_generate_secret" \
  "proxying the request after the handshake=pingora_proxy::HttpProxy<SV,C>::proxy_to_upstream"
echo; echo "certgate, unary gRPC (h2 both legs): inclusive share (of ${CPU_US[certgate.grpc]} us per call)"
profile grpc
python3 "$ROOT/scripts/perf-frames.py" run/perf.txt "${CPU_US[certgate.grpc]}" \
  "OpenSSL record layer (SSL_read, SSL_write)=SSL_read|SSL_write|ssl3_read_bytes|ssl3_write_bytes" \
  "the h2 crate (framing, HPACK, flow control, both legs)=h2::" \
  "Pingora HTTP/2 server and client glue=pingora_core::protocols::http::v2::" \
  "Pingora upstream pool and h2 connection reuse=pingora_core::connectors::http::v2::|pingora_core::connectors::http::Connector<C>::release_http_session|pingora_core::connectors::http::Connector<C>::get_http_session" \
  "Pingora proxy h2 body and trailer relay=pingora_proxy::proxy_h2::" \
  "certgate's own code (route, decision, metrics), inclusive=certgate::|<certgate::" \
  "tokio scheduler and timers=tokio::runtime::|tokio::time::" \
  "allocator (mimalloc, glibc)=mi_|_mi_|malloc|free|cfree|_int_malloc|_int_free"

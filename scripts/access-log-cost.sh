#!/usr/bin/env bash
# What the access log costs per request: the benchmark job (scripts/bench-env.sh) on three
# certgates that differ only in `logging.access` (text, the default; json; off), CPU per
# keep-alive request from /proc (utime + stime over N requests after a warm-up), in
# alternating rounds. stdout of each certgate goes to a file, as a log shipper would read it.
# Usage: scripts/access-log-cost.sh [requests per run (default 60000)] [rounds (default 3)]
set -euo pipefail
N=${1:-60000}; ROUNDS=${2:-3}
# shellcheck source=scripts/bench-env.sh
source "$(dirname "$0")/bench-env.sh"
sed -e 's/28445/28450/; s/29091/29096/' certgate.yaml >certgate-off.yaml
sed -e 's/28445/28451/; s/29091/29097/' certgate.yaml >certgate-json.yaml
printf 'logging: {access: off}\n' >>certgate-off.yaml
printf 'logging: {access: json}\n' >>certgate-json.yaml
"$BIN" run -c certgate-off.yaml >run/off.out 2>run/off.err & PIDS+=($!); OFF=$!
"$BIN" run -c certgate-json.yaml >run/json.out 2>run/json.err & PIDS+=($!); JSON=$!
wait_https 28450 28451
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A SUM
for round in $(seq "$ROUNDS"); do
  for v in "text:28445:$(pid_of certgate)" "json:28451:$JSON" "off:28450:$OFF"; do
    IFS=: read -r name port pid <<<"$v"
    oha_job keepalive "$port" -n 2000 || { echo "$name: no 200"; exit 1; }
    t1=$(ticks "$pid")
    oha_job keepalive "$port" -n "$N" || { echo "$name: no 200"; exit 1; }
    t2=$(ticks "$pid")
    us=$(awk -v t=$((t2 - t1)) -v n="$N" -v hz="$HZ" 'BEGIN{printf "%.2f", t * 1e6 / hz / n}')
    SUM[$name]=$(awk -v a="${SUM[$name]:-0}" -v b="$us" 'BEGIN{print a + b}')
    echo "round $round  access=$name  $us us/request"
  done
done
for name in text json off; do
  awk -v s="${SUM[$name]}" -v r="$ROUNDS" -v n="$name" 'BEGIN{printf "mean access=%-4s %6.2f us/request\n", n, s / r}'
done
echo "lines written: text $(wc -l <run/certgate.log) (with its event lines), json $(wc -l <run/json.out), off $(wc -l <run/off.out)"

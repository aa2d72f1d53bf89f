#!/usr/bin/env bash
# A/B: the CPU per keep-alive request of two certgate binaries on the bench-env.sh job, both
# running side by side, measured in alternating order (the second one measured in a pair is
# often a little slower) from /proc utime+stime over N requests.
# Usage: scripts/ab-keepalive.sh A_BIN B_BIN [ROUNDS (4)] [N (60000)]
set -euo pipefail
A=$1; B=$2; ROUNDS=${3:-4}; N=${4:-60000}
export CERTGATE_BIN=$A
source "$(dirname "$0")/bench-env.sh"
sed -e 's/28445/28450/; s/29091/29096/' certgate.yaml >b.yaml
"$B" run -c b.yaml >run/b.log 2>&1 & PIDS+=($!); BPID=$!
wait_https 28450
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
measure() { # pid port
  oha_job keepalive "$2" -n 2000 || true
  local t1 t2; t1=$(ticks "$1"); oha_job keepalive "$2" -n "$N"; t2=$(ticks "$1")
  awk -v t=$((t2 - t1)) -v n="$N" -v hz="$HZ" 'BEGIN{printf "%.1f", t*1e6/hz/n}'
}
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then a=$(measure "${PIDS[0]}" 28445); b=$(measure "$BPID" 28450)
  else b=$(measure "$BPID" 28450); a=$(measure "${PIDS[0]}" 28445); fi
  echo "round $r: A $a us/request, B $b us/request"
done

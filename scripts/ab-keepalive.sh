#!/usr/bin/env bash
# A/B: the CPU per request (keep-alive by default, see MODE) of two certgate binaries on the
# bench-env.sh job, both running side by side, from /proc utime+stime over N requests. Each
# round measures A and B back to back (order alternating: the second of a pair is often a
# little slower), and the verdict is the median of the per-round ratios B/A, which cancels
# the machine's drift between rounds (on a shared VM it moves far more than most changes are
# worth). Run it a second time with the binaries swapped before believing a small
# difference: B (the second process, on its own port) measured 1-1.5 % slower than A in both
# orders of two binaries that differ by nothing measurable (2026-12-07, 40 rounds each way).
# Usage: scripts/ab-keepalive.sh A_BIN B_BIN [ROUNDS (24)] [N (20000)] [MODE (keepalive)]
# MODE is bench-env.sh's oha_job mode: keepalive, h2, or new (a new mTLS connection per
# request, 16 clients; use a smaller N, e.g. 2000).
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2"); ROUNDS=${3:-24}; N=${4:-20000}; MODE=${5:-keepalive}
export CERTGATE_BIN=$A
source "$(dirname "$0")/bench-env.sh"
sed -e 's/28445/28450/; s/29091/29096/' certgate.yaml >b.yaml
"$B" run -c b.yaml >run/b.log 2>&1 & PIDS+=($!); BPID=$!
wait_https 28450
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
measure() { # pid port: clock ticks spent on N requests
  local t1 t2; t1=$(ticks "$1"); oha_job "$MODE" "$2" -n "$N" || true; t2=$(ticks "$1")
  echo $((t2 - t1))
}
measure "${PIDS[0]}" 28445 >/dev/null; measure "$BPID" 28450 >/dev/null # warm up
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then a=$(measure "${PIDS[0]}" 28445); b=$(measure "$BPID" 28450)
  else b=$(measure "$BPID" 28450); a=$(measure "${PIDS[0]}" 28445); fi
  echo "$r $a $b"
done | python3 -c '
import statistics as st, sys
hz, n = float(sys.argv[1]), float(sys.argv[2])
A, B, R = [], [], []
for line in sys.stdin:
    r, a, b = line.split()
    a, b = int(a) * 1e6 / hz / n, int(b) * 1e6 / hz / n
    A.append(a); B.append(b); R.append(b / a)
    print(f"round {r}: A {a:.1f} us/request, B {b:.1f} us/request, B/A {b / a:.3f}")
q = st.quantiles(R, n=4) if len(R) > 1 else R * 3
print(f"medians: A {st.median(A):.1f}, B {st.median(B):.1f} us/request; B/A median {st.median(R):.3f} "
      f"(quartiles {q[0]:.3f}-{q[-1]:.3f}), rounds with B < A: {sum(x < 1 for x in R)}/{len(R)}")
' "$HZ" "$N"

#!/usr/bin/env bash
# The issue-18 ratio, measured the way the A/Bs are: certgate's CPU per request against a
# peer's (NGINX by default) on the bench-env.sh job, in paired rounds. Each round times the
# peer and certgate back to back over N requests (order alternating), from /proc
# utime+stime of the process doing the work (NGINX's worker, HAProxy's process, certgate's),
# and the verdict is the median of the per-round ratios certgate/peer: on a shared VM the
# machine's speed drifts between rounds far more than within one pair.
# Usage: scripts/vs-peer.sh [ROUNDS (16)] [N (20000)] [MODE (keepalive)] [PEER (nginx)]
# MODE is bench-env.sh's oha_job mode (keepalive, h2, new); CERTGATE_BIN picks the binary.
set -euo pipefail
ROUNDS=${1:-16}; N=${2:-20000}; MODE=${3:-keepalive}; PEER=${4:-nginx}
source "$(dirname "$0")/bench-env.sh"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
P_PID=$(pid_of "$PEER"); C_PID=$(pid_of certgate)
measure() { # pid port: clock ticks spent on N requests
  local t1 t2; t1=$(ticks "$1"); oha_job "$MODE" "$2" -n "$N" || true; t2=$(ticks "$1")
  echo $((t2 - t1))
}
measure "$P_PID" "${PORT[$PEER]}" >/dev/null; measure "$C_PID" "${PORT[certgate]}" >/dev/null # warm up
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then a=$(measure "$P_PID" "${PORT[$PEER]}"); b=$(measure "$C_PID" "${PORT[certgate]}")
  else b=$(measure "$C_PID" "${PORT[certgate]}"); a=$(measure "$P_PID" "${PORT[$PEER]}"); fi
  echo "$r $a $b"
done | python3 -c '
import statistics as st, sys
hz, n, peer = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
A, B, R = [], [], []
for line in sys.stdin:
    r, a, b = line.split()
    a, b = int(a) * 1e6 / hz / n, int(b) * 1e6 / hz / n
    A.append(a); B.append(b); R.append(b / a)
    print(f"round {r}: {peer} {a:.1f} us/request, certgate {b:.1f}, ratio {b / a:.3f}")
q = st.quantiles(R, n=4) if len(R) > 1 else R * 3
print(f"medians: {peer} {st.median(A):.1f}, certgate {st.median(B):.1f} us/request; "
      f"certgate/{peer} median {st.median(R):.3f} (quartiles {q[0]:.3f}-{q[-1]:.3f})")
' "$HZ" "$N" "$PEER"

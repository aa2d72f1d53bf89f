#!/usr/bin/env bash
# A/B: the CPU per request (keep-alive by default, see MODE) of two certgate binaries on the
# bench-env.sh job, both running side by side, in bench-env.sh's paired rounds (paired_cpu:
# A and B back to back, order alternating, verdict the median of the per-round ratios B/A).
# Run it a second time with the binaries swapped before believing a small difference: B
# (the second process, on its own port) measured 1-1.5 % slower than A in both orders of
# two binaries that differ by nothing measurable (2026-12-07, 40 rounds each way).
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
paired_cpu "$ROUNDS" "$N" "$MODE" A "${PIDS[0]}" 28445 B "$BPID" 28450

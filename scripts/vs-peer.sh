#!/usr/bin/env bash
# The issue-18 ratio, measured the way the A/Bs are: certgate's CPU per request against a
# peer's (NGINX by default) on the bench-env.sh job, in bench-env.sh's paired rounds
# (paired_cpu), from /proc of the process doing the work (NGINX's worker, HAProxy's
# process, certgate's); the verdict is the median of the per-round ratios certgate/peer.
# Usage: scripts/vs-peer.sh [ROUNDS (16)] [N (20000)] [MODE (keepalive)] [PEER (nginx)]
# MODE is bench-env.sh's oha_job mode (keepalive, h2, new); CERTGATE_BIN picks the binary.
set -euo pipefail
ROUNDS=${1:-16}; N=${2:-20000}; MODE=${3:-keepalive}; PEER=${4:-nginx}
source "$(dirname "$0")/bench-env.sh"
paired_cpu "$ROUNDS" "$N" "$MODE" "$PEER" "$(pid_of "$PEER")" "${PORT[$PEER]}" \
  certgate "$(pid_of certgate)" "${PORT[certgate]}"

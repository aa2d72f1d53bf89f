#!/usr/bin/env bash
# Runs x509-limbo's testcases, re-targeted to client certificates, through
# `certgate cert verify` (the data plane's own decision) and reports agreements and
# disagreements. Every disagreement must be listed as a documented choice in
# scripts/limbo/run.py; an unexamined one fails the run.
#
#   scripts/x509-limbo.sh LIMBO_DIR [certgate binary]
#
# LIMBO_DIR: a checkout of https://github.com/C2SP/x509-limbo (its committed limbo.json is
# not needed: the cases are generated with its own generators). Python >= 3.11; the
# generators' dependencies (cryptography, pydantic, pyyaml) go in target/limbo-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
limbo=${1:?usage: scripts/x509-limbo.sh LIMBO_DIR [certgate binary]}
bin=${2:-target/release/certgate}
[ -x "$bin" ] || cargo build --release --locked
venv=target/limbo-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "cryptography~=46.0" "pydantic~=2.13" pyyaml
fi
cases=target/limbo-client-cases.json
"$venv/bin/python" scripts/limbo/generate.py "$limbo" > "$cases" 2>target/limbo-generate.log
python3 scripts/limbo/run.py "$bin" "$cases" "${@:3}"

#!/usr/bin/env bash
# The demo: builds certgate, then runs `certgate demo` — a throwaway PKI, an upstream that
# demands a client certificate, the gateway, and curl calls that are allowed and refused.
# Pass --serve to keep it running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --locked
exec ./target/release/certgate demo "$@"

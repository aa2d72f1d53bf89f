#!/usr/bin/env bash
# The test command: installs build dependencies if missing, then runs formatting and lint
# checks and every test (unit, spec tables, end-to-end against real TLS on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked "$@"

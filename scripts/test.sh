#!/usr/bin/env bash
# The test command: installs build dependencies if missing, then runs formatting and lint
# checks and every test (unit, spec tables, end-to-end against real TLS on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
if cargo fmt --version >/dev/null 2>&1; then cargo fmt --check; else echo "rustfmt not installed: skipping the format check" >&2; fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --all-targets --locked -- -D warnings
else
  echo "clippy not installed: skipping lints" >&2
fi
cargo test --locked "$@"

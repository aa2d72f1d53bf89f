#!/usr/bin/env bash
# The test command: installs build dependencies if missing, then runs the format, lint and
# documentation checks and every test (unit, spec tables including the fuzz corpus replay,
# end-to-end against real TLS on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || { echo "cargo $component is missing and rustup is not there to install it" >&2; exit 2; }
    rustup component add "$component"
  fi
done
cargo fmt --check
# vendor/pingora-core must stay the published crate plus vendor/patches (nothing by hand).
./scripts/vendor-pingora.sh --check
cargo clippy --all-targets --locked -- -D warnings
# The production build without the demo and its echo upstream still compiles, warning-free.
cargo clippy --no-default-features --locked --quiet -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
cargo test --locked "$@"

#!/usr/bin/env bash
# The test command: installs build dependencies if missing, then runs the format, lint and
# documentation checks and every test (unit, spec tables including the fuzz corpus replay,
# end-to-end against real TLS on loopback), then the spec and end-to-end suites a second time
# with every certgate process they start taken from the release binary that ships (fat LTO,
# no debug assertions or overflow checks); in-process tests run the dev build both times.
# Arguments go to the first `cargo test` only and skip the second pass, as does
# CERTGATE_SKIP_RELEASE_PASS=1 (a quicker local run).
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
if [[ $# -eq 0 && -z ${CERTGATE_SKIP_RELEASE_PASS:-} ]]; then
  cargo build --release --locked
  CERTGATE_TEST_BIN="$PWD/target/release/certgate" cargo test --locked --test spec --test e2e
fi

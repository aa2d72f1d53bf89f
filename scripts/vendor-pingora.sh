#!/usr/bin/env bash
# Rebuilds vendor/pingora-core from the published crate plus vendor/patches/*.patch, or with
# --check verifies that vendor/pingora-core is exactly that (nothing edited by hand).
# Usage: scripts/vendor-pingora.sh [--check]   (downloads the crate from crates.io)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(awk '/^name = "pingora-core"/{f=1} f && /^version/{gsub(/"/, "", $3); print $3; exit}' "$ROOT/Cargo.lock")
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
curl -sfL "https://static.crates.io/crates/pingora-core/pingora-core-$VERSION.crate" | tar -xz -C "$T"
mv "$T/pingora-core-$VERSION" "$T/pingora-core"
for p in "$ROOT"/vendor/patches/*.patch; do (cd "$T" && patch -s -p1 < "$p"); done
if [[ ${1:-} == --check ]]; then
  diff -r "$T/pingora-core" "$ROOT/vendor/pingora-core" && echo "vendor/pingora-core is pingora-core $VERSION plus $(ls "$ROOT"/vendor/patches/*.patch | wc -l) patch(es)"
else
  rm -rf "$ROOT/vendor/pingora-core" && cp -r "$T/pingora-core" "$ROOT/vendor/pingora-core"
  echo "vendor/pingora-core rebuilt: pingora-core $VERSION plus the patches"
fi

#!/usr/bin/env bash
# Installs what building certgate needs on a fresh Debian/Ubuntu machine: cmake (libz-ng-sys),
# pkg-config and libssl-dev (openssl-sys), perl and make (vendored OpenSSL), curl (demo) and
# patch (the check that vendor/ is the published Pingora plus its patches),
# redis-server (the fleet tests start their own), python3 with grpcio from PyPI (the gRPC
# tests' client and server), chromium and chromium-driver (the console's browser test).
# Extra packages can be passed as arguments (e.g. nginx haproxy wrk prometheus).
set -euo pipefail
need=()
for pkg in cmake pkg-config libssl-dev perl make curl patch redis-server chromium chromium-driver "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v python3 >/dev/null || need+=(python3 python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The gRPC peer (tests/support/grpc_peer.py): the reference C-core implementation, a wheel.
if ! python3 -c 'import grpc' 2>/dev/null; then
  python3 -m pip install --quiet grpcio 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages grpcio
fi

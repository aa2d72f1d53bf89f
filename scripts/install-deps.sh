#!/usr/bin/env bash
# Installs what building certgate needs on a fresh Debian/Ubuntu machine: cmake (libz-ng-sys),
# pkg-config and libssl-dev (openssl-sys), perl and make (vendored OpenSSL), curl (demo),
# redis-server (the fleet tests start their own).
# Extra packages can be passed as arguments (e.g. nginx haproxy wrk prometheus).
set -euo pipefail
need=()
for pkg in cmake pkg-config libssl-dev perl make curl redis-server "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

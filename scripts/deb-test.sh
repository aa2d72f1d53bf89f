#!/usr/bin/env bash
# Builds the .deb (cargo deb), installs it on this machine, runs the unit's own commands
# (read from the installed contrib/certgate.service) the way systemd would run them, as the
# package's `certgate` user: ExecStartPre (check), ExecStart, a call through it, ExecReload
# (SIGHUP), then a stop (SIGTERM, the unit's KillSignal); then purges the package. Needs
# root. Without systemd (containers, this CI) the unit's hardening options are not
# exercised: only its commands are.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "deb-test.sh installs a package: run it as root" >&2; exit 2; }
export PATH="$HOME/.cargo/bin:$PATH"
"$ROOT/scripts/install-deps.sh" dpkg-dev adduser openssl curl python3
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --quiet
cd "$ROOT"
cargo deb --locked --quiet
DEB=$(ls -t target/debian/certgate_*.deb | head -1)
echo "built $DEB ($(du -h "$DEB" | cut -f1))"
dpkg-deb --info "$DEB" | sed -n 's/^ \(Depends\|Version\|Installed-Size\):/  \1:/p'
W=$(mktemp -d); UP=
cleanup() {
  [ -n "$UP" ] && kill "$UP" 2>/dev/null || true
  dpkg -P certgate >/dev/null 2>&1 || true
  rm -rf "$W" /etc/certgate/pki
  rmdir /etc/certgate 2>/dev/null || true
}
trap cleanup EXIT
dpkg -i "$DEB" >/dev/null
UNIT=/lib/systemd/system/certgate.service
[ -f "$UNIT" ] || UNIT=/usr/lib/systemd/system/certgate.service
for f in /usr/bin/certgate "$UNIT" /etc/certgate/certgate.yaml /usr/share/doc/certgate/README.md; do
  [ -e "$f" ] || { echo "missing after install: $f" >&2; exit 1; }
done
getent passwd certgate >/dev/null || { echo "no certgate user" >&2; exit 1; }
echo "installed: $(certgate --version), user $(id certgate), config $(stat -c '%a %U:%G' /etc/certgate/certgate.yaml)"
certgate demo --help >/dev/null 2>&1 && { echo "the packaged binary has the demo: not the production build" >&2; exit 1; }

# A working config with a throwaway PKI, readable by the certgate user only.
P=/etc/certgate/pki; mkdir -p $P
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $P/ca.key -out $P/client-ca.crt \
  -days 2 -subj "/CN=deb test CA" 2>/dev/null
issue() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$W/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf "$3" >"$W/$1.ext"
  openssl x509 -req -in "$W/$1.csr" -CA $P/client-ca.crt -CAkey $P/ca.key -CAcreateserial -out "$P/$1.crt" \
    -days 2 -extfile "$W/$1.ext" 2>/dev/null
}
issue server localhost "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth"
issue client alice "extendedKeyUsage=clientAuth"
chgrp -R certgate /etc/certgate; chmod 0640 $P/*
sed -e 's/0.0.0.0:8443/127.0.0.1:18443/' -e 's/127.0.0.1:9091/127.0.0.1:19091/' -e 's/127.0.0.1:8080/127.0.0.1:18080/' \
  -e 's#pki/#/etc/certgate/pki/#' /etc/certgate/certgate.yaml >"$W/c.yaml"
install -m 0640 -g certgate "$W/c.yaml" /etc/certgate/certgate.yaml
(cd "$W" && echo "hello from the upstream" >index.html && exec python3 -m http.server 18080 --bind 127.0.0.1 >/dev/null 2>&1) &
UP=$!

unit() { sed -n "s/^$1=//p" "$UNIT" | head -1; }
as_certgate() { (cd /var/lib/certgate && runuser -u certgate -- "$@"); }
echo "ExecStartPre: $(unit ExecStartPre)"
# shellcheck disable=SC2046
as_certgate $(unit ExecStartPre)
echo "ExecStart: $(unit ExecStart)"
# shellcheck disable=SC2046
(cd /var/lib/certgate && exec runuser -u certgate -- $(unit ExecStart)) >"$W/certgate.log" 2>&1 &
for _ in $(seq 100); do curl -s -o /dev/null --cacert $P/client-ca.crt https://localhost:18443/ && break; sleep 0.1; done
MAINPID=$(pgrep -u certgate -x certgate | head -1)
ok=$(curl -s -o /dev/null -w '%{http_code}' --cacert $P/client-ca.crt --cert $P/client.crt --key $P/client.key https://localhost:18443/)
none=$(curl -s -o /dev/null -w '%{http_code}' --cacert $P/client-ca.crt https://localhost:18443/)
echo "calls through the installed service: with the client certificate $ok, without $none"
[[ $ok == 200 && $none == 403 ]] || { cat "$W/certgate.log" >&2; exit 1; }
reload=$(unit ExecReload); echo "ExecReload: $reload"
eval "${reload//\$MAINPID/$MAINPID}"
sleep 1
grep -q 'event=reload result=success' "$W/certgate.log" || { echo "no successful reload" >&2; cat "$W/certgate.log" >&2; exit 1; }
echo "reload: $(grep -o 'event=reload result=success generation=[0-9]*' "$W/certgate.log")"
kill -TERM "$MAINPID"
for _ in $(seq 100); do kill -0 "$MAINPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MAINPID" 2>/dev/null && { echo "still running after SIGTERM" >&2; exit 1; }
grep -q 'event=stopped' "$W/certgate.log" && echo "stop: $(grep -o 'event=stopped.*' "$W/certgate.log")"
dpkg -P certgate >/dev/null
getent passwd certgate >/dev/null && { echo "the user survived a purge" >&2; exit 1; }
echo "purged: binary, unit, user and state removed"

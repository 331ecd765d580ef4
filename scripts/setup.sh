#!/bin/sh
# Install what building and testing virq needs (Debian 12).  Idempotent:
# does nothing when everything is present.
set -e
pkgs="meson ninja-build pkg-config gcc libcmocka-dev liburcu-dev systemtap-sdt-dev python3 scdoc binutils"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null

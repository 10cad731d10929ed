#!/bin/bash
# SPDX-License-Identifier: MIT
# deps.sh: make sure the Debian packages a step needs are installed.
# As root it installs what is missing; otherwise it prints the exact apt-get line and fails.
# Usage: tests/deps.sh build|run|xen|kvm
set -euo pipefail
case "${1:-build}" in
build) pkgs="gcc binutils make libxen-dev linux-libc-dev" ;;
run) pkgs="qemu-system-x86 coreutils" ;;
*) echo "deps.sh: unknown set '$1' (build|run)" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "pvtick: missing Debian packages:$missing. Install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "pvtick: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null

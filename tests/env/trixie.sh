#!/bin/bash
# SPDX-License-Identifier: MIT
# trixie.sh: fetch the newer hypervisors from Debian trixie into build/trixie/, once, without
# touching the host's packages: Linux 6.12 (its KVM), QEMU 10.0, Xen 4.20 and its toolstack.
#
# Usage: tests/env/trixie.sh [CACHE]      (CACHE: build/trixie, relative to the repository)
# Prints one line per part, "PART ok VERSIONS" or "PART skip REASON", and exits 0 when every part is
# ok, 1 when some part could not be fetched (its environments are then a SKIP with that reason),
# 2 on bad usage. The parts and what uses them:
#   root   trixie, minbase, with qemu-system-x86 (10.0), busybox-static, kmod, coreutils
#          (debootstrap from the mirror the host's apt uses): QEMU 10 inside the L1s below
#   linux  linux-image-amd64 of trixie (6.12), unpacked into the root: kvm-linux-6.12,
#          kvm-xen-emulation (L1), xen-4.20 domU (dom0's kernel)
#   xen    xen-hypervisor-4.20-amd64 unpacked into the root, xen-utils-4.20 and xenstore-utils
#          installed in it: xen-4.20 (dom0, domU)
# CACHE/PART.stamp holds the part's package versions once it is complete; CACHE/PART.skip the
# reason it is not. A part with a stamp is never fetched again (rm -rf CACHE to refetch); one that
# failed is tried again on the next run. The first run takes about 2 minutes (debootstrap: 30 s here).
# env: TRIXIE_MIRROR (the Debian mirror; default: the one the host's apt uses)
set -uo pipefail
. "$(dirname "$0")/../lib.sh" # sets top (the repository)
[ $# -le 1 ] || { sed -n '5,6p' "$0" | sed 's/^# \?//' >&2; exit 2; }
C=${1:-build/trixie}
case $C in /*) ;; *) C=$top/$C ;; esac
mkdir -p "$C"
R=$C/root
# Bump when what a part holds changes: the stamps then no longer match and the part is rebuilt.
RECIPE=1
say() { echo "trixie: $*" >&2; }

# part_ok PART: its stamp is there and of this recipe.
part_ok() { [ "$(head -1 "$C/$1.stamp" 2>/dev/null)" = "recipe $RECIPE" ]; }
# skip PART REASON: the part is not there, and why (also printed).
skip() { rm -f "$C/$1.stamp"; echo "$2" >"$C/$1.skip"; echo "$1 skip $2"; }
# stamp PART [DEB...] [-- PKG...]: the part is complete; its stamp lists the versions of the .deb
# files unpacked into the root and of the packages installed in it.
stamp() {
	local p=$1 debs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do debs+=("$1") && shift; done
	[ $# = 0 ] || shift
	{
		echo "recipe $RECIPE"
		for d in "${debs[@]}"; do dpkg-deb -W --showformat='${Package}=${Version}\n' "$d"; done
		[ $# = 0 ] || chroot "$R" dpkg-query -W -f='${Package}=${Version}\n' "$@" 2>/dev/null
	} >"$C/$p.stamp.tmp" && mv "$C/$p.stamp.tmp" "$C/$p.stamp"
	rm -f "$C/$p.skip"
	say_ok "$p"
}
# say_ok PART: the part's line for the caller: "PART ok package=version ...".
say_ok() { echo "$1 ok $(tail -n +2 "$C/$1.stamp" | paste -sd' ')"; }
# need_root PART: fetching needs root (debootstrap, chroot); else the part is a skip.
need_root() {
	[ "$(id -u)" = 0 ] && return 0
	skip "$1" "fetching it needs root (debootstrap and chroot); run make test as root once, or sudo $0"
	return 1
}

# ---- root ----
if ! part_ok root; then
	need_root root || { skip linux "no trixie root (needs root)"; skip xen "no trixie root (needs root)"; exit 1; }
	"$top/tests/deps.sh" trixie || { skip root "host packages for the fetch are missing (tests/deps.sh trixie)"; exit 1; }
	# The mirror the host's apt already uses (deb822 sources, else sources.list), else debootstrap's.
	mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
	mirror=${TRIXIE_MIRROR:-${mirror:-http://deb.debian.org/debian}}
	say "debootstrap trixie (minbase, QEMU 10) from $mirror into $R; about a minute, log in $C/debootstrap.log"
	rm -rf "$R"
	t0=$SECONDS
	if debootstrap --variant=minbase --include=qemu-system-x86,busybox-static,kmod,coreutils \
		trixie "$R" "$mirror" >"$C/debootstrap.log" 2>&1 && [ -x "$R/usr/bin/qemu-system-x86_64" ]; then
		say "debootstrap done in $((SECONDS - t0)) s"
		stamp root -- qemu-system-x86 busybox-static kmod coreutils libc6
	else
		why=$(grep -m1 -E '^(E|W): ' "$C/debootstrap.log" || tail -1 "$C/debootstrap.log")
		skip root "debootstrap of trixie from $mirror failed: ${why:-no log} ($C/debootstrap.log)"
		skip linux "no trixie root"
		skip xen "no trixie root"
		exit 1
	fi
else
	say_ok root
fi

# fetch_debs PART PKG...: apt-get download inside the root into CACHE/PART-debs/ (apt of the root,
# trixie's sources). Returns 1 with the reason in $why.
fetch_debs() {
	local p=$1 d=$C/$1-debs
	shift
	rm -rf "$d" && mkdir -p "$d" "$R/tmp/debs"
	rm -f "$R"/tmp/debs/*.deb
	if ! chroot "$R" bash -c 'cd /tmp/debs && apt-get update -q && apt-get download -q "$@"' _ "$@" >"$C/$p-fetch.log" 2>&1; then
		why="apt-get download $* in the trixie root failed: $(grep -m1 '^E: ' "$C/$p-fetch.log") ($C/$p-fetch.log)"
		return 1
	fi
	mv "$R"/tmp/debs/*.deb "$d/"
}

# ---- linux: linux-image-amd64 -> the versioned image package, unpacked into the root ----
if ! part_ok linux; then
	need_root linux || { part_ok xen || skip xen "no trixie Linux (needs root)"; exit 1; }
	say "linux-image-amd64 of trixie (Linux 6.12) into the root"
	img=$(chroot "$R" apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$img" ]; then
		chroot "$R" apt-get update -q >"$C/linux-fetch.log" 2>&1
		img=$(chroot "$R" apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	fi
	if [ -z "$img" ]; then
		skip linux "trixie's apt in the root does not know linux-image-amd64's image package ($C/linux-fetch.log)"
	elif ! fetch_debs linux "$img"; then
		skip linux "$why"
	else
		for d in "$C"/linux-debs/*.deb; do dpkg-deb -x "$d" "$R"; done
		v=${img#linux-image-}
		echo "$v" >"$C/linux.version"
		if [ -f "$R/boot/vmlinuz-$v" ] && [ -d "$R/usr/lib/modules/$v" ]; then
			stamp linux "$C"/linux-debs/*.deb
		else
			skip linux "$img unpacked without /boot/vmlinuz-$v and its modules"
		fi
	fi
else
	say_ok linux
fi

# ---- xen: the hypervisor unpacked, the toolstack installed (dom0's userland for the domU) ----
if ! part_ok xen; then
	need_root xen || exit 1
	say "xen-hypervisor-4.20-amd64 and xen-utils-4.20 of trixie into the root"
	if ! fetch_debs xen xen-hypervisor-4.20-amd64; then
		skip xen "$why"
	elif ! chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		xen-utils-4.20 xenstore-utils >>"$C/xen-fetch.log" 2>&1; then
		skip xen "apt-get install xen-utils-4.20 xenstore-utils in the trixie root failed: $(grep -m1 '^E: ' "$C/xen-fetch.log") ($C/xen-fetch.log)"
	else
		dpkg-deb -x "$C"/xen-debs/xen-hypervisor-4.20-amd64_*.deb "$R"
		if [ -f "$R/boot/xen-4.20-amd64.gz" ] && [ -x "$R/usr/lib/xen-4.20/bin/xl" ]; then
			stamp xen "$C"/xen-debs/xen-hypervisor-4.20-amd64_*.deb -- xen-utils-4.20 xenstore-utils
		else
			skip xen "the Xen 4.20 packages unpacked without /boot/xen-4.20-amd64.gz or xl"
		fi
	fi
else
	say_ok xen
fi
part_ok root && part_ok linux && part_ok xen

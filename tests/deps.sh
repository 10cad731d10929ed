#!/bin/bash
# SPDX-License-Identifier: MIT
# deps.sh: make sure the Debian packages a step needs are installed.
# As root it installs what is missing; otherwise it prints the exact apt-get line and fails.
# Usage: tests/deps.sh build|run|xen|kvm|trixie|verify|fuzz|bench      exit 0 ready, 2 missing and not root (or a bad set)
set -euo pipefail
case "${1:-build}" in
build) pkgs="gcc binutils make libxen-dev linux-libc-dev" ;;
run) pkgs="qemu-system-x86 coreutils" ;;
# Xen under QEMU TCG, with Debian's Linux as dom0 and the xl toolstack in an initramfs.
xen) pkgs="xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils busybox-static linux-image-amd64 qemu-system-x86 cpio gzip xz-utils binutils" ;;
# Linux KVM nested under QEMU TCG: Debian's kernel, kvm_amd, and QEMU in a busybox initramfs.
# Debian trixie's hypervisors fetched into build/trixie (tests/env/trixie.sh).
trixie) pkgs="debootstrap zstd xz-utils cpio kmod perl" ;;
kvm) pkgs="linux-image-amd64 busybox-static kmod cpio xz-utils qemu-system-x86 binutils" ;;
# The SPIN model checker (make verify; it compiles the verifier it generates with gcc).
verify) pkgs="spin gcc" ;;
# libFuzzer and TSan: clang with its runtime libraries (make fuzz, make test).
fuzz) pkgs="clang libclang-rt-14-dev" ;;
# make bench: the plot, and instruction counts for the fast path.
bench) pkgs="gnuplot-nox valgrind" ;;
*) echo "deps.sh: unknown set '$1' (build|run|xen|kvm|trixie|verify|fuzz|bench)" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "pvtick: missing Debian packages:$missing. Install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
	exit 2
fi
echo "pvtick: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null

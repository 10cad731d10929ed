#!/bin/bash
# SPDX-License-Identifier: MIT
# run-env.sh: `make run-env ENV=...` (and run-xen, run-kvm): boot pvtick once in one named
# environment, show its console, end with "N passed, N failed".
# Usage: tests/run-env.sh ENV SMP "GUEST ARGS"
#   ENV  native-tcg         QEMU TCG, -cpu max (what `make run` boots)
#        xen-4.17-domu      a PVH domU of Xen 4.17 (bookworm; xl in Linux 6.1's dom0)   (run-xen)
#        xen-4.17-dom0      pvtick as Xen 4.17's PVH dom0
#        xen-4.20-domu      a PVH domU of Xen 4.20 (trixie; xl 4.20 in Linux 6.12's dom0)
#        xen-4.20-dom0      pvtick as Xen 4.20's PVH dom0
#        kvm-linux-6.1      Linux 6.1's KVM with QEMU 7.2 (the host's /dev/kvm if it is usable
#                           hardware KVM, else nested under QEMU TCG)                  (run-kvm)
#        kvm-linux-6.12     Linux 6.12's KVM with QEMU 10.0 (trixie), nested under QEMU TCG
#        kvm-xen-emulation  KVM's Xen emulation: QEMU 10.0 -accel kvm,xen-version=0x40011 on
#                           Linux 6.12's KVM, nested under QEMU TCG
#   The trixie environments are fetched once into build/trixie (tests/env/trixie.sh, as root).
# Exit: 0 the guest passed, 1 it did not, 2 bad usage, 3 the environment failed, 5 the environment
# is not available here (the reason is printed).
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$top" || exit 1
ENVS="native-tcg xen-4.17-domu xen-4.17-dom0 xen-4.20-domu xen-4.20-dom0 kvm-linux-6.1 kvm-linux-6.12 kvm-xen-emulation"
[ $# = 3 ] || { sed -n '5,16p' "$0" | sed 's/^# \?//' >&2; exit 2; }
env=$1 smp=$2 args=$3
[[ " $ENVS " == *" $env "* ]] || { echo "run-env.sh: unknown environment '$env' (one of: $ENVS)" >&2; exit 2; }
[[ $smp =~ ^[0-9]+$ ]] && [ "$smp" -ge 1 ] || { echo "run-env.sh: SMP '$smp' must be a vCPU count" >&2; exit 2; }
out=build/run-$env
mkdir -p "$out"
log=$out/pvtick.log
rm -f "$log"

# The host's /dev/kvm is used only if it is a hardware KVM (kvm_intel/kvm_amd, not kvm_pvm) that
# boots pvtick with PV locks and SMP within 60 s; otherwise KVM runs nested under QEMU TCG.
host_kvm_usable() {
	[ -c /dev/kvm ] && [ -w /dev/kvm ] || { echo "no writable /dev/kvm"; return 1; }
	[ -d /sys/module/kvm_pvm ] && { echo "/dev/kvm is kvm_pvm (a PVM variant, not hardware KVM)"; return 1; }
	[ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ] || { echo "neither kvm_intel nor kvm_amd is loaded"; return 1; }
	timeout -k 5 60 qemu-system-x86_64 -accel kvm -machine q35 -cpu host,kvm-pv-unhalt=on -smp 2 -m 128 \
		-display none -nodefaults -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel build/pvtick.elf -append "stress.iters=100" </dev/null >"$out/probe.log" 2>&1
	[ $? = 33 ] || { echo "a 2-vCPU probe boot under -accel kvm did not pass within 60 s ($out/probe.log)"; return 1; }
}

# env_rc STATUS: an environment script's status (5: not available here; else it failed).
env_rc() {
	if [ "$1" = 5 ]; then
		echo "# run-env: SKIP $env: $(cat "$out/skip.txt" 2>/dev/null)"
		exit 5
	fi
	echo "# run-env: the $env environment failed (status $1)" >&2
	exit 3
}

case $env in
native-tcg)
	VERBOSE=1 qemu_boot "$log" "$smp" "${TIMEOUT:-300}" build/pvtick.elf $args
	;;
xen-*)
	from=host
	[ "${env#xen-}" = "${env#xen-4.20}" ] || from=trixie
	mode=${env##*-}
	XEN_FROM=$from tests/env/xen.sh "$mode" "$out" pvtick "$smp" "$args" || env_rc $?
	cat "$log"
	echo "# run-env: $env ended with: $(cat "$out/pvtick.rc")"
	;;
kvm-linux-6.1)
	if why=$(host_kvm_usable); then
		echo "# run-env: using the host's /dev/kvm"
		VERBOSE=1 qemu_boot_accel "$log" kvm "host,kvm-pv-unhalt=on" "$smp" "${TIMEOUT:-300}" build/pvtick.elf $args
	else
		echo "# run-env: not using the host's /dev/kvm: $why; nesting Linux KVM under QEMU TCG"
		echo "pvtick|$smp|host,kvm-pv-unhalt=on|$args" >"$out/cases.txt"
		tests/env/kvm-nested.sh "$out" "$out/cases.txt" || env_rc $?
		cat "$log"
	fi
	;;
kvm-linux-6.12 | kvm-xen-emulation)
	accel=kvm cpu=host,kvm-pv-unhalt=on
	[ $env = kvm-xen-emulation ] && accel=xen cpu=host
	echo "pvtick|$smp|$cpu|$args" >"$out/cases.txt"
	L1_FROM=trixie L2_ACCEL=$accel tests/env/kvm-nested.sh "$out" "$out/cases.txt" || env_rc $?
	cat "$log"
	;;
esac
ktap_summary "$log"

#!/bin/bash
# SPDX-License-Identifier: MIT
# run-env.sh: `make run-xen` / `make run-kvm`: boot pvtick once under Xen or KVM, show its console,
# end with "N passed, N failed".
# Usage: tests/run-env.sh xen|kvm SMP "GUEST ARGS"
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$(dirname "$here")" || exit 1
env=$1 smp=$2 args=$3
out=build/run-$env
mkdir -p "$out"

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

case $env in
xen)
	tests/env/xen.sh domu "$out" pvtick "$smp" "$args" || exit 1
	log=$out/pvtick.log
	cat "$log"
	echo "# run-xen: the domU ended with: $(cat "$out/pvtick.rc")"
	;;
kvm)
	if why=$(host_kvm_usable); then
		echo "# run-kvm: using the host's /dev/kvm"
		log=$out/pvtick.log
		VERBOSE=1 qemu_boot_accel "$log" kvm "host,kvm-pv-unhalt=on" "$smp" "${TIMEOUT:-300}" build/pvtick.elf $args
	else
		echo "# run-kvm: not using the host's /dev/kvm: $why; nesting Linux KVM under QEMU TCG"
		echo "pvtick|$smp|host,kvm-pv-unhalt=on|$args" >"$out/cases.txt"
		tests/env/kvm-nested.sh "$out" "$out/cases.txt" || exit 1
		log=$out/pvtick.log
		cat "$log"
	fi
	;;
*) echo "run-env.sh: unknown environment '$env' (xen|kvm)" >&2; exit 2 ;;
esac
ktap_summary "$log"

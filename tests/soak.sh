#!/bin/bash
# SPDX-License-Identifier: MIT
# soak.sh: `make soak`: the lock stress for SOAK_ACQ acquisitions in each environment, one boot
# each; every one must end with the exact total and 0 violations. Ends with "N passed, N failed".
# Usage: tests/soak.sh [native|xen|kvm ...]      (default: all three)
# env: SOAK_ACQ   acquisitions per environment, split evenly over the vCPUs (100000000)
#      SOAK_SMP   vCPUs (2; Xen gets 2 pCPUs, the nested KVM 1 L1 CPU: see tests/env/)
#      SOAK_ARGS  more guest options ("spin_threshold=16": contended waiters enter the slow
#                 path after 16 spins, so the PV backends block and kick all through the run)
#      SOAK_TIMEOUT  seconds per environment (3600)
# Logs: build/soak/<env>.log. make test runs a short soak (SOAK_ACQ=1000000) in each environment.
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$top" || exit 1
ELF=${ELF:-build/pvtick.elf}
SOAK_ACQ=${SOAK_ACQ:-100000000}
SOAK_SMP=${SOAK_SMP:-2}
SOAK_ARGS=${SOAK_ARGS-spin_threshold=16}
SOAK_TIMEOUT=${SOAK_TIMEOUT:-3600}
envs=("$@")
[ ${#envs[@]} -gt 0 ] || envs=(native xen kvm)
for v in SOAK_ACQ SOAK_SMP SOAK_TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: $v=${!v} is not a positive number" >&2; exit 2; }
done
iters=$((SOAK_ACQ / SOAK_SMP))
total=$((iters * SOAK_SMP))
[ "$iters" -le 100000000 ] || { echo "soak.sh: $iters acquisitions per vCPU is over stress.iters' 100000000" >&2; exit 2; }
args="pvlock=auto stress.iters=$iters $SOAK_ARGS"
out=build/soak
mkdir -p "$out"

echo "KTAP version 1"
echo "1..${#envs[@]}"
echo "# soak: $total acquisitions per environment, $SOAK_SMP vCPUs, guest options: $args"
passed=0 failed=0 skipped=0 n=0
for env in "${envs[@]}"; do
	log=$out/$env.log why=""
	t0=$(date +%s)
	case $env in
	native)
		qemu_boot "$log" "$SOAK_SMP" "$SOAK_TIMEOUT" "$ELF" $args
		[ "$BOOT_RC" = 33 ] || why="QEMU status $BOOT_RC (33 is a pass)" ;;
	xen)
		if XEN_TIMEOUT=$((SOAK_TIMEOUT + 120)) DOMU_WAIT=$SOAK_TIMEOUT \
			tests/env/xen.sh domu "$out/xen" soak "$SOAK_SMP" "$args" >"$out/xen.env.log" 2>&1; then
			cp "$out/xen/soak.log" "$log"
			[ "$(cat "$out/xen/soak.rc")" = poweroff ] || why="the domU ended with: $(cat "$out/xen/soak.rc")"
		else
			cp "$out/xen.env.log" "$log"; why="the Xen environment failed (tests/env/xen.sh)"
		fi ;;
	kvm)
		echo "soak|$SOAK_SMP|host,kvm-pv-unhalt=on|$args" >"$out/kvm-cases.txt"
		if L2_TIMEOUT=$SOAK_TIMEOUT L1_TIMEOUT=$((SOAK_TIMEOUT + 300)) \
			tests/env/kvm-nested.sh "$out/kvm" "$out/kvm-cases.txt" >"$out/kvm.env.log" 2>&1; then
			cp "$out/kvm/soak.log" "$log"
			[ "$(cat "$out/kvm/soak.rc")" = 33 ] || why="L2 QEMU status $(cat "$out/kvm/soak.rc") (33 is a pass)"
		else
			cp "$out/kvm.env.log" "$log"; why="the nested KVM environment failed (tests/env/kvm-nested.sh)"
		fi ;;
	*) echo "soak.sh: unknown environment '$env' (native|xen|kvm)" >&2; exit 2 ;;
	esac
	[ -z "$why" ] && ! grep -qa "^# stress: total=$total expected=$total counter=$total violations=0\$" "$log" &&
		why="no '# stress: total=$total expected=$total counter=$total violations=0' line"
	[ -z "$why" ] && ! ktap_verdict "$log" && why="KTAP not all ok"
	secs=$(($(date +%s) - t0))
	ktap_result "$env ($total acquisitions)" "$why"
	[ -z "$why" ] || tail -15 "$log" | sed 's/^/    # /'
	grep -ah '^# pv: backend=\|^# stress: total=\|^# stress: throughput=\|^# slowpath: ' "$log" | sed "s/^# /# $env: /"
	echo "# $env: ${secs} s wall, log $log"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

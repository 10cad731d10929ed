#!/bin/bash
# SPDX-License-Identifier: MIT
# race.sh: race hunting for live and lazy patching (`make soak` runs it after the lock soak).
# In each environment: (a) one run with live switches between native and the backend every
# RACE_SWITCH_MS ms until RACE_SWITCHES switches, and (b) RACE_BOOTS boots at 8 vCPUs with
# patch=lazy, every second one also switching live every 1 ms (a resolver must never write over
# a site a switch rewrote: "0 written over a live write"); both with inject=slow-patch, which
# holds each step of a live write open for 1 ms and makes each lazy resolver wait 1 ms before it
# looks at its site, so that the races of issue 14 are met when they exist. Every run must end
# with all KTAP cases ok, the exact total and no unexpected exception. Ends with "N passed, N failed".
# Usage: tests/race.sh [native|xen|kvm ...]      (default: all three)
# env: RACE_SWITCHES (10000), RACE_SWITCH_MS (2), RACE_BOOTS (200), RACE_TIMEOUT (seconds per
#      run, 7200; at most 86400, stress.ms's bound). make test runs a short form
#      (RACE_SWITCHES=50 RACE_BOOTS=4). Logs: build/race/.
# Time (make test's 200 switches here: native 24 s, Xen domU 37 s, nested KVM 95 s): 10^4
# switches take about 20, 31 and 80 minutes; each lazy boot 5-10 s. Run one environment at a time
# (tests/race.sh native, ...) when a session has less than a few hours.
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$top" || exit 1
ELF=${ELF:-build/pvtick.elf}
RACE_SWITCHES=${RACE_SWITCHES:-10000} RACE_SWITCH_MS=${RACE_SWITCH_MS:-2}
RACE_BOOTS=${RACE_BOOTS:-200} RACE_TIMEOUT=${RACE_TIMEOUT:-7200}
for v in RACE_SWITCHES RACE_SWITCH_MS RACE_BOOTS RACE_TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "race.sh: $v=${!v} is not a positive number" >&2; exit 2; }
done
[ "$RACE_TIMEOUT" -le 86400 ] || { echo "race.sh: RACE_TIMEOUT=$RACE_TIMEOUT is over 86400 s (stress.ms is at most 24 h)" >&2; exit 2; }
envs=("$@")
[ ${#envs[@]} -gt 0 ] || envs=(native xen kvm)
for e in "${envs[@]}"; do
	case $e in native | xen | kvm) ;; *) echo "race.sh: unknown environment '$e' (native|xen|kvm)" >&2; exit 2 ;; esac
done
SWITCH_ARGS="pvlock=auto stress.switch=$RACE_SWITCH_MS stress.switches=$RACE_SWITCHES stress.ms=$((RACE_TIMEOUT * 1000)) stress.iters=100000000 stress.cs=2000 spin_threshold=16 inject=slow-patch"
LAZY_ARGS="pvlock=auto patch=lazy stress.iters=300 stress.cs=200 spin_threshold=16 inject=slow-patch"
out=build/race
mkdir -p "$out"

echo "KTAP version 1"
echo "1..$((2 * ${#envs[@]}))"
echo "# race: $RACE_SWITCHES live switches every $RACE_SWITCH_MS ms at 4 vCPUs, $RACE_BOOTS lazy boots at 8 vCPUs, inject=slow-patch"
passed=0 failed=0 skipped=0 n=0
# check LOG SWITCHES: why LOG is not a clean run ("" if it is)
check() {
	local log=$1 sw=$2
	[ -s "$log" ] || { echo "no log"; return; }
	grep -qa 'unexpected_exception\|^# PANIC' "$log" && { grep -am1 'unexpected_exception\|^# PANIC' "$log"; return; }
	ktap_verdict "$log" || { echo "KTAP not all ok"; return; }
	grep -qaE '^# stress: total=([0-9]+) expected=\1 counter=\1 violations=0$' "$log" || { echo "no exact total"; return; }
	# An odd count ends switched off, and the run always ends switched back on: one more.
	[ "$sw" = 0 ] || grep -qa "^# switch: $((sw + sw % 2)) live switches" "$log" || { echo "not $((sw + sw % 2)) switches"; return; }
	! grep -qa '^# patch: lazy: ' "$log" || grep -qa '^# patch: lazy: .* 0 written over a live write$' "$log" ||
		grep -am1 '^# patch: lazy: ' "$log"
}
for env in "${envs[@]}"; do
	t0=$(date +%s)
	d=$out/$env
	rm -rf "$d" # only this environment's logs: one may run at a time
	mkdir -p "$d"
	# One case file: the switch run, then the lazy boots (Xen and KVM boot their stack once for it).
	{
		echo "switch|4|$SWITCH_ARGS"
		for i in $(seq 1 "$RACE_BOOTS"); do echo "lazy$i|8|$LAZY_ARGS$([ $((i % 2)) = 0 ] && echo " stress.switch=1")"; done
	} >"$d/cases.txt"
	envfail=""
	case $env in
	native)
		while IFS='|' read -r name smp args; do
			echo "# native: $name" >&2
			qemu_boot "$d/$name.log" "$smp" "$RACE_TIMEOUT" "$ELF" $args
		done <"$d/cases.txt" ;;
	xen)
		XEN_TIMEOUT=$((RACE_TIMEOUT + 300 * RACE_BOOTS)) DOMU_WAIT=$RACE_TIMEOUT \
			tests/env/xen.sh domus "$d" "$d/cases.txt" >"$d/env.log" 2>&1 || envfail="the Xen environment failed ($d/env.log)" ;;
	kvm)
		sed 's/^\([^|]*|[^|]*\)|/\1|host,kvm-pv-unhalt=on|/' "$d/cases.txt" >"$d/kvm-cases.txt"
		L2_TIMEOUT=$RACE_TIMEOUT L1_TIMEOUT=$((RACE_TIMEOUT + 120 * RACE_BOOTS)) \
			tests/env/kvm-nested.sh "$d" "$d/kvm-cases.txt" >"$d/env.log" 2>&1 || envfail="the nested KVM environment failed ($d/env.log)" ;;
	esac
	why=${envfail:-$(check "$d/switch.log" "$RACE_SWITCHES")}
	ktap_result "$env: $RACE_SWITCHES live switches every $RACE_SWITCH_MS ms, 4 vCPUs, inject=slow-patch" "$why"
	grep -ah '^# switch: ' "$d/switch.log" 2>/dev/null | sed "s/^# /# $env: /"
	bad=0 first=""
	for i in $(seq 1 "$RACE_BOOTS"); do
		w=${envfail:-$(check "$d/lazy$i.log" 0)}
		# A switching boot must have switched at least once, or it tested lazy patching alone.
		[ -n "$w" ] || [ $((i % 2)) = 1 ] || grep -qaE '^# switch: [1-9][0-9]* live switches' "$d/lazy$i.log" ||
			w="no live switch"
		if [ -n "$w" ]; then bad=$((bad + 1)); [ -n "$first" ] || first="lazy$i: $w"; fi
	done
	ktap_result "$env: $RACE_BOOTS lazy boots at 8 vCPUs (every second one switching every 1 ms), inject=slow-patch" "$([ $bad = 0 ] || echo "$bad bad, first $first")"
	echo "# $env: $(($(date +%s) - t0)) s wall, logs $d"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

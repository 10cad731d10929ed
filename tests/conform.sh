#!/bin/bash
# SPDX-License-Identifier: MIT
# conform.sh: `make conform`: boot suite=conform in every environment, compare each verdict with
# tests/conform/expect.txt, write build/conform/MATRIX.md (case by environment). Ends with
# "N passed, N failed": per environment, one line "its verdicts are the expected ones" and one
# "inject=conform fails every case that ran" (each case is seen to fail when its promise is broken).
# Usage: tests/conform.sh [ENV ...]   ENV: native-tcg xen-4.17-dom0 xen-4.17-domu xen-4.20-dom0
#                                     xen-4.20-domu kvm-linux-6.1 kvm-linux-6.1-unhalt-hidden
#                                     kvm-linux-6.12 kvm-xen-emulation (default: all)
# The 4.20 and 6.12 columns and KVM's Xen emulation come from Debian trixie, fetched once into
# build/trixie (tests/env/trixie.sh); where that cannot be done, their results are SKIPs with the reason.
# env: ELF (build/pvtick.elf), CONFORM_OUT (build/conform). Takes about 5 minutes here.
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$top" || exit 1
ELF=${ELF:-build/pvtick.elf}
out=${CONFORM_OUT:-build/conform}
expect=tests/conform/expect.txt
all=(native-tcg xen-4.17-dom0 xen-4.17-domu xen-4.20-dom0 xen-4.20-domu kvm-linux-6.1 kvm-linux-6.1-unhalt-hidden
	kvm-linux-6.12 kvm-xen-emulation)
envs=("$@")
[ ${#envs[@]} -gt 0 ] || envs=("${all[@]}")
for e in "${envs[@]}"; do
	[[ " ${all[*]} " == *" $e "* ]] || { echo "conform.sh: unknown environment '$e' (${all[*]})" >&2; exit 2; }
done
[ -f "$ELF" ] || { echo "conform.sh: $ELF not built (make)" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out"
passed=0 failed=0 skipped=0 n=0
echo "KTAP version 1"
echo "1..$((2 * ${#envs[@]}))"
want() { [[ " ${envs[*]} " == *" $1 "* ]]; }
# env_skip ENV DIR STATUS: an environment script's status 5 means "not available here": the
# reason (DIR/skip.txt) goes to out/ENV.skip, and the column is a SKIP.
env_skip() { [ "$3" = 5 ] && cp "$2/skip.txt" "$out/$1.skip" 2>/dev/null; }

# Each environment boots the suite twice: as it is (ENV.log) and with inject=conform (ENV-inject.log).
want native-tcg && for v in "" -inject; do
	echo "# native-tcg: booting suite=conform${v:+ inject=conform}" >&2
	qemu_boot "$out/native-tcg$v.log" 4 300 "$ELF" suite=conform ${v:+inject=conform}
done
for x in 4.17:host 4.20:trixie; do
	xv=${x%:*} from=${x#*:}
	if want xen-$xv-dom0; then
		for v in "" -inject; do
			echo "# xen-$xv-dom0: booting Xen with suite=conform${v:+ inject=conform} as dom0" >&2
			XEN_FROM=$from tests/env/xen.sh dom0 "$out/xen-$xv-dom0" "dom0$v" 4 "suite=conform${v:+ inject=conform}" \
				>"$out/xen-$xv-dom0$v.env.log" 2>&1 || env_skip xen-$xv-dom0 "$out/xen-$xv-dom0" $?
			cp "$out/xen-$xv-dom0/dom0$v.log" "$out/xen-$xv-dom0$v.log" 2>/dev/null
		done
	fi
	if want xen-$xv-domu; then
		echo "# xen-$xv-domu: one dom0 boot, two domUs" >&2
		printf 'domu|4|suite=conform\ndomu-inject|4|suite=conform inject=conform\n' >"$out/xen-$xv-domu.txt"
		XEN_FROM=$from tests/env/xen.sh domus "$out/xen-$xv-domu" "$out/xen-$xv-domu.txt" >"$out/xen-$xv-domu.env.log" 2>&1 ||
			env_skip xen-$xv-domu "$out/xen-$xv-domu" $?
		for v in "" -inject; do cp "$out/xen-$xv-domu/domu$v.log" "$out/xen-$xv-domu$v.log" 2>/dev/null; done
	fi
done
# kvm_column DIR L1_FROM L2_ACCEL ENV:NAME:SMP:CPU...: one L1 boot for the L2 boots of these columns.
kvm_column() {
	local dir=$1 from=$2 accel=$3 c e name smp cpu
	shift 3
	: >"$out/$dir.txt"
	for c in "$@"; do
		IFS=: read -r e name smp cpu <<<"$c"
		want "$e" && printf '%s|%s|%s|suite=conform\n%s-inject|%s|%s|suite=conform inject=conform\n' \
			"$name" "$smp" "$cpu" "$name" "$smp" "$cpu" >>"$out/$dir.txt"
	done
	[ -s "$out/$dir.txt" ] || return 0
	echo "# $dir: one L1 boot ($(grep -c . "$out/$dir.txt") L2 boots)" >&2
	L1_FROM=$from L2_ACCEL=$accel L2_TIMEOUT=240 L1_TIMEOUT=900 tests/env/kvm-nested.sh "$out/$dir" "$out/$dir.txt" \
		>"$out/$dir.env.log" 2>&1
	local st=$?
	grep -h '^KVMENV: RETRY\|^KVMENV-L0: ' "$out/$dir/l1.log" 2>/dev/null | sed 's/^/# /'
	for c in "$@"; do
		IFS=: read -r e name smp cpu <<<"$c"
		want "$e" || continue
		env_skip "$e" "$out/$dir" $st
		for v in "" -inject; do cp "$out/$dir/$name$v.log" "$out/$e$v.log" 2>/dev/null; done
	done
}
kvm_column kvm-6.1 host kvm kvm-linux-6.1:kvm:4:host,kvm-pv-unhalt=on \
	kvm-linux-6.1-unhalt-hidden:hid:2:host,kvm-pv-unhalt=off,kvm-pv-enforce-cpuid=on
kvm_column kvm-6.12 trixie kvm kvm-linux-6.12:kvm:4:host,kvm-pv-unhalt=on
kvm_column kvm-xen trixie xen kvm-xen-emulation:xen:4:host

# verdicts LOG: "case verdict" per conformance case (ok, skip, not-ok), in the log's order.
verdicts() {
	sed -n '/^# conform: [0-9]* vCPU/,$p' "$1" | sed -n -E \
		-e 's/^ok [0-9]+ ([a-z0-9_]+) # SKIP .*/\1 skip/p' -e 's/^ok [0-9]+ ([a-z0-9_]+)$/\1 ok/p' \
		-e 's/^not ok [0-9]+ ([a-z0-9_]+)( #.*)?$/\1 not-ok/p'
}
for e in "${envs[@]}"; do
	log=$out/$e.log
	if [ -f "$out/$e.skip" ]; then
		for what in "every verdict as $expect says" "inject=conform fails every case that ran"; do
			ktap_result "conform $e: $what" "" "environment not available: $(cat "$out/$e.skip")"
		done
		continue
	fi
	why=""
	if [ ! -s "$log" ] || ! grep -q '^# conform: [0-9]* vCPU' "$log"; then
		why="the suite did not run (log: $log; environment: $(ls "$out"/*"${e%%-*}"*.env.log 2>/dev/null | head -1))"
	else
		verdicts "$log" >"$out/$e.verdicts"
		grep -v '^#' "$expect" | awk -v e="$e" '$1 == e { print $2, $3 }' >"$out/$e.expected"
		[ -s "$out/$e.expected" ] || why="$expect has no line for $e"
		if [ -z "$why" ] && ! diff -q "$out/$e.expected" "$out/$e.verdicts" >/dev/null; then
			why="verdicts differ from $expect: $(diff "$out/$e.expected" "$out/$e.verdicts" | grep '^[<>]' |
				sed 's/^</want/; s/^>/got/' | paste -sd' ' -)"
		fi
	fi
	ktap_result "conform $e: every verdict as $expect says" "$why"
	# With inject=conform every case that ran (not skipped) must be not ok.
	ilog=$out/$e-inject.log
	why=""
	if [ ! -s "$ilog" ] || ! grep -q '^# conform: [0-9]* vCPU' "$ilog"; then
		why="the inject=conform run did not reach the suite ($ilog)"
	else
		ran=$(verdicts "$ilog" | grep -vc ' skip$')
		still=$(verdicts "$ilog" | awk '$2 == "ok" { printf "%s ", $1 }')
		[ "$ran" -gt 0 ] || why="no case ran"
		[ -z "$still" ] || why="with its promise broken, still ok: $still"
	fi
	ktap_result "conform $e: inject=conform fails every case that ran" "$why"
done

# MATRIX.md: case by environment, then what each case saw in each environment.
{
	echo "# pvtick conformance matrix"
	echo
	echo "Written by \`tests/conform.sh\` (\`make conform\`) on $(date -u +%Y-%m-%d) from pvtick $(git rev-parse --short HEAD 2>/dev/null)."
	echo "Each cell is the guest's own verdict (suite=conform); \`not ok\` cells that $expect expects carry its reason below."
	echo
	echo "Columns:"
	for e in "${envs[@]}"; do
		l=$out/$e.log
		case $e in
		native-tcg) what="QEMU $(qemu-system-x86_64 --version | sed -n 's/.*version \([^ ]*\).*/\1/p') TCG, -cpu max, 4 vCPUs (no hypervisor interface)" ;;
		xen-*) xv=${e#xen-} xv=${xv%%-*}
			pkg=$(dpkg-query -W -f '${Version}' xen-hypervisor-4.17-amd64 2>/dev/null)
			[ "$xv" = 4.17 ] || pkg="trixie's $(sed -n 's/^xen-hypervisor-4.20-amd64=//p' build/trixie/xen.stamp 2>/dev/null)"
			what="Xen $(sed -n 's/^# xen: version \([0-9.]*\),.*/\1/p' "$l" | head -1) ($pkg) under QEMU TCG, PVH ${e##*-}, 4 vCPUs on 2 pCPUs"
			[ "${e##*-}" = domu ] && what+=", dom0 Linux $(sed -n 's/.*, dom0 Linux \([^ ,]*\),.*/\1/p' "$out/$e.env.log" | head -1) with xl $xv" ;;
		kvm-*) d=kvm-6.1; [ "$e" = kvm-linux-6.12 ] && d=kvm-6.12; [ "$e" = kvm-xen-emulation ] && d=kvm-xen
			l1=$(sed -n 's/^KVMENV: L1 up in [^:]*: Linux \([^,]*\), .*, QEMU emulator version \([^ ]*\) .*/Linux \1 KVM (kvm_amd) with QEMU \2 in L1/p' "$out/$d/l1.log" 2>/dev/null | head -1)
			case $e in
			kvm-linux-6.1-unhalt-hidden) what="${l1:-?}, nested under QEMU TCG; 2 vCPUs, -cpu host,kvm-pv-unhalt=off,kvm-pv-enforce-cpuid=on" ;;
			kvm-xen-emulation) what="KVM's Xen emulation: ${l1:-?} (-accel kvm,xen-version=0x40011,kernel-irqchip=split), nested under QEMU TCG; 4 vCPUs on 1 L1 CPU, -cpu host" ;;
			*) what="${l1:-?}, nested under QEMU TCG; 4 vCPUs on 1 L1 CPU, -cpu host,kvm-pv-unhalt=on" ;;
			esac ;;
		esac
		[ -f "$out/$e.skip" ] && what="not run here: $(cat "$out/$e.skip")"
		echo "- \`$e\`: $what"
	done
	echo
	printf '| case |'
	for e in "${envs[@]}"; do printf ' %s |' "$e"; done
	echo
	printf '|---|'
	for e in "${envs[@]}"; do printf -- '---|'; done
	echo
	cases=$(for e in "${envs[@]}"; do cut -d' ' -f1 "$out/$e.verdicts" 2>/dev/null; done | awk '!s[$0]++')
	for c in $cases; do
		printf '| %s |' "$c"
		for e in "${envs[@]}"; do
			v=$(awk -v c="$c" '$1 == c { print $2 }' "$out/$e.verdicts" 2>/dev/null)
			[ "$v" != skip ] || v="skip: $(sed -n -E "s/^ok [0-9]+ $c # SKIP (.*)/\\1/p" "$out/$e.log" | head -1)"
			printf ' %s |' "${v:-(no result)}"
		done
		echo
	done
	echo
	echo "## What each case saw"
	for c in $cases; do
		echo
		echo "### $c"
		for e in "${envs[@]}"; do
			seen=$(grep -h "^# conform: $c: " "$out/$e.log" 2>/dev/null | sed "s/^# conform: $c: //" | paste -sd' ' -)
			note=$(grep -v '^#' "$expect" | awk -v e="$e" -v c="$c" '$1 == e && $2 == c' | sed -n 's/.*# //p')
			[ -z "$seen" ] && [ -z "$note" ] || echo "- \`$e\`: ${seen:-(nothing logged)}${note:+ (expected: $note)}"
		done
	done
} >"$out/MATRIX.md"
echo "# matrix: $out/MATRIX.md"
[ $skipped = 0 ] || echo "# $skipped skipped (an environment not available here)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

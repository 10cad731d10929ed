#!/bin/bash
# SPDX-License-Identifier: MIT
# run-tests.sh: `make test`: host unit tests (plain and ASan+UBSan), image checks, boot tests
# under QEMU TCG at 1 and 4 vCPUs, bad-input boots. Ends with "N passed, N failed".
# env: ELF (build/pvtick.elf), BOOT_TIMEOUT (120 s per boot), KEEP_LOGS=1 keeps build/test-logs
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
cd "$top"
ELF=${ELF:-build/pvtick.elf}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-120}
logs=build/test-logs
rm -rf "$logs"
mkdir -p "$logs"
passed=0
failed=0
n=0

echo "KTAP version 1"
report() { # report OK|FAIL name [log]
	n=$((n + 1))
	if [ "$1" = OK ]; then
		passed=$((passed + 1))
		echo "ok $n $2"
	else
		failed=$((failed + 1))
		echo "not ok $n $2"
		[ -n "${3:-}" ] && [ -f "$3" ] && sed 's/^/    # /' "$3" | tail -25
	fi
}

# ---- host unit tests: every KTAP case of every binary counts once ----
for bin in build/host/test_* build/host/san-test_*; do
	name=$(basename "$bin")
	log=$logs/$name.log
	timeout -k 5 120 "$bin" >"$log" 2>&1
	rc=$?
	while read -r verdict rest; do
		case $verdict in
		ok) report OK "host/$name: ${rest#* }" ;;
		not) report FAIL "host/$name: ${rest#ok * }" "$log" ;;
		esac
	done < <(grep -E '^(ok|not ok) ' "$log")
	if [ $rc != 0 ] && ! grep -q '^not ok ' "$log"; then
		report FAIL "host/$name exited with status $rc" "$log"
	fi
done

# ---- the image ----
log=$logs/image.log
readelf -lnW "$ELF" >"$log" 2>&1
if grep -q 'Xen .*(0x00000012)' "$log" || grep -q 'Xen .*PHYS32_ENTRY' "$log"; then
	report OK "image: PVH note (XEN_ELFNOTE_PHYS32_ENTRY) present"
else
	report FAIL "image: PVH note (XEN_ELFNOTE_PHYS32_ENTRY) present" "$log"
fi
if awk '$1 == "LOAD" && $0 ~ / RWE | RW E /' "$log" | grep -q .; then
	report FAIL "image: no LOAD segment is both writable and executable" "$log"
else
	report OK "image: no LOAD segment is both writable and executable"
fi

# ---- boot tests ----
# boot NAME SMP EXPECT(pass|fail) "ARGS" PATTERN...: every PATTERN (grep -E) must be in the log.
boot() {
	local name=$1 smp=$2 expect=$3 args=$4
	shift 4
	local log=$logs/boot-$(echo "$name" | tr ' =/' '_-_').log why=""
	qemu_boot "$log" "$smp" "$BOOT_TIMEOUT" "$ELF" $args
	if [ "$expect" = pass ]; then
		[ "$BOOT_RC" = 33 ] || why="exit status $BOOT_RC, want 33 (pass)"
		[ -z "$why" ] && ! ktap_verdict "$log" && why="KTAP not all ok"
	else
		[ "$BOOT_RC" = 35 ] || why="exit status $BOOT_RC, want 35 (fail)"
	fi
	for p in "$@"; do
		[ -z "$why" ] && ! grep -qE -- "$p" "$log" && why="missing: $p"
	done
	if [ -z "$why" ]; then
		report OK "boot: $name"
	else
		echo "# boot: $name: $why" >>"$log"
		report FAIL "boot: $name ($why)" "$log"
	fi
}

NOP='66 0f 1f 44 00 00'
for smp in 1 4; do
	iters=2000
	[ $smp -gt 2 ] && iters=300   # 4 vCPUs on 2 host cores: ticket handoffs to preempted vCPUs are slow
	total=$((smp * iters))
	common="stress.iters=$iters"
	boot "smp=$smp pvlock=auto" $smp pass "pvlock=auto $common" \
		'^# pv: backend=native reason=unknown-hypervisor\(TCGTCGTCGTCG\) sites=[1-9][0-9]* patched=nop$' \
		"^# patch: site 0 lock_spinning at 0x[0-9a-f]+: $NOP\$" \
		"^# smp: $smp of $smp CPU\(s\) online" "^# stress: total=$total expected=$total counter=$total violations=0\$"
	boot "smp=$smp pvlock=off" $smp pass "pvlock=off $common" \
		'^# pv: backend=native reason=pvlock=off sites=[1-9][0-9]* patched=nop$' \
		"unlock_kick at 0x[0-9a-f]+: $NOP\$" "^# stress: total=$total expected=$total "
	boot "smp=$smp patch=off" $smp pass "patch=off $common" \
		'^# pv: backend=native reason=.* patched=off$' \
		'^# patch: site 0 lock_spinning at 0x[0-9a-f]+: ff 15 ' \
		'^# patch: [0-9]+ sites, 0 rewritten, 0 refused, 0 mismatched' "^# stress: total=$total expected=$total "
done

# Bad input: one clear line, a KTAP failure, the fail exit code.
boot "bad option: unknown" 1 fail "bogus=1" "^# cmdline: unknown option 'bogus'$" '^not ok 2 cmdline$'
boot "bad option: out of range" 1 fail "stress.iters=0" \
	'^# cmdline: stress.iters=0 is out of range \[1, 100000000\]$' '^not ok 2 cmdline$'
boot "bad option: bad choice" 1 fail "pvlock=maybe" \
	"^# cmdline: pvlock=maybe: expected one of auto\|off$" '^not ok 2 cmdline$'
boot "bad option: not a number" 1 fail "spin_threshold=12x" \
	"^# cmdline: spin_threshold=12x: not a decimal number$" '^not ok 2 cmdline$'
boot "bad option: given twice" 1 fail "pvlock=off pvlock=auto" \
	"^# cmdline: option 'pvlock' given twice$" '^not ok 2 cmdline$'

[ "${KEEP_LOGS:-1}" = 1 ] || rm -rf "$logs"
echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

# SPDX-License-Identifier: MIT
# lib.sh: shared runner helpers: boot the guest under QEMU TCG with a timeout, read its KTAP.

# Where things are, whoever sources this: the repository and its tests/ folder.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here=$top/tests

# run_logged LOG CMD...: run CMD without stdin, its output (CRs stripped) to LOG, and to stdout
# as well when VERBOSE=1. LOG grows line by line while CMD runs (stdbuf), so it can be watched.
# Sets RUN_RC to CMD's exit status. Works under set -e.
run_logged() {
	local log=$1
	shift
	if [ "${VERBOSE:-0}" = 1 ]; then
		"$@" </dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$log" && RUN_RC=0 || RUN_RC=${PIPESTATUS[0]}
	else
		"$@" </dev/null 2>&1 | stdbuf -oL tr -d '\r' >"$log" && RUN_RC=0 || RUN_RC=${PIPESTATUS[0]}
	fi
}

# qemu_boot LOG SMP TIMEOUT ELF ARGS...: boot, console to LOG (and stdout if VERBOSE=1).
# Sets BOOT_RC to QEMU's status: 33 = guest pass, 35 = guest fail, 124 = timeout.
qemu_boot() {
	local log=$1
	shift
	qemu_boot_accel "$log" tcg,thread=multi max "$@"
}

# qemu_boot_accel LOG ACCEL CPU SMP TIMEOUT ELF ARGS...: the same with another -accel and -cpu.
# BOOT_MACHINE (q35) is QEMU's -machine (microvm,acpi=off: no ACPI, no PIT, the MP table).
qemu_boot_accel() {
	local log=$1 accel=$2 cpu=$3 smp=$4 tmo=$5 elf=$6
	shift 6
	local cmd=(timeout --foreground -k 5 "$tmo" qemu-system-x86_64 -machine "${BOOT_MACHINE:-q35}" -accel "$accel" -cpu "$cpu"
		-smp "$smp" -m 256 -display none -nodefaults -serial stdio -no-reboot
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$elf" -append "$*")
	run_logged "$log" "${cmd[@]}"
	BOOT_RC=$RUN_RC
	case $BOOT_RC in
	33 | 35) ;;
	124) echo "# qemu: TIMEOUT after ${tmo}s: the guest neither finished nor let its watchdog end the run" >>"$log" ;;
	*) echo "# qemu: exited with status $BOOT_RC, not an isa-debug-exit code (33 pass, 35 fail)" >>"$log" ;;
	esac
}

# ktap_verdict LOG: 0 if the log has a plan 1..N and N top-level "ok" lines, no "not ok".
ktap_verdict() {
	local log=$1 plan ok notok
	plan=$(sed -n 's/^1\.\.\([0-9]\+\)$/\1/p' "$log" | head -1)
	ok=$(grep -c '^ok ' "$log")
	notok=$(grep -c '^not ok ' "$log")
	[ -n "$plan" ] && [ "$notok" = 0 ] && [ "$ok" = "$plan" ]
}

# ktap_summary LOG: print "N passed, N failed" for one guest log: "not ok" lines, plus cases the
# plan announced but the log lacks, are failures; a log with no plan at all is one failure.
# Returns 0 if nothing failed.
ktap_summary() {
	local log=$1 plan ok notok missing
	plan=$(sed -n 's/^1\.\.\([0-9]\+\)$/\1/p' "$log" | head -1)
	ok=$(grep -c '^ok ' "$log")
	notok=$(grep -c '^not ok ' "$log")
	if [ -n "$plan" ]; then
		missing=$((plan - ok - notok))
		[ "$missing" -gt 0 ] || missing=0
	else
		missing=1 # no plan: the guest never got going
	fi
	echo "$ok passed, $((notok + missing)) failed"
	[ $((notok + missing)) = 0 ]
}

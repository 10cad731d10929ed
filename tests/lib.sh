# SPDX-License-Identifier: MIT
# lib.sh: shared runner helpers: boot the guest under QEMU TCG with a timeout, read its KTAP.

# Where things are, whoever sources this: the repository and its tests/ folder.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here=$top/tests

# run_logged LOG CMD...: run CMD without stdin, its output (CRs stripped) to LOG, and to stdout
# as well when VERBOSE=1. LOG grows line by line while CMD runs (stdbuf), so it can be watched.
# Sets RUN_RC to CMD's exit status, with or without the caller's pipefail (PIPESTATUS, read in
# the list after the pipeline). Works under set -e.
run_logged() {
	local log=$1
	shift
	if [ "${VERBOSE:-0}" = 1 ]; then
		"$@" </dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$log" && RUN_RC=${PIPESTATUS[0]} || RUN_RC=${PIPESTATUS[0]}
	else
		"$@" </dev/null 2>&1 | stdbuf -oL tr -d '\r' >"$log" && RUN_RC=${PIPESTATUS[0]} || RUN_RC=${PIPESTATUS[0]}
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

# vmlinux_from_bzimage BZIMAGE OUT: the ELF vmlinux inside a Debian bzImage, for a PVH boot
# straight into it (the bzImage decompressor is slow under TCG). Bookworm's payload is xz,
# trixie's zstd. xz and zstd stop at the end of their stream; fed by a pipe, tail would die of
# SIGPIPE, hence the process substitution. Returns 1 with a reason on stderr.
vmlinux_from_bzimage() {
	local bz=$1 out=$2 off
	off=$(perl -0777 -ne 'print index($_, "\xfd7zXZ\x00")' "$bz")
	if [ "$off" -ge 0 ]; then
		xz -dc --single-stream <(tail -c +$((off + 1)) "$bz") >"$out"
	else
		off=$(perl -0777 -ne 'print index($_, "\x28\xb5\x2f\xfd")' "$bz")
		[ "$off" -ge 0 ] || { echo "$bz: neither an xz nor a zstd payload found" >&2; return 1; }
		# zstd reports the bytes after its frame (the rest of the bzImage) as an error: ignore
		# its status, check the result instead.
		zstd -dcq <(tail -c +$((off + 1)) "$bz") >"$out" 2>/dev/null || true
	fi
	[ "$(head -c4 "$out")" = $'\x7fELF' ] || { echo "$bz: the payload is not an ELF vmlinux" >&2; return 1; }
	readelf -n "$out" | grep -q 'note type: (0x00000012)' || { echo "$bz: vmlinux has no PVH entry note" >&2; return 1; }
}

# copy_programs ROOT DEST FILE...: FILEs of the system at ROOT (/ for the host) into DEST at the
# same paths, with every library ldd names in ROOT (chroot'ed when ROOT is not /: the loader and
# libraries must come from the same system), and libgcc_s: glibc dlopen()s it to unwind at
# pthread_exit/cancel, ldd does not list it, and without it such a path aborts. A file already at
# a path in DEST is replaced, never written through.
copy_programs() {
	local root=$1 dest=$2 f
	shift 2
	local ld=(ldd)
	[ "$root" = / ] || ld=(chroot "$root" ldd)
	for f in "$@" $("${ld[@]}" "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u) \
		/lib/x86_64-linux-gnu/libgcc_s.so.1; do
		# rm first: DEST may hold a busybox applet's link there (to /bin/busybox, an absolute
		# path), and cp would write through it into the host's busybox.
		mkdir -p "$dest${f%/*}" && rm -f "$dest$f" && cp -L "${root%/}$f" "$dest$f"
	done
}

# ktap_result NAME WHY [SKIP-REASON]: one KTAP line of a runner's own: "ok" when WHY is empty,
# "not ok ... # WHY" otherwise, "ok ... # SKIP REASON" with a third argument. Counts in the
# caller's n, passed, failed and skipped (set them to 0 first).
ktap_result() {
	n=$((n + 1))
	if [ -n "${3:-}" ]; then skipped=$((skipped + 1)); echo "ok $n $1 # SKIP $3"
	elif [ -z "$2" ]; then passed=$((passed + 1)); echo "ok $n $1"
	else failed=$((failed + 1)); echo "not ok $n $1 # $2"; fi
}

# host_kernel: the ABI version of the kernel the host's linux-image-amd64 depends on (e.g.
# 6.1.0-57-amd64). Returns 1, saying what is missing on stderr, if it is not installed.
host_kernel() {
	local k
	k=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null | grep -o 'linux-image-[0-9][^ ,]*' | head -1)
	k=${k#linux-image-}
	[ -n "$k" ] || { echo "linux-image-amd64 is not installed" >&2; return 1; }
	[ -f "/boot/vmlinuz-$k" ] && [ -d "/lib/modules/$k" ] || { echo "kernel $k is not installed" >&2; return 1; }
	echo "$k"
}

# trixie_need OUT WHO PART...: Debian trixie's packages, fetched once (tests/env/trixie.sh, cached
# in TRIXIE, build/trixie by default), must hold each PART (root, linux, xen), and this must run
# as root (the root is used through chroot). Else OUT/skip.txt says why, WHO: the same goes to
# stderr, and it returns 5: the caller's exit status for "not available here".
trixie_need() {
	local out=$1 who=$2 p
	shift 2
	TRIXIE=${TRIXIE:-$top/build/trixie}
	"$top/tests/env/trixie.sh" "$TRIXIE" >"$out/trixie.txt" 2>&1 || true
	for p in "$@"; do
		grep -q "^$p ok" "$out/trixie.txt" && continue
		{ sed -n "s/^$p skip /$p: /p" "$out/trixie.txt" | grep . || echo "$p: not fetched (see $out/trixie.txt)"; } |
			head -1 >"$out/skip.txt"
		echo "$who: $(cat "$out/skip.txt")" >&2
		return 5
	done
	[ "$(id -u)" = 0 ] && return 0
	echo "building from the trixie root needs root (chroot)" >"$out/skip.txt"
	echo "$who: $(cat "$out/skip.txt")" >&2
	return 5
}

#!/bin/bash
# SPDX-License-Identifier: MIT
# run-tests.sh: `make test`: host unit tests (plain, ASan+UBSan, TSan), the fuzzers for a fixed
# count of inputs, the SPIN model and its mutants, image checks, boot tests under QEMU TCG at 1
# and 4 vCPUs, bad-input boots, Xen and nested KVM. Ends with "N passed, N failed".
# env: ELF (build/pvtick.elf), BOOT_TIMEOUT (120 s per boot), KEEP_LOGS=1 keeps build/test-logs
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$top" || exit 1
ELF=${ELF:-build/pvtick.elf}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-120}
logs=build/test-logs
rm -rf "$logs"
mkdir -p "$logs"
passed=0
failed=0
skipped=0
n=0

echo "KTAP version 1"
report() { # report OK|FAIL|SKIP name [log | skip reason]
	n=$((n + 1))
	if [ "$1" = SKIP ]; then
		# A missing environment: its reason, never a pass.
		skipped=$((skipped + 1))
		echo "ok $n $2 # SKIP $3"
	elif [ "$1" = OK ]; then
		passed=$((passed + 1))
		echo "ok $n $2"
		echo "$2" >>"$logs/passed.txt"
	else
		failed=$((failed + 1))
		echo "not ok $n $2"
		[ -n "${3:-}" ] && [ -f "$3" ] && sed 's/^/    # /' "$3" | tail -25
	fi
}

# suite NAME TIMEOUT CMD...: run a KTAP-speaking program (a host test, the fuzzers, the model
# checker); each of its top-level cases counts once here, as "NAME: case". A non-zero exit with
# no "not ok" line (a crash, a timeout) is one more failure.
suite() {
	local name=$1 tmo=$2 log=$logs/$1.log rc
	shift 2
	mkdir -p "$(dirname "$log")"
	timeout -k 5 "$tmo" "$@" >"$log" 2>&1
	rc=$?
	while read -r verdict rest; do
		case $verdict in
		ok) report OK "$name: ${rest#* }" ;;
		not) report FAIL "$name: ${rest#ok * }" "$log" ;;
		esac
	done < <(grep -E '^(ok|not ok) ' "$log")
	if [ $rc != 0 ] && ! grep -q '^not ok ' "$log"; then
		report FAIL "$name exited with status $rc$([ $rc = 124 ] && echo " (timeout after ${tmo}s)")" "$log"
	fi
}

# ---- host unit tests (plain, ASan+UBSan, TSan), the fuzzers briefly, the SPIN model ----
for bin in build/host/test_* build/host/san-test_* build/host/tsan-test_*; do
	suite "host/$(basename "$bin")" 120 "$bin"
done
suite fuzz 600 tests/fuzz.sh
suite bench-stats 60 tests/bench/test-stats.sh # make bench's intervals and verdicts, on points worked out by hand
suite kvm-split 60 tests/env/test-split.sh # how the nested KVM's L1 console becomes per-case logs and statuses (a case booted twice)
suite verify 1200 tests/verify.sh

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
# The measured loops sit in a page of their own (locks/spinlock.h, MEASURED_TEXT): both inside
# [_measured_start, _measured_end), which starts a page.
log=$logs/measured.log
nm -nS "$ELF" >"$log" 2>&1
if awk 'function hex(x,   i, n) { n = 0; x = tolower(x); for (i = 1; i <= length(x); i++) n = n * 16 + index("0123456789abcdef", substr(x, i, 1)) - 1; return n }
	$NF == "_measured_start" { s = hex($1) } $NF == "_measured_end" { e = hex($1) }
	$NF == "stress_worker" || $NF == "ticket_lock_wait" { a[$NF] = hex($1); z[$NF] = a[$NF] + hex($2); k++ }
	END { ok = k == 2 && s % 4096 == 0 && e > s && e - s <= 4096; for (f in a) ok = ok && a[f] >= s && z[f] <= e
	      exit !ok }' "$log"; then
	report OK "image: the stress loop and the lock's wait loop are in one page of their own (.text.measured)"
else
	report FAIL "image: the stress loop and the lock's wait loop are in one page of their own (.text.measured)" "$log"
fi

# The image's disassembly, read by the three checks below.
dis=$logs/pvtick.dis
objdump -d --no-show-raw-insn "$ELF" >"$dis" 2>&1

# The site table against a disassembly: every instruction of the final image that names a hook is
# a call, and the calls are exactly the sites patch/sitegen wrote into the image's table.
log=$logs/sites.log
{
	echo "# table (build/host/sitegen --list):"
	build/host/sitegen --list "$ELF" | sort >"$logs/sites.table" || echo "sitegen --list failed"
	cat "$logs/sites.table"
	echo "# disassembly (objdump -d), instructions naming a hook:"
	<"$dis" awk '
		/^[0-9a-f]+ <[^>]*>:$/ { next }
		match($0, /<(lock_spinning|unlock_kick|vcpu_is_preempted|ticket_release)(\+0x[0-9a-f]+)?>/) {
			sym = substr($0, RSTART + 1, RLENGTH - 2); addr = $1; sub(/:$/, "", addr)
			if ($2 != "call" || sym ~ /\+/) print "NOT A CALL OF A HOOK: " $0
			else print addr " " sym
		}' | sort >"$logs/sites.objdump"
	cat "$logs/sites.objdump"
} >"$log" 2>&1
if [ -s "$logs/sites.table" ] && cmp -s "$logs/sites.table" "$logs/sites.objdump" &&
	[ "$(cut -d' ' -f2 "$logs/sites.table" | sort -u | wc -l)" = 4 ]; then # every hook kind has a site
	report OK "image: the site table is every call of a hook, and nothing else ($(wc -l <"$logs/sites.table") sites)"
else
	diff "$logs/sites.table" "$logs/sites.objdump" >>"$log" 2>&1
	report FAIL "image: the site table is every call of a hook, and nothing else" "$log"
fi

# Layers: xen/, kvm/ -> locks/ -> patch/ -> arch/, with boot/ beside arch/ (each may use the
# other, neither their callers). No #include points up or across backends.
log=$logs/layers.log
: >"$log"
layer_rule() { # layer_rule DIR FORBIDDEN-DIRS...
	local dir=$1 f
	shift
	for f in "$@"; do
		grep -Hn "^#[[:space:]]*include[[:space:]]*\"\.\./$f/" "$dir"/*.[chS] 2>/dev/null | sed "s|\$| (in $dir/, which must not use $f/)|" >>"$log"
	done
}
layer_rule arch patch locks xen kvm
layer_rule boot patch locks xen kvm
layer_rule patch locks xen kvm
layer_rule locks xen kvm
layer_rule xen kvm
layer_rule kvm xen
if [ -s "$log" ]; then
	report FAIL "layers: no include points up (xen/, kvm/ -> locks/ -> patch/ -> arch/, boot/)" "$log"
else
	report OK "layers: no include points up (xen/, kvm/ -> locks/ -> patch/ -> arch/, boot/)"
fi

# No hook is called where an interrupt or a trap runs: there, a lazy site would call its resolver,
# which waits for the live writer's lock that the interrupted vCPU may hold (the watchdog's dump
# once called vcpu_is_preempted). Every site's function, from the disassembly.
log=$logs/sites-context.log
<"$dis" awk '
	/^[0-9a-f]+ <[^>]*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
	$2 == "call" && match($0, /<(lock_spinning|unlock_kick|vcpu_is_preempted|ticket_release)>/) { print fn, substr($0, RSTART + 1, RLENGTH - 2) }' \
	>"$log" 2>&1
if [ -s "$log" ] && ! grep -qE '^(trap_dispatch|watchdog_tick|stress_dump_state|live_bp|smp_sync_ack|apic_eoi|xen_upcall) ' "$log"; then
	report OK "image: no hook is called from interrupt or trap context ($(cut -d' ' -f1 "$log" | sort -u | tr '\n' ' '))"
else
	report FAIL "image: no hook is called from interrupt or trap context" "$log"
fi

# No TSC read on the kick and wake path, but the latency stamps that stress.latency=on turns on:
# an RDTSC is a VM exit where the hypervisor emulates the TSC, on the path make bench measures.
# The functions the backends' hooks reach by direct calls (error exits left out), from the
# disassembly; those with an rdtsc must be only ticket_kick_mark and ticket_woken, whose reads are
# gated and counted at run time ("# latency: N TSC reads on the kick and wake path").
log=$logs/hooks-rdtsc.log
<"$dis" awk '
	/^[0-9a-f]+ <[^>]*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
	fn != "" && $2 == "call" && match($0, /<[^>+]+>/) { print "call", fn, substr($0, RSTART + 1, RLENGTH - 2) }
	fn != "" && $2 == "rdtsc" { print "rdtsc", fn }' |
	awk -v roots="xen_lock_spinning xen_unlock_kick xen_vcpu_is_preempted kvm_lock_spinning kvm_unlock_kick kvm_vcpu_is_preempted ticket_release_pv ticket_announce_and_check" '
	$1 == "call" { e[$2] = e[$2] " " $3 } $1 == "rdtsc" { t[$2] = 1 }
	END {
		split("panic kprintf ksnprintf machine_exit", x, " "); for (i in x) stop[x[i]] = 1
		n = split(roots, st, " ")
		while (n > 0) {
			f = st[n--]; if (f in seen || f in stop) continue
			seen[f] = 1; m = split(e[f], c, " "); for (i = 1; i <= m; i++) st[++n] = c[i]
		}
		for (f in seen) if (f in t) print f
	}' | sort >"$log"
if [ "$(paste -sd' ' "$log")" = "ticket_kick_mark ticket_woken" ]; then
	report OK "image: no RDTSC reachable from the backends' hooks but the gated latency stamps"
else
	report FAIL "image: no RDTSC reachable from the backends' hooks but the gated latency stamps (found in: $(paste -sd' ' "$log"))" "$log"
fi

# ---- boot tests ----
# judge NAME LOG WHY PATTERN...: WHY is "" if the run ended as expected; every PATTERN (grep -E)
# must then be in LOG. Reports one KTAP line.
judge() {
	local name=$1 log=$2 why=$3
	shift 3
	for p in "$@"; do
		[ -z "$why" ] && ! grep -qaE -- "$p" "$log" && why="missing: $p"
	done
	if [ -z "$why" ]; then
		report OK "$name"
	else
		echo "# $name: $why" >>"$log"
		report FAIL "$name ($why)" "$log"
	fi
}

# expect_end LOG GOT WANT: prints why not, if the run did not end as WANT (pass: with KTAP all ok).
expect_end() {
	local log=$1 got=$2 want=$3
	case $want in
	pass)
		if [ "$got" != pass ]; then echo "ended '$got', want pass"
		elif ! ktap_verdict "$log"; then echo "KTAP not all ok"
		fi ;;
	fail) [ "$got" = fail ] || echo "ended '$got', want a failed run" ;;
	esac
}

# boot NAME SMP EXPECT(pass|fail) "ARGS" PATTERN...: one QEMU TCG boot.
boot() {
	local name=$1 smp=$2 expect=$3 args=$4
	shift 4
	local log=$logs/boot-$(echo "$name" | tr ' =/:' '_-__').log end
	qemu_boot "$log" "$smp" "$BOOT_TIMEOUT" "$ELF" $args
	case $BOOT_RC in 33) end=pass ;; 35) end=fail ;; *) end="status $BOOT_RC" ;; esac
	judge "boot: $name" "$log" "$(expect_end "$log" "$end" "$expect")" "$@"
}

NOP='0f 1f 44 00 00'
SITE_PREEMPT_NATIVE='^# patch: at boot: site [0-9]+ vcpu_is_preempted at 0x[0-9a-f]+: b8 00 00 00 00$' # mov $0,%eax
for smp in 1 4; do
	iters=2000
	[ $smp -gt 2 ] && iters=300   # 4 vCPUs on 2 host cores: ticket handoffs to preempted vCPUs are slow
	total=$((smp * iters))
	common="stress.iters=$iters"
	boot "smp=$smp pvlock=auto" $smp pass "pvlock=auto $common" \
		'^# pv: backend=native reason=unknown-hypervisor\(TCGTCGTCGTCG\) sites=[1-9][0-9]* patched=nop preempt=native$' \
		"^# patch: at boot: site [0-9]+ lock_spinning at 0x[0-9a-f]+: $NOP\$" "$SITE_PREEMPT_NATIVE" \
		'^# patch: at boot: site [0-9]+ ticket_release at 0x[0-9a-f]+: 66 83 47 00 02$' \
		'^# preempt: vcpu_is_preempted reads native; 0 vCPU record\(s\) live, 0 not; false for every vCPU$' \
		'^ok 9 vcpu_preempt_info$' \
		"^# smp: $smp of $smp CPU\(s\) online" "^# stress: total=$total expected=$total counter=$total violations=0\$" \
		'^# wx: after boot, before patching: [0-9]+ leaf mappings, 0 W\+X' \
		'^# wx: after patching and AP start: [0-9]+ leaf mappings, 0 W\+X'
	if [ $smp = 1 ]; then up='^# patch: up: one vCPU: ([0-9]+) of \1 LOCK prefixes made DS prefixes \(0x3e\), 0 refused, \1 read back as 0x3e$'
	else up='^# patch: up: [1-9][0-9]* LOCK prefixes kept \(more than one vCPU\)$'; fi
	boot "smp=$smp up" $smp pass "$common" "$up" "^# stress: total=$total expected=$total counter=$total violations=0\$"
	boot "smp=$smp pvlock=off" $smp pass "pvlock=off $common" \
		'^# pv: backend=native reason=pvlock=off sites=[1-9][0-9]* patched=nop preempt=native$' \
		"unlock_kick at 0x[0-9a-f]+: $NOP\$" "^# stress: total=$total expected=$total "
	boot "smp=$smp patch=off" $smp pass "patch=off $common" \
		'^# pv: backend=native reason=.* patched=off preempt=native$' \
		'^# patch: at boot: site [0-9]+ lock_spinning at 0x[0-9a-f]+: e8 ' \
		'^# patch: at boot: site [0-9]+ vcpu_is_preempted at 0x[0-9a-f]+: e8 ' '^ok 9 vcpu_preempt_info$' \
		'^# patch: [0-9]+ sites, 0 rewritten, 0 refused, 0 mismatched' "^# stress: total=$total expected=$total "
done

# patch=lazy: no site patched at boot, each patched live by its first run (at 4 vCPUs, several
# vCPUs reach the same unpatched site at once); every site right after the stress (case 10).
for smp in 1 4; do
	boot "smp=$smp patch=lazy" $smp pass "patch=lazy stress.iters=300" \
		'^# patch: mode=lazy sites=0: the table is not read' '^# pv: backend=native .* patched=lazy ' \
		'^# patch: lazy: [1-9][0-9]* site\(s\) patched by their first run' '^ok 10 sites_after_stress$' \
		"^# stress: total=$((smp * 300)) expected=$((smp * 300)) counter=$((smp * 300)) violations=0\$"
done
# Live switching while 4 vCPUs run the stress (native: the sites flip between NOPs and direct calls
# of the native hooks, through the breakpoint protocol).
boot "smp=4 stress.switch: live re-patching" 4 pass "stress.switch=5 stress.ms=2000 stress.iters=100000000" \
	'^# switch: ([2-9]|[1-9][0-9]+) live switches every 5 ms' '^# switch: hand-over: ' '^ok 10 sites_after_stress$' \
	'^# stress: total=([0-9]+) expected=\1 counter=\1 violations=0$'
# Lazy patching and live switching together: a resolver never writes over a site a switch rewrote.
# inject=slow-patch: each resolver waits 1 ms before it looks, so switches land inside that
# window; a resolver that wrote over a switched site is counted, and fails sites_after_stress
# (with the old compare, expect=NULL, 4 of 5 boots of this case failed it).
boot "smp=4 patch=lazy stress.switch: lazy and live together" 4 pass \
	"patch=lazy stress.switch=1 stress.ms=2000 stress.iters=100000000 inject=slow-patch" \
	'^# pv: backend=native .* patched=lazy ' '^# switch: ([2-9]|[1-9][0-9]+) live switches every 1 ms' \
	'^# patch: lazy: [0-9]+ site\(s\) patched by their first run .* 0 written over a live write$' \
	'^ok 10 sites_after_stress$' '^# stress: total=([0-9]+) expected=\1 counter=\1 violations=0$'
# Race windows widened (inject=slow-patch: 1 ms inside each step of a live write and before each
# resolver looks at its site): 8 vCPUs reach the unresolved sites together, and a resolver that read
# its site outside the writer's lock met an int3 there and panicked ("not a patch site").
boot "smp=8 patch=lazy inject=slow-patch: no resolver sees a half-written site" 8 pass \
	"patch=lazy inject=slow-patch stress.iters=300" \
	'^# patch: lazy: [1-9][0-9]* site\(s\) patched by their first run' '^ok 10 sites_after_stress$' \
	'^# stress: total=2400 expected=2400 counter=2400 violations=0$'
boot "smp=4 stress.switch inject=slow-patch: 100 switches every 2 ms" 4 pass \
	"stress.switch=2 stress.switches=100 stress.ms=600000 stress.iters=100000000 inject=slow-patch" \
	'^# switch: 100 live switches every 2 ms' '^ok 10 sites_after_stress$' \
	'^# stress: total=([0-9]+) expected=\1 counter=\1 violations=0$'
# Minimal loaders: QEMU microvm (qboot, no PIT) with and without ACPI. Without it the MP table lists
# the CPUs; the TSC rate comes from the CMOS RTC's seconds, not an assumed 1 GHz.
BOOT_MACHINE=microvm,acpi=off boot "microvm,acpi=off: CPUs from the MP table, TSC from the RTC" 4 pass "stress.iters=300" \
	'^# acpi: no ACPI: the MP table at [0-9a-f]+ lists the CPUs instead$' \
	'^# acpi: the MP table lists 4 CPU\(s\), local APIC at fee00000$' '^# tsc: [0-9]+ kHz \(source: rtc\)$' \
	'^# smp: 4 of 4 CPU' '^# stress: total=1200 expected=1200 counter=1200 violations=0$'
BOOT_MACHINE=microvm boot "microvm with ACPI: CPUs from the MADT, TSC from the RTC" 4 pass "stress.iters=300" \
	'^# acpi: MADT lists 4 CPU\(s\)' '^# tsc: [0-9]+ kHz \(source: rtc\)$' \
	'^# stress: total=1200 expected=1200 counter=1200 violations=0$'
boot "a stress of 11 s prints a progress line every 5 s" 2 pass "stress.ms=11000 stress.iters=100000000 stress.switch=100" \
	'^# progress: 5 s: [1-9][0-9]* acquisitions, per vCPU min [0-9]+ max [1-9][0-9]*, [1-9][0-9]* live switches$' \
	'^# progress: 10 s: [1-9][0-9]* acquisitions' '^# stress: total=([0-9]+) expected=\1 counter=\1 violations=0$'
# make bench's mix (stress.modes): every mode in windows of one boot, the sites rewritten between
# them; the exact total over every window. stress.min_acq out of reach: rounds up to the cap.
boot "smp=4 stress.modes: five modes in windows, exact total" 4 pass \
	"stress.modes=spin,spin2,pv,pvpreempt,tas stress.rounds=2 stress.ms=100 stress.iters=100000000" \
	'^# mix: backend=native: spin, spin2, pv and pvpreempt all run the native lock' '^# mix: round 2: ' \
	'^# mix: round 0 \(warm-up, not counted\): ' '^# \[pv\] stress: throughput=[0-9]+ acq/s over [0-9]+ ms \(TSC, to the stop\)' \
	'^# \[spin2\] stress: total=[1-9][0-9]* in 2 window\(s\)$' '^# \[tas\] stress: total=[1-9][0-9]* in 2 window\(s\)$' \
	'^# stress: all windows: total=([0-9]+) counter=\1 violations=0$' '^ok 10 sites_after_stress$'
boot "smp=2 stress.min_acq out of reach: stress.max_rounds rounds" 2 pass \
	"stress.modes=spin,tas stress.rounds=1 stress.max_rounds=3 stress.min_acq=1000000000 stress.ms=50 stress.iters=100000000" \
	'^# mix: round 3: ' '^# \[spin\] stress: total=[1-9][0-9]* in 3 window\(s\)$' \
	'^# stress: all windows: total=([0-9]+) counter=\1 violations=0$'
boot "smp=2 stress.modes: windows ended by stress.iters, throughput over their span" 2 pass \
	"stress.modes=spin,tas stress.rounds=2 stress.ms=300 stress.iters=1000" \
	'^# \[spin\] stress: throughput=[1-9][0-9]* acq/s over [0-9]+ ms \(TSC\), fairness min/max=2000/2000 ' \
	'^# stress: all windows: total=([0-9]+) counter=\1 violations=0$' '^ok 8 stress_total$'
boot "inject=slow-patch with nothing written live: no effect, said" 1 pass "inject=slow-patch stress.iters=100" \
	'^# inject: slow-patch has no effect: nothing is written live'
boot "smp=1 up=off" 1 pass "up=off stress.iters=2000" '^# patch: up: [1-9][0-9]* LOCK prefixes kept \(up=off\)$' \
	'^# stress: total=2000 expected=2000 counter=2000 violations=0$'

# Bad input: one clear line, a KTAP failure, the fail exit code.
boot "bad option: unknown" 1 fail "bogus=1" "^# cmdline: unknown option 'bogus'$" '^not ok 2 cmdline$'
boot "bad option: out of range" 1 fail "stress.iters=0" \
	'^# cmdline: stress.iters=0 is out of range \[1, 100000000\]$' '^not ok 2 cmdline$'
boot "bad option: bad choice" 1 fail "pvlock=maybe" \
	"^# cmdline: pvlock=maybe: expected one of auto\|off$" '^not ok 2 cmdline$'
boot "bad option: bad choice for preempt" 1 fail "preempt=sometimes" \
	"^# cmdline: preempt=sometimes: expected one of auto\|off$" '^not ok 2 cmdline$'
boot "bad option: bad choice for patch" 1 fail "patch=sometimes" \
	"^# cmdline: patch=sometimes: expected one of on\\|off\\|lazy$" '^not ok 2 cmdline$'
boot "bad option: stress.switch out of range" 1 fail "stress.switch=60001" \
	'^# cmdline: stress.switch=60001 is out of range \[0, 60000\]$' '^not ok 2 cmdline$'
boot "bad option: stress.switches without a time-limited switching run" 1 fail "stress.switches=5" \
	'^# cmdline: stress.switches needs stress.switch= and stress.ms= ' '^not ok 2 cmdline$'
boot "bad option: inject=conform without suite=conform" 1 fail "inject=conform" \
	'^# cmdline: inject=conform needs suite=conform ' '^not ok 2 cmdline$'
boot "bad option: a list item that is no mode" 1 fail "stress.modes=spin,bogus stress.ms=10" \
	"^# cmdline: stress.modes=spin,bogus: 'bogus' is not one of spin\\|spin2\\|pv\\|pvpreempt\\|tas$" '^not ok 2 cmdline$'
boot "bad option: stress.rounds without stress.modes" 1 fail "stress.rounds=2" \
	'^# cmdline: stress.rounds, stress.max_rounds, stress.min_acq and stress.seed need stress.modes= ' '^not ok 2 cmdline$'
boot "bad option: stress.modes with patch=off" 1 fail "stress.modes=spin,pv stress.ms=10 patch=off" \
	'^# cmdline: stress.modes= needs stress.ms= \(each window.s length\) with patch=on ' '^not ok 2 cmdline$'
boot "bad option: stress.max_rounds below stress.rounds" 1 fail "stress.modes=spin stress.ms=10 stress.rounds=3 stress.max_rounds=2" \
	'^# cmdline: stress.max_rounds is below stress.rounds$' '^not ok 2 cmdline$'
boot "bad option: not a number" 1 fail "spin_threshold=12x" \
	"^# cmdline: spin_threshold=12x: not a decimal number$" '^not ok 2 cmdline$'
boot "bad option: given twice" 1 fail "pvlock=off pvlock=auto" \
	"^# cmdline: option 'pvlock' given twice$" '^not ok 2 cmdline$'
boot "bad option: no value" 1 fail "stress.iters" \
	"^# cmdline: option 'stress.iters' needs a value \(stress.iters=...\)$" '^not ok 2 cmdline$'
boot "bad start_info: command line too long" 1 fail "$(head -c 1100 /dev/zero | tr '\0' x)" \
	'^# command line is longer than 1023 bytes \(or unterminated\)$' '^not ok 1 boot_start_info$'

# More vCPUs than pvtick supports (64): the documented fallback, stated in the log.
boot "66 vCPUs: runs on the first 64" 66 pass "stress.iters=1" \
	'^# acpi: the MADT lists 66 CPUs, pvtick supports 64: running on the first 64$' \
	'^# smp: 64 of 64 CPU\(s\) online' '^# stress: total=64 expected=64 counter=64 violations=0$'

# Faults injected: a holder that never lets go must end in the watchdog's diagnosis on native
# too; faults in the blocking protocol have nothing to break natively, and the log says so.
boot "inject=hold: watchdog diagnosis" 4 fail "inject=hold watchdog=3 stress.iters=300" \
	'^# watchdog: no acquisition for 3 s' ' holding acq=0 .*<- holds the lock$' \
	'^not ok 7 stress_exclusion # watchdog fired$'
boot "inject=late-flag on native: no effect, said" 1 pass "inject=late-flag" \
	'^# inject: late-flag has no effect with backend=native: nothing blocks or kicks$'

# ---- Xen 4.17 under QEMU TCG: pvtick as PVH dom0 and as a PVH domU (tests/env/xen.sh) ----
SITE_CALL='lock_spinning at 0x[0-9a-f]+: e8 [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2}$'
SITE_PREEMPT_CALL='vcpu_is_preempted at 0x[0-9a-f]+: e8 [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2}$'
SITE_RELEASE_CALL='ticket_release at 0x[0-9a-f]+: e8 [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2}$'
CONTEND="stress.cs=2000 spin_threshold=16"   # waits long enough to block
# xen_case MODE NAME VCPUS EXPECT "ARGS" PATTERN...: one boot in tests/env/xen.sh. XEN_FROM=trixie
# (Xen 4.20) names its results "xen-4.20 MODE: NAME" and keeps its logs in xen-4.20/.
xen_case() {
	local mode=$1 name=$2 vcpus=$3 expect=$4 args=$5 rc end st dir=xen label=xen
	shift 5
	[ "${XEN_FROM:-host}" = trixie ] && dir=xen-4.20 label=xen-4.20
	XEN_FROM=${XEN_FROM:-host} tests/env/xen.sh "$mode" "$logs/$dir" "$name" "$vcpus" "$args" >"$logs/$dir-$name.env.log" 2>&1
	st=$?
	if [ $st = 5 ]; then
		report SKIP "$label $mode: $name" "environment not available: $(cat "$logs/$dir/skip.txt")"
		return
	elif [ $st != 0 ]; then
		judge "$label $mode: $name" "$logs/$dir-$name.env.log" "the Xen environment failed (tests/env/xen.sh)"
		return
	fi
	rc=$(cat "$logs/$dir/$name.rc")
	case $mode:$rc in dom0:33 | domu:poweroff) end=pass ;; dom0:35 | domu:crash) end=fail ;; *) end=$rc ;; esac
	judge "$label $mode: $name" "$logs/$dir/$name.log" "$(expect_end "$logs/$dir/$name.log" "$end" "$expect")" "$@"
}
for mode in dom0 domu; do
	for v in 1 4; do
		t=$((v * 300))
		xen_case $mode $mode-smp$v-auto $v pass "pvlock=auto stress.iters=300 $CONTEND" \
			'^# pv: backend=xen reason=SCHEDOP_poll sites=[1-9][0-9]* patched=call preempt=xen-runstate$' "$SITE_CALL" \
			"^# preempt: vcpu_is_preempted reads xen-runstate; $v vCPU record\\(s\\) live, 0 not; the BSP reads itself as running$" \
			"$SITE_PREEMPT_CALL" "$SITE_RELEASE_CALL" '^ok 9 vcpu_preempt_info$' \
			"^# smp: $v of $v CPU" "^# stress: total=$t expected=$t counter=$t violations=0\$" \
			'^# latency: 0 TSC reads on the kick and wake path$'
		# Native spinning with 4 vCPUs on 2 pCPUs hands the lock to descheduled vCPUs:
		# a few acquisitions per second. Keep that run short.
		it=$((v == 1 ? 300 : 50))
		xen_case $mode $mode-smp$v-off $v pass "pvlock=off stress.iters=$it" \
			'^# pv: backend=native reason=pvlock=off sites=[1-9][0-9]* patched=nop preempt=native$' \
			"^# stress: total=$((v * it)) expected=$((v * it)) "
	done
done
# At 4 vCPUs on 2 pCPUs (domU) the PV path must really be taken: waiters blocked and were kicked.
if grep -qaE '^# slowpath: .*slow_entries=[1-9][0-9]* .*kicks_sent=[1-9][0-9]* kicks_received=[1-9]' \
	"$logs/xen/domu-smp4-auto.log" 2>/dev/null; then
	report OK "xen domu: smp4 slow path entered and kicks delivered"
else
	report FAIL "xen domu: smp4 slow path entered and kicks delivered" "$logs/xen/domu-smp4-auto.log"
fi
# A broken backend must end in the watchdog's diagnosis, not a hang. drop-kick loses every kick.
# late-flag loses the kick of a waiter next in line with nobody behind it, which first clears SF
# (SF is sticky: with a flag left set, the unlocker kicks anyway; see locks/ticket.c): 2 vCPUs
# make every wait such a one. Only an AP's loss stalls the run (the BSP's timer ends its blocks),
# and 3000 acquisitions each outlast a Xen time slice, so the two really overlap (with 300, they
# once ran one after the other: contended=0).
for f in drop-kick:4 late-flag:2; do
	xen_case domu domu-${f%:*} ${f#*:} fail "pvlock=auto $CONTEND stress.iters=3000 inject=${f%:*} watchdog=5" \
		'^# watchdog: no acquisition for 5 s' 'served but still blocked: its kick was lost' \
		'^not ok 7 stress_exclusion # watchdog fired$'
done
# Live switching between native and Xen's PV hooks while 4 vCPUs on 2 pCPUs run the stress, with
# the exact total; the hand-over must strand no vCPU blocked in SCHEDOP_poll.
xen_case domu domu-smp4-switch 4 pass "pvlock=auto stress.iters=3000 stress.cs=2000 spin_threshold=16 stress.switch=20" \
	'^# switch: ([2-9]|[1-9][0-9]+) live switches every 20 ms: [0-9]+ off \(native\), [0-9]+ back on \(xen\)' \
	'^ok 10 sites_after_stress$' '^# stress: total=12000 expected=12000 counter=12000 violations=0$'
# make bench's mix under Xen: the windows really switch: pv blocks and kicks, spin never, and the
# exact total over every window.
MIX="stress.modes=spin,pv,pvpreempt,tas stress.rounds=2 stress.ms=300 stress.iters=100000000 $CONTEND"
MIX_SPIN='^# \[spin\] slowpath: contended=[0-9]+ slow_entries=[0-9]+ slow_acquisitions=[0-9]+ unlock_kicks=0 blocks=0 kicks_sent=0 '
MIX_PV='^# \[pv\] slowpath: .* blocks=[1-9][0-9]* kicks_sent=[1-9][0-9]* '
xen_case domu domu-mix 4 pass "pvlock=auto $MIX" "$MIX_SPIN" "$MIX_PV" '^# \[tas\] stress: total=[1-9][0-9]* in 2 window' \
	'^# stress: all windows: total=([0-9]+) counter=\1 violations=0$' '^ok 10 sites_after_stress$'
# Unpatched sites with preempt=off (make bench's unpatched mode): every call stays an indirect call,
# vcpu_is_preempted's to the native answer, and no runstate area is registered: none is checked.
xen_case domu domu-unpatched-preempt-off 2 pass "pvlock=auto patch=off preempt=off stress.iters=300" \
	'^# pv: backend=xen reason=SCHEDOP_poll sites=[1-9][0-9]* patched=off preempt=off\(preempt=off\)$' \
	'^# preempt: vcpu_is_preempted reads off\(preempt=off\); 0 vCPU record\(s\) live, 0 not; false for every vCPU$' \
	'^ok 9 vcpu_preempt_info$' '^# stress: total=600 expected=600 '
# A TSC rate from Xen's CPUID leaf that Xen's own time scale contradicts (inject=tsc-leaf: read as
# 4x): refused, the run uses the time scale, and the stress still ends with its exact total.
xen_case domu domu-tsc-leaf 1 pass "inject=tsc-leaf stress.iters=300" \
	'^# inject: tsc-leaf: the TSC leaf.s rate is read as 4x what it says$' \
	'^# tsc: now [0-9]+ kHz \(source: xen-time-info\): xen-cpuid says [0-9]+ kHz, xen-time-info gives [0-9]+ kHz: more than 10% apart, the leaf is refused$' \
	'^# stress: total=300 expected=300 counter=300 violations=0$'
# A Xen hypercall that fails (EVTCHNOP_bind_ipi for a vCPU the domain lacks): the logged fallback.
xen_case dom0 dom0-bad-hypercall 4 pass "pvlock=auto inject=bad-hypercall stress.iters=50" \
	'^# pv: backend xen failed to start: xen-bind_ipi-vcpu0-failed\(-[0-9]+\); falling back to native$' \
	'^# pv: backend=native reason=xen-init-failed sites=[1-9][0-9]* patched=nop preempt=native$' \
	'^# stress: total=200 expected=200 '

# ---- Linux KVM, nested in QEMU TCG: 1 L1 vCPU (2 hung L2 boots: see the script), pvtick in L2 (tests/env/kvm-nested.sh) ----
# The 4-vCPU PV cases run 3000 acquisitions per vCPU: 300 can finish inside one L1 timeslice,
# with the vCPUs taking turns and the lock never contended. The native-spinning 4-vCPU cases run
# 50: 300 took over 240 s (handing the lock to preempted vCPUs).
cat >"$logs/kvm-cases.txt" <<EOF
kvm-smp1-auto|1|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=1000
kvm-smp1-off|1|host,kvm-pv-unhalt=on|pvlock=off stress.iters=1000
kvm-smp4-auto|4|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=3000 stress.cs=2000 spin_threshold=16
kvm-smp4-off|4|host,kvm-pv-unhalt=on|pvlock=off stress.iters=50
kvm-no-unhalt|4|host,kvm-pv-unhalt=off|pvlock=auto stress.iters=50
kvm-no-steal-time|4|host,kvm-pv-unhalt=on,kvm-steal-time=off|pvlock=auto stress.iters=50
kvm-preempt-off|4|host,kvm-pv-unhalt=on|pvlock=auto preempt=off stress.iters=50
kvm-unpatched-preempt-off|2|host,kvm-pv-unhalt=on|pvlock=auto patch=off preempt=off stress.iters=300
kvm-hint-realtime|4|host,kvm-pv-unhalt=on,kvm-hint-dedicated=on|pvlock=auto stress.iters=50
kvm-switch|4|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=3000 stress.cs=2000 spin_threshold=16 stress.switch=20
kvm-mix|4|host,kvm-pv-unhalt=on|pvlock=auto $MIX
kvm-lazy|4|host,kvm-pv-unhalt=on|pvlock=auto patch=lazy stress.iters=3000 stress.cs=2000 spin_threshold=16
kvm-drop-kick|4|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=3000 stress.cs=2000 spin_threshold=16 inject=drop-kick watchdog=5
kvm-late-flag|2|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=3000 stress.cs=2000 spin_threshold=16 inject=late-flag watchdog=5
kvm-latency|4|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=3000 stress.cs=2000 spin_threshold=16 stress.latency=on
EOF
# kvm_run DIR CASEFILE [VAR=VALUE...]: one tests/env/kvm-nested.sh run (its L1 boots), results in
# logs/DIR for kvm_case. Each case takes seconds; 120 s per L2 boot leaves room in an L1 boot's
# 600 s for one environment retry. An L1 that freezes is booted again for the cases left.
kvm_run() {
	local dir=$1 cases=$2
	shift 2
	kvm_dir=$dir
	env "$@" L2_TIMEOUT=120 L1_TIMEOUT=600 tests/env/kvm-nested.sh "$logs/$dir" "$cases" >"$logs/$dir-env.log" 2>&1
	kvm_st=$?
	grep -h '^KVMENV: RETRY\|^KVMENV-L0: ' "$logs/$dir/l1.log" 2>/dev/null | sed 's/^/# /'
}
kvm_case() { # kvm_case NAME EXPECT PATTERN...: a case of the last kvm_run, named "DIR: NAME"
	local name=$1 expect=$2 rc end d=$kvm_dir
	shift 2
	if [ $kvm_st = 5 ]; then
		report SKIP "$d: $name" "environment not available: $(cat "$logs/$d/skip.txt")"
		return
	fi
	if [ $kvm_st != 0 ] && [ ! -f "$logs/$d/$name.rc" ]; then
		judge "$d: $name" "$logs/$d-env.log" "the nested KVM environment failed (tests/env/kvm-nested.sh)"
		return
	fi
	rc=$(cat "$logs/$d/$name.rc" 2>/dev/null || echo none)
	if [ "$rc" = l1-stopped ]; then
		judge "$d: $name" "$logs/$d/$name.log" "L1 froze or died twice while this case ran ($d/l1.log)"
		return
	fi
	case $rc in 33) end=pass ;; 35) end=fail ;; *) end="status $rc" ;; esac
	judge "$d: $name" "$logs/$d/$name.log" "$(expect_end "$logs/$d/$name.log" "$end" "$expect")" "$@"
}
kvm_run kvm "$logs/kvm-cases.txt"
kvm_case kvm-smp1-auto pass '^# pv: backend=native reason=kvm-one-vCPU' '^# stress: total=1000 expected=1000 '
kvm_case kvm-smp1-off pass '^# pv: backend=native reason=pvlock=off ' '^# stress: total=1000 expected=1000 '
kvm_case kvm-smp4-auto pass '^# pv: backend=kvm reason=PV_UNHALT sites=[1-9][0-9]* patched=call preempt=kvm-steal-time$' "$SITE_CALL" \
	'^# preempt: vcpu_is_preempted reads kvm-steal-time; 4 vCPU record\(s\) live, 0 not; the BSP reads itself as running$' \
	"$SITE_PREEMPT_CALL" "$SITE_RELEASE_CALL" '^ok 9 vcpu_preempt_info$' \
	'^# smp: 4 of 4 CPU' '^# stress: total=12000 expected=12000 counter=12000 violations=0$' \
	'^# slowpath: .*slow_entries=[1-9][0-9]* .*kicks_sent=[1-9][0-9]* kicks_received=[1-9]' \
	'^# stress: throughput=[1-9][0-9]* acq/s over [0-9]+ ms' '^# latency: 0 TSC reads on the kick and wake path$'
# stress.latency=on: the kick-to-wake latency, and the TSC reads it costs on that path, counted.
kvm_case kvm-latency pass '^# slowpath: .*kicks_sent=[1-9][0-9]* kicks_received=[1-9]' \
	'^# latency: kick-to-wake TSC cycles n=[1-9][0-9]* ' '^# latency: [1-9][0-9]* TSC reads on the kick and wake path$'
kvm_case kvm-smp4-off pass '^# pv: backend=native reason=pvlock=off ' '^# stress: total=200 expected=200 '
kvm_case kvm-no-unhalt pass '^# pv: backend=native reason=kvm-without-PV_UNHALT ' '^# stress: total=200 expected=200 '
kvm_case kvm-no-steal-time pass \
	'^# pv: backend=kvm reason=PV_UNHALT sites=[1-9][0-9]* patched=call preempt=native\(kvm-without-STEAL_TIME\)$' \
	"$SITE_PREEMPT_NATIVE" '^ok 9 vcpu_preempt_info$' '^# stress: total=200 expected=200 '
kvm_case kvm-preempt-off pass '^# pv: backend=kvm reason=PV_UNHALT sites=[1-9][0-9]* patched=call preempt=off\(preempt=off\)$' \
	"$SITE_PREEMPT_NATIVE" '^# preempt: vcpu_is_preempted reads off\(preempt=off\); 0 vCPU record\(s\) live' \
	'^# stress: total=200 expected=200 '
kvm_case kvm-unpatched-preempt-off pass '^# pv: backend=kvm reason=PV_UNHALT sites=[1-9][0-9]* patched=off preempt=off\(preempt=off\)$' \
	'^# preempt: vcpu_is_preempted reads off\(preempt=off\); 0 vCPU record\(s\) live, 0 not; false for every vCPU$' \
	'^ok 9 vcpu_preempt_info$' '^# stress: total=600 expected=600 '
kvm_case kvm-hint-realtime pass '^# pv: backend=native reason=KVM_HINTS_REALTIME\(vCPUs-never-preempted\) ' \
	'^# stress: total=200 expected=200 '
kvm_case kvm-switch pass '^# switch: ([2-9]|[1-9][0-9]+) live switches every 20 ms: [0-9]+ off \(native\), [0-9]+ back on \(kvm\)' \
	'^ok 10 sites_after_stress$' '^# stress: total=12000 expected=12000 counter=12000 violations=0$'
kvm_case kvm-mix pass "$MIX_SPIN" "$MIX_PV" '^# \[tas\] stress: total=[1-9][0-9]* in 2 window' \
	'^# stress: all windows: total=([0-9]+) counter=\1 violations=0$' '^ok 10 sites_after_stress$'
kvm_case kvm-lazy pass '^# pv: backend=kvm .* patched=lazy ' '^# patch: lazy: [1-9][0-9]* site\(s\) patched by their first run' \
	'^ok 10 sites_after_stress$' '^# stress: total=12000 expected=12000 counter=12000 violations=0$'
for f in drop-kick late-flag; do
	kvm_case kvm-$f fail '^# watchdog: no acquisition for 5 s' 'served but still blocked: its kick was lost' \
		'^not ok 7 stress_exclusion # watchdog fired$'
done

# ---- Debian trixie's hypervisors: Xen 4.20 (dom0, domU), Linux 6.12's KVM, KVM's Xen emulation ----
# Fetched once into build/trixie (tests/env/trixie.sh); where that cannot be done, SKIPs with the
# reason. In each: the stress at 1 and 4 vCPUs with pvlock=auto, contended at 4.
# First the skip itself: a mirror that cannot be reached (a closed port) gives status 5 and the reason.
log=$logs/trixie-unreachable.log
TRIXIE=$top/$logs/trixie-unreachable TRIXIE_MIRROR=http://127.0.0.1:9/debian tests/run-env.sh kvm-linux-6.12 1 "" >"$log" 2>&1
st=$?
judge "trixie: a package that cannot be fetched makes its environment a SKIP with the reason" "$log" \
	"$([ $st = 5 ] || echo "run-env.sh exited $st, want 5 (not available)")" \
	'^# run-env: SKIP kvm-linux-6.12: root: (debootstrap of trixie from http://127.0.0.1:9/debian failed: E: |fetching it needs root)'
for mode in dom0 domu; do
	for v in 1 4; do
		t=$((v * 300))
		XEN_FROM=trixie xen_case $mode $mode-smp$v-auto $v pass "pvlock=auto stress.iters=300 $CONTEND" \
			'^# xen: version 4\.20, ' \
			'^# pv: backend=xen reason=SCHEDOP_poll sites=[1-9][0-9]* patched=call preempt=xen-runstate$' "$SITE_CALL" \
			"$SITE_PREEMPT_CALL" "$SITE_RELEASE_CALL" '^ok 9 vcpu_preempt_info$' \
			"^# smp: $v of $v CPU" "^# stress: total=$t expected=$t counter=$t violations=0\$" \
			'^# latency: 0 TSC reads on the kick and wake path$' \
			$([ $v = 4 ] && echo '^# slowpath: .*slow_entries=[1-9][0-9]* .*kicks_sent=[1-9][0-9]* kicks_received=[1-9]')
	done
done
cat >"$logs/kvm-trixie-cases.txt" <<EOF
smp1-auto|1|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=1000
smp4-auto|4|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=3000 $CONTEND
EOF
kvm_run kvm-linux-6.12 "$logs/kvm-trixie-cases.txt" L1_FROM=trixie
kvm_case smp1-auto pass '^# pv: backend=native reason=kvm-one-vCPU' '^# stress: total=1000 expected=1000 counter=1000 violations=0$'
kvm_case smp4-auto pass '^# pv: backend=kvm reason=PV_UNHALT sites=[1-9][0-9]* patched=call preempt=kvm-steal-time$' "$SITE_CALL" \
	"$SITE_PREEMPT_CALL" "$SITE_RELEASE_CALL" '^# smp: 4 of 4 CPU' '^# stress: total=12000 expected=12000 counter=12000 violations=0$' \
	'^# slowpath: .*slow_entries=[1-9][0-9]* .*kicks_sent=[1-9][0-9]* kicks_received=[1-9]'
# KVM's Xen emulation: the guest sees Xen (its CPUID leaves, hypercall page, event channels).
# Its kicks reach a poller only through KVM, which QEMU uses once a callback vector is set
# (xen/xen.c, step 3): at 4 vCPUs every kick must arrive.
sed 's/|host,kvm-pv-unhalt=on|/|host|/' "$logs/kvm-trixie-cases.txt" >"$logs/kvm-xen-cases.txt"
kvm_run kvm-xen-emulation "$logs/kvm-xen-cases.txt" L1_FROM=trixie L2_ACCEL=xen
for v in 1 4; do
	t=$((v == 1 ? 1000 : 12000))
	kvm_case smp$v-auto pass '^# xen: version 4\.17, .*callback vector 0xf3' \
		'^# pv: backend=xen reason=SCHEDOP_poll sites=[1-9][0-9]* patched=call preempt=xen-runstate$' "$SITE_CALL" \
		"$SITE_PREEMPT_CALL" "^# smp: $v of $v CPU" "^# stress: total=$t expected=$t counter=$t violations=0\$" \
		$([ $v = 4 ] && echo '^# slowpath: .*slow_entries=[1-9][0-9]* .*kicks_sent=[1-9][0-9]* kicks_received=[1-9]')
done

# ---- the conformance suite in every environment, against tests/conform/expect.txt (make conform) ----
suite conform 1800 env CONFORM_OUT=$logs/conform tests/conform.sh

# ---- a short soak in each environment (make soak runs 10^8 acquisitions each) ----
suite soak 1800 env SOAK_ACQ=1000000 tests/soak.sh
# ---- and a short race hunt for live and lazy patching (make soak: 10^4 switches, 200 lazy boots) ----
suite race 2400 env RACE_SWITCHES=50 RACE_BOOTS=4 RACE_TIMEOUT=600 tests/race.sh

# ---- the README's bad-input and fault tables: every row names a test of this run, and it passed ----
log=$logs/readme-tables.log
: >"$log"
rows=0
while IFS= read -r t; do
	rows=$((rows + 1))
	grep -qxF -- "$t" "$logs/passed.txt" || echo "row's test did not pass in this run: $t" >>"$log"
done < <(sed -n '/^## Bad input/,/^## [^B]/p' README.md | grep '^| ' | sed -n 's/.*| `\([^`]*\)` |$/\1/p')
[ "$rows" -ge 15 ] || echo "the bad-input tables have $rows rows with a test, want at least 15" >>"$log"
if [ -s "$log" ]; then
	report FAIL "README bad-input tables: $rows rows, each one's test passed" "$log"
else
	report OK "README bad-input tables: $rows rows, each one's test passed"
fi

[ "${KEEP_LOGS:-1}" = 1 ] || rm -rf "$logs"
echo "1..$n"
[ $skipped = 0 ] || echo "# $skipped skipped (an environment not available here: see the SKIP lines)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

#!/bin/bash
# SPDX-License-Identifier: MIT
# bench.sh: `make bench`: what PV spinlocks buy under vCPU overcommit, and what their hook sites cost
# on bare metal, as ratios measured side by side in one run. Writes build/bench/points.jsonl (one
# object per point), build/bench/throughput.png and build/bench/BENCHMARKS.md, then copies all three
# to tests/bench/ (not when a BENCH_* setting below is given). Ends with "N passed, N failed" (a point whose guest run failed counts
# as failed; so does a missing environment, which is named).
# env: QUICK=1     5 repetitions; the mix in windows of 300 ms, 2 to 8 rounds; without the
#                  unpatched and pvlat modes and the 1-vCPU points; default 5 repetitions, the
#                  mix in windows of 300 ms, 3 to 12 rounds, unpatched and pvlat 1000 ms each
#                  (more windows, not longer ones: BENCHMARKS.md's "noise floor" shows that the
#                  A/A interval wants the number of windows; a whole run on 3a83814 took 1866 s)
#      BENCH_ENVS  "native xen kvm"; BENCH_VCPUS "1 2 4 8" (QUICK: "2 4 8");
#      BENCH_XEN_PCPUS "2 1": under Xen the domU runs in a cpupool of exactly that many pCPUs,
#                  nothing else on them (dom0 keeps a pCPU of its own: Xen gets max+1), at each
#                  vCPU count of BENCH_VCPUS up to 4 per pCPU; the points are environment
#                  "xen-2p", "xen-1p"
#      BENCH_MODES "pv pvpreempt spin spin2 unpatched tas pvlat" (QUICK: "pv pvpreempt spin spin2
#                  tas"); spin2 is spin under a second label, the A/A control: its ratio to spin
#                  at a point is that point's noise floor; pvlat is pv with stress.latency=on,
#                  the only mode that reads the TSC on the kick and wake path (the latency run;
#                  a throughput mode that did is a failed point). spin spin2 pv pvpreempt tas
#                  run in one boot, "the mix" (below); unpatched and pvlat in a boot each.
#      BENCH_REPS, BENCH_WINDOW_MS, BENCH_ROUNDS, BENCH_MAX_ROUNDS, BENCH_MS  override the
#                  repetitions, the mix's window length and rounds, the other modes' run length
#      BENCH_MIN_ACQ (10000): the mix runs more rounds while a mode has fewer acquisitions;
#                  BENCH_LONG (4): another mode's run with fewer is run once more, BENCH_LONG
#                  times as long; still short, stats.awk marks the point "short run"
#      BENCH_ARGS  more guest options for every run (default none: stress.cs=20, spin_threshold=2048)
#      BENCH_PREV  a points.jsonl to compare this run with in BENCHMARKS.md (default: the committed
#                  tests/bench/points.jsonl, for a run of make bench's own configuration, which
#                  then replaces it and moves it to tests/bench/previous/)
#
# The method. The guest's own TSC is the only clock. A point is one mode at one vCPU count in one
# repetition. The mix's modes run in one boot of pvtick (stress.modes): rounds of windows, each
# window one mode for BENCH_WINDOW_MS of the BSP's TSC, every mode once per round in an order the
# guest shuffles per round (round 0, a warm-up, not counted); between two windows every vCPU is
# out of the lock and the BSP rewrites the sites for the next mode. A mode's point is its
# acquisitions over its windows' time, each window up to the tick that stopped it. So the A/A pair and the modes it judges share a boot and alternate within it: what
# differs between boots (where QEMU's threads landed, a burst of load on this shared machine)
# hits them alike. Another mode's point is a boot of its own for BENCH_MS (stress.ms). The
# boots of a repetition run in an order shuffled per repetition. tests/bench/stats.awk gives
# each figure as a median with its interval, and each ratio to spin, paired by repetition, with
# its 95% interval and a verdict against the A/A control's interval.
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$top" || exit 1
ELF=${ELF:-build/pvtick.elf}
if [ "${QUICK:-0}" = 1 ]; then reps=5 ms=300 win_ms=300 modes="pv pvpreempt spin spin2 tas"; else reps=5 ms=1000 win_ms=300 modes="pv pvpreempt spin spin2 unpatched tas pvlat"; fi
reps=${BENCH_REPS:-$reps} ms=${BENCH_MS:-$ms} win_ms=${BENCH_WINDOW_MS:-$win_ms}
envs=${BENCH_ENVS:-native xen kvm}
# QUICK leaves out 1 vCPU, where the lock is never contended (every mode runs its fast path only).
vcpus_default="1 2 4 8"
[ "${QUICK:-0}" = 1 ] && vcpus_default="2 4 8"
vcpus_list=${BENCH_VCPUS:-$vcpus_default}
xen_pcpus=${BENCH_XEN_PCPUS:-2 1}
for p in $xen_pcpus; do [[ $p =~ ^[1-9]$ ]] || { echo "bench.sh: BENCH_XEN_PCPUS: '$p' is not a pCPU count 1..9" >&2; exit 2; }; done
xen_smp=$(($(tr ' ' '\n' <<<"$xen_pcpus" | sort -n | tail -1) + 1))
# label ENV [PCPUS]: the environment as the points name it (Xen: one per pool size, xen-2p)
label() { echo "$1${2:+-${2}p}"; }
labels=""
for env in $envs; do
	if [ "$env" = xen ]; then for p in $xen_pcpus; do labels+=" $(label xen "$p")"; done; else labels+=" $env"; fi
done
labels=${labels# }
# vcpus_of LABEL: the vCPU counts measured there (Xen: up to 4 per pCPU of its pool)
vcpus_of() {
	local v out=""
	for v in $vcpus_list; do
		case $1 in xen-*p) [ "$v" -le $((4 * ${1//[!0-9]/})) ] || continue ;; esac
		out+=" $v"
	done
	echo "${out# }"
}
modes=${BENCH_MODES:-$modes}
extra=${BENCH_ARGS:-}
[[ $reps =~ ^[1-9][0-9]*$ && $ms =~ ^[1-9][0-9]*$ && $win_ms =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: BENCH_REPS, BENCH_MS and BENCH_WINDOW_MS are positive numbers" >&2; exit 2; }
[ "$reps" -ge 5 ] || echo "# bench: BENCH_REPS=$reps: fewer than 5 repetitions, the intervals are wide" >&2
"$here/deps.sh" bench || exit 2
out=build/bench
rm -rf "$out/runs" && mkdir -p "$out/runs"
jsonl=$out/points.jsonl
: >"$jsonl"
start=$(date +%s)
passed=0 failed=0 n=0
echo "KTAP version 1"

mode_args() { # mode_args MODE: the guest options of a lock mode
	case $1 in
	pv) echo "pvlock=auto preempt=off" ;;      # the backend's hooks, patched to direct calls
	pvpreempt) echo "pvlock=auto preempt=auto" ;; # the same, and vcpu_is_preempted from the hypervisor
	spin) echo "pvlock=off" ;;                 # native ticket spinning: sites patched to NOPs
	spin2) echo "pvlock=off" ;;                # spin again under a second label: the A/A control
	unpatched) echo "patch=off preempt=off" ;; # the backend's hooks, through the indirect calls
	tas) echo "pvlock=off stress.lock=tas" ;;  # test-and-set with backoff, no hooks
	pvlat) echo "pvlock=auto preempt=off stress.latency=on" ;; # pv, timing each kick-to-wake: latency only
	*) echo "bench.sh: unknown mode '$1' (pv pvpreempt spin spin2 unpatched tas pvlat)" >&2; exit 2 ;;
	esac
}
for m in $modes; do mode_args "$m" >/dev/null || exit 2; done
# The mix: the modes one boot runs side by side, in windows (the guest's stress.modes): every
# round of windows runs each of them once for ms, in an order the guest shuffles per round
# (seeded with the repetition), for at least mix_rounds rounds, and more, up to mix_max, while a
# mode has fewer than min_acq acquisitions. One boot per point and repetition: a boot's own
# luck (where QEMU's threads landed, what else ran) hits every mode of the mix alike, and the
# ratios are taken within the boot. The other modes need a boot of their own: unpatched leaves
# the sites unpatched, pvlat reads the TSC on the path.
mixed="" alone=""
for m in $modes; do case $m in spin | spin2 | pv | pvpreempt | tas) mixed+=" $m" ;; *) alone+=" $m" ;; esac; done
mixed=${mixed# } alone=${alone# }
if [ "${QUICK:-0}" = 1 ]; then mix_rounds=2 mix_max=8; else mix_rounds=3 mix_max=12; fi
mix_rounds=${BENCH_ROUNDS:-$mix_rounds} mix_max=${BENCH_MAX_ROUNDS:-$mix_max}
[[ $mix_rounds =~ ^[1-9][0-9]*$ && $mix_max =~ ^[1-9][0-9]*$ && $mix_max -ge $mix_rounds ]] ||
	{ echo "bench.sh: BENCH_ROUNDS and BENCH_MAX_ROUNDS are numbers, BENCH_MAX_ROUNDS >= BENCH_ROUNDS" >&2; exit 2; }
# guest_args MODE [MS] [SEED]: the guest options of one boot: a lock mode, or "mix" (the mixed
# modes; SEED, from the repetition and the vCPU count, orders its windows)
guest_args() {
	if [ "$1" = mix ]; then
		echo "pvlock=auto preempt=auto stress.modes=${mixed// /,} stress.rounds=$mix_rounds stress.max_rounds=$mix_max" \
			"stress.min_acq=$min_acq stress.seed=${3:-1} stress.ms=$win_ms stress.iters=100000000 watchdog=60 $extra"
	else
		echo "$(mode_args "$1") stress.ms=${2:-$ms} stress.iters=100000000 watchdog=60 $extra"
	fi
}
# Enough events: a run with fewer than min_acq acquisitions is run again, once, for long_ms; a point
# still short is marked "short run" by stats.awk and gets no verdict.
min_acq=${BENCH_MIN_ACQ:-10000} long_ms=$((ms * ${BENCH_LONG:-4}))
# boot_s MODE: a time bound for one boot of MODE, in seconds (a mix: every window of its last round)
boot_s() {
	local n
	n=$(wc -w <<<"$mixed")
	if [ "$1" = mix ]; then echo $(((mix_max + 1) * n * (win_ms / 1000 + 2) + 120)); else echo $((ms / 1000 + 120)); fi
}

# run_again LOG: true if LOG's run passed but counted fewer than min_acq acquisitions, and a
# longer run is possible.
run_again() {
	local t
	[ "$long_ms" -gt "$ms" ] && ktap_verdict "$1" || return 1
	t=$(sed -n 's/^# stress: total=\([0-9]*\) .*/\1/p' "$1" 2>/dev/null | head -1)
	[ "${t:-0}" -lt "$min_acq" ]
}

# adopt_long NAME SHORT LONG: true, with LONG's log now at SHORT, if the longer run passed; a
# longer run that failed does not replace the short one that passed: it is reported.
adopt_long() {
	if ktap_verdict "$3"; then cp "$3" "$2"; return 0; fi
	echo "# bench: $1: the longer run failed ($3): the short run stands"
	return 1
}

# point ENV MODE VCPUS REP LOG [MS]: read one run's log (of MS ms, default ms), append its JSON
# line, print its progress line.
point() {
	local env=$1 mode=$2 v=$3 rep=$4 log=$5 pms=${6:-$ms} ok=true why="" tput total mn mx slowacq kicks lat early handoffs unknown contended firstwait blocks spurious spins thr pausens wins wincv
	n=$((n + 1))
	tput=$(sed -n 's/^# stress: throughput=\([0-9]*\) acq\/s.*/\1/p' "$log" | head -1)
	total=$(sed -n 's/^# stress: total=\([0-9]*\) .*/\1/p' "$log" | head -1)
	mn=$(sed -n 's/.*fairness min\/max=\([0-9]*\)\/.*/\1/p' "$log" | head -1)
	mx=$(sed -n 's/.*fairness min\/max=[0-9]*\/\([0-9]*\) .*/\1/p' "$log" | head -1)
	slowacq=$(sed -n 's/^# slowpath: .* slow_acquisitions=\([0-9]*\) .*/\1/p' "$log" | head -1)
	kicks=$(sed -n 's/^# slowpath: .* kicks_sent=\([0-9]*\) .*/\1/p' "$log" | head -1)
	blocks=$(sed -n 's/^# slowpath: .* blocks=\([0-9]*\) .*/\1/p' "$log" | head -1)
	spurious=$(sed -n 's/^# slowpath: .* spurious_wakeups=\([0-9]*\).*/\1/p' "$log" | head -1)
	spins=$(sed -n 's/^# slowpath: \([0-9]*\) PAUSEs spun in [0-9]* waits$/\1/p' "$log" | head -1)
	pausens=$(sed -n 's/^# stress: a PAUSE took \([0-9]*\) ns on the BSP before the start .*/\1/p' "$log" | head -1)
	thr=$(sed -n 's/^# stress: .*, spin_threshold \([0-9]*\), lock .*/\1/p' "$log" | head -1)
	contended=$(sed -n 's/^# slowpath: contended=\([0-9]*\) .*/\1/p' "$log" | head -1)
	early=$(sed -n 's/^# slowpath: .* early_entries=\([0-9]*\) .*/\1/p' "$log" | head -1)
	handoffs=$(sed -n 's/^# slowpath: .* handoffs_preempted=\([0-9]*\) .*/\1/p' "$log" | head -1)
	unknown=$(sed -n 's/^# slowpath: .* holder_unknown=\([0-9]*\) .*/\1/p' "$log" | head -1)
	firstwait=$(sed -n 's/^# stress: first wait: .* took \([0-9]*\) TSC cycles$/\1/p' "$log" | head -1)
	tscreads=$(sed -n 's/^# latency: \([0-9]*\) TSC reads on the kick and wake path$/\1/p' "$log" | head -1)
	# "# latency: kick-to-wake TSC cycles n=N median=C p99=C (M/P ns) clamped=K; ..."
	lat=$(sed -n 's/^# latency: kick-to-wake TSC cycles n=\([0-9]*\) median=[0-9]* p99=[0-9]* (\([0-9]*\)\/\([0-9]*\) ns) clamped=\([0-9]*\);.*/\1 \2 \3 \4/p' "$log" | head -1)
	[ -n "$lat" ] || lat="0 null null 0"
	# "# boot: C TSC cycles from the PVH entry to all vCPUs up (patching: P)"
	read -r boot patch < <(sed -n 's/^# boot: \([0-9]*\) TSC cycles from the PVH entry to all vCPUs up (patching: \([0-9]*\))$/\1 \2/p' "$log" | head -1)
	read -r lat_n lat_med lat_p99 lat_clamped <<<"$lat"
	# The mix's counted windows of this mode ("# window: W (round R) MODE: A acquisitions in T ms
	# (A' in T' ms to the stop)", round 0 not counted): how many, and the coefficient of variation
	# (standard deviation over mean) of their rates A'/T', for stats.awk's W lines.
	read -r wins wincv < <(awk -v m="$mode" '$1 == "#" && $2 == "window:" && $5 != "0)" && $6 == m ":" {
			s = $0; sub(/.*\(/, "", s); split(s, q, " ")
			if (q[3] + 0 <= 0) next
			x = q[1] / q[3]; n++; S += x; SS += x * x
		}
		END { if (n < 2 || S <= 0) print (n ? n : "null"), "null"; else { v = (SS - S * S / n) / (n - 1); printf "%d %.4f\n", n, sqrt(v < 0 ? 0 : v) / (S / n) } }' "$log")
	if [ "$mode" != pvlat ] && [ "${tscreads:-0}" != 0 ]; then
		ok=false why="a throughput run read the TSC $tscreads times on the kick and wake path: $log"
		failed=$((failed + 1))
		echo "not ok $n $env $mode vcpus=$v rep=$rep # $why"
	elif ! ktap_verdict "$log" || [ -z "$tput" ] || [ -z "$total" ]; then
		ok=false why="the guest run did not pass: $log"
		failed=$((failed + 1))
		echo "not ok $n $env $mode vcpus=$v rep=$rep # $why"
		tail -5 "$log" | sed 's/^/    # /'
	else
		passed=$((passed + 1))
		echo "ok $n $env $mode vcpus=$v rep=$rep: $tput acq/s, min/max $mn/$mx, slow $slowacq/$total, kicks $kicks, early entries ${early:-?}, kick-to-wake median ${lat_med} ns p99 ${lat_p99} ns (n=$lat_n)"
	fi
	printf '{"env":"%s","mode":"%s","vcpus":%s,"rep":%s,"ok":%s,"ms":%s,"acq_per_s":%s,"total":%s,"min_acq":%s,"max_acq":%s,"slow_acquisitions":%s,"kicks":%s,"blocks":%s,"spurious_wakeups":%s,"spins":%s,"spin_threshold":%s,"pause_ns":%s,"early_entries":%s,"holder_unknown":%s,"handoffs_preempted":%s,"contended":%s,"first_wait_cycles":%s,"path_tsc_reads":%s,"lat_n":%s,"lat_median_ns":%s,"lat_p99_ns":%s,"lat_clamped":%s,"boot_cycles":%s,"patch_cycles":%s,"windows":%s,"window_cv":%s,"log":"%s"}\n' \
		"$env" "$mode" "$v" "$rep" "$ok" "$pms" "${tput:-null}" "${total:-null}" "${mn:-null}" "${mx:-null}" \
		"${slowacq:-null}" "${kicks:-null}" "${blocks:-null}" "${spurious:-null}" "${spins:-null}" "${thr:-null}" "${pausens:-null}" "${early:-null}" "${unknown:-null}" "${handoffs:-null}" "${contended:-null}" "${firstwait:-null}" "${tscreads:-null}" "$lat_n" "$lat_med" "$lat_p99" "$lat_clamped" "${boot:-null}" \
		"${patch:-null}" "$wins" "$wincv" "$log" >>"$jsonl"
}

# points ENV MODE VCPUS REP LOG [MS]: point() for one boot; a mix boot's log gives one point per
# mode of the mix, from its lines tagged "[mode] " (with the boot's untagged lines: its KTAP
# verdict, the PAUSE timing), each kept as LOG.MODE.
points() {
	local env=$1 mode=$2 v=$3 rep=$4 log=$5 m pms
	if [ "$mode" != mix ]; then point "$@"; return; fi
	for m in $mixed; do
		# The first wait is the boot's, not a mode's (in the warm-up round, as a rule): no mode's point has it.
		sed -n -e '/^# stress: first wait: /d' -e '/^# \[/!p' -e "s/^# \[$m\] /# /p" "$log" >"$log.$m"
		pms=$(sed -n 's/^# stress: throughput=[0-9]* acq\/s over \([0-9]*\) ms.*/\1/p' "$log.$m" | head -1)
		point "$env" "$m" "$v" "$rep" "$log.$m" "${pms:-$ms}"
	done
}

# progress LOG PATTERN N LABEL: while an environment runs a batch, a line for each point that ends
# (its figures follow when the batch is done). Runs in the background until killed.
progress() {
	local log=$1 pat=$2 total=$3 label=$4 seen=0 now
	while sleep 5; do
		now=$(grep -c -- "$pat" "$log" 2>/dev/null)
		while [ "${now:-0}" -gt "$seen" ]; do
			seen=$((seen + 1))
			echo "# bench: $label: $(grep -- "$pat" "$log" | sed -n "${seen}p" | sed 's/.*END //') ended ($seen/$total)"
		done
	done
}

# batch ENV TAG CASES: the points CASES (name|vCPUs|mode|rep|pCPUs lines; pCPUs: Xen's pool, else
# empty) in one boot of the Xen or KVM stack, with a progress line as each guest ends; then every
# point is read from its log, and what the stack said of its scheduler goes to facts.txt.
batch() {
	local env=$1 tag=$2 cases=$3 name v m rep p watcher k wait=0 whole=600 b
	k=$(grep -c . <<<"$cases")
	local list=$out/runs/$env-$tag.cases dir=$out/runs/$env-$tag
	mkdir -p "$dir"
	while IFS='|' read -r name v m rep p; do
		b=$(boot_s "$m")
		[ "$b" -gt "$wait" ] && wait=$b
		whole=$((whole + b - 90))
		case $env in
		xen) echo "$name|$v|$(guest_args "$m" "$ms" "$((rep * 100 + v))")|$p" ;;                     # tests/env/xen.sh domus
		kvm) echo "$name|$v|host,kvm-pv-unhalt=on|$(guest_args "$m" "$ms" "$((rep * 100 + v))")" ;; # tests/env/kvm-nested.sh
		esac
	done <<<"$cases" >"$list"
	case $env in
	xen) progress "$dir/$env-$tag.xen.log" '^XENENV: END ' "$k" "$env $tag" & ;;
	kvm) progress "$dir/l1-boot.log.raw" 'KVMENV: END ' "$k" "$env $tag" & ;;
	esac
	watcher=$!
	stack "$env" "$dir" "$list" "$wait" "$whole"
	kill $watcher 2>/dev/null
	wait $watcher 2>/dev/null
	# A case the nested KVM gave up (L1 stalled twice under it: its l1.log has the KVMENV-L0
	# lines) is a fault of the emulated environment, not a result: once more in a new L1 boot.
	local again=""
	[ "$env" = kvm ] && again=$(while IFS='|' read -r name _; do [ "$(cat "$dir/$name.rc" 2>/dev/null)" = l1-stopped ] && grep "^$name|" "$list"; done <<<"$cases")
	if [ -n "$again" ]; then
		echo "# bench: $env $tag: $(grep -c . <<<"$again") case(s) given up after two L1 stalls ($dir/l1.log): once more in a new L1 boot"
		echo "$again" >"$list.again"
		stack "$env" "$dir-again" "$list.again" "$wait" "$whole"
		while IFS='|' read -r name _; do
			cp "$dir/$name.log" "$dir/$name.log.given-up"
			[ -f "$dir-again/$name.log" ] && cp "$dir-again/$name.log" "$dir/$name.log"
			cp "$dir-again/$name.rc" "$dir/$name.rc" 2>/dev/null || echo none >"$dir/$name.rc"
			echo "# bench: $env $tag: $name again: rc $(cat "$dir/$name.rc")"
		done <<<"$again"
	fi
	# Still given up (its figures ran through L1 stalls), or with no L2 status at all: a failed
	# point, whatever its guest printed.
	[ "$env" = kvm ] && while IFS='|' read -r name _; do
		not_run "$dir" "$name" &&
			echo "not ok 0 bench # L2 status '$(cat "$dir/$name.rc" 2>/dev/null)' (l1-stopped: L1 stalled twice under this case, again in a new L1 boot): no figure (see $dir${again:+-again}/l1.log)" >>"$dir/$name.log"
	done <<<"$cases"
	local long="" pms ldir=""
	while IFS='|' read -r name v m rep p; do
		[ -f "$dir/$name.log" ] || echo "# no output: the $env environment failed ($dir.env.log)" >"$dir/$name.log"
		[ "$m" != mix ] && run_again "$dir/$name.log" && long+="$name|$v|$m|$rep|$p"$'\n'
		fact "$(label "$env" "$p")" "$dir" "$name"
	done <<<"$cases"
	# The short ones once more, each for long_ms, in one more boot of the stack.
	long=$(sed '/^$/d' <<<"$long")
	if [ -n "$long" ]; then
		echo "# bench: $env $tag: $(grep -c . <<<"$long") run(s) under $min_acq acquisitions: again for $long_ms ms"
		ldir=$dir-long
		mkdir -p "$ldir"
		while IFS='|' read -r name v m rep p; do
			case $env in
			xen) echo "$name|$v|$(guest_args "$m" "$long_ms")|$p" ;;
			kvm) echo "$name|$v|host,kvm-pv-unhalt=on|$(guest_args "$m" "$long_ms")" ;;
			esac
		done <<<"$long" >"$list.long"
		stack "$env" "$ldir" "$list.long" $((long_ms / 1000 + 120)) $((whole + k * long_ms / 1000))
	fi
	while IFS='|' read -r name v m rep p; do
		pms=$ms
		grep -q "^$name|" <<<"$long" && [ -f "$ldir/$name.log" ] && { [ "$env" != kvm ] || ! not_run "$ldir" "$name"; } &&
			adopt_long "$name" "$dir/$name.log" "$ldir/$name.log" && pms=$long_ms
		points "$(label "$env" "$p")" "$m" "$v" "$rep" "$dir/$name.log" "$pms"
	done <<<"$cases"
}

# not_run DIR NAME: true if the nested KVM's case NAME in DIR has no L2 status of a guest that
# ran to its end (33 pass, 35 fail, 124 timeout): given up (l1-stopped) or never reached.
not_run() { case $(cat "$1/$2.rc" 2>/dev/null) in 33 | 35 | 124) return 1 ;; esac; }

# stack ENV DIR LIST WAIT WHOLE: one boot of the Xen or nested KVM stack running LIST's cases
# (each guest within WAIT s, all within WHOLE s), their logs in DIR.
stack() {
	case $1 in
	xen) XEN_SMP=$xen_smp DOMU_WAIT=$4 XEN_TIMEOUT=$5 tests/env/xen.sh domus "$2" "$3" ;;
	kvm) L2_TIMEOUT=$4 L1_TIMEOUT=$5 tests/env/kvm-nested.sh "$2" "$3" ;;
	esac >"$2.env.log" 2>&1 || tail -3 "$2.env.log" | sed 's/^/# /'
}

# fact LABEL DIR NAME: the first time LABEL is seen, what its stack said of the CPUs under the
# guest, its scheduler and its clock, one line in facts.txt ("LABEL|text"), for the report.
fact() {
	local t=""
	grep -q "^$1|" "$out/facts.txt" 2>/dev/null && return
	case $1 in
	xen-*p) [ -s "$2/$3.pool" ] || return
		t=$(paste -sd';' "$2/$3.pool")
		local tsc
		tsc=$(sed -n 's/^# xen: \(TSC mode .*\)/guest: \1/p' "$2/$3.log" | head -1)
		t+=${tsc:+; $tsc} ;;
	kvm) t=$(sed -n 's/^KVMENV: HOST //p' "$2/l1.log" | head -1) ;;
	esac
	[ -n "$t" ] && echo "$1|$t" >>"$out/facts.txt"
}
: >"$out/facts.txt"

# shuffle "LIST" R: LIST in an order drawn afresh for repetition R (awk's generator seeded with
# R: the same order in every run), so that a mode does not always run in the same place (first
# after a boot, right after spin, ...): a drift within a boot or a batch hits each mode alike,
# the A/A pair included.
shuffle() { awk -v r="$2" '{ srand(r); for (i = NF; i > 1; i--) { j = int(rand() * i) + 1; t = $i; $i = $j; $j = t } print }' <<<"$1"; }

# ---- the overcommit sweep ----
# Every repetition runs every vCPU count: one boot for the mix, one for each other mode, in an
# order shuffled per repetition. Xen runs up to 30 domUs per boot of its stack, whole
# repetitions each (one dom0 that ran 60 domUs in one boot lost its init: see tests/env/xen.sh),
# the nested KVM all of them in one (its script boots L1 again if L1 freezes).
boots=$alone
[ -n "$mixed" ] && boots="mix${alone:+ $alone}"
for env in $envs; do
	t_env=$(date +%s)
	pools="-"
	[ "$env" = xen ] && pools=$xen_pcpus
	echo "# bench: $env: vCPUs $vcpus_list$([ "$env" = xen ] && echo " (up to 4 per pCPU) in cpupools of $xen_pcpus pCPU(s), Xen on $xen_smp"), $reps repetitions;${mixed:+ one boot runs $mixed in windows of ${win_ms} ms, $mix_rounds to $mix_max rounds;}${alone:+ a boot each for $alone, ${ms} ms}"
	all=""
	for rep in $(seq 1 "$reps"); do
		for p in $pools; do
			p=${p#-}
			lab=$(label "$env" "$p")
			for v in $(vcpus_of "$lab"); do for m in $(shuffle "$boots" "$rep"); do all+="$lab-$m-v$v-r$rep|$v|$m|$rep|$p"$'\n'; done; done
		done
	done
	all=$(sed '/^$/d' <<<"$all")
	case $env in
	native)
		while IFS='|' read -r name v m rep _; do
			qemu_boot "$out/runs/$name.log" "$v" "$(boot_s "$m")" "$ELF" $(guest_args "$m" "$ms" "$((rep * 100 + v))")
			pms=$ms
			if [ "$m" != mix ] && run_again "$out/runs/$name.log"; then
				echo "# bench: $name: under $min_acq acquisitions: again for $long_ms ms"
				qemu_boot "$out/runs/$name.long.log" "$v" $((long_ms / 1000 + 120)) "$ELF" $(guest_args "$m" "$long_ms")
				adopt_long "$name" "$out/runs/$name.log" "$out/runs/$name.long.log" && pms=$long_ms
			fi
			points "$env" "$m" "$v" "$rep" "$out/runs/$name.log" "$pms"
		done <<<"$all" ;;
	xen)
		per_rep=$(awk -F'|' '$4 == 1' <<<"$all" | grep -c .)
		group=$((30 / per_rep))
		[ "$group" -ge 1 ] || group=1
		for first in $(seq 1 "$group" "$reps"); do
			last=$((first + group - 1))
			[ "$last" -le "$reps" ] || last=$reps
			batch xen "r$first-$last" "$(awk -F'|' -v a="$first" -v b="$last" '$4 >= a && $4 <= b' <<<"$all")"
		done ;;
	kvm) batch kvm all "$all" ;;
	*) echo "bench.sh: unknown environment '$env' (native xen kvm)" >&2; exit 2 ;;
	esac
	echo "# bench: $env: $(grep -c . <<<"$all") boots in $(($(date +%s) - t_env)) s"
done

# ---- patching: boot-time against lazy, and the UP alternatives, in native TCG ----
# patchboot/patchlazy: the PV-capable lock at 4 vCPUs with every site patched at boot, or each by
# its first run (boot cycles, the longest first wait, throughput); up/noup: native spinning on one
# vCPU with the lock's LOCK prefixes made DS prefixes at boot, or kept.
if grep -qw native <<<"$envs"; then
	echo "# bench: patching: boot vs lazy at 4 vCPUs, UP alternatives on/off at 1 vCPU, $reps repetitions of ${ms} ms"
	for rep in $(seq 1 "$reps"); do
		for pm in "patchboot|4|pvlock=auto patch=on" "patchlazy|4|pvlock=auto patch=lazy" \
			"up|1|pvlock=off up=auto" "noup|1|pvlock=off up=off"; do
			IFS='|' read -r m v a <<<"$pm"
			# shellcheck disable=SC2086 # the guest options are a list
			qemu_boot "$out/runs/native-$m-v$v-r$rep.log" "$v" $((ms / 1000 + 120)) "$ELF" $a stress.ms=$ms stress.iters=100000000 watchdog=60 $extra
			point native "$m" "$v" "$rep" "$out/runs/native-$m-v$v-r$rep.log"
		done
	done
fi

# ---- the native fast path: the kernel's lock and patcher built for this host ----
echo "# bench: fast path: uncontended lock+unlock on the host, 4 variants, instructions (callgrind) and TSC cycles"
fp=$out/fastpath-runs
mkdir -p "$fp"
fp_iters=2000000
fp_ok=1
# Cycles: 5 rounds, the variants interleaved in each; each process reports its best of 5 loops.
: >"$fp/cycles.txt"
for round in 1 2 3 4 5; do
	for v in nohooks nop call indirect; do
		bin=build/bench/fastpath
		[ $v = nohooks ] && bin=build/bench/fastpath-nohooks
		for m in free sf; do "$bin" $v $m $fp_iters >>"$fp/cycles.txt" 2>>"$fp/errors.txt" || fp_ok=0; done
	done
done
# Instructions: callgrind's count at two iteration counts; the difference over the extra
# lock+unlock pairs (5 loops of n each) is what one pair executes, start-up excluded.
: >"$fp/instructions.txt"
for v in nohooks nop call indirect; do
	bin=build/bench/fastpath
	[ $v = nohooks ] && bin=build/bench/fastpath-nohooks
	for m in free sf; do
		a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" $v $m 20000 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
		b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" $v $m 40000 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
		if [ -n "$a" ] && [ -n "$b" ]; then
			echo "$v $m $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (b - a) / 100000 }')" >>"$fp/instructions.txt"
		else
			fp_ok=0
			echo "callgrind gave no count for $v $m" >>"$fp/errors.txt"
		fi
	done
done
n=$((n + 1))
if [ $fp_ok = 1 ]; then
	passed=$((passed + 1))
	echo "ok $n fast path: 4 variants measured"
else
	failed=$((failed + 1))
	echo "not ok $n fast path: 4 variants measured"
	sed 's/^/    # /' "$fp/errors.txt"
fi
# median_of FILE VARIANT MODE: the median cycles/op of that variant's lines.
median_of() { awk -v v="$2" -v m="$3" '$1 == v && $2 == m { print $4 }' "$1" | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "null" }'; }
for v in nohooks nop call indirect; do
	for m in free sf; do
		c=$(median_of "$fp/cycles.txt" $v $m)
		i=$(awk -v v=$v -v m=$m '$1 == v && $2 == m { print $3 }' "$fp/instructions.txt")
		printf '{"env":"host","mode":"fastpath-%s","lockword":"%s","cycles_per_op":%s,"instructions_per_op":%s}\n' "$v" "$m" "$c" "${i:-null}" >>"$jsonl"
		echo "# fast path: $v lock word $m: ${i:-?} instructions, $c TSC cycles per lock+unlock (median of 5)"
	done
done

# ---- boot figures ----
size=$(stat -c %s "$ELF")
loaded=0
for m in $(readelf -lW "$ELF" | awk '$1 == "LOAD" { print $6 }'); do loaded=$((loaded + m)); done
table=$(readelf -sW "$ELF" | awk '$8 == "patch_table" { print $3 }')
read -r lk_a lk_b < <(readelf -sW "$ELF" | awk '$8 == "__start_smp_locks" { a = $2 } $8 == "__stop_smp_locks" { b = $2 } END { print a, b }')
locks=$(( (0x${lk_b:-0} - 0x${lk_a:-0}) / 4 ))
printf '{"env":"image","file_bytes":%s,"loaded_bytes":%s,"site_table_bytes":%s,"sites":%s,"lock_prefixes":%s}\n' "$size" "$loaded" \
	"${table:-null}" "$(build/host/sitegen --list "$ELF" | wc -l)" "${locks:-null}" >>"$jsonl"
echo "# image: $ELF $size bytes, $loaded bytes loaded, site table ${table:-?} bytes"

# ---- tables, plot, BENCHMARKS.md ----
# A run of make bench's own configuration is compared with the committed one, which it replaces
# (kept in tests/bench/previous/): BENCHMARKS.md says where the two agree.
default=0
[ -z "${BENCH_ENVS:-}${BENCH_XEN_PCPUS:-}${BENCH_VCPUS:-}${BENCH_MODES:-}${BENCH_REPS:-}${BENCH_MS:-}${BENCH_WINDOW_MS:-}${BENCH_ROUNDS:-}${BENCH_MAX_ROUNDS:-}${BENCH_ARGS:-}${BENCH_MIN_ACQ:-}${BENCH_LONG:-}${BENCH_PREV:-}${ELF#build/pvtick.elf}" ] && default=1
command="make bench$([ "${QUICK:-0}" = 1 ] && echo " QUICK=1")"
prev="" prev_cmd="" prev_same=0
if [ -n "${BENCH_PREV:-}" ]; then
	prev=$BENCH_PREV prev_cmd="$BENCH_PREV" prev_same=1
elif [ $default = 1 ] && [ -s tests/bench/points.jsonl ]; then
	prev=$out/previous-points.jsonl
	cp tests/bench/points.jsonl "$prev"
	prev_cmd=$(sed -n 's/^Written by `\([^`]*\)` .* on \([0-9-]* [0-9:]* UTC\).*/\1, on \2/p' tests/bench/BENCHMARKS.md | head -1)
	# Only a run of the same command is compared: another configuration's points differ in length and labels.
	[ "${prev_cmd%%, on *}" = "$command" ] && prev_same=1
fi
MIXED="$mixed" WIN_MS=$win_ms ROUNDS=$mix_rounds MAX_ROUNDS=$mix_max PREV=$prev PREV_CMD=$prev_cmd PREV_SAME=$prev_same PREV_KEPT=$([ -z "${BENCH_PREV:-}" ] && echo tests/bench/previous/) "$here/bench/report.sh" "$jsonl" "$out" "$reps" "$ms" "$labels" "$vcpus_list" "$modes" \
	"$command" "$(($(date +%s) - start))" || { failed=$((failed + 1)); echo "not ok report"; }
# Only a whole run of make bench's own configuration replaces the committed results.
if [ $default = 1 ] && [ "$failed" = 0 ]; then
	if [ -n "$prev" ]; then
		rm -rf tests/bench/previous
		mkdir -p tests/bench/previous
		mv tests/bench/BENCHMARKS.md tests/bench/throughput.png tests/bench/points.jsonl tests/bench/previous/ ||
			{ failed=$((failed + 1)); echo "not ok keeping the committed run in tests/bench/previous/"; }
	fi
	cp "$out/BENCHMARKS.md" "$out/throughput.png" "$jsonl" tests/bench/ || { failed=$((failed + 1)); echo "not ok copying the results to tests/bench/"; }
	where_to="copied to tests/bench/${prev:+, the run before moved to tests/bench/previous/}"
elif [ $default = 1 ]; then
	where_to="not copied to tests/bench/: $failed point(s) or step(s) failed"
else
	where_to="not copied to tests/bench/: BENCH_*/ELF settings differ from make bench's"
fi
echo "# bench: $(($(date +%s) - start)) s; $jsonl, $out/throughput.png, $out/BENCHMARKS.md ($where_to)"
echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

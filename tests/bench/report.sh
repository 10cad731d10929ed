#!/bin/bash
# SPDX-License-Identifier: MIT
# report.sh: turn make bench's points (JSON lines) into tables, ratios, a plot and BENCHMARKS.md.
# Usage: tests/bench/report.sh POINTS.jsonl OUTDIR REPS MS "ENVS" "VCPUS" "MODES" "COMMAND" SECONDS
# ENVS are the points' environments (native, xen-2p, xen-1p, kvm: Xen's carry their pool's pCPUs).
# Writes OUTDIR/BENCHMARKS.md and OUTDIR/throughput.png. Every figure in them is computed here
# from POINTS.jsonl: medians over the repetitions, ratios of medians; what each stack said of its
# scheduler and clock comes from OUTDIR/facts.txt (bench.sh writes it from the stacks' logs).
set -uo pipefail
jsonl=$1 out=$2 reps=$3 ms=$4 envs=$5 vcpus_list=$6 modes=$7 command=$8 secs=$9
here=$(cd "$(dirname "$0")" && pwd)
# commit: the checkout's commit, "-dirty" if a file differs from it other than make bench's own
# results in tests/bench/ (a run before this one of make bench wrote them there).
commit() {
	local c top
	c=$(git -C "$here" rev-parse --short HEAD 2>/dev/null) && top=$(git -C "$here" rev-parse --show-toplevel) ||
		{ echo '(not a git checkout)'; return; }
	[ -n "$(git -C "$top" status --porcelain -- . ':(exclude)tests/bench/BENCHMARKS.md' ':(exclude)tests/bench/points.jsonl' \
		':(exclude)tests/bench/throughput.png' ':(exclude)tests/bench/previous')" ] && c+=-dirty
	echo "$c"
}
md=$out/BENCHMARKS.md
# Medians with their intervals, ratios to spin with theirs, the A/A control, verdicts.
stats=$(awk -f "$here/stats.awk" -v pairs="pvpreempt:pv" "$jsonl")
# pstat ENV VCPUS MODE: "median lo hi coverage" of the point, or "- - - -"
pstat() { awk -F'\t' -v e="$1" -v v="$2" -v m="$3" '$1 == "P" && $2 == e && $3 == v && $4 == m { print $6, $7, $8, $9; f = 1 } END { if (!f) print "- - - -" }' <<<"$stats"; }
# rstat ENV VCPUS MODE: "ratio|lo|hi|aa|aalo|aahi|verdict", or "-|-|-|-|-|-|-"
rstat() { awk -F'\t' -v e="$1" -v v="$2" -v m="$3" '$1 == "R" && $2 == e && $3 == v && $4 == m { print $6 "|" $7 "|" $8 "|" $9 "|" $10 "|" $11 "|" $12; f = 1 } END { if (!f) print "-|-|-|-|-|-|-" }' <<<"$stats"; }
# The A/A target, in one place: the spin2 / spin interval lies within [AA_LO, AA_HI].
AA_LO=0.90 AA_HI=1.10
AA="[$AA_LO, $AA_HI]"
# aa_within [counted]: "k n": k of the n spin2 points with an interval lie within the target
# (with `counted`, only points not marked "short run").
aa_within() {
	awk -F'\t' -v lo="$AA_LO" -v hi="$AA_HI" -v counted="${1:-}" '$1 == "R" && $4 == "spin2" && $7 != "-" && !(counted != "" && $12 == "short run") {
		n++; if ($7 + 0 >= lo && $8 + 0 <= hi) k++ } END { print k + 0, n + 0 }' <<<"$stats"
}

# field LINE KEY: a value from one of our flat JSON lines (numbers, true/false/null, plain strings).
# med ENV MODE VCPUS KEY [max]: the median (or the largest) of KEY over the passing points there
# ("-" if none).
med() {
	awk -v e="$1" -v m="$2" -v v="$3" -v k="$4" -v agg="${5:-median}" '
		function field(key,   r) {
			if (match($0, "\"" key "\":(\"[^\"]*\"|[^,}]*)")) { r = substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3); gsub(/"/, "", r); return r }
			return ""
		}
		field("env") == e && field("mode") == m && field("vcpus") == v && field("ok") == "true" {
			x = field(k); if (x != "null" && x != "") a[++n] = x + 0
		}
		END {
			if (!n) { print "-"; exit }
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			if (agg == "max") { print a[n]; exit }
			print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}' "$jsonl"
}
count() { # count ENV MODE VCPUS: passing points there
	grep -c "\"env\":\"$1\",\"mode\":\"$2\",\"vcpus\":$3,.*\"ok\":true" "$jsonl"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
fmt() { awk -v x="$1" 'BEGIN { if (x == "-") print "-"; else if (x >= 1000) printf "%.0f", x; else if (x == int(x)) printf "%d", x; else printf "%.2f", x }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1f%%", 100 * a / b }'; }
fp() { # fp VARIANT LOCKWORD KEY
	awk -v v="fastpath-$1" -v w="$2" -v k="$3" '
		index($0, "\"mode\":\"" v "\"") && index($0, "\"lockword\":\"" w "\"") {
			if (match($0, "\"" k "\":[^,}]*")) print substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3) }' "$jsonl"
}
where() { # where ENV: the physical CPUs the vCPUs share
	case $1 in
	native) echo "QEMU TCG (MTTCG), one host thread per vCPU on this machine's $(nproc) cores" ;;
	xen-*p) echo "PVH domU of Xen 4.17 in a cpupool of ${1//[!0-9]/} pCPU(s) that nothing else uses (dom0 keeps pCPU 0): N vCPUs on ${1//[!0-9]/} pCPU(s); Xen's pCPUs run under QEMU TCG, round-robin on one host thread" ;;
	kvm) echo "Linux KVM L2 guest on an L1 with 1 vCPU (nested under QEMU TCG): N vCPUs on 1 L1 CPU" ;;
	*) echo "$1" ;;
	esac
}
facts() { # facts ENV: what the stack said of its scheduler and clock ("" if nothing)
	sed -n "s/^$1|//p" "$out/facts.txt" 2>/dev/null | head -1
}
vcpus_in() { # vcpus_in ENV: the vCPU counts of VCPUS that ENV has points at
	local v r=""
	for v in $vcpus_list; do grep -q "\"env\":\"$1\",\"mode\":\"[a-z0-9]*\",\"vcpus\":$v," "$jsonl" && r+=" $v"; done
	echo "${r# }"
}

color() { case $1 in pv) echo "#1f77b4" ;; pvpreempt) echo "#2ca02c" ;; spin) echo "#d62728" ;; spin2) echo "#ff9896" ;; unpatched) echo "#9467bd" ;; *) echo "#7f7f7f" ;; esac; }
# ---- the plot: throughput vs vCPUs, one line per mode (the bars: the median's interval), one panel per environment ----
nenv=$(wc -w <<<"$envs")
plot=$out/plot.gp
{
	echo "set terminal pngcairo size $((460 * nenv)),420 font ',10'"
	echo "set output '$out/throughput.png'"
	echo "set multiplot layout 1,$nenv title 'pvtick make bench: lock acquisitions/s, median of $reps boots with its interval, log scale'"
	echo "set logscale y; set xlabel 'vCPUs'; set ylabel 'acquisitions/s'; set key top right; set grid"
	echo "set xtics ($(sed 's/ /, /g' <<<"$vcpus_list"))"
	for env in $envs; do
		echo "set title '$env'"
		p="plot"
		for m in $modes; do
			[ "$m" = pvlat ] && continue # a latency run: its throughput is perturbed by its timing
			f=$out/plot-$env-$m.dat
			: >"$f"
			for v in $(vcpus_in "$env"); do
				read -r y lo hi _ < <(pstat "$env" "$v" "$m")
				[ "$y" != - ] && [ "$y" != 0 ] && [ "$lo" != 0 ] && echo "$v $y $lo $hi" >>"$f"
			done
			[ -s "$f" ] || echo "1 NaN NaN NaN" >"$f"
			p+=" '$f' using 1:2 with lines notitle lc '$(color "$m")', '$f' using 1:2:3:4 with yerrorbars title '$m' lc '$(color "$m")' pt 7 ps 0.5,"
		done
		echo "${p%,}"
	done
	echo "unset multiplot"
} >"$plot"
gnuplot "$plot" || { echo "report.sh: gnuplot failed on $plot" >&2; exit 1; }

# ---- BENCHMARKS.md ----
{
	echo "# pvtick benchmarks"
	echo
	echo "Written by \`$command\` (tests/bench.sh, tests/bench/report.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'), in ${secs} s, at commit $(commit)."
	echo "Every number below comes from that one run: \`points.jsonl\` beside this file holds each point."
	echo
	echo "## Machine"
	echo
	echo "- $(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(free -g | awk '/^Mem:/ { print $2 }') GiB; Linux $(uname -r)"
	echo "- $(qemu-system-x86_64 --version | head -1); Xen $(dpkg-query -W -f='${Version}' xen-hypervisor-4.17-amd64 2>/dev/null || echo '(not installed)'); L1 Linux for KVM: $(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null | grep -o 'linux-image-[0-9][^ ,]*' | head -1)"
	echo "- a shared machine: other work may run beside the benchmark, which is why the modes are"
	echo "  interleaved and every figure is a median"
	echo
	echo "## Method"
	echo
	echo "Every vCPU takes one lock again and again, checking mutual exclusion, and the acquisitions"
	echo "are counted. **Clock: the guest's TSC** (the BSP's), converted with the TSC frequency the"
	echo "guest found (PIT, or Xen's CPUID leaf). A run stops at the first timer tick (every 100 ms)"
	echo "past its length; its throughput counts from the common start to that tick, not the drain after."
	echo
	echo "**The mix.** The modes \`spin spin2 pv pvpreempt tas\` run side by side in one boot of pvtick"
	echo "per vCPU count and repetition (\`stress.modes=\`): in windows of ${WIN_MS:-?} ms each, in rounds"
	echo "of every mode once, in an order the guest shuffles per round (seeded with the repetition and"
	echo "the vCPU count): a warm-up round not counted, then at least ${ROUNDS:-?} rounds, and more, up to"
	echo "${MAX_ROUNDS:-?}, while a mode has fewer than ${BENCH_MIN_ACQ:-10000} acquisitions. Between two windows every vCPU is"
	echo "out of the lock, and the BSP rewrites the sites for the next mode. A mode's figure is its"
	echo "acquisitions over its windows' time. So spin and spin2, the A/A pair, share their boot with"
	echo "the modes they judge, and alternate with them in it."
	echo "**Other modes** (\`unpatched\`, \`pvlat\`): a boot of their own, of ${ms} ms (\`stress.ms=$ms\`)."
	echo "The boots of a repetition run in an order drawn afresh for each (the same in every run); $reps repetitions$([ "${command% QUICK=1}" != "$command" ] && echo " (QUICK leaves out \`unpatched\`, \`pvlat\` and the 1-vCPU points: a full \`make bench\` runs them)"):"
	echo
	echo "| mode | guest options | what it is |"
	echo "| --- | --- | --- |"
	for m in $modes; do
		case $m in
		pv) echo "| pv | mix: the backend's calls, \`vcpu_is_preempted\` native | the backend's slow path (Xen: SCHEDOP_poll / EVTCHNOP_send; KVM: HLT / KVM_HC_KICK_CPU) after \`spin_threshold\` spins, sites patched to direct calls; native TCG has no backend: NOPs |" ;;
		pvpreempt) echo "| pvpreempt | mix: the backend's plans (\`pvlock=auto preempt=auto\` at boot) | pv, and \`vcpu_is_preempted\` read from the hypervisor (Xen: runstate area; KVM: steal-time record): a waiter whose served ticket's vCPU is preempted blocks at once; KVM kicks a preempted next waiter for the directed yield |" ;;
		spin) echo "| spin | mix: every site native | plain ticket spinning, sites patched to NOPs: **the reference of every ratio** |" ;;
		spin2) echo "| spin2 | mix: every site native | spin again under a second label, interleaved like every mode: **the A/A control**; spin2 / spin at a point is that point's noise floor |" ;;
		unpatched) echo "| unpatched | \`patch=off preempt=off\` | pv through the unpatched indirect calls |" ;;
		pvlat) echo "| pvlat | \`pvlock=auto preempt=off stress.latency=on\` | pv with each kick and wake-up timed: **the latency run** (its two TSC reads per hand-off are VM exits where the TSC is emulated); no ratio, no verdict; every other mode must read the TSC 0 times on that path, or its point fails |" ;;
		tas) echo "| tas | mix: the test-and-set lock instead (as \`stress.lock=tas\`) | test-and-set with exponential backoff, no hooks: the kind of lock Linux falls back to on a hypervisor without PV locks (its \`virt_spin_lock\` is test-and-test-and-set, without backoff) |" ;;
		esac
	done
	echo
	echo "Per point: acquisitions/s; fairness as the fewest/most acquisitions of one vCPU (in the"
	echo "mix: over the mode's windows; in a boot of its own: when the first vCPU finished); the share"
	echo "of acquisitions that called \`lock_spinning\` at least once; kicks sent; and, in the pvlat"
	echo "runs only (no throughput run reads the TSC on that path), the kick-to-wake"
	echo "latency, measured in the guest from the kicker's TSC just before the kick to the woken vCPU's"
	echo "TSC when it runs again, both on the BSP's clock (each vCPU's TSC skew against the BSP is"
	echo "measured before the run: 16 round trips, the shortest kept), merged over vCPUs in a"
	echo "log-linear histogram (1/16 relative resolution): median and 99th percentile. A sample whose"
	echo "corrected wake-up stamp falls before its kick's is counted as 0 and as *clamped*: a high"
	echo "clamped share says the skew estimate was off by more than the latency (vCPUs that share one"
	echo "CPU, as under the nested KVM, have long and uneven round trips), and that latency column is"
	echo "not to be trusted."
	echo
	echo "## Throughput"
	echo
	echo "![throughput vs vCPUs](throughput.png)"
	echo
	for env in $envs; do
		echo "### $env: $(where "$env")"
		echo
		f=$(facts "$env")
		[ -n "$f" ] && { echo "As the stack reported it: $f."; echo; }
		case $env in
		kvm) echo "No pause-loop exiting here: QEMU's SVM emulation offers no pause filter, so a spinning L2 vCPU keeps its L1 CPU for its whole slice; on hardware with a pause filter KVM would deschedule it after a short spin, and spinning would lose far less. These ratios are true of this nested host, not of KVM on hardware."; echo ;;
		xen-*p) echo "Xen's TSC mode shapes the clock: where RDTSC is emulated every read is a VM exit, which is why no throughput run reads it on the kick and wake path."; echo ;;
		esac
		echo "| vCPUs | mode | acq/s: median [interval] (runs) | / spin [95% interval] | A/A: spin2 / spin [95%] | verdict |"
		echo "| --- | --- | --- | --- | --- | --- |"
		for v in $(vcpus_in "$env"); do
			for m in $modes; do
				read -r pm plo phi _ < <(pstat "$env" "$v" "$m")
				IFS='|' read -r r rlo rhi aar aalo aahi verdict < <(rstat "$env" "$v" "$m")
				cell="$(fmt "$pm") [$(fmt "$plo"), $(fmt "$phi")] ($(count "$env" "$m" "$v"))"
				if [ "$m" = spin ]; then rc="(reference)" ac="" verdict=""
				else
					rc="$r [$rlo, $rhi]" ac="$aar [$aalo, $aahi]"
					[ "$r" = - ] && rc=- ac=-
				fi
				[ "$m" = spin2 ] && ac="" verdict="(the control)"
				[ "$m" = pvlat ] && rc="(latency run)" ac="" verdict=""
				echo "| $v | $m | $cell | $rc | $ac | $verdict |"
			done
		done
		echo
		echo "In parentheses: how many of the $reps repetitions passed (a failed run is no point). The"
		echo "median's interval is the pair of order statistics with at least 95% coverage, or [min, max]"
		echo "below 6 runs ($reps runs: $(awk -F'\t' '$1 == "P" { print $9 "%"; exit }' <<<"$stats") coverage; a point with fewer passing runs covers less). A ratio is the"
		echo "geometric mean of the per-repetition ratios (repetition r of a mode against repetition r of"
		echo "spin: in the mix, the same boot), with Student's t interval. **Verdict**: pays or costs only where the"
		echo "ratio's interval lies wholly above or below both the A/A interval at that point and 1; else no measurable"
		echo "difference; *short run*: a repetition there had fewer than ${BENCH_MIN_ACQ:-10000} acquisitions even after"
		echo "${MAX_ROUNDS:-?} rounds of the mix (another mode: after a run ${BENCH_LONG:-4} times as long, in a later boot); each"
		echo "point's \`ms\` in points.jsonl says how long it ran."
		echo "Each verdict is at 95%: among this report's many verdicts, a few pays or costs are expected from chance alone."
		echo
		echo "| vCPUs | mode | fairness min/max | slow-path share | kicks | kick-to-wake median | p99 | clamped |"
		echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
		for v in $(vcpus_in "$env"); do
			for m in $modes; do
				[ "$m" = tas ] && continue
				mn=$(med "$env" "$m" "$v" min_acq) mx=$(med "$env" "$m" "$v" max_acq)
				sh=$(pct "$(med "$env" "$m" "$v" slow_acquisitions)" "$(med "$env" "$m" "$v" total)")
				l50=$(med "$env" "$m" "$v" lat_median_ns) l99=$(med "$env" "$m" "$v" lat_p99_ns)
				cl=$(pct "$(med "$env" "$m" "$v" lat_clamped)" "$(med "$env" "$m" "$v" lat_n)")
				[ "$l50" = - ] && cl=-
				echo "| $v | $m | $(fmt "$mn")/$(fmt "$mx") | $sh | $(fmt "$(med "$env" "$m" "$v" kicks)") | $([ "$l50" = - ] && echo - || echo "$(fmt "$l50") ns") | $([ "$l99" = - ] && echo - || echo "$(fmt "$l99") ns") | $cl |"
			done
		done
		echo
	done
	if grep -q '^W' <<<"$stats"; then
		nmix=$(wc -w <<<"${MIXED:-}")
		echo "## The noise floor"
		echo
		echo "The A/A interval (spin2 / spin) at each point, beside what the windows of the two modes say"
		echo "of it. *Windows*: how many windows of spin, and of spin2, the point counted over its"
		echo "repetitions (per mode, the mean of the two). *Spread*: the coefficient of variation of the"
		echo "window rates (acquisitions/s) within a boot, pooled over both modes. *Model*: the A/A"
		echo "interval that spread gives if windows were independent (t c sqrt(2 / windows), stats.awk);"
		echo "where windows of one boot move together it is wider than the measured one. *Needed*: how"
		echo "many windows of each mode would bring the interval within $AA: by the model, and"
		echo "from the measured interval (its half-width shrinking as 1 / sqrt(windows), itself an"
		echo "estimate from $reps repetitions); and how long the mix would run for the model's count"
		echo "($nmix modes a round, ${WIN_MS:-?} ms a window)."
		echo
		echo "| environment | vCPUs | A/A [95%] | within $AA | windows | spread | model | needed: model | needed: measured | the mix would run |"
		echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
		awk -F'\t' -v nmix="$nmix" -v wms="${WIN_MS:-0}" -v lo="$AA_LO" -v hi="$AA_HI" '
			$1 == "R" && $4 == "spin2" { A[$2 "|" $3] = $6 " [" $7 ", " $8 "]"; IN[$2 "|" $3] = ($7 != "-" && $7 + 0 >= lo && $8 + 0 <= hi) ? "yes" : "no"; LO[$2 "|" $3] = $7; HI[$2 "|" $3] = $8 }
			$1 == "W" {
				k = $2 "|" $3; t = $9 * nmix * wms / 1000
				run = $9 <= $5 ? "(this run had them)" : (t >= 3600 ? sprintf("%.1f h", t / 3600) : sprintf("%.0f min", t / 60)) " a point"
				meas = "-"
				if (LO[k] + 0 > 0) { h = (log(HI[k]) - log(LO[k])) / 2; m = $5 * (h / log(1.1)) ^ 2; meas = m == int(m) ? m : int(m) + 1 }
				printf "| %s | %s | %s | %s | %s | %s | [%s, %s] | %s | %s | %s |\n", $2, $3, A[k], IN[k], $5, $6, $7, $8, $9, meas, run
			}' <<<"$stats"
		echo
		read -r aa_k aa_n < <(aa_within)
		echo "The A/A interval lies within $AA at $aa_k of $aa_n points."
		echo
	fi
	if grep -qw pvpreempt <<<"$modes" && grep -qw pv <<<"$modes"; then
		echo "## Preemption awareness"
		echo
		echo "\`pvpreempt\` against \`pv\` at the same point: their ratio, paired by repetition,"
		echo "and pvpreempt's median counts per run of early slow-path entries (a waiter saw the vCPU"
		echo "holding the served ticket preempted and blocked at once) and of unlocks that handed the"
		echo "lock to a preempted vCPU (counted when nobody was blocked for the next ticket), and the"
		echo "share of contended acquisitions whose wait could not tell who held the served ticket (a"
		echo "holder that took the lock at once leaves no queue record, so its preemption goes unseen)."
		echo "The ratio is paired by repetition like every other, with its 95% interval; the verdict at"
		echo "each point compares it with that point's A/A interval (spin2 / spin): pays or costs only"
		echo "wholly outside it. Where preemption awareness never acted (no early entry, no handoff to a"
		echo "preempted vCPU), pv and pvpreempt ran the same code, and their ratio is noise whatever it says."
		echo
		for env in $envs; do
			[ "$env" = native ] && continue
			echo "| $env vCPUs | pv acq/s | pvpreempt acq/s | pvpreempt / pv [95%] | A/A [95%] | verdict | early entries | handoffs to a preempted vCPU | holder unknown |"
			echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
			for v in $(vcpus_in "$env"); do
				a=$(med "$env" pv "$v" acq_per_s) b=$(med "$env" pvpreempt "$v" acq_per_s)
				read -r q qlo qhi qv < <(awk -F'\t' -v e="$env" -v v="$v" '$1 == "Q" && $2 == e && $3 == v { print $7, $8, $9, $10; f = 1 } END { if (!f) print "- - - -" }' <<<"$stats")
				IFS='|' read -r _ _ _ aar aalo aahi _ < <(rstat "$env" "$v" pvpreempt)
				e=$(med "$env" pvpreempt "$v" early_entries) h=$(med "$env" pvpreempt "$v" handoffs_preempted)
				# Acted in no repetition (the most of any run, not the median): pv and pvpreempt ran the same code.
				[ "$(med "$env" pvpreempt "$v" early_entries max)" = 0 ] && [ "$(med "$env" pvpreempt "$v" handoffs_preempted max)" = 0 ] &&
					qv="did not act in any run: same code"
				echo "| $v | $(fmt "$a") | $(fmt "$b") | $q [$qlo, $qhi] | $aar [$aalo, $aahi] | $qv | $(fmt "$e") | $(fmt "$h") | $(pct "$(med "$env" pvpreempt "$v" holder_unknown)" "$(med "$env" pvpreempt "$v" contended)") |"
			done
			echo
		done
	fi
	if grep -q '"mode":"patchboot"' "$jsonl"; then
		img=$(grep '"env":"image"' "$jsonl" | tail -1)
		tb=$(sed -n 's/.*"site_table_bytes":\([0-9]*\).*/\1/p' <<<"$img") fb=$(sed -n 's/.*"file_bytes":\([0-9]*\).*/\1/p' <<<"$img")
		echo "## Patching: at boot or lazily, and the UP alternatives"
		echo
		echo "Native TCG, $reps repetitions of ${ms} ms each, medians. \`patchboot\`: \`pvlock=auto patch=on\`, every"
		echo "site of the table rewritten before the APs start; \`patchlazy\`: \`patch=lazy\`, no site at boot, each"
		echo "rewritten live (breakpoint protocol, an IPI round to every vCPU per step) by its first run. Boot: TSC"
		echo "cycles from the PVH entry to all vCPUs up. First wait: the longest, over the vCPUs, of each one's first"
		echo "acquisition that had to wait (the first that runs the slow path's sites, so under \`patch=lazy\` the"
		echo "one that pays for resolving them)."
		echo
		echo "| mode | vCPUs | acq/s | boot cycles | of which patching | longest first wait, cycles |"
		echo "| --- | --- | --- | --- | --- | --- |"
		for m in patchboot patchlazy; do
			echo "| $m | 4 | $(fmt "$(med native $m 4 acq_per_s)") | $(fmt "$(med native $m 4 boot_cycles)") | $(fmt "$(med native $m 4 patch_cycles)") | $(fmt "$(med native $m 4 first_wait_cycles)") |"
		done
		echo
		echo "Image: $fb bytes on disk, of which the site table patch/sitegen fills is $tb bytes: a lazy-only image"
		echo "could leave it out ($((fb - tb)) bytes). Lazy patching trades that and the boot-time loop for a first"
		echo "wait that includes three IPI rounds per site it resolves."
		echo
		echo "UP alternatives, one vCPU, native spinning (\`pvlock=off\`): \`up\` has the lock's LOCK prefixes"
		echo "made DS prefixes at boot (\`up=auto\`), \`noup\` keeps them (\`up=off\`)."
		echo
		echo "| mode | vCPUs | acq/s | up / noup |"
		echo "| --- | --- | --- | --- |"
		u=$(med native up 1 acq_per_s) nu=$(med native noup 1 acq_per_s)
		echo "| up | 1 | $(fmt "$u") | $(ratio "$u" "$nu") |"
		echo "| noup | 1 | $(fmt "$nu") | 1.00 |"
		echo
	fi
	echo "## Native fast path (host)"
	echo
	echo "The kernel's \`locks/\` and \`patch/\` built for this host (\`tests/bench/fastpath.c\`): an"
	echo "uncontended lock+unlock loop. \`nohooks\` is built with the hooks compiled out (no site, no"
	echo "slow-path flag test, the unlock a load, add and store); in the others \`patch_apply\` rewrites"
	echo "the process's own sites (through /proc/self/mem) as the native backend does (\`nop\`: NOPs,"
	echo "\`mov \$0,%eax\`, and the unlock in place, \`addw \$2,0x0(%rdi)\`), to direct calls (\`call\`: the"
	echo "unlock calls \`ticket_release_pv\`, the PV unlock, whose \`unlock_kick\` site calls an empty hook),"
	echo "or leaves them indirect. With the lock word as the kernel has it (\`free\`) the PV unlock tests SF"
	echo "and skips its \`unlock_kick\` site; with SF kept set (\`sf\`) every PV unlock runs it; the"
	echo "native unlock never looks at SF. Instructions: callgrind,"
	echo "the count at 2x10^5 minus at 10^5 lock+unlock pairs (5 loops of 4x10^4 and of 2x10^4); cycles: TSC, median of 5 interleaved rounds."
	echo
	echo "| variant | lock word | instructions per lock+unlock | TSC cycles per lock+unlock | cycles / nohooks |"
	echo "| --- | --- | --- | --- | --- |"
	base=$(fp nohooks free cycles_per_op)
	for v in nohooks nop call indirect; do
		for w in free sf; do
			[ $v = nohooks ] && [ $w = sf ] && continue
			c=$(fp $v $w cycles_per_op)
			echo "| $v | $w | $(fp $v $w instructions_per_op) | $c | $(ratio "$c" "$base") |"
		done
	done
	echo
	echo "## Boot"
	echo
	img=$(grep '"env":"image"' "$jsonl" | tail -1)
	echo "Image: $(sed -n 's/.*"file_bytes":\([0-9]*\).*/\1/p' <<<"$img") bytes on disk, $(sed -n 's/.*"loaded_bytes":\([0-9]*\).*/\1/p' <<<"$img") bytes loaded (PT_LOAD memory sizes)."
	echo
	echo "| environment | vCPUs | TSC cycles, PVH entry to all vCPUs up (median, pv runs) | of which patching |"
	echo "| --- | --- | --- | --- |"
	for env in $envs; do
		for v in $(vcpus_in "$env"); do
			echo "| $env | $v | $(fmt "$(med "$env" pv "$v" boot_cycles)") | $(fmt "$(med "$env" pv "$v" patch_cycles)") |"
		done
	done
	echo
	echo "## Goals"
	echo
	echo "Goals to measure against, not asserted by tests, each judged by the ratio's 95% interval:"
	echo "met when the whole interval is on the goal's side, missed when the whole interval is not,"
	echo "else undecided. \"1x\" is as many vCPUs as CPUs under them (Xen: 2 vCPUs on a pool of 2 pCPUs);"
	echo "\"4 vCPUs\" is 2x overcommit on Xen's 2-pCPU pool, 4x on its 1-pCPU pool and under the nested KVM. There is no 1x goal for"
	echo "the nested KVM: its only 1x point is 1 vCPU on its 1 L1 CPU, where the KVM backend declines"
	echo "(pv and spin run the same code there); an L1 with 2 CPUs froze under QEMU TCG"
	echo "(tests/env/kvm-nested.sh)."
	echo
	echo "| goal | measured [95%] | verdict |"
	echo "| --- | --- | --- |"
	for env in $envs; do
		case $env in xen-*p | kvm) ;; *) continue ;; esac
		IFS='|' read -r r lo hi _ _ _ why < <(rstat "$env" 4 pv)
		v=$(awk -v lo="$lo" -v hi="$hi" -v w="$why" 'BEGIN { if (lo == "-") print "not measured"; else if (w == "short run") print "undecided: a short run"; else if (lo >= 5) print "met"; else if (hi < 5) print "missed"; else print "undecided" }')
		echo "| $env (emulated, under QEMU TCG): PV >= 5x ticket spinning at 4 vCPUs | ${r}x [$lo, $hi] | $v |"
		[ "$env" = xen-2p ] || continue
		IFS='|' read -r r lo hi _ _ _ why < <(rstat "$env" 2 pv)
		v=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN { if (lo == "-") print "not measured"; else if (lo >= 0.95 && hi <= 1.05) print "met"; else if (hi < 0.95 || lo > 1.05) print "missed"; else print "undecided" }')
		echo "| $env (emulated, under QEMU TCG): PV within 5% of ticket spinning at 1x (2 vCPUs) | ${r}x [$lo, $hi] | $v |"
	done
	d=$(awk -v a="$(fp nop free instructions_per_op)" -v b="$(fp nohooks free instructions_per_op)" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%+.2f", a - b }')
	v=$(awk -v d="$d" 'BEGIN { if (d == "-") print "not measured"; else if (d + 0 <= 0) print "met"; else printf "missed by %s instructions", d }')
	aa=$(aa_within counted)
	av=$(awk -v a="$aa" 'BEGIN { split(a, x, " "); if (x[2] == 0) print "not measured"; else if (x[1] == x[2]) print "met"; else print "missed" }')
	echo "| A/A control (spin2 / spin) within $AA at every point with at least ${BENCH_MIN_ACQ:-10000} acquisitions | within at ${aa% *} of ${aa#* } points (the noise floor, above) | $av |"
	echo "| NOP-patched fast path: no more instructions than hooks compiled out | $d instructions | $v |"
	echo
	echo "## What the counters say"
	echo
	echo "Worked out by report.sh from this run's counters (medians over the repetitions), not written"
	echo "by hand. Per acquisition: its share of wall time (1 s / acq/s, every vCPU together); the"
	echo "share of acquisitions that found the lock taken (*waited*) and that went on to the slow path;"
	echo "PAUSEs spun per wait (and what one PAUSE cost, timed by the guest before the start); blocks (SCHEDOP_poll under Xen, HLT under KVM) and kicks per"
	echo "acquisition; fairness as the most / fewest acquisitions of one vCPU (1.0: all the same; a"
	echo "ticket lock serves in arrival order, test-and-set does not)."
	echo
	for env in $envs; do
		[ "$env" = native ] && continue
		echo "### $env"
		echo
		echo "| vCPUs | mode | us per acquisition | waited | slow path | spins per wait | us per PAUSE | blocks / acq | kicks / acq | fairness max/min |"
		echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
		for v in $(vcpus_in "$env"); do
			for m in pv spin tas; do
				grep -qw "$m" <<<"$modes" || continue
				awk -v v="$v" -v m="$m" -v t="$(med "$env" "$m" "$v" acq_per_s)" -v tot="$(med "$env" "$m" "$v" total)" \
					-v c="$(med "$env" "$m" "$v" contended)" -v sl="$(med "$env" "$m" "$v" slow_acquisitions)" -v sp="$(med "$env" "$m" "$v" spins)" \
					-v b="$(med "$env" "$m" "$v" blocks)" -v k="$(med "$env" "$m" "$v" kicks)" -v pn="$(med "$env" "$m" "$v" pause_ns)" \
					-v mn="$(med "$env" "$m" "$v" min_acq)" -v mx="$(med "$env" "$m" "$v" max_acq)" '
					function ok(x) { return x != "-" && x != "" }
					function per(a, b) { return (!ok(a) || !ok(b) || b == 0) ? "-" : sprintf("%.3g", a / b) }
					function pc(a, b) { return (!ok(a) || !ok(b) || b == 0) ? "-" : sprintf("%.3g%%", 100 * a / b) }
					BEGIN { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", v, m, (!ok(t) || t == 0) ? "-" : sprintf("%.3g", 1e6 / t),
						pc(c, tot), m == "tas" ? "-" : pc(sl, tot), m == "tas" ? "-" : per(sp, c), m == "tas" || !ok(pn) ? "-" : sprintf("%.3g", pn / 1000),
						m == "tas" ? "-" : per(b, tot), m == "tas" ? "-" : per(k, tot), per(mx, mn) }'
			done
		done
		echo
		# The sentences, at the largest vCPU count measured there.
		v=$(vcpus_in "$env" | awk '{ print $NF }')
		args=()
		for m in pv spin tas pvlat; do
			for k in acq_per_s total contended slow_acquisitions spins blocks min_acq max_acq spin_threshold lat_median_ns pause_ns; do
				args+=(-v "${m}_$k=$(med "$env" "$m" "$v" "$k")")
			done
		done
		pvmaxslow=$(med "$env" pv "$v" slow_acquisitions max)
		IFS='|' read -r tr _ _ _ _ _ tv < <(rstat "$env" "$v" tas)
		awk -v v="$v" -v pvmaxslow="$([ "$pvmaxslow" = - ] && echo -1 || echo "$pvmaxslow")" -v tasr="${tr}x, $tv" "${args[@]}" '
			function ok(x) { return x != "-" && x != "" }
			function us(t) { return 1e6 / t }
			function dur(ns) { return ns >= 1e9 ? sprintf("%.3g s", ns / 1e9) : ns >= 1e6 ? sprintf("%.3g ms", ns / 1e6) : ns >= 1e3 ? sprintf("%.3g us", ns / 1e3) : sprintf("%.3g ns", ns) }
			BEGIN {
				if (!ok(pv_acq_per_s) || !ok(pv_total) || pv_total == 0 || pv_acq_per_s == 0) { print "- pv has no passing point at " v " vCPUs: nothing to explain."; exit }
				printf "- **pv at %s vCPUs:** %.3g us per acquisition", v, us(pv_acq_per_s)
				if (ok(pv_contended)) {
					printf "; %.0f of its %.0f acquisitions waited", pv_contended, pv_total
					if (ok(pv_slow_acquisitions) && pv_slow_acquisitions == 0 && pv_contended > 0) {
						if (ok(pv_spins)) printf "; the waits spun %.3g PAUSEs each on average, fewer than spin_threshold (%s)", pv_spins / pv_contended, ok(pv_spin_threshold) ? pv_spin_threshold : "?"
						if (pvmaxslow == 0) printf ", and no repetition entered the slow path: pv blocked nowhere, and differed from spin only by its hook sites (direct calls where spin has NOPs; see the fast path below)"
						if (ok(pv_pause_ns) && ok(pv_spin_threshold)) printf ". Each PAUSE took %s of the guest'"'"'s TSC here, time descheduled included (timed before the start): at that rate spin_threshold spins would take %s", dur(pv_pause_ns), dur(pv_pause_ns * pv_spin_threshold)
					} else if (ok(pv_slow_acquisitions) && pv_slow_acquisitions > 0) {
						bpa = ok(pv_blocks) ? pv_blocks / pv_total : 0
						printf "; %.0f went on to the slow path%s, with %.3g blocks per acquisition", pv_slow_acquisitions, pv_slow_acquisitions == pv_contended ? " (every wait)" : "", bpa
						if (bpa >= 0.5) printf ": there were at least half as many blocks as acquisitions, so the time per block, wake-up included, was on average at most %.3g us", us(pv_acq_per_s) / bpa
					}
				}
				if (ok(pvlat_lat_median_ns)) printf "; the pvlat runs measured a median kick-to-wake of %.3g us", pvlat_lat_median_ns / 1000
				print "."
				if (ok(spin_acq_per_s) && spin_acq_per_s > 0) {
					printf "- **spin at %s vCPUs:** %.3g us per acquisition (%.3gx pv'"'"'s)", v, us(spin_acq_per_s), us(spin_acq_per_s) / us(pv_acq_per_s)
					if (ok(spin_contended) && spin_contended > 0) {
						printf "; %.0f of its %.0f acquisitions waited", spin_contended, spin_total
						if (ok(spin_spins)) printf ", spinning %.3g PAUSEs each on average", spin_spins / spin_contended
						if (ok(spin_pause_ns)) printf " (%s of TSC each, time descheduled included: about %s of spinning per wait)", dur(spin_pause_ns), ok(spin_spins) ? dur(spin_spins / spin_contended * spin_pause_ns) : "?"
						printf "; %s vCPUs over the run (%.0f ms) over its waits bound the average wait at %.3g ms", v, 1000 * spin_total / spin_acq_per_s, v * 1000 * spin_total / spin_acq_per_s / spin_contended
					}
					if (ok(spin_min_acq) && spin_min_acq > 0) printf "; fairness max/min %.3g", spin_max_acq / spin_min_acq
					print "."
				}
				if (ok(tas_acq_per_s) && tas_acq_per_s > 0) {
					printf "- **tas at %s vCPUs:** %.3g us per acquisition", v, us(tas_acq_per_s)
					if (ok(tas_min_acq) && tas_min_acq > 0) printf ", fairness max/min %.3g", tas_max_acq / tas_min_acq
					if (tasr != "" && tasr != "-") printf "; its ratio to spin and verdict are in the table above (%s)", tasr
					print ". No counter here says why it differs: test-and-set never waits for a preempted waiter (a ticket lock serves waiters in arrival order, running or not), but waits for a preempted holder like any lock."
				}
			}'
		echo
	done
	echo "### How the nested KVM differs from hardware, and Xen from a real host"
	echo
	echo "- Nested KVM: L1 is Linux under QEMU TCG with one CPU; QEMU's SVM emulation has no pause"
	echo "  filter, so L1's KVM cannot exit a spinning L2 vCPU (no pause-loop exiting) and it spins out"
	echo "  its slice. Native ticket spinning suffers more here than on hardware, where the pause filter"
	echo "  yields the CPU after a short spin."
	echo "- Xen: its pCPUs are QEMU TCG vCPUs run round-robin on one host thread, so \"N pCPUs\" share"
	echo "  one host core in turn; the pool keeps dom0 and every other domain off them."
	echo
	if [ -n "${PREV:-}" ] && [ -r "$PREV" ] && [ "${PREV_SAME:-0}" != 1 ]; then
		echo "## Reproducibility"
		echo
		echo "The previous committed run was \`${PREV_CMD:-?}\`${PREV_KEPT:+ (kept in \`$PREV_KEPT\`)}: another configuration, whose"
		echo "points differ in run length or labels, so it is not compared with this one."
		echo
	elif [ -n "${PREV:-}" ] && [ -r "$PREV" ]; then
		echo "## Reproducibility: this run against the previous one of the same command"
		echo
		echo "\`tests/bench/compare.sh\` with A = the previous run (\`${PREV_CMD:-?}\`${PREV_KEPT:+, kept in \`$PREV_KEPT\`}) and"
		echo "B = this one. For each ratio to spin at each point: do the two 95% intervals overlap, do the"
		echo "verdicts agree. With 5 repetitions the intervals are wide, so overlapping ones are a weak"
		echo "test; a verdict that differs (say pays in one run, no measurable difference in the other) is"
		echo "the stronger sign that a result did not reproduce."
		echo
		cmp=$("$here/compare.sh" "$PREV" "$jsonl")
		echo "**$(tail -1 <<<"$cmp" | sed 's/^compare: //')**."
		echo
		if grep -q 'apart\|DISAGREE\|only in' <<<"$cmp"; then
			echo "Where they differ (ratio [interval] verdict, previous | this run):"
			echo
			grep 'apart\|DISAGREE\|only in' <<<"$cmp" | sed 's/^/- /'
		else
			echo "Every ratio's intervals overlap and every verdict agrees."
		fi
		echo
	fi
	echo "## Reproduce"
	echo
	echo '```'
	echo "$command"
	echo '```'
} >"$md"

#!/bin/bash
# SPDX-License-Identifier: MIT
# fuzz.sh: run each libFuzzer target (build/fuzz/fuzz_<target>, `make fuzz` builds them) from its
# seeds, one KTAP line per target; ends with "N passed, N failed", exits 1 if any failed.
# Usage: tests/fuzz.sh [TARGET...]      (default: start_info cmdline acpi patch)
# env: FUZZ_SECONDS  run each target this long (make fuzz FUZZ_SECONDS=60); if unset or empty,
#      FUZZ_RUNS     run each target on this many inputs (200000, a few s each: make test's short run)
# Seeds come from tests/fuzz/corpus/<target>/ and are never written. New inputs go to
# build/fuzz/corpus/<target>/, crashing ones to build/fuzz/crashes/<target>-crash-<sha1> (also
# leak-, timeout-, oom-), full logs to build/fuzz/logs/. Replay one: build/fuzz/fuzz_<target> FILE
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$top" || exit 1

targets=(start_info cmdline acpi patch)
[ $# -gt 0 ] && targets=("$@")
FUZZ_SECONDS=${FUZZ_SECONDS:-}
FUZZ_RUNS=${FUZZ_RUNS:-200000}
if [ -n "$FUZZ_SECONDS" ]; then
	budget=(-max_total_time="$FUZZ_SECONDS")
	limit=$((FUZZ_SECONDS + 120))
	what="${FUZZ_SECONDS} s each"
else
	budget=(-runs="$FUZZ_RUNS")
	limit=300
	what="$FUZZ_RUNS inputs each"
fi
out=build/fuzz
mkdir -p "$out/crashes" "$out/logs"

echo "KTAP version 1"
echo "1..${#targets[@]}"
echo "# fuzz: $what; new inputs in $out/corpus, crashes in $out/crashes"
passed=0
failed=0
n=0
for t in "${targets[@]}"; do
	n=$((n + 1))
	bin=$out/fuzz_$t seeds=tests/fuzz/corpus/$t log=$out/logs/$t.log
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		failed=$((failed + 1))
		echo "not ok $n fuzz: $t # $bin or $seeds missing (make fuzz builds the fuzzers)"
		continue
	fi
	mkdir -p "$out/corpus/$t"
	t0=$(date +%s.%N)
	# The first corpus directory is the one libFuzzer adds to: build/, not the seeds.
	# -timeout: an input running 10 s is a hang, reported as a failure like a crash.
	timeout -k 5 "$limit" "$bin" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
		-print_final_stats=1 -artifact_prefix="$out/crashes/$t-" "$out/corpus/$t" "$seeds" \
		</dev/null >"$log" 2>&1
	rc=$?
	secs=$(awk -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", t1 - t0 }')
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	new=$(sed -n 's/^stat::new_units_added: *//p' "$log")
	cov=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -1 |
		sed -n 's/.* cov: \([0-9]*\) .*/\1/p')
	if [ $rc = 0 ]; then
		passed=$((passed + 1))
		echo "ok $n fuzz: $t"
		echo "# $t: ${runs:-?} inputs in $secs s, coverage ${cov:-?} edges, ${new:-0} new inputs kept"
	else
		failed=$((failed + 1))
		file=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		[ $rc = 124 ] && why="killed after ${limit}s" || why="exit status $rc"
		echo "not ok $n fuzz: $t # ${file:-no input saved} ($why)"
		echo "# $t: replay with: $bin ${file:-<input>}; full log $log; $(grep -m1 '^INFO: Seed:' "$log")"
		# The report from its first line (our invariant, the sanitizer's error or libFuzzer's),
		# without the frames of libFuzzer, the sanitizers and libc.
		awk '/invariant failed|==[0-9]+==ERROR|runtime error|ERROR: libFuzzer|SUMMARY:/ { on = 1 }
		     on && /Shadow bytes around/ { exit }
		     !on || /in fuzzer::|__sanitizer_|in __asan|in __ubsan/ { next }
		     /libc\.so|nptl\/|raise\.c|abort\.c/ { next }
		     / in (main|_start|__libc_start_main) |^ *$|rudimentary signal|Combine libFuzzer/ { next }
		     /^(MS: |artifact_prefix|Base64|0x|\\|stat::)/ { next }
		     { sub(/ \(BuildId: [0-9a-f]+\)/, ""); print "    # " $0; if (++k == 12) exit }' "$log"
	fi
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]

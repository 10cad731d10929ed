#!/bin/bash
# SPDX-License-Identifier: MIT
# verify.sh: `make verify`: SPIN checks the ticket lock model locks/ticket.pml for both backends
# (safety, and liveness under weak fairness) and must catch every mutant. Ends with "N passed, N failed".
# env: JOBS (2 pan runs at a time), DEPTH (pan -m, 5000000: the KVM SWITCH liveness search reaches 2.44*10^6), MEMLIM (MB per pan, 9000; pan stores
#      states with -DCOLLAPSE: the SWITCH liveness runs need 5-8 GB), PAN_TIMEOUT (900 s per pan run), KEEP=1 keeps the work dir (pan output, trails) even on success,
#      MODEL (locks/ticket.pml; another model to try the checks on)
set -euo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
cd "$top"
"$here/deps.sh" verify

JOBS=${JOBS:-2}
DEPTH=${DEPTH:-5000000}
MEMLIM=${MEMLIM:-9000}
PAN_TIMEOUT=${PAN_TIMEOUT:-900}
model=${MODEL:-locks/ticket.pml}
mkdir -p build/verify
work=$(mktemp -d build/verify/run.XXXXXX)
start=$(date +%s.%N)

# elapsed T0: seconds since T0 (date +%s.%N), one decimal.
elapsed() { echo "$(date +%s.%N) $1" | awk '{ printf "%.1f", $1 - $2 }'; }

# The cases, in KTAP order: "backend defines name" (defines: "-" for none, else comma-separated:
# SWITCH adds the live switcher, M1..M8 are mutants; a case without a mutant must hold).
cases=(
	"xen - ticket.pml xen: mutual exclusion, no deadlock, no lost wake-up"
	"kvm - ticket.pml kvm: mutual exclusion, no deadlock, no lost wake-up"
	"xen M1 ticket.pml xen M1 caught (SF set after the last head check)"
	"kvm M1 ticket.pml kvm M1 caught (SF set after the last head check)"
	"xen M2 ticket.pml xen M2 caught (kick before the head moves)"
	"kvm M2 ticket.pml kvm M2 caught (kick before the head moves)"
	"xen M3 ticket.pml xen M3 caught (port_clear after the last check)"
	"kvm M4 ticket.pml kvm M4 caught (HLT forgets an earlier kick)"
	"xen M5 ticket.pml xen M5 caught (early slow-path entry without the last check)"
	"kvm M5 ticket.pml kvm M5 caught (early slow-path entry without the last check)"
	"xen SWITCH ticket.pml xen with live switches: mutual exclusion, no deadlock, no lost wake-up"
	"kvm SWITCH ticket.pml kvm with live switches: mutual exclusion, no deadlock, no lost wake-up"
	"xen SWITCH,M6 ticket.pml xen M6 caught (switch to native without the hand-over)"
	"kvm SWITCH,M6 ticket.pml kvm M6 caught (switch to native without the hand-over)"
	"xen SWITCH,M7 ticket.pml xen M7 caught (switch back with lock_spinning first)"
	"kvm SWITCH,M7 ticket.pml kvm M7 caught (switch back with lock_spinning first)"
	"xen SWITCH,M8 ticket.pml xen M8 caught (switch back with the unlock last)"
	"kvm SWITCH,M8 ticket.pml kvm M8 caught (switch back with the unlock last)"
)

# pan_run DIR KIND CCFLAGS PANFLAGS...: compile DIR/pan.c into DIR/pan-KIND and run it, output in
# DIR/KIND.out. Returns 1 (with the reason in DIR/KIND.out) if gcc failed, pan timed out or
# exited non-zero, or pan found no error without finishing its search (depth or memory bound hit).
pan_run() {
	local dir=$1 kind=$2 ccflags=$3 rc=0
	shift 3
	# shellcheck disable=SC2086 # CCFLAGS is a list of flags
	if ! (cd "$dir" && gcc -w $ccflags -DCOLLAPSE -DMEMLIM="$MEMLIM" -o "pan-$kind" pan.c) >"$dir/$kind.out" 2>&1; then
		echo "gcc failed on the generated verifier" >>"$dir/$kind.out"
		return 1
	fi
	(cd "$dir" && timeout -k 5 "$PAN_TIMEOUT" "./pan-$kind" "$@") >"$dir/$kind.out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		echo "pan exited with status $rc$([ "$rc" = 124 ] && echo " (timeout after ${PAN_TIMEOUT}s)")" >>"$dir/$kind.out"
		return 1
	fi
	# Stopping at the first error is normal; finding none is a result only after the whole search.
	if grep -q 'errors: 0' "$dir/$kind.out" &&
		grep -qE 'max search depth too small|out of memory|MEMLIM|Search not completed|aborted' "$dir/$kind.out"; then
		echo "pan did not finish its search (raise DEPTH or MEMLIM)" >>"$dir/$kind.out"
		return 1
	fi
	grep -q 'errors: [0-9]' "$dir/$kind.out" || { echo "pan printed no result" >>"$dir/$kind.out"; return 1; }
}

# pan_summary OUT: "1942137 states stored, 3585439 transitions, depth 366043" from pan's output
# (liveness runs add "(8.9e+06 visited)": with -f pan visits a state once per fairness copy).
pan_summary() {
	local stored trans depth
	stored=$(sed -n 's/^ *\([0-9.e+]*\) states, stored *\(.*\)$/\1 states stored \2/p' "$1" | head -1)
	trans=$(sed -n 's/^ *\([0-9.e+]*\) transitions.*/\1/p' "$1" | head -1)
	depth=$(sed -n 's/.*depth reached \([0-9]*\),.*/\1/p' "$1" | head -1)
	[ -n "$stored" ] || { echo "no result from pan"; return 0; }
	echo "${stored% }, $trans transitions, depth $depth"
}

# pan_error OUT: pan's first error, e.g. "invalid end state (at depth 82)", or "none".
pan_error() {
	local e
	e=$(sed -n 's/^pan:[0-9]*: //p' "$1" | grep -v '^wrote ' | head -1)
	if grep -q 'errors: 0' "$1"; then echo none; else echo "${e:-unknown error}"; fi
}

# lost_wakeup DIR SPINFLAGS: replay the trail of an invalid end state; print the vCPU that holds the
# ticket now served (want == head) yet sits in a BLOCKED statement with no kick to come. Fails if none.
lost_wakeup() {
	local dir=$1 spinflags=$2 blocked
	blocked=$(grep -n 'BLOCKED' "$dir/ticket.pml" | cut -d: -f1 | paste -sd'|')
	# shellcheck disable=SC2086 # SPINFLAGS is a list of flags
	(cd "$dir" && spin -t -g -l $spinflags ticket.pml) >"$dir/trail.txt" 2>&1 || return 1
	awk -v blocked="^($blocked)\$" '
		/^[ \t]+head = / { head = $3 }
		/proc +[0-9]+ \(vcpu:1\) ticket\.pml:/ {
			p = $3; line = $5; sub(/.*:/, "", line); at[p] = line
		}
		/vcpu\([0-9]+\):want = / { split($1, a, /[()]/); want[a[2]] = $3 }
		END {
			for (p in at)
				if (at[p] ~ blocked && want[p] == head) {
					printf "vCPU %s holds ticket %s == head, blocked at ticket.pml:%s, never kicked\n", p, want[p], at[p]
					found = 1
				}
			exit !found
		}' "$dir/trail.txt"
}

# run_case I BACKEND MUTANT: one case in $work/I; writes $work/I/result (OK|FAIL) and $work/I/diag.
run_case() {
	local i=$1 backend=$2 mutant=$3 dir=$work/$1 spinflags ccopt s_ok=0 l_ok=0 serr lerr t0 lw
	mkdir -p "$dir"
	cp "$model" "$dir/ticket.pml"
	spinflags="-DBACKEND_${backend^^}"
	[ "$mutant" = - ] || spinflags="$spinflags $(tr ',' '\n' <<<"$mutant" | sed 's/^/-D/' | paste -sd' ')"
	local holds=1
	grep -q 'M[0-9]' <<<"$mutant" && holds=0
	exec 3>"$dir/diag"
	# shellcheck disable=SC2086 # SPINFLAGS is a list of flags
	if ! (cd "$dir" && spin -a $spinflags ticket.pml) >"$dir/spin.out" 2>&1 || [ ! -f "$dir/pan.c" ]; then
		echo "spin -a $spinflags failed:" >&3
		tail -5 "$dir/spin.out" >&3
		echo FAIL >"$dir/result"
		return 0
	fi
	# The model of the C: the big runs, optimised. Mutants: small, compile fast.
	if [ $holds = 1 ]; then ccopt=-O2; else ccopt=-O0; fi
	t0=$(date +%s.%N)
	pan_run "$dir" safety "$ccopt -DSAFETY -DNOCLAIM" -m"$DEPTH" && s_ok=1
	echo "safety (mutual exclusion, no deadlock): $(pan_summary "$dir/safety.out"), $(elapsed "$t0") s" >&3
	t0=$(date +%s.%N)
	pan_run "$dir" liveness "$ccopt" -a -f -m"$DEPTH" && l_ok=1
	echo "liveness (no_lost_wakeup, weak fairness): $(pan_summary "$dir/liveness.out"), $(elapsed "$t0") s" >&3
	for kind in safety liveness; do
		[ "$kind" = safety ] && [ $s_ok = 1 ] && continue
		[ "$kind" = liveness ] && [ $l_ok = 1 ] && continue
		echo "$kind: the check itself failed:" >&3
		tail -3 "$dir/$kind.out" >&3
	done
	if [ $s_ok = 0 ] || [ $l_ok = 0 ]; then
		echo FAIL >"$dir/result"
		return 0
	fi
	serr=$(pan_error "$dir/safety.out")
	lerr=$(pan_error "$dir/liveness.out")
	echo "safety: $serr; liveness: $lerr" >&3
	if [ $holds = 1 ]; then
		# Must hold, and every statement of the model must run (the WRAP take among them).
		local unreached
		unreached=$(sed -n '/^unreached in proctype vcpu/,/^unreached in claim/p' "$dir/safety.out" | grep -c 'ticket\.pml:' || true)
		if [ "$serr" = none ] && [ "$lerr" = none ] && [ "$unreached" = 0 ]; then
			echo "every statement reached, the ticket wrap (WRAP) included" >&3
			echo OK >"$dir/result"
		else
			[ "$unreached" = 0 ] || { echo "statements never reached:" >&3; sed -n '/^unreached in proctype vcpu/,/^unreached in claim/p' "$dir/safety.out" | grep 'ticket\.pml:' >&3 || true; }
			echo FAIL >"$dir/result"
		fi
		return 0
	fi
	# A mutant is caught by a lost wake-up: a deadlock (an invalid end state whose trail ends with
	# the next ticket's vCPU blocked) or an acceptance cycle of no_lost_wakeup. Mutual exclusion
	# must still hold: an assertion failure would mean the model, not the wake-up, broke.
	local caught=0
	case $serr in
	"invalid end state"*)
		if lw=$(lost_wakeup "$dir" "$spinflags"); then
			echo "safety trail: $lw" >&3
			caught=1
		else
			echo "safety trail: no vCPU with the next ticket blocked at its end: not the expected lost wake-up" >&3
			caught=-1
		fi ;;
	none) ;;
	*) echo "safety: unexpected error (expected none or a deadlock): $serr" >&3; caught=-1 ;;
	esac
	case $lerr in
	"acceptance cycle"*) [ $caught = -1 ] || caught=1 ;;
	*) echo "liveness: expected an acceptance cycle, got: $lerr" >&3; caught=-1 ;;
	esac
	if [ $caught = 1 ]; then echo OK >"$dir/result"; else echo FAIL >"$dir/result"; fi
}

# The model's step tags against the C: every step tag (T, W, S, U) of the model marks at least one
# C line ("pml:TAG"), and every tag in the C is one the model uses. Case 0, reported first.
tags_check() {
	local model_tags c_tags bad=""
	model_tags=$(grep -o '\b[TWSUMX][0-9]\b' "$model" | sort -u)
	c_tags=$(grep -oh 'pml:[TWSUMX][0-9]\b' locks/*.[ch] xen/*.[ch] kvm/*.[ch] patch/*.[ch] | sed 's/^pml://' | sort -u)
	for t in $(grep '^[TWSUX]' <<<"$model_tags"); do
		grep -qx "$t" <<<"$c_tags" || bad+=" $t (in the model, on no C line)"
	done
	for t in $c_tags; do
		grep -qx "$t" <<<"$model_tags" || bad+=" $t (on a C line, not in the model)"
	done
	if [ -n "$bad" ]; then
		echo "tags that do not match:$bad"
		return 1
	fi
	echo "$(wc -w <<<"$model_tags") tags in the model, $(grep -c 'pml:' locks/*.[ch] xen/*.[ch] kvm/*.[ch] patch/*.[ch] | awk -F: '{ n += $2 } END { print n }') tagged C lines"
}

# Run the cases, JOBS at a time; report in order once all are done.
i=0
for c in "${cases[@]}"; do
	i=$((i + 1))
	read -r backend mutant _ <<<"$c"
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
	run_case "$i" "$backend" "$mutant" &
done
wait

echo "KTAP version 1"
echo "1..$((${#cases[@]} + 1))"
passed=0
failed=0
if tags=$(tags_check); then
	passed=1
	echo "ok 1 ticket.pml step tags match the C (pml:TAG comments)"
else
	failed=1
	echo "not ok 1 ticket.pml step tags match the C (pml:TAG comments)"
fi
echo "# $tags"
i=0
for c in "${cases[@]}"; do
	i=$((i + 1))
	read -r _ _ name <<<"$c"
	if [ "$(cat "$work/$i/result" 2>/dev/null)" = OK ]; then
		passed=$((passed + 1))
		echo "ok $((i + 1)) $name"
	else
		failed=$((failed + 1))
		echo "not ok $((i + 1)) $name"
	fi
	sed 's/^/# /' "$work/$i/diag" 2>/dev/null || echo "# no diagnostics: the case did not run"
done
echo "# verify: $(elapsed "$start") s wall, $JOBS pan runs at a time"
if [ "$failed" = 0 ] && [ "${KEEP:-0}" != 1 ]; then
	rm -rf "$work"
else
	echo "# pan output and trails kept in $work"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

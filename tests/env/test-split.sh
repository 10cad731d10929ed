#!/bin/bash
# SPDX-License-Identifier: MIT
# test-split.sh: split-l1.awk, which cuts the nested KVM's L1 console into per-case logs and
# statuses, on a console written by hand: a case booted again after an L1 stall (its status file
# must hold the last try's status only, and the first try must be kept), a case L1 stopped in,
# an L2 boot L1 retried, and an END glued to the end of an L2 console. KTAP; ends with "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 passed=0 failed=0
check() { # check NAME GOT WANT
	n=$((n + 1))
	if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok $n $1"
	else failed=$((failed + 1)); echo "not ok $n $1 # got '${2//$'\n'/\\n}', want '${3//$'\n'/\\n}'"; fi
}
# Two L1 boots: in the first, case a fails (35) under a stall L0 nudged, case b starts and L1
# stops; in the second, a passes (33), b passes (33) after a retry of its L2 boot inside L1, and c
# passes with its END on the same line as its last console bytes.
cat >"$tmp/l1.log" <<'L1'
KVMENV: CASES 3
KVMENV: BEGIN a
KTAP version 1
not ok 1 first-try
KVMENV: ALIVE a 12.0
KVMENV: END a rc=35
KVMENV: TIME a 40.0
KVMENV: BEGIN b
KTAP version 1
KVMENV-L0: nudge: L1's console silent 30 s (last: KVMENV: BEGIN a): a newline on its serial input
KVMENV-L0: L1 boot 1 stopped before DONE, in case b: its console was silent for 90s (L1 frozen)
KVMENV-L0: case a ran through an L1 stall of 30 s or more (the nudge above): booting it again
KVMENV: CASES 2
KVMENV: BEGIN a
KTAP version 1
ok 1 second-try
KVMENV: END a rc=33
KVMENV: BEGIN b
KVMENV: RETRY b: L2 printed nothing in 120s (environment); booting it again
KVMENV: FIRST | half a line
KTAP version 1
ok 1 b-again
KVMENV: END b rc=33
KVMENV: BEGIN c
KTAP version 1
ok 1 cKVMENV: END c rc=33
KVMENV: DONE
L1
awk -v out="$tmp" -f "$here/split-l1.awk" "$tmp/l1.log"
echo "KTAP version 1"
echo "1..10"
check "a: the status is the last try's only" "$(cat "$tmp/a.rc")" 33
check "a: the log is the last try's" "$(cat "$tmp/a.log")" $'KTAP version 1\nok 1 second-try'
check "a: the first try's log is kept" "$(cat "$tmp/a.log.1" 2>&1)" $'KTAP version 1\nnot ok 1 first-try'
check "a: the first try's status is kept" "$(cat "$tmp/a.rc.1" 2>&1)" 35
check "b: the try L1 stopped in is kept, with no status" "$(cat "$tmp/b.log.1" 2>&1)|$(ls "$tmp"/b.rc.1 2>/dev/null)" "KTAP version 1|"
check "b: the last try" "$(cat "$tmp/b.rc")|$(grep -c . "$tmp/b.log")" "33|3"
check "b: L1's own retry keeps the first L2 console apart" "$(cat "$tmp/b.log.l2-first" 2>&1)" "half a line"
check "c: END after console text on one line" "$(cat "$tmp/c.log")|$(cat "$tmp/c.rc")" $'KTAP version 1\nok 1 c|33'
check "c: tried once, no earlier tries" "$(ls "$tmp" | grep -c '^c\.')" 2
check "no heartbeat or L0 line in a case log" "$(cat "$tmp"/[abc].log* | grep -c 'ALIVE\|KVMENV-L0')" 0
echo "# $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ $failed = 0 ]

#!/bin/bash
# SPDX-License-Identifier: MIT
# test-stats.sh: make bench's statistics (stats.awk) and its run comparison (compare.sh) on
# points whose answers are worked out by hand below. KTAP; ends with "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 passed=0 failed=0
# check NAME GOT WANT
check() {
	n=$((n + 1))
	if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok $n $1"
	else failed=$((failed + 1)); echo "not ok $n $1 # got '$2', want '$3'"; fi
}
# points FILE ENV VCPUS MODE TOTAL X...: one passing point per repetition, in bench.sh's format.
points() {
	local f=$1 e=$2 v=$3 m=$4 t=$5 r=0 x
	shift 5
	for x in "$@"; do
		r=$((r + 1))
		printf '{"env":"%s","mode":"%s","vcpus":%s,"rep":%s,"ok":true,"ms":300,"acq_per_s":%s,"total":%s}\n' \
			"$e" "$m" "$v" "$r" "$x" "$t" >>"$f"
	done
}
echo "KTAP version 1"
a=$tmp/a.jsonl
points "$a" xen 4 spin 50000 100 110 90 105 95
points "$a" xen 4 spin2 50000 100 110 90 105 95
points "$a" xen 4 pv 50000 200 220 180 210 190              # twice spin at every repetition
points "$a" xen 4 pvpreempt 50000 50 55 45 52.5 47.5        # half
# log ratios +0.1 -0.1 +0.1 -0.1 0: mean 0, sd 0.1, t(4) = 2.776: exp(-+0.1241) = 0.883, 1.132
points "$a" xen 4 tas 50000 110.517 99.532 99.465 95.009 95
points "$a" xen 8 spin 900 10 11 9 10.5 9.5                   # fewer than 10^4 acquisitions
points "$a" xen 8 pv 900 20 22 18 21 19
points "$a" xen 2 spin 50000 100 100 100 100 100
points "$a" xen 2 spin2 50000 90 90 90 90 90                  # an A/A control that missed 1: 0.9 [0.9, 0.9]
points "$a" xen 2 pv 50000 100.5 99.5 100.5 99.5 100          # a ratio of 1, above the A/A interval
points "$a" kvm 2 spin 50000 100 110 90 105 95 101 99 98 102 100 # 10 repetitions, no A/A
points "$a" kvm 2 pv 50000 200 220 180 210 190 202 198 196 204 200
s=$(awk -f "$here/stats.awk" "$a")
row() { awk -F'\t' -v t="$1" -v e="$2" -v v="$3" -v m="$4" '$1 == t && $2 == e && $3 == v && $4 == m { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' <<<"$s"; }
check "median of 5 with [min, max], 93.75% coverage" "$(row P xen 4 spin)" "5 100 90 110 93.75"
check "median of 10 with the 2nd smallest and largest, 97.85% coverage" "$(row P kvm 2 spin)" "10 100 95 105 97.85"
check "a mode twice the reference: ratio 2 [2, 2], pays" "$(row R xen 4 pv)" "5 2.000 2.000 2.000 1.000 1.000 1.000 pays"
check "a mode half the reference: costs" "$(row R xen 4 pvpreempt)" "5 0.500 0.500 0.500 1.000 1.000 1.000 costs"
check "log ratios +-0.1: the t interval [0.883, 1.132] holds the A/A's, no measurable difference" \
	"$(row R xen 4 tas)" "5 1.000 0.883 1.132 1.000 1.000 1.000 no measurable difference"
check "a ratio whose interval holds 1 is no finding, even outside a biased A/A interval" \
	"$(row R xen 2 pv | awk '{ print $(NF-3), $(NF-2), $(NF-1), $NF }')" "0.900 no measurable difference"
check "the A/A mode itself is the control" "$(row R xen 4 spin2 | awk '{ print $NF, $(NF-1) }')" "control A/A"
check "fewer than 10^4 acquisitions: short run, no verdict" "$(row R xen 8 pv | awk -F' ' '{ print $(NF-1), $NF }')" "short run"
check "no A/A mode at the point: no verdict" "$(row R kvm 2 pv | awk '{ print $(NF-2), $(NF-1), $NF }')" "no A/A control"

q=$(awk -f "$here/stats.awk" -v pairs="pvpreempt:pv" "$a" | awk -F'\t' '$1 == "Q" && $2 == "xen" && $3 == 4 { print $4, $5, $6, $7, $8, $9, $10 }')
check "a pair of modes: pvpreempt / pv is 0.25 at every repetition, costs" "$q" "pvpreempt pv 5 0.250 0.250 0.250 costs"

# W: the A/A interval the windows' spread predicts. spin: 3 windows a boot, c 0.2; spin2: 5, c
# 0.4; 5 repetitions: c = sqrt((5 * 2 * 0.04 + 5 * 4 * 0.16) / (5 * 2 + 5 * 4)) = sqrt(0.12) = 0.3464,
# windows per mode (15 + 25) / 2 = 20, half-width 2.776 * 0.3464 * sqrt(2 / 20) = 0.3041:
# [exp(-0.3041), exp(0.3041)] = [0.738, 1.355]; needed 2 * (2.776 * 0.3464 / log 1.1)^2 = 203.6: 204.
w=$tmp/w.jsonl
for r in 1 2 3 4 5; do
	printf '{"env":"kvm","mode":"spin","vcpus":4,"rep":%s,"ok":true,"ms":300,"acq_per_s":100,"total":50000,"windows":3,"window_cv":0.2}\n' "$r"
	printf '{"env":"kvm","mode":"spin2","vcpus":4,"rep":%s,"ok":true,"ms":300,"acq_per_s":100,"total":50000,"windows":5,"window_cv":0.4}\n' "$r"
	printf '{"env":"kvm","mode":"pv","vcpus":4,"rep":%s,"ok":true,"ms":300,"acq_per_s":100,"total":50000,"windows":null,"window_cv":null}\n' "$r"
done >"$w"
check "W: the windows' spread pooled over spin and spin2, its interval and the windows it needs" \
	"$(awk -f "$here/stats.awk" "$w" | awk -F'\t' '$1 == "W" { $1 = ""; sub(/^ +/, ""); print }')" "kvm 4 5 20.0 0.346 0.738 1.355 204"
check "W: no line where the A/A modes ran alone (no windows)" "$(awk -f "$here/stats.awk" "$a" | grep -c '^W')" 0

# compare.sh: the same run against itself agrees everywhere; a run where pv's gain vanished does not.
b=$tmp/b.jsonl
sed 's/"mode":"pv","vcpus":4,"rep":\([0-9]\),"ok":true,"ms":300,"acq_per_s":[0-9.]*/"mode":"pv","vcpus":4,"rep":\1,"ok":true,"ms":300,"acq_per_s":100/' "$a" >"$b"
"$here/compare.sh" "$a" "$a" >"$tmp/same.txt" 2>&1
check "compare.sh: a run against itself: every interval overlaps, every verdict agrees" \
	"$(tail -1 "$tmp/same.txt")" "compare: 6 ratio(s) in both runs: 6 intervals overlap, 6 verdicts agree"
"$here/compare.sh" "$a" "$b" >"$tmp/diff.txt" 2>&1
check "compare.sh: pv's gain gone at xen 4: that point disagrees" \
	"$(grep -c '^xen 4 pv: .*DISAGREE' "$tmp/diff.txt")/$(tail -1 "$tmp/diff.txt")" \
	"1/compare: 6 ratio(s) in both runs: 5 intervals overlap, 5 verdicts agree"
echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

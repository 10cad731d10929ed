#!/bin/bash
# SPDX-License-Identifier: MIT
# compare.sh: two make bench runs, point by point: for each mode's ratio to the reference (spin)
# at each environment and vCPU count, do the two runs' 95% intervals overlap, and do their
# verdicts agree (stats.awk computes both). The A/A control's own ratio is not compared.
# Usage: tests/bench/compare.sh A/points.jsonl B/points.jsonl     (make bench-compare A= B=)
# Prints one line per ratio, then "compare: N ratio(s) in both runs: X intervals overlap,
# Y verdicts agree". Exit 0 when it could compare (whatever the agreement), 2 on bad usage.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# = 2 ] && [ -r "$1" ] && [ -r "$2" ] || { echo "usage: $0 A/points.jsonl B/points.jsonl (both readable)" >&2; exit 2; }
join_rows() {
	awk -F'\t' -v A="$1" -v B="$2" '
		FNR == 1 { file++ }
		$1 == "R" && $4 != "spin2" && $12 != "A/A control" {
			k = $2 " " $3 " " $4
			if (file == 1) { a[k] = $0; order[++n] = k } else b[k] = $0
		}
		function iv(r, f) { split(r, f, "\t"); return f[6] " [" f[7] ", " f[8] "] " f[12] }
		END {
			both = over = agree = 0
			for (i = 1; i <= n; i++) {
				k = order[i]
				if (!(k in b)) { print k ": only in " A; continue }
				split(a[k], x, "\t"); split(b[k], y, "\t")
				both++
				if (x[7] == "-" || y[7] == "-") ov = "no interval"
				else if (x[7] + 0 <= y[8] + 0 && y[7] + 0 <= x[8] + 0) { ov = "overlap"; over++ }
				else ov = "apart"
				if (x[12] == y[12]) { ag = "verdicts agree"; agree++ } else ag = "verdicts DISAGREE"
				print k ": " iv(a[k]) " | " iv(b[k]) " | " ov ", " ag
			}
			for (k in b) if (!(k in a)) print k ": only in " B
			printf "compare: %d ratio(s) in both runs: %d intervals overlap, %d verdicts agree\n", both, over, agree
		}' <(awk -f "$here/stats.awk" "$1") <(awk -f "$here/stats.awk" "$2")
}
echo "# compare: A = $1, B = $2; each line: ratio to spin [95% interval] verdict, A | B"
join_rows "$1" "$2"

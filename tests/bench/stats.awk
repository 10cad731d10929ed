# stats.awk: make bench's statistics, from points.jsonl: a median with its confidence interval
# per point, and per mode a ratio to the reference mode with its 95% interval, the A/A control's
# ratio and interval, and the verdict. report.sh and compare.sh read what it prints.
# Usage: awk -f tests/bench/stats.awk [-v base=spin] [-v aa=spin2] [-v min_total=10000]
#            [-v pairs="pvpreempt:pv ..."] POINTS.jsonl
# Prints tab-separated lines:
#   P env vcpus mode n median lo hi coverage%          (passing points only; "-" where n = 0)
#   R env vcpus mode n ratio lo hi aa_ratio aa_lo aa_hi verdict
#   (the ratio is to base; for make bench's patching modes to their own reference: patchlazy to
#   patchboot, noup to up)
#   Q env vcpus mode ref n ratio lo hi verdict       (for each MODE:REF of pairs)
#   W env vcpus n windows c lo hi needed             (where base and aa ran in windows: the mix)
# The method:
# - Median: the middle of the n throughputs; its interval is the pair of order statistics
#   (k-th smallest, k-th largest) with the largest k whose distribution-free coverage,
#   1 - 2 P(Binomial(n, 1/2) <= k - 1), is still at least 95%; for n < 6 no pair reaches 95%
#   and the interval is [min, max], with its coverage (n = 5: 93.75%) printed beside it.
# - Ratio of MODE to base at one point: the repetitions are interleaved (rep r of every mode
#   runs between rep r-1 and r+1 of the others), so they pair up: log(MODE_r / base_r) for each
#   r where both passed; the ratio is exp(mean) and its 95% interval exp(mean -+ t * sd / sqrt(n)),
#   t from Student's distribution with n - 1 degrees of freedom. n < 2: no interval ("-").
# - A/A: aa is base run again under a second label, interleaved like every mode; aa / base at the
#   point is the noise floor of that point. Verdict of MODE: "pays" if its interval lies wholly
#   above the A/A interval and above 1, "costs" if wholly below both, else "no measurable
#   difference" (an A/A interval that misses 1 by chance must not make a ratio of 1 a finding); "short run"
#   if any of its or base's repetitions there has fewer than min_total acquisitions; "no A/A
#   control" without one; "-" without an interval.
# - W, the A/A interval from the windows' spread: c is the coefficient of variation (standard
#   deviation over mean) of the window rates within a boot, pooled over base's and aa's windows
#   of every repetition (c squared weighted by windows - 1); windows is how many windows base and
#   aa counted at the point, per mode (the mean of the two). A mode's figure in a boot is its
#   acquisitions over its windows' time, about the mean of k window rates, whose log has a
#   standard deviation of about c / sqrt(k) if the windows are independent. Then each
#   repetition's log(aa / base) has c sqrt(2 / k), and n repetitions give the A/A interval a
#   half-width t c sqrt(2 / K), K = n k the windows per mode in all: [lo, hi] is that interval
#   around 1 for this run's K, and needed the K for which it would lie within [1 / 1.1, 1.1]
#   (half-width log 1.1: a little inside the [0.90, 1.10] the report names), at this run's n. A model, to compare with the interval the repetitions
#   gave: it says how many windows the noise floor wants, not what it is.
BEGIN {
	if (base == "") base = "spin"
	if (aa == "") aa = "spin2"
	if (min_total == "") min_total = 10000
	# The patching experiment's modes have references of their own; those references get no R line.
	REF["patchlazy"] = "patchboot"; REF["noup"] = "up"; ISREF["patchboot"] = ISREF["up"] = 1
	# The latency run reads the TSC at each kick and wake-up: its throughput is no one's to compare.
	ISREF["pvlat"] = 1
	split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 2.201 2.179 2.160 2.145 2.131 " \
	      "2.120 2.110 2.101 2.093 2.086 2.080 2.074 2.069 2.064 2.060 2.056 2.052 2.048 2.045 2.042", T, " ")
}
function field(key,   r) {
	if (match($0, "\"" key "\":(\"[^\"]*\"|[^,}]*)")) {
		r = substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
		gsub(/"/, "", r)
		return r
	}
	return ""
}
function tq(df) { return df <= 30 ? T[df] + 0 : 1.960 }
# binom_le(n, k): P(Binomial(n, 1/2) <= k)
function binom_le(n, k,   i, c, s) {
	c = 1; s = 0
	for (i = 0; i <= k; i++) { s += c; c = c * (n - i) / (i + 1) }
	return s / (2 ^ n)
}
function sort_num(a, n,   i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
}
# ratio_ci(mode, ref, key): sets RN, RR, RLO, RHI for mode / ref at point key ("env|vcpus")
function ratio_ci(mode, ref, key,   r, n, s, ss, d, mean, sd, h) {
	n = 0; s = 0; ss = 0
	for (r = 1; r <= maxrep; r++) {
		if (!((key, mode, r) in X) || !((key, ref, r) in X) || X[key, ref, r] <= 0 || X[key, mode, r] <= 0)
			continue
		d = log(X[key, mode, r] / X[key, ref, r])
		n++; s += d; ss += d * d
	}
	RN = n
	if (n == 0) { RR = RLO = RHI = "-"; return }
	mean = s / n
	RR = sprintf("%.3f", exp(mean))
	if (n < 2) { RLO = RHI = "-"; return }
	sd = sqrt((ss - n * mean * mean) / (n - 1) < 0 ? 0 : (ss - n * mean * mean) / (n - 1))
	h = tq(n - 1) * sd / sqrt(n)
	RLO = sprintf("%.3f", exp(mean - h)); RHI = sprintf("%.3f", exp(mean + h))
}
{
	if (field("ok") != "true") next
	e = field("env"); m = field("mode"); v = field("vcpus"); r = field("rep") + 0; x = field("acq_per_s")
	if (x == "" || x == "null" || v == "") next
	key = e "|" v
	X[key, m, r] = x + 0
	w = field("windows"); sd = field("window_cv")
	if ((m == base || m == aa) && w + 0 >= 2 && sd != "null" && sd != "") {
		WK[key, m] += w; WDF[key] += w - 1; WSS[key] += (w - 1) * sd * sd
	}
	if (field("total") + 0 < min_total) SHORT[key, m] = 1
	if (!((key, m) in SEEN)) { SEEN[key, m] = 1; order[++nk] = key SUBSEP m }
	if (!(key in KEYSEEN)) { KEYSEEN[key] = 1; keys[++nkeys] = key }
	if (!((key, m) in NMODE)) modes_at[key] = modes_at[key] " " m
	NMODE[key, m]++
	if (r > maxrep) maxrep = r
}
END {
	for (i = 1; i <= nk; i++) {
		split(order[i], km, SUBSEP); key = km[1]; m = km[2]
		n = 0; delete a
		for (r = 1; r <= maxrep; r++) if ((key, m, r) in X) a[++n] = X[key, m, r]
		sort_num(a, n)
		split(key, ev, "|")
		med = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		k = 1
		while (k + 1 <= n / 2 && 1 - 2 * binom_le(n, k) >= 0.95) k++
		cov = 1 - 2 * binom_le(n, k - 1)
		printf "P\t%s\t%s\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.2f\n", ev[1], ev[2], m, n, med, a[k], a[n + 1 - k], 100 * cov
	}
	for (i = 1; i <= nk; i++) {
		split(order[i], km, SUBSEP); key = km[1]; m = km[2]
		ref = (m in REF) ? REF[m] : base
		if (m == base || (m in ISREF) || !((key, ref) in SEEN)) continue
		split(key, ev, "|")
		ratio_ci(aa, base, key); an = RN; ar = RR; alo = RLO; ahi = RHI
		if (ref != base) an = 0 # the A/A control is of base's noise, not of this pair's
		ratio_ci(m, ref, key)
		if (RLO == "-") verdict = "-"
		else if (((key, m) in SHORT) || ((key, ref) in SHORT)) verdict = "short run"
		else if (m == aa) verdict = "A/A control"
		else if (!an || alo == "-") verdict = "no A/A control"
		else if (RLO + 0 > ahi + 0 && RLO + 0 > 1) verdict = "pays"
		else if (RHI + 0 < alo + 0 && RHI + 0 < 1) verdict = "costs"
		else verdict = "no measurable difference"
		printf "R\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev[1], ev[2], m, RN, RR, RLO, RHI, ar, alo, ahi, verdict
	}
	for (i = 1; i <= nkeys; i++) {
		key = keys[i]
		if (!(key in WDF) || WDF[key] <= 0 || !((key, base) in WK) || !((key, aa) in WK)) continue
		ratio_ci(aa, base, key)
		if (RN < 2) continue
		split(key, ev, "|")
		sw = sqrt(WSS[key] / WDF[key]); kw = (WK[key, base] + WK[key, aa]) / 2
		h = tq(RN - 1) * sw * sqrt(2 / kw)
		need = 2 * (tq(RN - 1) * sw / log(1.1)) ^ 2
		printf "W\t%s\t%s\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%d\n", ev[1], ev[2], RN, kw, sw, exp(-h), exp(h), need == int(need) ? need : int(need) + 1
	}
	# Q lines: one mode against another than base (pvpreempt against pv), judged against the
	# same point's A/A interval (two runs of one lock under two labels).
	np = split(pairs, pl, " ")
	for (j = 1; j <= np; j++) {
		split(pl[j], pm, ":")
		for (i = 1; i <= nkeys; i++) {
			key = keys[i]
			if (!((key, pm[1]) in SEEN) || !((key, pm[2]) in SEEN)) continue
			split(key, ev, "|")
			ratio_ci(aa, base, key); an = RN; alo = RLO; ahi = RHI
			ratio_ci(pm[1], pm[2], key)
			if (RLO == "-") verdict = "-"
			else if (((key, pm[1]) in SHORT) || ((key, pm[2]) in SHORT)) verdict = "short run"
			else if (!an || alo == "-") verdict = "no A/A control"
			else if (RLO + 0 > ahi + 0 && RLO + 0 > 1) verdict = "pays"
			else if (RHI + 0 < alo + 0 && RHI + 0 < 1) verdict = "costs"
			else verdict = "no measurable difference"
			printf "Q\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", ev[1], ev[2], pm[1], pm[2], RN, RR, RLO, RHI, verdict
		}
	}
}

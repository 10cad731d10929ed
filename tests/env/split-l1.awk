# split-l1.awk: cut the nested KVM's L1 console (l1.log, every L1 boot) into one log and one status per case.
# Run by tests/env/kvm-nested.sh (step 4) as awk -v out=OUTDIR -f split-l1.awk l1.log; checked by
# tests/env/test-split.sh. For each case NAME: OUT/NAME.log is the L2 console of its last try and
# OUT/NAME.rc that try's L2 QEMU status (no NAME.rc if L1 stopped before the try ended). A case
# tried more than once (L1 stopped in it, or stalled under it and L0 booted it again) keeps each
# earlier try as NAME.log.K and, if that try ended, NAME.rc.K (K = 1, 2, ...). An L2 boot that L1
# itself retried leaves its first console in NAME.log.l2-first (lines "KVMENV: FIRST | ...").
# An L2 console may end without a newline, so END can follow log text on the same line.
function keep(from, to) {
	close(from)
	if (system("mv -f '" from "' '" to "'") != 0) { print "split-l1.awk: cannot move " from " to " to >"/dev/stderr"; exit 1 }
}
/^KVMENV: ALIVE / { next }
/^KVMENV-L0: / { name = ""; next }
/^KVMENV: BEGIN / {
	name = $3
	log_ = out "/" name ".log"
	if (tries[name]++) {
		keep(log_, log_ "." (tries[name] - 1))
		if (ended[name]) keep(out "/" name ".rc", out "/" name ".rc." (tries[name] - 1))
	}
	ended[name] = 0
	printf "" >log_
	next
}
name != "" && /^KVMENV: FIRST \| / { print substr($0, 17) >(log_ ".l2-first"); next }
name != "" && (i = index($0, "KVMENV: END ")) {
	if (i > 1) print substr($0, 1, i - 1) >log_
	rc = substr($0, i)
	sub(/.* rc=/, "", rc)
	rcf = out "/" name ".rc"
	print rc >rcf
	close(rcf)
	close(log_)
	ended[name] = 1
	name = ""
	next
}
name != "" { print >log_ }

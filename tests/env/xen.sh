#!/bin/bash
# SPDX-License-Identifier: MIT
# xen.sh: boot pvtick under real Xen (4.17, or trixie's 4.20; under QEMU TCG), as the PVH dom0 or a PVH domU.
#
# Usage: tests/env/xen.sh dom0|domu OUTDIR NAME VCPUS "GUEST ARGS"
#        tests/env/xen.sh domus OUTDIR CASEFILE
#   dom0  pvtick IS Xen's PVH dom0 (~5 s). Dom0 owns the I/O ports, so isa-debug-exit still ends QEMU.
#   domu  Debian's Linux is a PV dom0 running the xl toolstack from an initramfs; it `xl create`s
#         xen/pvtick.cfg (name, kernel, vcpus, cmdline rewritten) as a PVH domU, waits for it to end,
#         reports and powers off (~20 s plus the guest's run).
#   domus the same with one domU after another in one dom0 boot (a few s each after the first),
#         one per line of CASEFILE: NAME|VCPUS|GUEST ARGS[|PCPUS] ('#' starts a comment line). domu
#         is domus with one line. With PCPUS the domU runs in a cpupool of its own, "pvtick", of
#         exactly the pCPUs 1..PCPUS, so nothing else runs on them: dom0 keeps pCPU 0 (and any
#         above PCPUS) in Pool-0. PCPUS < XEN_SMP. The pool's scheduler and its parameters, as
#         xl reads them, are "XENENV: POOL" and "XENENV: SCHED" lines. The serial console goes to CASEFILE's name without its extension,
#         plus .xen.log.
#   NAME  a plain word ([A-Za-z0-9._-]): the output file names and, in domu mode, the domain name.
# OUTDIR gets:
#   NAME.log      the guest's console lines only (its port-0xe9 output, Xen's "(dN) " prefix removed;
#                 in domu mode the PV console's lines when there is no port-0xe9 output)
#   NAME.pool     (PCPUS cases) the "POOL ..." and "SCHED ..." lines dom0 wrote before creating it
#   NAME.xen.log  the whole serial console: Xen, and in domu mode dom0's Linux and its XENENV: lines
#   NAME.rc       dom0: QEMU's status (33 pass, 35 fail, 124 timeout, 0 Xen powered off or rebooted,
#                 e.g. after a dom0 crash); domu: the domU's end as the toolstack saw it: poweroff,
#                 crash, reboot (also what a triple fault gives), timeout (after DOMU_WAIT), or error
#                 (no answer: the environment failed), or missing (dom0 stopped before it)
#   xen-cache/    Xen, dom0's kernel and the toolstack initramfs, rebuilt when their packages change
# env: XEN_FROM (host: the host's Debian packages, bookworm: Xen 4.17, Linux 6.1 as the domU's dom0;
#      trixie: Xen 4.20, Linux 6.12 and trixie's toolstack, from the cache tests/env/trixie.sh fills,
#      TRIXIE=build/trixie), ELF (build/pvtick.elf, relative to the repo root), XEN_TIMEOUT (300 s, the whole QEMU run),
#      DOMU_WAIT (200 s: how long dom0 waits for each domU to end), XEN_SILENCE (DOMU_WAIT + 60 s:
#      a domu boot whose console is that long silent is frozen), XEN_SMP (2: the physical CPUs
#      Xen gets; VCPUS above it is overcommit, in both modes), XEN_EXTRA (more Xen options),
#      XEN_L0_ACCEL (tcg,thread=single: L0's TCG mode; see "The layers" below before changing it),
#      VERBOSE=1 (show the serial console live)
# Exit: 0 the environment worked (dom0 ran, or every domU was created and its end was seen or
#       timed out): judging the guest's KTAP is the caller's job; 2 usage or missing packages;
#       3 the environment failed (the serial log's tail is printed); 5 XEN_FROM=trixie and the cache
#       lacks a part (OUTDIR/skip.txt says which and why).
# A dom0 run still going 30 s before XEN_TIMEOUT gets Xen's debug keys 0, r, q on its serial console
# (dom0's vCPU registers, run queues, domain info) and one "xen.sh: hung dom0: vCPU N at RIP
# function" line per vCPU, so a hang ends with a diagnosis.
# A domU that triple-faults where its exception handlers never ran (l0_fault below) is booted again
# in another dom0 boot, up to 3 boots in all; one that was running when the first boot froze
# (XEN_SILENCE) once, with the domUs the frozen boot never reached; its log then ends with a
# "# xen.sh: booted N times" line naming each boot's fault.
#
# The layers: L0 = QEMU TCG, -cpu max (emulates AMD SVM with nested paging, so Xen runs HVM guests
# with HAP); Xen from Debian; pvtick as a PVH guest (an HVM container without emulated devices).
# L0 runs its vCPUs (Xen's pCPUs) round-robin on one host thread (thread=single), as
# tests/env/kvm-nested.sh does for its L1: with one thread per vCPU (thread=multi), QEMU's SVM
# emulation makes Xen see the domU triple-fault where the guest took no exception (l0_fault
# below), the more often the more the vCPUs exit. Measured here with the 2-vCPU soak of make test
# (10^6 acquisitions, ~175000 SCHEDOP_poll blocks in 40 s), QEMU 7.2 and 10.0 alike: 12 triple
# faults in 19 domU boots of at most 45 s under thread=multi; 0 in 2 boots of 240 s and ~100000
# blocks each under thread=single; 0 in 3 boots of 40 s under thread=multi with pvlock=off.
# The mechanism inside QEMU is not pinned down (see l0_fault).
set -euo pipefail
. "$(dirname "$0")/../lib.sh" # sets top (the repository)
usage() { sed -n '5,17p' "$0" | sed 's/^# \?//' >&2; exit 2; }
die() { echo "xen.sh: $*" >&2; exit 2; }
MODE=${1:-}
case $MODE:$# in dom0:5 | domu:5 | domus:3) ;; *) usage ;; esac
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
# check_case NAME VCPUS ARGS PCPUS: one case's fields, or die saying which is wrong.
check_case() {
	[ -z "$4" ] || { [[ $4 =~ ^[0-9]+$ ]] && [ "$4" -ge 1 ] && [ "$4" -lt "$XEN_SMP" ]; } ||
		die "$1: PCPUS '$4' must be 1..$((XEN_SMP - 1)): XEN_SMP=$XEN_SMP pCPUs, and pCPU 0 stays dom0's"
	[[ $1 =~ ^[A-Za-z0-9._-]+$ ]] || die "NAME '$1' must be a plain word ([A-Za-z0-9._-])"
	[[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 64 ] || die "$1: VCPUS '$2' must be 1..64"
	# The arguments travel in an xl config string (domu) or a QEMU -initrd option (dom0): keep them plain.
	[[ $3 != *[\"\\\'$'\n']* ]] || die "$1: GUEST ARGS must not contain quotes, backslashes or newlines"
}
if [ "$MODE" = domus ]; then
	[ -f "$3" ] || die "no case file $3"
	CASES=$(grep -v '^[[:space:]]*\(#\|$\)' "$3")
	[ -n "$CASES" ] || die "$3 has no case"
	LOGBASE=$(basename "${3%.*}")
	MODE=domu
else
	NAME=$3 VCPUS=$4 ARGS=$5
	CASES="$NAME|$VCPUS|$ARGS"
	LOGBASE=$NAME
fi
XEN_SMP=${XEN_SMP:-2} XEN_L0_ACCEL=${XEN_L0_ACCEL:-tcg,thread=single}
[[ $XEN_SMP =~ ^[0-9]+$ ]] && [ "$XEN_SMP" -ge 1 ] || die "XEN_SMP '$XEN_SMP' must be a CPU count"
while IFS='|' read -r name vcpus args pcpus; do check_case "$name" "$vcpus" "$args" "$pcpus"; done <<<"$CASES"
[ "$(cut -d'|' -f1 <<<"$CASES" | sort | uniq -d)" = "" ] || die "a case NAME appears twice"
ELF=${ELF:-build/pvtick.elf}
case $ELF in /*) ;; *) ELF=$top/$ELF ;; esac
[ -f "$ELF" ] || die "no kernel at $ELF (run make first)"
# QEMU splits -initrd at commas and the multiboot module string at spaces.
[[ $ELF$OUT != *[,\ ]* ]] || die "the paths $ELF and $OUT must not contain commas or spaces"
XEN_TIMEOUT=${XEN_TIMEOUT:-300} DOMU_WAIT=${DOMU_WAIT:-200}
[[ $XEN_TIMEOUT =~ ^[0-9]+$ && $DOMU_WAIT =~ ^[0-9]+$ ]] || die "XEN_TIMEOUT and DOMU_WAIT are seconds"
CFG=$top/xen/pvtick.cfg
[ "$MODE" = dom0 ] || [ -f "$CFG" ] || die "no $CFG"

# ---- 1. packages ----
# The Debian packages this needs, from one list (tests/deps.sh): installed when root, else the
# exact apt-get line and exit 2.
"$top/tests/deps.sh" xen || exit 2
# R: the system Xen, dom0's kernel and the toolstack come from. XV: the Xen version. K: (domu)
# dom0's kernel's ABI version, e.g. 6.1.0-56-amd64.
ver() { dpkg-query -W -f='${Package}=${Version} ' "$@"; }
rm -f "$OUT/skip.txt"
XEN_FROM=${XEN_FROM:-host}
case $XEN_FROM in
host)
	R=/ XV=4.17
	xstamp="$(ver xen-hypervisor-4.17-amd64)"
	if [ "$MODE" = domu ]; then
		K=$(host_kernel) || die "no host kernel for dom0"
		dstamp="$(ver "linux-image-$K" xen-utils-4.17 xenstore-utils busybox-static libc6 libgcc-s1)"
	fi
	;;
trixie)
	# Fetched once; a part that cannot be fetched is this run's skip, with the reason.
	trixie_need "$OUT" "xen.sh: no Xen 4.20 environment" root xen $([ "$MODE" = domu ] && echo linux) || exit 5
	R=$TRIXIE/root XV=4.20
	xstamp=$(grep = "$TRIXIE/xen.stamp" | paste -sd' ')
	if [ "$MODE" = domu ]; then
		K=$(cat "$TRIXIE/linux.version")
		dstamp="$K $(tail -n +2 "$TRIXIE/root.stamp" "$TRIXIE/linux.stamp" "$TRIXIE/xen.stamp" | grep = | paste -sd' ')"
	fi
	;;
*) die "XEN_FROM '$XEN_FROM' must be host or trixie" ;;
esac

# ---- 2. cached images ----
C=$OUT/xen-cache-$XV
mkdir -p "$C"
# Xen itself: QEMU's multiboot loader wants the plain ELF, Debian ships it gzipped.
if [ "$(cat "$C/xen.stamp" 2>/dev/null)" != "$xstamp" ]; then
	zcat "${R%/}/boot/xen-$XV-amd64.gz" >"$C/xen.tmp" && mv "$C/xen.tmp" "$C/xen"
	echo "$xstamp" >"$C/xen.stamp"
fi

XBIN=/usr/lib/xen-$XV/bin
# build_domu: dom0's kernel (C/vmlinux) and the toolstack initramfs (C/base.cpio.gz).
build_domu() {
	local r=$C/root b m
	rm -f "$C/domu.stamp" "$C/vmlinux" "$C/base.cpio.gz"
	# Dom0 boots straight into the ELF vmlinux: Xen decompressing the bzImage costs seconds under TCG.
	vmlinux_from_bzimage "${R%/}/boot/vmlinuz-$K" "$C/vmlinux" || die "no dom0 kernel"

	rm -rf "$r" && mkdir -p "$r"
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,root,etc/xen,lib/modules/xen} \
		"$r"/var/{lib/xen,lib/xenstored,log/xen/console} "$r$XBIN"
	ln -s ../run "$r/var/run"
	cp "${R%/}/bin/busybox" "$r/bin/busybox" # static
	for b in $("$r/bin/busybox" --list-full); do [ "$b" = bin/busybox ] || ln -s /bin/busybox "$r/$b"; done
	# The toolstack: xl, the xenstore daemon and client, the console daemon (it also logs the domU's
	# PV console), xen-init-dom0 (dom0's own xenstore entries), xenctx (a stuck domU's registers).
	# With every library, from the same system (libgcc_s too: xl's child unwinds at pthread_exit).
	copy_programs "$R" "$r" "$XBIN/xl" "$XBIN/xenstored" "$XBIN/xenconsoled" "$XBIN/xen-init-dom0" "$XBIN/xenctx" /usr/bin/xenstore
	for b in read write ls list; do rm -f "$r/usr/bin/xenstore-$b"; ln -s xenstore "$r/usr/bin/xenstore-$b"; done
	# The kernel interfaces the toolstack opens: /dev/xen/{evtchn,privcmd,gntdev,gntalloc}, /proc/xen.
	# Modules (plain .ko for busybox insmod; trixie ships .ko.xz), or built into the kernel.
	for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs/xenfs; do
		b=${R%/}/lib/modules/$K/kernel/drivers/xen/$m.ko
		if [ -f "$b" ]; then cp "$b" "$r/lib/modules/xen/"
		elif [ -f "$b.xz" ]; then xz -dc "$b.xz" >"$r/lib/modules/xen/${m#*/}.ko"
		else grep -q "drivers/xen/$m.ko" "${R%/}/lib/modules/$K/modules.builtin" || die "Linux $K has no $m, module or built in"
		fi
	done
	# No ballooning: dom0 has a fixed dom0_mem, and the domU's 32 MiB come from Xen's free pool.
	echo 'autoballoon="off"' >"$r/etc/xen/xl.conf"

	cat >"$r/init" <<'EOF'
#!/bin/sh
# dom0 /init: start the toolstack; for each line "NAME VCPUS PCPUS" of /cases, xl create the domU from
# /etc/xen/NAME.cfg, wait for its end, report; then power off. Every line for the host starts with
# "XENENV: ". /xenenv.conf (the per-run cpio) sets DOMU_WAIT, per domU.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:@XBIN@
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
mkdir -p /run/xen /run/lock /dev/pts && mount -t devpts devpts /dev/pts
. /xenenv.conf
say() { echo "XENENV: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
finish() { sync; poweroff -f; }
say "dom0 /init at $(up)s"
for m in /lib/modules/xen/*.ko; do # those not built into the kernel
	insmod "$m" || say "ERROR insmod $m"
done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file=/run/xenstored.pid || say "ERROR xenstored"
xen-init-dom0 >/dev/null || say "ERROR xen-init-dom0"
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || say "ERROR xenconsoled"
say "toolstack up at $(up)s"
# Dom0's one vCPU shares the 2 CPUs with the domU's. Give it the largest scheduler weight, so a domU
# that spins (idle vCPUs polling a flag) cannot starve the toolstack: dom0 then runs when it wants
# to, and it only wants to for a moment now and then.
xl sched-credit2 -d Domain-0 -w 65535 >/dev/null 2>&1 || xl sched-credit -d Domain-0 -w 65535 >/dev/null 2>&1 ||
	say "could not raise dom0's scheduler weight"
# pool N: the cpupool "pvtick" gets exactly the pCPUs 1..N and Pool-0 (dom0's) the others, with
# Xen's default scheduler; then its layout and scheduler parameters as xl reads them. Between
# domUs, so no domain is in a pool that loses a pCPU.
pool_of() { # pool_of CPU: the pool that holds it ("" if none), from /tmp/pools (xl cpupool-list -c)
	awk -v c="$1" 'NR > 1 { n = split($2, a, ","); for (i = 1; i <= n; i++) {
		if (split(a[i], r, "-") == 2) { if (c >= r[1] + 0 && c <= r[2] + 0) print $1 } else if (a[i] == c) print $1 } }' /tmp/pools
}
pool() {
	xl info >/tmp/xlinfo
	nr=$(sed -n 's/^nr_cpus *: //p' /tmp/xlinfo) sched=$(sed -n 's/^xen_scheduler *: //p' /tmp/xlinfo)
	[ "$1" -lt "${nr:-0}" ] || { say "ERROR a pool of $1 pCPUs: Xen has ${nr:-?}, and pCPU 0 stays dom0's"; return 1; }
	xl cpupool-list -c >/tmp/pools
	if [ -z "$(awk '$1 == "pvtick"' /tmp/pools)" ]; then
		printf 'name="pvtick"\nsched="%s"\ncpus="1"\n' "$sched" >/tmp/pool.cfg
		{ xl cpupool-cpu-remove Pool-0 1 && xl cpupool-create /tmp/pool.cfg; } >/tmp/pool.log 2>&1 ||
			{ sed 's/^/XENENV: cpupool: /' /tmp/pool.log; say "ERROR could not create cpupool pvtick"; return 1; }
		xl cpupool-list -c >/tmp/pools
	fi
	c=1 moved=0
	while [ $c -lt "$nr" ]; do
		want=Pool-0
		[ $c -le "$1" ] && want=pvtick
		have=$(pool_of $c)
		if [ "$have" != "$want" ]; then
			{ { [ -z "$have" ] || xl cpupool-cpu-remove "$have" $c; } && xl cpupool-cpu-add "$want" $c; } >/tmp/pool.log 2>&1 ||
				{ sed 's/^/XENENV: cpupool: /' /tmp/pool.log; say "ERROR could not move pCPU $c from ${have:-no pool} to $want"; return 1; }
			moved=1
		fi
		c=$((c + 1))
	done
	[ $moved = 0 ] || xl cpupool-list -c >/tmp/pools
	say "POOL pvtick: pCPUs $(awk '$1 == "pvtick" { print $2 }' /tmp/pools) of $nr ($sched); Pool-0 (dom0): pCPUs $(awk '$1 == "Pool-0" { print $2 }' /tmp/pools)"
	case $sched in
	credit2) say "SCHED $(xl sched-credit2 -s -p pvtick 2>&1 | tr '\n' ' ' | sed 's/ *$//')" ;;
	credit) say "SCHED $(xl sched-credit -s -p pvtick 2>&1 | tr '\n' ' ' | sed 's/ *$//')" ;;
	*) say "SCHED $sched: no parameters read" ;;
	esac
}
# One domU: its lines, BEGIN to END. Returns at once (state error) if xl create fails.
run_domu() {
if ! xl create "/etc/xen/$NAME.cfg" >/tmp/create.log 2>&1; then
	sed 's/^/XENENV: xl create: /' /tmp/create.log
	say "ERROR xl create failed"
	say "END $NAME state=error"
	return
fi
domid=$(xl domid "$NAME")
say "CREATED $NAME domid=$domid at $(up)s"

# Wait for the domU to end. With on_poweroff/on_reboot/on_crash = "preserve" a domain that shut
# down stays listed: `xl list -v` shows state s (shut down) or c (crashed) and the shutdown reason
# code Xen recorded (SHUTDOWN_*: 0 poweroff, 1 reboot, 2 suspend, 3 crash, 4 watchdog, 5 soft reset).
# Between looks, block on xenstored's @releaseDomain watch, which fires when any domain shuts down,
# crashes or dies: no polling load on the 2 CPUs the domU runs on. (A watch fires once when it is
# set, hence -n 2; each wait is capped at 10 s, which also covers an end that slips in between the
# look and the watch.) The deadline is dom0's uptime, so slow xl calls count too.
# now: dom0's uptime in whole seconds. Never empty: in ash an arithmetic error ends the shell,
# and this shell is init (seen once: a command aborted while dom0 ran its 61st domU, and init died).
now() { t=$(cut -d. -f1 /proc/uptime); case $t in '' | *[!0-9]*) echo 0 ;; *) echo "$t" ;; esac; }
deadline=$(($(now) + DOMU_WAIT))
state=
missing=0
while :; do
	# All domains, then the row of ours by ID. A failed xl is reported and retried, never taken as
	# the end of the domain. Nor is one list without our row: seen once (a race hunt's 10^4-switch
	# domU, at 58 s), the `xl list -v` made right after the one that lacked it showed the domain
	# running. It is gone when three lists a second apart lack it.
	if ! xl list -v >/tmp/list 2>&1; then
		sed 's/^/XENENV: xl list failed: /' /tmp/list | head -3
		set -- ? ? ? ? failed
	else
		# Name ID Mem VCPUs State Time(s) UUID Reason-Code Security-Label
		set -- $(awk -v id="$domid" 'NR > 1 && $2 == id' /tmp/list)
	fi
	case ${5:-gone} in
	failed) ;;
	gone)
		missing=$((missing + 1))
		if [ $missing -lt 3 ]; then
			say "our domain is not in xl list ($missing of 3 before it counts as gone)"
			sleep 1
			continue
		fi
		state=gone ;;
	*c*) state=crash ;;
	*s*) case ${8:-} in 0) state=poweroff ;; 1) state=reboot ;; 2) state=suspend ;; 3) state=crash ;;
		4) state=watchdog ;; 5) state=soft_reset ;; *) state="shutdown(${8:-?})" ;; esac ;;
	esac
	[ "${5:-gone}" = gone ] || missing=0
	[ -n "$state" ] && break
	left=$((deadline - $(now)))
	if [ "$left" -le 0 ]; then
		say "TIMEOUT waiting for domU"
		state=timeout
		# Stop it first: a spinning domU would slow everything below down to a crawl.
		xl pause "$NAME"
		break
	fi
	[ "$left" -le 10 ] || left=10
	timeout "$left" xenstore-watch -n 2 @releaseDomain >/dev/null 2>&1
done
say "domU ended ($state) at $(up)s"
xl list -v | sed 's/^/XENENV: list: /'
if [ "$state" != gone ]; then
	xl vcpu-list "$NAME" | sed 's/^/XENENV: vcpu-list: /'
	# Where each vCPU is (a spin loop, a halt, a fault handler), with pvtick's symbols: it runs
	# below xenctx's default kernel start, hence -k 0; it keeps frame pointers, hence -f.
	# (Not -C: it prints nothing at all when one vCPU is down.) An HVM vCPU that executes HLT with
	# interrupts off is taken down by Xen, and has no context to show.
	v=0
	while [ "$state" != poweroff ] && [ "$v" -lt "$VCPUS" ]; do
		xenctx -f -k 0 -s /pvtick.map "$domid" "$v" >/tmp/ctx 2>&1
		sed -e '/^[[:space:]]*$/d' -e "s/^/XENENV: xenctx: vcpu$v: /" /tmp/ctx
		v=$((v + 1))
	done
fi
# The domU's lines once more, from Xen's ring (the serial console had them live), and its PV console.
xl dmesg | grep "(d$domid) " | sed 's/^/XENENV: dmesg: /'
[ -s "/var/log/xen/console/guest-$NAME.log" ] &&
	tr -d '\r' <"/var/log/xen/console/guest-$NAME.log" | sed 's/^/XENENV: pvcon: /'
[ -s "/var/log/xen/xl-$NAME.log" ] && sed 's/^/XENENV: xl: /' "/var/log/xen/xl-$NAME.log"
[ "$state" = gone ] || xl destroy "$NAME"
say "MEM after $NAME: dom0 $(awk '/^MemAvailable:/ { print $2 " kB available" }' /proc/meminfo)"
say "END $NAME state=$state"
}
while read -r NAME VCPUS PCPUS; do
	say "BEGIN $NAME"
	if [ "$PCPUS" != - ] && ! pool "$PCPUS"; then
		say "END $NAME state=error"
		continue
	fi
	run_domu
done </cases
say "DONE"
finish
EOF
	sed -i "s|@XBIN@|$XBIN|" "$r/init"
	chmod +x "$r/init"
	# gzip -1: the cpio is ~10 MB raw, 4 MB packed; Xen copies the module into dom0's memory and
	# Linux unpacks it, and under TCG the smaller copy wins over the inflate.
	(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$C/base.cpio.gz"
	rm -rf "$r"
}
if [ "$MODE" = domu ]; then
	# Rebuilt when a package it is made of changes, or this script (the /init above) or lib.sh.
	stamp="$dstamp $(cat "$0" "$top/tests/lib.sh" | sha256sum | cut -c1-16)"
	if [ "$(cat "$C/domu.stamp" 2>/dev/null)" != "$stamp" ]; then
		echo "xen.sh: building dom0's kernel and toolstack initramfs for Linux $K in $C" >&2
		build_domu
		echo "$stamp" >"$C/domu.stamp"
	fi

fi

# make_initrd CASES: the per-run cpio (domu): the kernel under test, an xl config per case, the
# case list and the init's parameters. Linux unpacks concatenated (and separately compressed) cpio
# archives in turn, and QEMU's multiboot module is one file: so base.cpio.gz + this one, end to
# end. In a directory of its own, so that runs with different NAMEs can share OUTDIR at once.
run=""
trap '[ -z "$run" ] || rm -rf "$run" "$run.gz"' EXIT
make_initrd() {
	local name vcpus args pcpus
	[ -z "$run" ] || rm -rf "$run" "$run.gz"
	run=$(mktemp -d "$C/run.XXXXXX")
	mkdir -p "$run/etc/xen"
	cp "$ELF" "$run/pvtick.elf"
	nm -n "$ELF" >"$run/pvtick.map" # symbols for xenctx (binutils: a build dependency)
	: >"$run/cases"
	while IFS='|' read -r name vcpus args pcpus; do
	echo "$name $vcpus ${pcpus:--}" >>"$run/cases"
	# The shipped config, with this case's name, kernel, vCPUs and command line; the end actions set
	# to "preserve" so that /init can read how the domain ended. Every key must be there exactly once.
	NAME=$name VCPUS=$vcpus ARGS=$args POOL=${pcpus:+pvtick} awk '
		function set(key, val) { if ($0 ~ "^[ \t]*" key "[ \t]*=") { print key " = " val; seen[key]++; return 1 } return 0 }
		set("name", "\"" ENVIRON["NAME"] "\"") || set("kernel", "\"/pvtick.elf\"") ||
		set("vcpus", ENVIRON["VCPUS"]) || set("cmdline", "\"" ENVIRON["ARGS"] "\"") ||
		set("on_poweroff", "\"preserve\"") || set("on_reboot", "\"preserve\"") ||
		set("on_crash", "\"preserve\"") { next }
		{ print }
		END { if (ENVIRON["POOL"] != "") print "pool = \"" ENVIRON["POOL"] "\""
		      n = split("name kernel vcpus cmdline on_poweroff on_reboot on_crash", k, " ")
		      for (i = 1; i <= n; i++) if (seen[k[i]] != 1) { print "missing or repeated key " k[i] >"/dev/stderr"; exit 1 } }
	' "$CFG" >"$run/etc/xen/$name.cfg" || die "$CFG: every one of name, kernel, vcpus, cmdline, on_poweroff, on_reboot, on_crash must be set once"
	done <<<"$1"
	printf 'DOMU_WAIT=%s\n' "$DOMU_WAIT" >"$run/xenenv.conf"
	(cd "$run" && find . -mindepth 1 | cpio -o -H newc --quiet | gzip -1) | cat "$C/base.cpio.gz" - >"$run.gz"
	mv "$run.gz" "$run/initrd.gz"
}

# ---- 3. boot ----
# Xen's serial console is COM1 (QEMU's -serial stdio); loglvl/guest_loglvl=all keep every line,
# including a guest's port-0xe9 output, which Xen prints as "(dN) text". Without 'noreboot' a dom0
# that crashes or ends makes Xen reboot, which -no-reboot turns into QEMU exiting: no wait for the
# timeout.
xen_cmd="console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all"
if [ "$MODE" = dom0 ]; then
	# A PVH dom0 needs an IOMMU: QEMU's emulated VT-d. The dom0 "kernel" is the first multiboot
	# module; Xen drops its first word (the file name) and hands pvtick the rest as its command line.
	# QEMU splits -initrd at commas: double them.
	xen_cmd+=" dom0=pvh iommu=1 dom0_mem=64M dom0_max_vcpus=$VCPUS"
	machine=(-device intel-iommu -initrd "$ELF ${ARGS//,/,,}")
else
	# smap=hvm: QEMU 7.2 TCG checks the stack reads of a ring-3 IRET as supervisor accesses under
	# SMAP, so a 64-bit PV dom0 (whose kernel runs in ring 3) dies at its first IRET with a #PF
	# unless Xen keeps SMAP off for PV. HVM and PVH guests keep SMAP.
	xen_cmd+=" dom0_mem=256M,max:256M dom0_max_vcpus=1 smap=hvm"
	machine=() # -initrd with this boot's per-run cpio: set in the domu loop below
fi
xen_cmd+=" ${XEN_EXTRA:-}"

# boot X: one QEMU run, its serial console (CRs stripped) to X. Sets qemu_rc and wall.
# In domu mode a live boot prints at least every DOMU_WAIT s (dom0 reports each domU's end); one
# whose console is silent for XEN_SILENCE s has frozen: seen once, a pCPU that stopped running
# a domU's vCPU (its watchdog named the vCPU, stuck holding the lock), and then the domain could
# not even be shut down. Such a boot is stopped (FROZE=1) instead of waiting for XEN_TIMEOUT.
XEN_SILENCE=${XEN_SILENCE:-$((DOMU_WAIT + 60))}
# A dom0 boot whose console is silent DOM0_SILENCE s (30; pvtick prints at least every 5 s while
# it runs: a progress line, a conformance case), or that is still running 30 s before
# XEN_TIMEOUT, is asked on its serial console (CTRL-a three times gives Xen the input) for Xen's
# debug keys '0' (dom0's vCPU registers), 'r' (run queues) and 'q' (domain and vCPU info); the dump
# lands in the serial log and each dom0 vCPU's RIP is resolved against the ELF. Seen here (3 dom0
# boots of about 25 at 4 vCPUs on 2 pCPUs): the whole machine stalls, e.g. AP bring-up for 73 s
# with vCPU 0 in send_ipi (its INIT/SIPI ICR write, which Xen completes in a tasklet) and the other
# vCPUs idle, and the serial input of the dump ends the stall at once: a halted pCPU of Xen that
# missed its wake-up under QEMU TCG, which serial input (an interrupt) gives it. The guest
# cannot cause that nor end it. So a silent dom0 gets the dump (at most 3 times per boot), the
# stall is logged where it happens (here and at the end of NAME.log), and the boot goes on.
DOM0_SILENCE=${DOM0_SILENCE:-30}
dump_dom0() { # dump_dom0 FD
	printf '\001\001\001' >&"$1"
	sleep 2
	for k in 0 r q; do printf '%s' "$k" >&"$1"; sleep 3; done
	printf '\001\001\001' >&"$1" # input back to dom0
}
# dump_rips LOG FROM: the dom0 vCPU RIPs of the '0' dump after line FROM of LOG, as functions.
dump_rips() {
	tail -n "+$2" "$1" | awk '/Dumping Dom0 vcpu#/ { v = $0; sub(/.*vcpu#/, "", v); sub(/ .*/, "", v) }
		v != "" && /RIP: .*\[</ { r = $0; sub(/.*\[</, "", r); sub(/>.*/, "", r); print v, r; v = "" }' |
		while read -r v rip; do
			printf 'vCPU %s at %s %s; ' "$v" "$rip" "$(addr2line -f -e "$ELF" "0x$rip" 2>/dev/null | head -1)"
		done
}
boot() {
	local log=$1 t0 t1 pid size last=-1 quiet=0 fifo="" wfd="" start=$SECONDS dumped=0 from
	STALLS=()
	local qemu=(timeout -k 10 "$XEN_TIMEOUT" qemu-system-x86_64 -machine q35 -accel "$XEN_L0_ACCEL" -cpu max
		-smp "$XEN_SMP" -m 1G -nodefaults -display none -serial stdio -monitor none -no-reboot
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$C/xen" -append "$xen_cmd" "${machine[@]}")
	t0=${EPOCHREALTIME/./}
	FROZE=0
	if [ "$MODE" = dom0 ]; then
		# The serial console's input: a FIFO this shell keeps open, for the debug keys.
		fifo=$log.in
		rm -f "$fifo" && mkfifo "$fifo" && exec {wfd}<>"$fifo"
		(set +e; "${qemu[@]}" <"$fifo" 2>&1 | stdbuf -oL tr -d '\r' >"$log"
			echo "${PIPESTATUS[0]}" >"$log.rc") &
	else
		(run_logged "$log" "${qemu[@]}"; echo "$RUN_RC" >"$log.rc") &
	fi
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		sleep 5
		size=$(stat -c %s "$log" 2>/dev/null || echo 0)
		if [ "$size" != "$last" ]; then last=$size quiet=0; else quiet=$((quiet + 5)); fi
		if [ "$MODE" = dom0 ]; then
			local late=$(($((SECONDS - start)) >= XEN_TIMEOUT - 30))
			if [ $dumped -lt 3 ] && { [ $quiet -ge "$DOM0_SILENCE" ] || { [ $late = 1 ] && [ $dumped = 0 ]; }; }; then
				local why="its console silent $quiet s" silent=$quiet
				[ $quiet -ge "$DOM0_SILENCE" ] || why="30 s before the timeout, its console not silent"
				from=$(($(wc -l <"$log") + 1))
				dump_dom0 "$wfd"
				dumped=$((dumped + 1)) quiet=0
				sleep 5 # did the guest go on?
				if [ "$(guest_lines "$log" 0 | wc -l)" -le "$(head -n "$from" "$log" | guest_lines /dev/stdin 0 | wc -l)" ]; then
					went="the guest did not go on"
				elif [ "$silent" -ge "$DOM0_SILENCE" ]; then
					went="the guest went on at once: a stall of Xen's, ended by serial input"
				else
					went="the guest went on"
				fi
				STALLS+=("at $((SECONDS - start)) s, $why: Xen's debug keys 0 r q: $(dump_rips "$log" "$from")$went")
				echo "xen.sh: dom0 stall ${#STALLS[@]} ${STALLS[-1]}" >&2
			fi
			continue
		fi
		if [ $quiet -ge "$XEN_SILENCE" ]; then
			FROZE=1
			pkill -TERM -P $pid || true # timeout, which passes the signal on to QEMU
			break
		fi
	done
	wait $pid
	qemu_rc=$(cat "$log.rc" 2>/dev/null || echo 143)
	rm -f "$log.rc"
	if [ -n "$wfd" ]; then
		exec {wfd}>&-
		rm -f "$fifo"
	fi
	t1=${EPOCHREALTIME/./}
	wall=$(printf '%d.%d' $(((t1 - t0) / 1000000)) $(((t1 - t0) / 100000 % 10)))
}

# ---- 4. split the serial console ----
# guest_lines X DOMID: that domain's port-0xe9 lines in serial log X. Xen 4.17 prints each as
# "(dN) text" in one piece, "[ seconds] " after the tag with XEN_EXTRA=console_timestamps=... .
# Dom0's console output shares the serial line and a fragment of it can sit in front of the tag
# (even a whole "XENENV: CREATED ..." line without its newline, seen once): take what follows the
# tag's first occurrence. The XENENV: dmesg: and pvcon: lines are dom0's copies, not the live
# console: skipped, or every line would count twice.
guest_lines() {
	awk -v tag="(d$2) " '!/^XENENV: (dmesg|pvcon): / && (i = index($0, tag)) {
		s = substr($0, i + length(tag)); sub(/^\[[^]]*\] /, "", s); print s }' "$1"
}
# l0_fault X DOMID: the domU triple-faulted and pvtick's own exception handlers never ran. Every
# exception pvtick takes prints "# fault: ..." first (arch/traps.c; #PF, #DF, NMI and #MC on their
# own IST stack), and its IDT, GDT and TSS are written once at boot. A triple fault with no such
# line means the CPU state the guest ran on was not the guest's: seen here at the instruction right
# after a VM exit (a vmmcall's return, an RDTSC Xen emulates), and with Xen's own RIP (right after
# its vmrun), RSP and CR3 (code segment e008) in the dump, state the guest cannot know. They come
# from L0's emulation of SVM under thread=multi ("The layers" above has the counts). A candidate in
# QEMU's source (7.2 to 10.x, target/i386/tcg/*/svm_helper.c), read but not proven to be the cause:
# helper_vmrun delivers the interrupt Xen injects (EVENTINJ) inline and leaves cs->exception_index
# set, so a kick from another vCPU's thread makes the CPU loop deliver that vector a second time, as
# an exception. None seen under thread=single; should one come, it is retried as above, and logged.
# A triple fault after a "# fault:" line stays a failure of the guest.
l0_fault() {
	grep -q "d$2v[0-9]* Triple fault" "$1" || return 1
	! guest_lines "$1" "$2" | grep -q '^# fault: '
}

if [ "$MODE" = dom0 ]; then
	X=$OUT/$NAME.xen.log log=$X
	echo "xen.sh: dom0 $NAME: Xen on $XEN_SMP CPU(s) (L0 -accel $XEN_L0_ACCEL), pvtick with $VCPUS vCPU(s), args '$ARGS'," \
		"timeout ${XEN_TIMEOUT}s; serial console in $X" >&2
	rm -f "$OUT/$NAME.log" "$OUT/$NAME.rc"
	boot "$X"
	guest_lines "$X" 0 >"$OUT/$NAME.log"
	for s in "${STALLS[@]}"; do echo "# xen.sh: stall $s" >>"$OUT/$NAME.log"; done
	echo "$qemu_rc" >"$OUT/$NAME.rc"
	case $qemu_rc in 33) what=pass ;; 35) what=fail ;; 124) what=timeout ;; 0) what="Xen powered off/rebooted" ;;
	*) what="QEMU status $qemu_rc" ;; esac
	pv=$(grep -m1 '^# pv:' "$OUT/$NAME.log" || echo '(no "# pv:" line)')
	echo "xen.sh: dom0 $NAME vcpus=$VCPUS: $what, $(grep -c '^\(not \)\?ok ' "$OUT/$NAME.log") KTAP result(s)" \
		"in $(wc -l <"$OUT/$NAME.log") guest line(s), ${wall}s; $pv"
	# Xen frees its init memory right before it enters dom0: past that line, dom0 ran.
	grep -q 'Freed [0-9]*kB init memory' "$X" && exit 0
	env_failed=1
else
	X=$OUT/$LOGBASE.xen.log
	while IFS='|' read -r name _; do rm -f "$OUT/$name.log" "$OUT/$name.rc"; done <<<"$CASES"
	# More boots, at most two, for the domUs a boot could not judge: those hit by the L0 fault,
	# and, if the first boot froze, those that had not ended. (The L0 fault came twice in a row
	# in one fresh-clone CI soak: 120 s of SCHEDOP_poll at 2 vCPUs.)
	left=$CASES attempt=0 env_failed=0 again=""
	while [ -n "$left" ] && [ $attempt -lt 3 ]; do
		attempt=$((attempt + 1))
		log=$X
		[ $attempt = 1 ] || log=$X.$attempt
		make_initrd "$left"
		machine=(-initrd "$C/vmlinux console=hvc0 earlyprintk=xen quiet rdinit=/init,$run/initrd.gz")
		echo "xen.sh: domu boot $attempt: Xen $XV on $XEN_SMP CPU(s) (L0 -accel $XEN_L0_ACCEL), dom0 Linux $K, $(grep -c . <<<"$left") domU(s)," \
			"timeout ${XEN_TIMEOUT}s; serial console in $log" >&2
		boot "$log"
		[ $FROZE = 1 ] && echo "xen.sh: boot $attempt froze: its serial console was silent for ${XEN_SILENCE}s" \
			"(an L0 emulation freeze: the guest cannot stop Xen or dom0 from printing); stopped it" >&2
		next=""
		while IFS='|' read -r name vcpus args pcpus; do
			domid=$(sed -n "s/^XENENV: CREATED $name domid=\([0-9]*\).*/\1/p" "$log" | head -1)
			state=$(sed -n "s/^XENENV: END $name state=\([a-z_]*\).*/\1/p" "$log" | head -1)
			if [ -n "$domid" ]; then
				guest_lines "$log" "$domid" >"$OUT/$name.log"
				# No port-0xe9 output at all: fall back to what the domU wrote on its PV console.
				[ -s "$OUT/$name.log" ] || sed -n "/^XENENV: BEGIN $name\$/,/^XENENV: END $name /s/^XENENV: pvcon: //p" "$log" >"$OUT/$name.log"
			else
				: >"$OUT/$name.log"
			fi
			# A PCPUS case: its pool's layout and scheduler, as dom0 read them before xl create.
			[ -z "$pcpus" ] || sed -n "/^XENENV: BEGIN $name\$/,/^XENENV: \(CREATED\|END\) $name /s/^XENENV: \(POOL\|SCHED\) /\1 /p" "$log" >"$OUT/$name.pool"
			why=""
			if [ $attempt = 1 ] && [ -z "$state" ] && [ $FROZE = 1 ]; then
				[ -n "$domid" ] && why="the boot froze while it ran"
				[ -n "$why" ] || { next+="$name|$vcpus|$args${pcpus:+|$pcpus}"$'\n'; continue; } # never started
			elif [ $attempt -lt 3 ] && [ "$state" = reboot ] && l0_fault "$log" "$domid"; then
				why="it triple-faulted without a guest exception report (see l0_fault)"
			fi
			if [ -n "$why" ]; then
				echo "xen.sh: $name: $why: an L0 emulation fault, not the guest's; booting it again (boot $((attempt + 1)) of at most 3)" >&2
				next+="$name|$vcpus|$args${pcpus:+|$pcpus}"$'\n'
				again+="$name:boot $attempt: $why"$'\n'
				continue
			fi
			[ -n "$state" ] || state=missing
			case $state in missing | error) env_failed=1 ;; esac
			echo "$state" >"$OUT/$name.rc"
			what="domU $state"
			# Xen answers an HVM triple fault with a reboot request (its default triple-fault action).
			[ "$state" = reboot ] && grep -q "d${domid}v[0-9]* Triple fault" "$log" && what+=" (triple fault)"
			[ "$state" = timeout ] && what+=" after DOMU_WAIT=${DOMU_WAIT}s"
			first=$(sed -n "s/^$name:\(.*\)/\1/p" <<<"$again" | paste -sd';')
			[ -n "$first" ] && echo "# xen.sh: booted $attempt times: $first (see $X*)" >>"$OUT/$name.log"
			pv=$(grep -m1 '^# pv:' "$OUT/$name.log" || echo '(no "# pv:" line)')
			echo "xen.sh: domu $name vcpus=$vcpus: $what, $(grep -c '^\(not \)\?ok ' "$OUT/$name.log") KTAP result(s)" \
				"in $(wc -l <"$OUT/$name.log") guest line(s); $pv"
		done <<<"$left"
		left=$(sed '/^$/d' <<<"$next")
	done
	[ $FROZE = 1 ] || grep -q '^XENENV: DONE$' "$log" || env_failed=1
	echo "xen.sh: $attempt boot(s), ${wall}s the last" >&2
	[ $env_failed = 0 ] && exit 0
fi
echo "xen.sh: the environment failed (QEMU status $qemu_rc). The serial console ends:" >&2
[ "$qemu_rc" = 124 ] && [ "$MODE" = domu ] &&
	echo "xen.sh: QEMU hit XEN_TIMEOUT=${XEN_TIMEOUT}s: it must cover dom0's boot, DOMU_WAIT=${DOMU_WAIT}s per domU and the report (~90 s more)" >&2
tail -30 "$log" | sed 's/^/  | /' >&2
exit 3

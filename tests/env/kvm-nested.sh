#!/bin/bash
# SPDX-License-Identifier: MIT
# kvm-nested.sh: boot pvtick under real Linux KVM, nested inside QEMU TCG, once per case of a case file.
#
# Usage: tests/env/kvm-nested.sh OUTDIR CASEFILE
#   CASEFILE  one L2 boot per line, NAME|SMP|CPUFLAGS|GUEST_ARGS ('#' starts a comment line), e.g.
#               kvm-smp4-auto|4|host,kvm-pv-unhalt=on|pvlock=auto stress.iters=300
#   OUTDIR    gets <name>.log (L2 console), <name>.rc (L2 QEMU status: 33 pass, 35 fail, 124 timeout;
#             l1-stopped if L1 itself stopped twice in that case), both of the case's last try
#             (earlier tries, if L1 stopped or stalled in one: <name>.log.1, <name>.rc.1, ...),
#             l1.log (the whole L1 serial console of every L1 boot, with KVMENV-L0: lines for L0's
#             decisions) and the cached L1 images (l1/).
# env: L1_FROM (host: the host's Debian packages, bookworm: Linux 6.1 and QEMU 7.2 in L1; trixie:
#      Linux 6.12 and QEMU 10.0 from the cache tests/env/trixie.sh fills, TRIXIE=build/trixie),
#      L2_ACCEL (kvm; xen: KVM's Xen emulation, -accel kvm,xen-version=0x40011,kernel-irqchip=split,
#      which needs QEMU 10: L1_FROM=trixie),
#      ELF (build/pvtick.elf, relative to the repo root), L1_SMP (1), L1_MEM (1G), L1_TIMEOUT (600 s
#      per L1 boot), L2_TIMEOUT (240 s per case), L1_SILENCE (90 s: an L1 console silent that long is
#      a frozen L1), L1_BOOTS (4: L1 boots in all, see step 3), TSC_KHZ (host TSC kHz, auto),
#      VERBOSE=1 (show the L1 console live), L0_ACCEL (tcg,thread=single: see step 3 before changing it)
# Exit: 0 every case ran to its END (judging the L2 results is the caller's job), 2 usage or missing
#       packages, 3 L1 never reached the case loop, 4 some case did not end; 3 and 4 print the L1 log
#       tail; 5 L1_FROM=trixie and the cache lacks a part (OUTDIR/skip.txt says which and why).
#
# The layers: L0 = QEMU TCG with -cpu max, which emulates AMD SVM with nested paging;
# L1 = Debian's stock kernel + a busybox initramfs that loads kvm_amd and runs the host's QEMU;
# L2 = pvtick under L1's KVM (-accel kvm). The host's own /dev/kvm (kvm_pvm here) is never used:
# it runs ordinary guests ~1000x slower than TCG and hangs on VMCALL.
set -euo pipefail
. "$(dirname "$0")/../lib.sh" # sets top (the repository)
[ $# = 2 ] || { sed -n '5,11p' "$0" | sed 's/^# \?//' >&2; exit 2; }
mkdir -p "$1"
OUT=$(cd "$1" && pwd) CASES=$2
ELF=${ELF:-build/pvtick.elf}
case $ELF in /*) ;; *) ELF=$top/$ELF ;; esac
L1_SMP=${L1_SMP:-1} L1_MEM=${L1_MEM:-1G} L1_TIMEOUT=${L1_TIMEOUT:-600} L2_TIMEOUT=${L2_TIMEOUT:-240}
L0_ACCEL=${L0_ACCEL:-tcg,thread=single}
die() { echo "kvm-nested: $*" >&2; exit 2; }
[ -f "$ELF" ] || die "no kernel at $ELF (run make first)"
[ -f "$CASES" ] || die "no case file $CASES"

# Case lines, comments and blank lines dropped; NAME becomes a file name, so keep it plain.
cases=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$CASES" || true)
[ -n "$cases" ] || die "$CASES has no cases"
while IFS='|' read -r name smp cpu args; do
	[[ $name =~ ^[A-Za-z0-9._-]+$ && $smp =~ ^[0-9]+$ && -n $cpu ]] ||
		die "bad case line '$name|$smp|$cpu|$args' (want NAME|SMP|CPUFLAGS|GUEST_ARGS)"
done <<<"$cases"

# ---- 1. packages ----
# The Debian packages this needs, from one list (tests/deps.sh): installed when root, else the
# exact apt-get line and exit 2.
"$top/tests/deps.sh" kvm || exit 2
L1_FROM=${L1_FROM:-host} L2_ACCEL=${L2_ACCEL:-kvm}
case $L2_ACCEL in
kvm) ;;
xen) [ "$L1_FROM" = trixie ] || die "L2_ACCEL=xen needs QEMU 10's Xen emulation: L1_FROM=trixie" ;;
*) die "L2_ACCEL '$L2_ACCEL' must be kvm or xen" ;;
esac
rm -f "$OUT/skip.txt"

# ---- 2. L1 images: the kernel and the big cpio are cached; the small cpio is rebuilt every run ----
# R: the system L1 is made of. K: its kernel's ABI version, e.g. 6.1.0-56-amd64.
case $L1_FROM in
host)
	R=/
	K=$(host_kernel) || die "no host kernel for the L1"
	stamp="$K $(dpkg-query -W -f='${Version} ' "linux-image-$K" qemu-system-x86 busybox-static)"
	;;
trixie)
	# Fetched once; a part that cannot be fetched is this run's skip, with the reason.
	trixie_need "$OUT" "kvm-nested: no trixie L1" root linux || exit 5
	R=$TRIXIE/root K=$(cat "$TRIXIE/linux.version")
	stamp="$K $(tail -n +2 "$TRIXIE/root.stamp" "$TRIXIE/linux.stamp" | grep = | paste -sd' ')"
	;;
*) die "L1_FROM '$L1_FROM' must be host or trixie" ;;
esac
L1=$OUT/l1
stamp+=" $(cat "$0" "$top/tests/lib.sh" | sha256sum | cut -c1-16)"

build_l1() {
	rm -rf "$L1" && mkdir -p "$L1"
	# L1 boots through PVH straight into the ELF vmlinux, skipping the bzImage decompressor (slow
	# under TCG). Debian's bzImage payload is that vmlinux, with CONFIG_PVH=y.
	vmlinux_from_bzimage "${R%/}/boot/vmlinuz-$K" "$L1/vmlinux" || die "no L1 kernel"

	local r=$L1/root a ko
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc,usr/share/qemu,usr/share/seabios}
	cp "${R%/}/bin/busybox" "$r/bin/busybox" # static
	for a in $("$r/bin/busybox" --list-full); do [ "$a" = bin/busybox ] || ln -s /bin/busybox "$r/$a"; done
	# kvm_amd and its dependency closure (irqbypass, kvm, ccp), indexed for busybox modprobe, which
	# reads plain .ko only (trixie ships .ko.xz). A trixie kernel unpacked into the root has no
	# modules.dep until depmod writes it.
	[ -f "${R%/}/lib/modules/$K/modules.dep" ] || depmod -b "$R" "$K"
	for ko in $(modprobe -d "$R" -S "$K" --show-depends kvm_amd | awk '$1 == "insmod" { print $2 }'); do
		ko=${ko#"${R%/}"}
		mkdir -p "$r${ko%/*}" && cp "${R%/}$ko" "$r$ko"
	done
	find "$r/lib/modules" -name '*.ko.xz' -exec xz -d {} +
	cp "${R%/}/lib/modules/$K"/modules.{order,builtin,builtin.modinfo} "$r/lib/modules/$K/"
	depmod -b "$r" "$K"
	# QEMU with its libraries and loader, and coreutils' timeout, called by its full path: busybox's
	# applet (which busybox sh prefers to anything in PATH) returns the killed program's status, and
	# QEMU exits 0 on SIGTERM; want 124.
	copy_programs "$R" "$r" /usr/bin/qemu-system-x86_64 /usr/bin/timeout
	mv "$r/usr/bin/timeout" "$r/bin/timeout.coreutils"
	# Firmware for L2 on pc/q35: SeaBIOS, the PVH and linuxboot option ROMs, the vAPIC ROM.
	for f in pvh.bin linuxboot_dma.bin kvmvapic.bin; do cp -L "${R%/}/usr/share/qemu/$f" "$r/usr/share/qemu/"; done
	cp -L "${R%/}/usr/share/seabios/bios-256k.bin" "$r/usr/share/seabios/"

	cat >"$r/init" <<'EOF'
#!/bin/sh
# L1 /init: load KVM, boot every case of /cases as an L2 QEMU with its console framed, power off.
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
. /kvmenv.conf
say() { echo "KVMENV: $*"; }
modprobe kvm_amd
if [ ! -c /dev/kvm ]; then
	say "ERROR no /dev/kvm in L1 after modprobe kvm_amd ($(grep -cw svm /proc/cpuinfo) CPU(s) with svm)"
	dmesg | grep -iE 'kvm|svm' | tail -5 | sed 's/^/KVMENV: dmesg: /'
	poweroff -f
fi
say "L1 up in $(cut -d' ' -f1 /proc/uptime)s: Linux $(uname -r), $(nproc) CPU(s)," \
	"kvm_amd nested=$(cat /sys/module/kvm_amd/parameters/nested) npt=$(cat /sys/module/kvm_amd/parameters/npt)," \
	"$(qemu-system-x86_64 --version | head -1), -accel $L2_ACCEL"
# What shapes a benchmark here, as L1 reads it: pause-loop exiting needs the CPU's pause filter
# (CPUID 0x8000000A EDX bit 10, "pausefilter" in /proc/cpuinfo; QEMU's SVM emulation offers none),
# and the time slices of L1's scheduler, under which every L2 vCPU is a thread.
pf=absent
grep -qw pausefilter /proc/cpuinfo && pf=present
sl=""
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
for f in base_slice_ns latency_ns min_granularity_ns wakeup_granularity_ns; do
	[ -f "/sys/kernel/debug/sched/$f" ] && sl="$sl $f=$(cat "/sys/kernel/debug/sched/$f")"
done
say "HOST pause filter $pf, kvm_amd pause_filter_count=$(cat /sys/module/kvm_amd/parameters/pause_filter_count 2>/dev/null || echo ?);" \
	"scheduler${sl:- parameters unreadable (no debugfs sched/)}; L2 vCPUs share L1's $(nproc) CPU(s)"
say "CASES $(grep -c . /cases)"
l2() { # l2 SMP CPU ARGS: one L2 boot, its console to /tmp/l2.out; returns QEMU's status
	# stdin from /dev/null: QEMU must not eat the rest of /cases.
	/bin/timeout.coreutils -k 5 "$L2_TIMEOUT" qemu-system-x86_64 -accel "$L2_ACCEL" -M q35 -cpu "$2" -smp "$1" -m 128M \
		-nodefaults -display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel /pvtick.elf -append "$3" </dev/null >/tmp/l2.out 2>&1
}
while IFS='|' read -r name smp cpu args; do
	say "BEGIN $name"
	t0=$(cut -d' ' -f1 /proc/uptime)
	# A heartbeat while L2 runs (its console goes to a file, so L1's is otherwise quiet): L0 takes
	# a silent L1 console for a frozen L1. Stopped before the L2 log is printed, so no line mixes.
	(while sleep 10; do say "ALIVE $name $(cut -d' ' -f1 /proc/uptime)"; done) &
	hb=$!
	l2 "$smp" "$cpu" "$args"
	rc=$?
	# Seen about once per session: the L2 QEMU hangs before the guest's first byte. That is the
	# environment, not pvtick (which prints "KTAP version 1" first): say so and boot it once more.
	# Seen once in CI: L2 stopped for good after "# stress:", where pvtick's watchdog (on the
	# BSP's timer) ends any run that makes no progress for watchdog= s with "# watchdog:" lines;
	# a timeout there with no such line means the VM itself stopped running (or the run was
	# merely slower than L2_TIMEOUT): boot it once more too, and say which.
	why=""
	if [ $rc = 124 ] && ! grep -q 'KTAP version 1' /tmp/l2.out; then
		why="L2 printed nothing in ${L2_TIMEOUT}s (environment)"
	elif [ $rc = 124 ] && grep -q '^# stress: ' /tmp/l2.out && ! grep -q '^# watchdog: ' /tmp/l2.out; then
		why="L2 ran out of ${L2_TIMEOUT}s in the stress without its watchdog speaking (the VM stopped, or the run is slower than L2_TIMEOUT)"
	fi
	first=""
	if [ -n "$why" ]; then
		say "RETRY $name: $why; booting it again"
		mv /tmp/l2.out /tmp/l2.first
		first=/tmp/l2.first
		l2 "$smp" "$cpu" "$args"
		rc=$?
	fi
	kill $hb; wait $hb 2>/dev/null
	# The first try's console, if any, for L0 to keep apart (<name>.log.l2-first).
	[ -z "$first" ] || sed 's/^/KVMENV: FIRST | /' "$first"
	cat /tmp/l2.out
	say "END $name rc=$rc"
	say "TIME $name $(awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)"
done </cases
say DONE
poweroff -f
EOF
	chmod +x "$r/init"
	# Uncompressed on purpose: gunzip inside TCG costs more boot time than QEMU's fw_cfg DMA of the
	# extra megabytes.
	(cd "$r" && find . | cpio -o -H newc --quiet) >"$L1/base.cpio"
	rm -rf "$r"
	echo "$stamp" >"$L1/stamp"
}
if [ "$(cat "$L1/stamp" 2>/dev/null)" != "$stamp" ]; then
	echo "kvm-nested: building the L1 kernel and initramfs for Linux $K in $L1" >&2
	build_l1
fi

# The per-run cpio: the kernel under test, the cases, the L2 timeout. Linux unpacks concatenated
# cpio archives in turn, and QEMU's -initrd takes one file: so base.cpio + this one, end to end.
make_initrd() { # make_initrd CASES
	local run=$L1/run
	rm -rf "$run" && mkdir -p "$run"
	cp "$ELF" "$run/pvtick.elf"
	echo "$1" >"$run/cases"
	local accel=kvm
	# KVM's Xen emulation: QEMU 10 gives the guest Xen's CPUID leaves, hypercall page, event
	# channels and SCHEDOP_poll (docs/system/i386/xen.rst of QEMU); its event channels and timers
	# are in KVM when the IRQ chip is split.
	[ "$L2_ACCEL" = xen ] && accel=kvm,xen-version=0x40011,kernel-irqchip=split
	printf 'L2_TIMEOUT=%s\nL2_ACCEL=%s\n' "$L2_TIMEOUT" "$accel" >"$run/kvmenv.conf"
	(cd "$run" && find . -mindepth 1 | cpio -o -H newc --quiet) | cat "$L1/base.cpio" - >"$L1/initrd.cpio"
}

# ---- 3. boot L1, again for the cases left if it froze ----
# microvm: no firmware, no PCI scan, so L1 is up in seconds under TCG. It also has no HPET or ACPI
# PM timer, and calibrating the TSC against the PIT under TCG hangs now and then: tell L1 the TSC
# rate instead. L1's TSC is the host's (TCG reads the host TSC), so take the host's rate.
tsc_khz() {
	local mhz
	mhz=$({ dmesg 2>/dev/null || true; } |
		sed -nE 's/.*tsc: (Refined TSC clocksource calibration:|Detected) ([0-9.]+) MHz.*/\2/p' | tail -1)
	[ -n "$mhz" ] || mhz=$(awk -F': *' '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
	[ -n "$mhz" ] || die "cannot tell the host TSC rate: set TSC_KHZ"
	awk -v m="$mhz" 'BEGIN { printf "%d", m * 1000 }'
}
TSC_KHZ=${TSC_KHZ:-$(tsc_khz)}
# One L1 vCPU on purpose: with 2 (QEMU 7.2), L1 under thread=multi froze for good (no timer, no
# output) in each of 4 batches of 5+ cases, after 1 to 16 L2 boots; under thread=single it stayed
# up, but 5 of 42 L2 QEMUs hung before the guest's first byte. With 1 L1 vCPU: 0 of 75 here, but
# CI once saw L1 freeze after its first case. L2 vCPUs still contend: L1's scheduler preempts
# their threads (4 of them on 1 L1 CPU), lock holders included.
# If L1_SMP=2 is wanted anyway, thread=single is the lesser evil (L1 stays alive; timeouts fire).
# quiet loglevel=1: no L1 kernel message interleaves with the L2 lines on the shared console,
# except a panic (KERN_EMERG), which is what one needs to see when L1 dies.
l1=(timeout -k 10 "$L1_TIMEOUT" qemu-system-x86_64 -accel "$L0_ACCEL" -cpu max -M microvm
	-smp "$L1_SMP" -m "$L1_MEM" -nodefaults -display none -serial stdio -no-reboot
	-kernel "$L1/vmlinux" -initrd "$L1/initrd.cpio"
	-append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init tsc_early_khz=$TSC_KHZ")

# boot_l1 LOG: one L1 boot, its console (CRs stripped) to LOG. A live L1 prints at least every
# 10 s (a case line or its heartbeat). One silent for L1_NUDGE s (30) gets a newline on its serial
# input, once per silence, logged as a "KVMENV-L0: nudge" line with whether the console went on:
# an experiment on the L1 freezes (an L1 halted past its wake-up under TCG would be woken by the
# UART's interrupt, as Xen's dom0 stalls are; the /init reads its cases from a file, so the byte
# is never read). The case it was in goes to LOG.nudged: its L2 lost 30 s or more of L1's time
# in the middle of its run. One silent for L1_SILENCE s (90) is frozen (no timer fires in it, so
# its own timeouts cannot end it), and is stopped. Sets L1_RC and L1_FROZE (0/1).
L1_NUDGE=${L1_NUDGE:-30}
boot_l1() {
	local log=$1 raw=$1.raw size last=-1 quiet=0 pid tailpid= fifo=$1.in wfd nudged=0 at
	rm -f "$fifo" && mkfifo "$fifo" && exec {wfd}<>"$fifo"
	"${l1[@]}" <"$fifo" >"$raw" 2>&1 &
	pid=$!
	[ "${VERBOSE:-0}" = 1 ] && { tail -f --pid=$pid "$raw" & tailpid=$!; }
	L1_FROZE=0
	: >"$log.l0"
	: >"$log.nudged"
	while kill -0 $pid 2>/dev/null; do
		sleep 5
		size=$(stat -c %s "$raw")
		if [ "$size" != "$last" ]; then
			[ $nudged = 1 ] && echo "KVMENV-L0: nudge: the console went on $((quiet + 5)) s or less after the silence began" >>"$log.l0"
			last=$size quiet=0 nudged=0
		else
			quiet=$((quiet + 5))
		fi
		if [ $quiet -ge "$L1_NUDGE" ] && [ $nudged = 0 ]; then
			at=$(tail -c 300 "$raw" | tr -d '\r' | grep -a 'KVMENV: \(BEGIN\|ALIVE\)' | tail -1)
			echo "KVMENV-L0: nudge: L1's console silent ${quiet} s (last: ${at:-?}): a newline on its serial input" >>"$log.l0"
			[ -n "$at" ] && awk '{ print $3 }' <<<"$at" >>"$log.nudged"
			echo >&"$wfd"
			nudged=1
		fi
		if [ $quiet -ge "$L1_SILENCE" ]; then L1_FROZE=1; kill $pid 2>/dev/null; break; fi
	done
	wait $pid && L1_RC=0 || L1_RC=$?
	exec {wfd}>&-
	rm -f "$fifo"
	[ -n "$tailpid" ] && wait $tailpid 2>/dev/null
	{ tr -d '\r' <"$raw"; cat "$log.l0"; } >"$log"
	rm -f "$raw" "$log.l0"
}

# A case is finished when L1 printed its END line. If an L1 boot stops before DONE, the next boot
# runs the cases left; the case L1 was in when it stopped is booted again, but only once: if L1
# stops in it twice, it is given up (<name>.rc = l1-stopped) and the rest go on. At most
# L1_BOOTS boots in all. Every such decision is a "KVMENV-L0:" line in l1.log.
L1_SILENCE=${L1_SILENCE:-90} L1_BOOTS=${L1_BOOTS:-4}
left=$cases given_up="" stopped_in="" boot=0
: >"$OUT/l1.log"
while IFS='|' read -r name _; do rm -f "$OUT/$name".log* "$OUT/$name".rc*; done <<<"$cases"
while [ -n "$left" ] && [ $boot -lt "$L1_BOOTS" ]; do
	boot=$((boot + 1))
	make_initrd "$left"
	echo "kvm-nested: L1 boot $boot (Linux $K, $L1_SMP vCPU(s), $L1_MEM, timeout ${L1_TIMEOUT}s," \
		"$(grep -c . <<<"$left") case(s)); console in $OUT/l1.log" >&2
	boot_l1 "$OUT/l1-boot.log"
	cat "$OUT/l1-boot.log" >>"$OUT/l1.log"
	nudged=$(sort -u "$OUT/l1-boot.log.nudged")
	rm -f "$OUT/l1-boot.log.nudged"
	cur=""
	if ! grep -q '^KVMENV: DONE$' "$OUT/l1-boot.log"; then
		# Where it stopped: the last case begun and not ended (if any).
		cur=$(awk '/^KVMENV: BEGIN / { c = $3 } /KVMENV: END / { c = "" } END { print c }' "$OUT/l1-boot.log")
		if [ $L1_FROZE = 1 ]; then why="its console was silent for ${L1_SILENCE}s (L1 frozen)"
		elif [ "$L1_RC" = 124 ]; then why="it ran out of its ${L1_TIMEOUT}s"
		else why="its QEMU exited with status $L1_RC"; fi
		echo "KVMENV-L0: L1 boot $boot stopped before DONE${cur:+, in case $cur}: $why" >>"$OUT/l1.log"
	elif [ -z "$nudged" ]; then
		left=""
		break
	fi
	ended=$(sed -n 's/.*KVMENV: END \([^ ]*\) rc=.*/\1/p' "$OUT/l1-boot.log")
	next=""
	while IFS='|' read -r name rest; do
		# A case that ended after L1 stalled 30 s or more under it (seen: L1's own soft-lockup
		# report, "CPU#0 stuck for 31s", and the L2 guest's AP bring-up timed out meanwhile):
		# its result is the stall's, not pvtick's. Booted again once; a second stall gives it up.
		if grep -qx -- "$name" <<<"$ended" && grep -qx -- "$name" <<<"$nudged"; then
			if grep -qx -- "$name" <<<"$stopped_in"; then
				echo "KVMENV-L0: L1 stalled twice in case $name: giving it up" >>"$OUT/l1.log"
				given_up+="$name"$'\n'
			else
				echo "KVMENV-L0: case $name ran through an L1 stall of ${L1_NUDGE} s or more (the nudge above): booting it again" >>"$OUT/l1.log"
				stopped_in+="$name"$'\n'
				next+="$name|$rest"$'\n'
			fi
			continue
		fi
		grep -qx -- "$name" <<<"$ended" && continue
		if [ -n "$cur" ] && [ "$name" = "$cur" ] && grep -qx -- "$name" <<<"$stopped_in"; then
			echo "KVMENV-L0: L1 stopped twice in case $name: giving it up" >>"$OUT/l1.log"
			given_up+="$name"$'\n'
			continue
		fi
		next+="$name|$rest"$'\n'
	done <<<"$left"
	[ -n "$cur" ] && stopped_in+="$cur"$'\n'
	left=$(sed '/^$/d' <<<"$next")
	[ -n "$left" ] && [ $boot -lt "$L1_BOOTS" ] && echo "KVMENV-L0: booting L1 again for the cases left" >>"$OUT/l1.log"
done
rm -f "$OUT/l1-boot.log"

# ---- 4. split the L1 console into <name>.log / <name>.rc (earlier tries kept: see the awk) ----
awk -v out="$OUT" -f "$top/tests/env/split-l1.awk" "$OUT/l1.log"
while IFS= read -r name; do
	[ -n "$name" ] || continue
	echo l1-stopped >"$OUT/$name.rc"
	echo "# kvm-nested: L1 (Linux under QEMU TCG) stopped, or stalled ${L1_NUDGE} s or more, twice while this case ran; see l1.log" >>"$OUT/$name.log"
done <<<"$given_up"
while IFS='|' read -r name smp cpu args; do
	if [ -f "$OUT/$name.rc" ]; then
		rc=$(cat "$OUT/$name.rc")
		case $rc in 33) verdict=pass ;; 35) verdict=fail ;; 124) verdict=timeout ;; l1-stopped) verdict=- ;; *) verdict="exit $rc" ;; esac
		secs=$(sed -n "s/^KVMENV: TIME $name \([0-9.]*\)$/\1/p" "$OUT/l1.log" | tail -1)
		pv=$(grep -m1 '^# pv:' "$OUT/$name.log" || echo '(no # pv: line)')
		tries=$(grep -c "^KVMENV: BEGIN $name\$" "$OUT/l1.log")
		[ "$tries" -gt 1 ] && pv+=" ($tries tries: the earlier ones in $name.log.1..)"
		printf '%-22s rc=%-3s %-7s %6ss  %s\n' "$name" "$rc" "$verdict" "$secs" "$pv"
	else
		printf '%-22s did not run\n' "$name"
	fi
done <<<"$cases"
grep '^KVMENV-L0: \|^KVMENV: RETRY' "$OUT/l1.log" >&2 || true
[ -z "$left" ] && [ -z "$given_up" ] && exit 0
if grep -q '^KVMENV: CASES ' "$OUT/l1.log"; then
	echo "kvm-nested: L1 stopped before the last case in all $boot boot(s). Its console ends:" >&2
	st=4
else
	echo "kvm-nested: L1 never reached the case loop in $boot boot(s). Its console ends:" >&2
	st=3
fi
tail -25 "$OUT/l1.log" | sed 's/^/  | /' >&2
exit $st

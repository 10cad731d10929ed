# SPDX-License-Identifier: MIT
# Makefile: builds build/pvtick.elf and the host tests; runs the guest under QEMU. Non-recursive.
#   make            build the kernel
#   make run        boot it under QEMU TCG (SMP=4 ARGS="..." TIMEOUT=300)
#   make run-env    the same in a named environment: ENV=xen-4.20-domu, kvm-xen-emulation, ...
#                   (tests/run-env.sh lists them; the trixie ones are fetched once into build/trixie)
#   make run-xen    = run-env ENV=xen-4.17-domu: a PVH domU under Xen 4.17 (itself under QEMU TCG)
#   make run-kvm    = run-env ENV=kvm-linux-6.1: Linux KVM (nested under QEMU TCG unless /dev/kvm is usable)
#   make test       host unit tests, fuzzers (short), SPIN model, boot tests; "N passed, N failed"
#   make fuzz       libFuzzer on the parsers and the patcher (FUZZ_RUNS=200000 inputs each, or
#                   FUZZ_SECONDS=60: a minute each)
#   make verify     SPIN model of the lock's slow path, for Xen and KVM, and its mutants
#   make bench      PV vs native spinning vs test-and-set under overcommit, the hooks' fast-path
#                   cost, boot figures: build/bench/, tests/bench/BENCHMARKS.md (QUICK=1: 300 ms runs)
#   make bench-compare A=run1/points.jsonl B=run2/points.jsonl   two bench runs, point by point
#   make soak       the stress for 10^8 acquisitions in native TCG, Xen domU and nested KVM
#                   (SOAK_ACQ=, SOAK_SMP=, SOAK_ARGS=: see tests/soak.sh)
#   make conform    the conformance suite (suite=conform) in every environment, each verdict
#                   against tests/conform/expect.txt; the matrix in build/conform/MATRIX.md
#   make debug      QEMU paused with its gdb stub on :1234, and the gdb command to attach
#   V=1             show full commands

BUILD   := build
SMP     ?= 4
ARGS    ?=
TIMEOUT ?= 300

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

CC      := gcc
LD      := ld
CPP     := cpp

# Per-folder source lists (STYLE.md: one folder, one subsystem).
BOOT_SRCS  := boot/pvh.S boot/trampoline.S boot/start_info.c
ARCH_SRCS  := arch/entry.S arch/console.c arch/exit.c arch/percpu.c arch/traps.c arch/paging.c \
              arch/tsc.c arch/acpi.c arch/mptable.c arch/apic.c arch/smp.c arch/cmdline.c
LOCKS_SRCS := locks/ticket.c locks/pvlock.c
PATCH_SRCS := patch/stubs.S patch/patch.c patch/live.c patch/lazy.c patch/table.c
XEN_SRCS   := xen/hypercall_page.S xen/xen.c
KVM_SRCS   := kvm/kvm.c
GUEST_SRCS := tests/guest/main.c tests/guest/stress.c tests/guest/conform.c
KERNEL_SRCS := $(BOOT_SRCS) $(ARCH_SRCS) $(LOCKS_SRCS) $(PATCH_SRCS) $(XEN_SRCS) $(KVM_SRCS) $(GUEST_SRCS)
KERNEL_OBJS := $(patsubst %,$(BUILD)/k/%.o,$(basename $(KERNEL_SRCS)))

# The kernel: freestanding, no red zone (interrupts use the stack), no SSE/MMX
# (no FPU state is saved), linked at 1 MiB so the small code model fits.
KCFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-builtin -nostdinc \
           -isystem $(shell $(CC) -print-file-name=include) \
           -idirafter /usr/include -idirafter /usr/include/x86_64-linux-gnu \
           -mno-red-zone -mno-sse -mno-sse2 -mno-mmx -mno-80387 -mgeneral-regs-only \
           -fno-pic -fno-pie -mcmodel=small -fno-stack-protector -fno-asynchronous-unwind-tables \
           -fno-omit-frame-pointer -fcf-protection=none -fno-optimize-sibling-calls -MMD -MP -I.
KASFLAGS := -g -fno-pic -fno-pie -MMD -MP -I. -Iboot -D__ASSEMBLER__
KLDFLAGS := -nostdlib -static -z max-page-size=4096 -z noexecstack --build-id=none

# -fno-optimize-sibling-calls: a hook is called, never tail-jumped to (patch/sitegen).
HOST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -fno-optimize-sibling-calls -I.
SAN_CFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
HOST_TESTS  := test_ticket test_patch test_start_info
HOST_BINS   := $(addprefix $(BUILD)/host/,$(HOST_TESTS))

.PHONY: all run run-env run-xen run-kvm test debug host-tests deps clean fuzz verify soak bench bench-compare conform
all: $(BUILD)/pvtick.elf

# Missing Debian packages: installed when root, else the exact apt-get line (tests/deps.sh).
deps:
	$(Q)tests/deps.sh build

$(BUILD)/k/%.o: %.c | deps
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

$(BUILD)/k/%.o: %.S | deps
	$(call msg,AS,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(KCFLAGS) $(KASFLAGS) -c $< -o $@

$(BUILD)/pvtick.ld: boot/pvtick.ld boot/layout.h
	$(call msg,CPP,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CPP) -P -undef -Iboot -D__ASSEMBLER__ $< -o $@

# The site table is not compiled: the image is linked with its code relocations kept
# (--emit-relocs), patch/sitegen finds every call of a hook in them and writes the table into
# the table patch/stubs.S reserves (symbol patch_table), then the relocations are dropped from the image.
$(BUILD)/pvtick.elf: $(KERNEL_OBJS) $(BUILD)/pvtick.ld $(BUILD)/host/sitegen
	$(call msg,LD,$@)
	$(Q)$(LD) $(KLDFLAGS) --emit-relocs -T $(BUILD)/pvtick.ld -o $@.relocs $(KERNEL_OBJS)
	$(call msg,SITEGEN,$@)
	$(Q)$(BUILD)/host/sitegen $@.relocs >$(BUILD)/sitegen.log
	$(Q)objcopy --remove-section='.rela*' $@.relocs $@
	$(Q)rm -f $@.relocs

# The host tool that writes the site table (patch/sitegen.c).
$(BUILD)/host/sitegen: patch/sitegen.c patch/patch.h | deps
	$(call msg,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) $< -o $@

# Host tests: the kernel's own lock and patch code, built for Linux.
# patch/stubs.S gives every binary that calls a hook the stubs; a binary that patches its own
# sites is linked like the kernel, with --emit-relocs, and finished by sitegen ($(call sites,...)).
sites = $(Q)$(BUILD)/host/sitegen $(1) >/dev/null
$(BUILD)/host/test_ticket: tests/host/test_ticket.c locks/ticket.c patch/patch.c patch/stubs.S $(wildcard locks/*.h patch/*.h) tests/host/ktap.h | deps
	$(call msg,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -pthread $(filter %.c %.S,$^) -o $@

$(BUILD)/host/test_patch: tests/host/test_patch.c patch/patch.c patch/stubs.S $(wildcard patch/*.h) arch/nop.h tests/host/ktap.h $(BUILD)/host/sitegen | deps
	$(call msg,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -Wl,--emit-relocs $(filter %.c %.S,$^) -o $@
	$(call sites,$@)

$(BUILD)/host/test_start_info: tests/host/test_start_info.c boot/start_info.c arch/cmdline.c arch/acpi.c arch/mptable.c tests/host/host_console.c $(wildcard boot/*.h arch/*.h) | deps
	$(call msg,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) $(filter %.c,$^) -o $@

# The same tests under ASan+UBSan.
HOST_SAN_BINS := $(addprefix $(BUILD)/host/san-,$(HOST_TESTS))
$(BUILD)/host/san-test_ticket: tests/host/test_ticket.c locks/ticket.c patch/patch.c patch/stubs.S | deps
	$(call msg,HOSTCC,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(SAN_CFLAGS) -pthread $^ -o $@
$(BUILD)/host/san-test_patch: tests/host/test_patch.c patch/patch.c patch/stubs.S $(BUILD)/host/sitegen | deps
	$(call msg,HOSTCC,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(SAN_CFLAGS) -Wl,--emit-relocs $(filter %.c %.S,$^) -o $@
	$(call sites,$@)
$(BUILD)/host/san-test_start_info: tests/host/test_start_info.c boot/start_info.c arch/cmdline.c arch/acpi.c arch/mptable.c tests/host/host_console.c | deps
	$(call msg,HOSTCC,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(SAN_CFLAGS) $^ -o $@

# And under TSan, the tests that run threads: the lock under pthreads with a futex backend.
TSAN_CFLAGS    := -fsanitize=thread -fno-omit-frame-pointer
HOST_TSAN_BINS := $(BUILD)/host/tsan-test_ticket
$(BUILD)/host/tsan-test_ticket: tests/host/test_ticket.c locks/ticket.c patch/patch.c patch/stubs.S $(wildcard locks/*.h patch/*.h) tests/host/ktap.h | deps
	$(call msg,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) $(TSAN_CFLAGS) -pthread $(filter %.c %.S,$^) -o $@

host-tests: $(HOST_BINS) $(HOST_SAN_BINS) $(HOST_TSAN_BINS)

# Fuzzers: libFuzzer (clang) on the kernel's own parsers and patcher, built for the host with
# ASan+UBSan. tests/fuzz.sh runs them: FUZZ_SECONDS=N each, else FUZZ_RUNS (200000) inputs each.
# Seeds: tests/fuzz/corpus/<target>/ (from tests/fuzz/mkseeds.c); new inputs go to build/fuzz/.
FUZZ_CC      := clang
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_TARGETS := start_info cmdline acpi patch
FUZZ_BINS    := $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_TARGETS))
$(FUZZ_BINS): tests/fuzz/fuzz.h
.PHONY: fuzz-deps
fuzz-deps:
	$(Q)tests/deps.sh fuzz

$(BUILD)/fuzz/fuzz_start_info: tests/fuzz/fuzz_start_info.c boot/start_info.c tests/host/host_console.c $(wildcard boot/*.h arch/*.h) | deps fuzz-deps
$(BUILD)/fuzz/fuzz_cmdline: tests/fuzz/fuzz_cmdline.c arch/cmdline.c tests/host/host_console.c $(wildcard arch/*.h) | deps fuzz-deps
$(BUILD)/fuzz/fuzz_acpi: tests/fuzz/fuzz_acpi.c arch/acpi.c tests/host/host_console.c $(wildcard arch/*.h) | deps fuzz-deps
$(BUILD)/fuzz/fuzz_patch: tests/fuzz/fuzz_patch.c patch/patch.c patch/stubs.S $(wildcard patch/*.h) arch/nop.h | deps fuzz-deps
$(FUZZ_BINS):
	$(call msg,FUZZCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(filter %.c %.S,$^) -o $@

# Regenerates the committed seeds: build/fuzz/mkseeds tests/fuzz/corpus
$(BUILD)/fuzz/mkseeds: tests/fuzz/mkseeds.c patch/patch.h | deps
	$(call msg,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) $< -o $@

fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) tests/fuzz.sh

# make bench: the host side of it is the kernel's lock and patcher in tests/bench/fastpath.c,
# with the hooks (patched at run time) and without (compiled out).
BENCH_BINS := $(BUILD)/bench/fastpath $(BUILD)/bench/fastpath-nohooks
$(BUILD)/bench/fastpath: tests/bench/fastpath.c locks/ticket.c patch/patch.c patch/stubs.S $(wildcard locks/*.h patch/*.h) $(BUILD)/host/sitegen | deps
	$(call msg,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -Wl,--emit-relocs $(filter %.c %.S,$^) -o $@
	$(call sites,$@)
$(BUILD)/bench/fastpath-nohooks: tests/bench/fastpath.c locks/ticket.c patch/patch.c patch/stubs.S $(wildcard locks/*.h patch/*.h) | deps
	$(call msg,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -DTICKET_NO_HOOKS $(filter %.c %.S,$^) -o $@

bench: $(BUILD)/pvtick.elf $(BENCH_BINS)
	$(Q)tests/deps.sh run
	$(Q)QUICK=$(QUICK) tests/bench.sh

# Two bench runs point by point: do the intervals overlap, do the verdicts agree.
bench-compare:
	$(Q)tests/bench/compare.sh "$(A)" "$(B)"

# The lock soak (10^8 acquisitions per environment), then race hunting for live and lazy patching.
soak: $(BUILD)/pvtick.elf
	$(Q)tests/deps.sh run
	$(Q)tests/soak.sh; s=$$?; tests/race.sh; r=$$?; [ $$s = 0 ] && [ $$r = 0 ]

# The hypervisor's PV lock interface, checked from inside the guest in every environment.
conform: $(BUILD)/pvtick.elf
	$(Q)tests/deps.sh run
	$(Q)tests/conform.sh

# The SPIN model locks/ticket.pml: safety and liveness for both backends; every mutant must fail.
verify:
	$(Q)tests/verify.sh

run: $(BUILD)/pvtick.elf
	$(Q)tests/deps.sh run
	$(Q)SMP=$(SMP) TIMEOUT=$(TIMEOUT) tests/run-qemu.sh $(BUILD)/pvtick.elf $(ARGS)

# In one named environment (tests/run-env.sh lists them: native-tcg, xen-4.17-domu, xen-4.17-dom0,
# xen-4.20-domu, xen-4.20-dom0, kvm-linux-6.1, kvm-linux-6.12, kvm-xen-emulation). Same SMP= and ARGS=.
ENV ?= native-tcg
run-env: $(BUILD)/pvtick.elf
	$(Q)tests/deps.sh run
	$(Q)TIMEOUT=$(TIMEOUT) tests/run-env.sh $(ENV) $(SMP) "$(ARGS)"

# The two that need no fetch: Xen 4.17 (a PVH domU created by xl) and Linux 6.1's KVM (the
# host's if it is a usable hardware KVM, else nested in QEMU TCG).
run-xen: $(BUILD)/pvtick.elf
	$(Q)tests/deps.sh run
	$(Q)tests/run-env.sh xen-4.17-domu $(SMP) "$(ARGS)"

run-kvm: $(BUILD)/pvtick.elf
	$(Q)tests/deps.sh run
	$(Q)tests/run-env.sh kvm-linux-6.1 $(SMP) "$(ARGS)"

test: $(BUILD)/pvtick.elf host-tests $(FUZZ_BINS)
	$(Q)tests/deps.sh run
	$(Q)tests/run-tests.sh

debug: $(BUILD)/pvtick.elf
	$(Q)tests/deps.sh run
	@echo "QEMU is paused with a gdb stub on :1234. In another terminal:"
	@echo "  gdb $(BUILD)/pvtick.elf -ex 'target remote :1234' -ex 'break boot_main' -ex continue"
	$(Q)qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp $(SMP) -m 256 -display none \
		-serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel $(BUILD)/pvtick.elf -append "$(ARGS)" -s -S

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -path $(BUILD)/trixie -prune -o -name '*.d' -type f -print 2>/dev/null)

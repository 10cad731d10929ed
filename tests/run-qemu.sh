#!/bin/bash
# SPDX-License-Identifier: MIT
# run-qemu.sh: boot pvtick once under QEMU TCG, show its console, end with "N passed, N failed".
# Usage: tests/run-qemu.sh ELF [guest options...]   env: SMP (4), TIMEOUT (300 s)
set -uo pipefail
. "$(dirname "$0")/lib.sh" # sets top (the repository) and here (tests/)
elf=$1
shift
log=$(mktemp /tmp/pvtick-run.XXXXXX)
trap 'rm -f "$log"' EXIT
VERBOSE=1 qemu_boot "$log" "${SMP:-4}" "${TIMEOUT:-300}" "$elf" "$@"
case $BOOT_RC in 33 | 35) ;; *) tail -1 "$log" ;; esac
ktap_summary "$log" && [ "$BOOT_RC" = 33 ]

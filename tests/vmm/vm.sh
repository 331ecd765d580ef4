#!/bin/sh
# SPDX-License-Identifier: MIT
# `virq vm`: the command line, then the built-in guest in each irqchip mode
# (its COM1 output must equal builtin.expected), the same guest loaded from
# a file, more vCPUs, a timeout and a triple fault.
#
# Modes that are not built yet are skipped; without a usable /dev/kvm the
# whole test is skipped (77) once the command-line checks have passed.
virq=$1
expected=$2
src=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ran=0

check() {	# want-status command...
	want=$1; shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$*' exited $got, want $want"
		sed 's/^/  | /' "$tmp/err" | head -20
		fail=1
	fi
}

# The command line; none of this needs KVM.
check 0 "$virq" vm --help
check 2 "$virq" vm --bogus
check 2 "$virq" vm --cpus 0
check 2 "$virq" vm --cpus 17
check 2 "$virq" vm --mem 1
check 2 "$virq" vm --timeout -1
check 2 "$virq" vm --irqchip nothing
check 2 "$virq" vm one two
check 2 "$virq" vm /nonexistent/image.elf
check 2 "$virq" vm "$expected"				# not an ELF file
check 0 "$virq" vm --dump-guest "$tmp/guest.elf"
head -c 4 "$tmp/guest.elf" | grep -q ELF || { echo "FAIL: --dump-guest wrote no ELF"; fail=1; }
python3 "$src/mkimage.py" "$tmp/hang.elf" hang
python3 "$src/mkimage.py" "$tmp/fault.elf" fault

# The built-in guest in every mode.  virq's modes run "strict": there a
# spurious level-triggered delivery is a failure (docs/vmm.md).
for mode in kernel split userspace; do
	append=
	[ "$mode" != kernel ] && append="--append strict"
	# shellcheck disable=SC2086 # $append is two words or none
	"$virq" vm --irqchip "$mode" $append >"$tmp/out" 2>"$tmp/err"
	st=$?
	if [ $st = 4 ] && grep -q "not built yet" "$tmp/err"; then
		echo "SKIP: irqchip $mode: not built yet"
		continue
	fi
	if [ $st = 3 ]; then
		echo "SKIP: no usable /dev/kvm: $(cat "$tmp/err")"
		[ $fail = 0 ] && exit 77
		exit 1
	fi
	ran=$((ran + 1))
	if [ $st != 0 ] || ! diff -u "$expected" "$tmp/out" >"$tmp/diff"; then
		echo "FAIL: irqchip $mode: exit $st"
		cat "$tmp/diff" "$tmp/err"
		fail=1
	else
		echo "ok: irqchip $mode: $(tail -n 1 "$tmp/out")"
	fi
done

if [ $ran -gt 0 ]; then
	# The same guest as an IMAGE: QEMU's debug-exit rule, 0 -> status 1.
	# The VMM starts only the BSP of any guest; the guest starts its APs
	# with INIT and STARTUP IPIs (through virq's LAPICs in userspace mode).
	for mode in kernel split userspace; do
		check 1 "$virq" vm --irqchip $mode "$tmp/guest.elf"
		diff -u "$expected" "$tmp/out" || { echo "FAIL: irqchip $mode: the guest as an IMAGE printed otherwise"; cat "$tmp/err"; fail=1; }
	done
	check 0 "$virq" vm --cpus 1
	grep -q "^virq test guest: 1 cpus" "$tmp/out" || { echo "FAIL: --cpus 1"; fail=1; }
	for n in 3 4; do
		check 0 "$virq" vm --cpus $n
		grep -q "^virq test guest: $n cpus" "$tmp/out" || { echo "FAIL: --cpus $n"; fail=1; }
		# virq's modes print what the kernel prints, with as many vCPUs.
		mv "$tmp/out" "$tmp/kernel$n"
		for mode in split userspace; do
			check 0 "$virq" vm --irqchip $mode --append strict --cpus $n
			diff -u "$tmp/kernel$n" "$tmp/out" || { echo "FAIL: irqchip $mode, $n vCPUs"; fail=1; }
		done
	done
	# --measure: the latency table, every kind sampled (timings are not checked).
	for mode in kernel split userspace; do
		check 0 "$virq" vm --irqchip $mode --measure
		rows=$(awk '/^latency from injection/ { t = 1; next }
			t && $NF ~ /^[0-9]+$/ && $(NF - 3) >= 200 { n++ } END { print n + 0 }' "$tmp/out")
		[ "$rows" = 4 ] || { echo "FAIL: irqchip $mode --measure: $rows of 4 kinds sampled"; cat "$tmp/out"; fail=1; }
	done
	check 0 "$virq" vm --mem 128
	grep -q "^virq test guest: 2 cpus, 128 MiB" "$tmp/out" || { echo "FAIL: --mem 128"; fail=1; }
	check 1 "$virq" vm --timeout 1 "$tmp/hang.elf"
	grep -q "timeout" "$tmp/err" || { echo "FAIL: no timeout message"; fail=1; }
	check 1 "$virq" vm "$tmp/fault.elf"
	grep -q "triple fault" "$tmp/err" || { echo "FAIL: no triple fault report"; fail=1; }
fi

[ $fail = 0 ] || exit 1
[ $ran -gt 0 ] || exit 77
exit 0

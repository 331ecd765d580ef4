#!/bin/sh
# The command line: every command has --help, exit statuses are the
# documented ones, and the JSON outputs parse.
virq=$1
src=$(dirname "$0")
fail=0
check() {	# want-status command...
	want=$1; shift
	"$@" >/tmp/virq-cli.$$ 2>&1
	got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$*' exited $got, want $want"; sed 's/^/  | /' /tmp/virq-cli.$$ | head -5
		fail=1
	fi
}
for c in run state diff caps check; do
	check 0 "$virq" "$c" --help
	check 0 "$virq" help "$c"
done
check 0 "$virq" --help
check 0 "$virq" help scenario
check 0 "$virq" help state-paths
check 0 "$virq" version
check 0 "$virq" --version
check 2 "$virq" frobnicate
check 2 "$virq" help frobnicate
check 2 "$virq" run --bogus
check 2 "$virq" run /nonexistent.virq
check 2 "$virq" diff
check 2 "$virq" state --what nothing
check 0 "$virq" check "$src/x2apic.virq" "$src/pic-cascade.virq"
check 2 "$virq" check "$src/errors/unknown-op.virq"
check 0 "$virq" "$src/pic-cascade.virq"
check 0 "$virq" run --print-demo
"$virq" run --print-demo | "$virq" run -q - >/dev/null 2>&1 || { echo "FAIL: demo from stdin"; fail=1; }
"$virq" state --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert "vcpus" in d' ||
	{ echo "FAIL: virq state --json is not JSON"; fail=1; }
"$virq" caps --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(c["name"]=="KVM_CAP_IRQ_ROUTING" for c in d["caps"])' ||
	{ echo "FAIL: virq caps --json is not JSON"; fail=1; }
"$virq" run --trace >/tmp/virq-cli.$$ 2>&1
grep -q "kvm_set_irq: gsi 16 level 1 source 0" /tmp/virq-cli.$$ || { echo "FAIL: no kvm_set_irq in --trace"; fail=1; }
if [ -w /dev/kvm ]; then
	printf 'KVM_CREATE_IRQCHIP\nKVM_CHECK_EXTENSION cap=PIT2\n' > /tmp/virq-cli-div.$$.virq
	check 1 "$virq" diff /tmp/virq-cli-div.$$.virq
	check 3 "$virq" diff "$src/x2apic.virq"
	rm -f /tmp/virq-cli-div.$$.virq
fi
rm -f /tmp/virq-cli.$$
exit $fail

#!/bin/sh
# Each errors/*.virq names what `virq run` must say on stderr (first line
# "# error: MESSAGE", exit status 2) or, with "# exit: N", the exit status
# it must give.
virq=$1
dir=$(dirname "$0")/errors
fail=0
for f in "$dir"/*.virq; do
	want=$(sed -n '1s/^# error: //p' "$f")
	code=$(sed -n '1s/^# exit: //p' "$f")
	got=$(cd "$dir" && "$virq" run -q "$(basename "$f")" 2>&1 >/dev/null)
	status=$?
	if [ -n "$want" ]; then
		if [ "$status" != 2 ] || [ "$got" != "$want" ]; then
			echo "FAIL $f: exit $status"
			echo "  want: $want"
			echo "  got:  $got"
			fail=1
		fi
	elif [ "$status" != "$code" ]; then
		echo "FAIL $f: exit $status, want $code ($got)"
		fail=1
	fi
done
exit $fail

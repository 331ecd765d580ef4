#!/bin/sh
# Soak: run the concurrency stress test (tests/stress/stress.c) for a long
# time in the normal build and in the ThreadSanitizer build:
#
#   sh scripts/soak.sh [seconds] [stress options...]    (default 60 s each)
#
# e.g.  sh scripts/soak.sh 600 --irqfd-poll 2 --seed 42
# Uses the build directories of scripts/test.sh (build-test, build-tsan) and
# builds only the stress test there.  Ends with one line per build and exits
# non-zero if either run failed.
set -u
cd "$(dirname "$0")/.."
sh scripts/setup.sh || exit 1

secs=${1:-60}
[ $# -gt 0 ] && shift

build() {	# $1 = build dir, rest = meson options
	dir=$1; shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" tests/stress >/dev/null || { ninja -C "$dir" tests/stress; return 1; }
}

summary=
status=0
soak() {	# $1 = label, $2 = build dir, rest = stress options
	label=$1 dir=$2; shift 2
	log=$dir/meson-logs/soak.log
	mkdir -p "$dir/meson-logs"
	echo "== soak ($label): $dir/tests/stress --soak --duration $secs $*"
	"$dir/tests/stress" --soak --duration "$secs" "$@" 2>&1 | tee "$log"
	# tee hides the exit status: the last line says PASS or FAIL
	if tail -n 1 "$log" | grep -q '^stress: PASS' && ! grep -q 'ThreadSanitizer' "$log"; then
		result=PASS
	else
		result=FAIL
		status=1
	fi
	ops=$(sed -n 's/^stress: \([0-9]* ops in [0-9.]* s = [0-9]* ops\/s\).*/\1/p' "$log" | tail -n 1)
	summary="$summary
soak $label: $result${ops:+ ($ops)}"
}

if build build-test -Dwerror=true; then
	soak normal build-test "$@"
else
	summary="$summary
soak normal: FAIL (build)"
	status=1
fi
if build build-tsan -Db_sanitize=thread -Db_lundef=false -Dwerror=true; then
	TSAN_OPTIONS=second_deadlock_stack=1:suppressions=$(pwd)/tests/tsan.supp \
		soak tsan build-tsan "$@"
else
	summary="$summary
soak tsan: FAIL (build)"
	status=1
fi
echo "$summary" | sed '/^$/d'
exit $status

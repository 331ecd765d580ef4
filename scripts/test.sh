#!/bin/sh
# Run every test: a normal build and an ASan+UBSan build, then the
# concurrency tests (unit suite, stress test) in a ThreadSanitizer build,
# and print one summary line "N passed, N failed, N skipped" for all three.
set -u
cd "$(dirname "$0")/.."
sh scripts/setup.sh || exit 1

run_suite() {	# $1 = build dir, then meson options [-- meson test options]
	dir=$1; shift
	setup_opts=
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		setup_opts="$setup_opts $1"
		shift
	done
	[ $# -gt 0 ] && shift
	if [ ! -d "$dir" ]; then
		# shellcheck disable=SC2086 # one word per option
		meson setup "$dir" $setup_opts >/dev/null || return 1
	fi
	ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"
}

status=0
run_suite build-test -Dwerror=true || status=1
ASAN_OPTIONS=detect_leaks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(pwd)/tests/ubsan.supp \
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true || status=1
# ThreadSanitizer: liburcu-bp is not instrumented, so TSan cannot see RCU
# grace periods; tests/tsan.supp names the reclamation paths it then
# misreports (and why each is safe).
TSAN_OPTIONS=second_deadlock_stack=1:suppressions=$(pwd)/tests/tsan.supp \
	run_suite build-tsan -Db_sanitize=thread -Db_lundef=false -Dwerror=true \
	-- --suite unit --suite stress || status=1

python3 - build-test build-asan build-tsan <<'PY'
import json, sys, os
p = f = s = 0
for d in sys.argv[1:]:
    log = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        f += 1
        continue
    for line in open(log):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            s += 1
        else:
            f += 1
print(f"{p} passed, {f} failed, {s} skipped")
sys.exit(1 if f else 0)
PY
[ $? -eq 0 ] && [ $status -eq 0 ]

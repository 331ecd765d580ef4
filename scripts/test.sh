#!/bin/sh
# Run every test: a normal build and an ASan+UBSan build, then print one
# summary line "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
sh scripts/setup.sh || exit 1

run_suite() {	# $1 = build dir, rest = meson options
	dir=$1; shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
	meson test -C "$dir" --print-errorlogs --num-processes 2
}

status=0
run_suite build-test -Dwerror=true || status=1
ASAN_OPTIONS=detect_leaks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(pwd)/tests/ubsan.supp \
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true || status=1

python3 - build-test build-asan <<'PY'
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

#!/bin/sh
# Coverage-guided fuzzing of every entry point with libFuzzer (clang):
#   sh scripts/fuzz.sh [seconds]   (default 60)
set -e
cd "$(dirname "$0")/.."
secs=${1:-60}
out=build-fuzz
mkdir -p "$out/corpus"
clang -O1 -g -fsanitize=fuzzer,address,undefined -DVIRQ_LIBFUZZER -D_GNU_SOURCE \
	-fno-sanitize=alignment -Iinclude -Isrc -Isrc/core -Isrc/x86 -Ibuild \
	src/core/*.c src/x86/*.c tests/fuzz/fuzz_ops.c -lurcu-bp -lpthread -o "$out/fuzz_ops"
exec "$out/fuzz_ops" -max_total_time="$secs" -print_final_stats=1 "$out/corpus"

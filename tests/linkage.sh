#!/bin/sh
# Every function declared VIRQ_API in virq.h and the public headers beside
# it (virq-*.h) is exported by libvirq.so, and nothing else is.
set -eu
hdr=$1 lib=$2
want=$(sed -n 's/^VIRQ_API [^(]*[ *]\(virq_[a-z0-9_]*\)(.*/\1/p' "$hdr" "$(dirname "$hdr")"/virq-*.h | sort)
have=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | grep -v '^_' | sort)
[ -n "$want" ] || { echo "no VIRQ_API declarations found"; exit 1; }
if [ "$want" != "$have" ]; then
	echo "declared but not exported / exported but not declared:"
	diff -u /dev/fd/3 /dev/fd/4 3<<W 4<<H || true
$want
W
$have
H
	exit 1
fi
echo "$(echo "$want" | wc -l) functions exported, matching the public headers"

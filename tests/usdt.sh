#!/bin/sh
# Every event of VIRQ_TRACE_EVENTS (virq-trace.h) has a USDT probe,
# provider "virq", in libvirq.so.  Exit 77 (skipped) without readelf or
# when the library was built without <sys/sdt.h>.
set -eu
hdr=$1 lib=$2
command -v readelf >/dev/null 2>&1 || { echo "no readelf: skipped"; exit 77; }
notes=$(readelf -n "$lib" 2>/dev/null) || { echo "readelf -n failed: skipped"; exit 77; }
echo "$notes" | grep -q stapsdt || { echo "no stapsdt notes (built without sys/sdt.h?): skipped"; exit 77; }
want=$(sed -n 's/^[[:space:]]*X(\([a-z0-9_]*\),.*/\1/p' "$hdr" | sort -u)
[ -n "$want" ] || { echo "no events found in $hdr"; exit 1; }
have=$(echo "$notes" | awk '/Provider: virq/ { getline; if ($1 == "Name:") print $2 }' | sort -u)
missing=$(echo "$want" | while read -r e; do echo "$have" | grep -qx "$e" || echo "$e"; done)
if [ -n "$missing" ]; then
	echo "events without a virq USDT probe in $lib:"
	echo "$missing"
	exit 1
fi
echo "$(echo "$want" | wc -l) events, each with a virq:<name> USDT probe"

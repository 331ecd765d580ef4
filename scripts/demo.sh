#!/bin/sh
# Build virq and run its main job: the built-in demo scenario.
set -e
cd "$(dirname "$0")/.."
sh scripts/setup.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec ./build/tools/virq/virq "$@"

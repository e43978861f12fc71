#!/usr/bin/env bash
# Run one benchmark (or all) against a release build of this tree:
#   tests/bench/run.sh rtt|throughput|instructions|qemu|scale|all [bench.py options]
#   tests/bench/run.sh qdisk [qdisk.py options]
#   tests/bench/run.sh blk-io [blk_io.py options]   (the disk I/O engine vs fio)
# BUILD=DIR picks the build directory (default build-bench, configured with
# -Dbuildtype=release on first use). QEMU's half of `qemu` needs
# qemu-system-x86 (apt-get install qemu-system-x86); `instructions` needs
# valgrind. See docs/performance.md for what each prints.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$repo/build-bench}
if [ $# -lt 1 ]; then
    echo "usage: $0 rtt|throughput|instructions|qemu|scale|all [options]" >&2
    exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$repo" -Dbuildtype=release >/dev/null
fi
ninja -C "$build" >/dev/null
if [ "$1" = qdisk ]; then  # the PV disk path against fio (needs fio)
    shift
    exec python3 "$repo/tests/bench/qdisk.py" --build "$build" "$@"
fi
if [ "$1" = blk-io ]; then  # backends/blk-io.c alone against fio (needs fio)
    shift
    exec python3 "$repo/tests/bench/blk_io.py" --build "$build" "$@"
fi
exec python3 "$repo/tests/bench/bench.py" --build "$build" "$@"

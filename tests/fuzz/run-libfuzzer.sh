#!/usr/bin/env bash
# Long fuzzing with libFuzzer (clang): bash tests/fuzz/run-libfuzzer.sh [SECONDS]
# Builds its own clang tree in build-fuzz/ and fuzzes the ioreq path.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-300}
if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dxen=disabled -Db_sanitize=address,undefined \
        -Db_lundef=false -Dc_args='-fsanitize=fuzzer-no-link -DIOREQD_LIBFUZZER' >/dev/null
fi
ninja -C build-fuzz libioreqd-core.a >/dev/null
clang -std=c17 -D_GNU_SOURCE -DIOREQD_LIBFUZZER -fsanitize=fuzzer,address,undefined -g -O1 \
    -I. -Itests/unit $(pkg-config --cflags glib-2.0) \
    tests/fuzz/fuzz-ioreq.c tests/unit/fake-hv.c build-fuzz/libioreqd-core.a \
    $(pkg-config --libs glib-2.0 xenstore) -o build-fuzz/fuzz-ioreq-libfuzzer
mkdir -p build-fuzz/corpus-ioreq
exec build-fuzz/fuzz-ioreq-libfuzzer -max_total_time="$secs" build-fuzz/corpus-ioreq

#!/usr/bin/env bash
# The README's two commands:
#   bash contrib/quickstart.sh demo   install what is missing, build, run the demo
#   bash contrib/quickstart.sh test   install what is missing, build, run every test
# Works on a fresh Debian 12 as root (or with sudo), Debian packages only.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in
demo | test) ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac

packages=(
    gcc pkg-config meson ninja-build python3
    libglib2.0-dev libjson-c-dev libxen-dev xenstore-utils
    liburing-dev libnbd-dev
    qemu-utils nbdkit # NBD servers for the disk tests (qcow2, a 4 KiB-block export)
)

install_missing() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "quickstart: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# configure once, rebuild incrementally after
build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dxen=enabled -Dio_uring=enabled -Dnbd=enabled "$@" >/dev/null
    fi
    ninja -C "$dir" >/dev/null
    echo "quickstart: built $dir"
}

install_missing
build build

if [ "$mode" = demo ]; then
    exec python3 contrib/demo.py --build build
fi

# The sanitizer build runs the same suite: ASan+UBSan catch what plain
# tests cannot see. Its summary is the last thing printed.
build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
meson test -C build --print-errorlogs --num-processes 2
meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3

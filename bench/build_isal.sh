#!/bin/sh
# Build upstream ISA-L (Intel's Intelligent Storage Acceleration Library) from
# a source checkout the user provides, as a benchmark peer for
# bench/fec_codec.py.  Nothing is downloaded and nothing is installed
# system-wide: the checkout is copied, built with its own Makefile.unx (needs
# nasm, installed by `make deps`), and the result goes to
#
#   bench/peers/isa-l/include/   the public headers (erasure_code.h, ...)
#   bench/peers/isa-l/lib/libisal_pic.a
#                                position-independent objects, so that the
#                                benchmark links them into its own helper
#                                library without clashing with Debian's
#                                libisal.so.2 (same soname, older version)
#   bench/peers/isa-l/VERSION    what the checkout says it is
#
# bench/peers/ is git-ignored.  Usage:
#   bench/build_isal.sh SRC_DIR          (e.g. a clone at tag v2.32.1)
#   .venv/bin/python bench/fec_codec.py --quick   (finds bench/peers/isa-l)
set -eu

if [ $# -ne 1 ] || [ ! -f "$1/Makefile.unx" ] || [ ! -d "$1/erasure_code" ]; then
    echo "usage: $0 ISA-L_SOURCE_DIR (a checkout with Makefile.unx and erasure_code/)" >&2
    exit 2
fi
command -v nasm >/dev/null || { echo "$0: nasm is needed (apt-get install nasm)" >&2; exit 2; }

src=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out="$here/peers/isa-l"
work="$here/peers/build/isa-l"

rm -rf "$work" "$out"
mkdir -p "$work" "$out/include" "$out/lib"
# Copy (without .git) so the user's checkout stays clean.
tar -C "$src" --exclude=.git -cf - . | tar -C "$work" -xf -

jobs=$(nproc 2>/dev/null || echo 1)
# slib builds the objects with -fPIC (bin/shared_ver_*.o plus the assembly
# objects, which are position-independent); only those are archived.
make -C "$work" -f Makefile.unx -j"$jobs" slib >"$work/build.log" 2>&1 || {
    tail -20 "$work/build.log" >&2
    echo "$0: build failed, log in $work/build.log" >&2
    exit 1
}
# Only slib was built, so bin/ holds exactly the shared library's objects.
# shellcheck disable=SC2046
ar rcs "$out/lib/libisal_pic.a" $(find "$work/bin" -maxdepth 1 -name '*.o' | sort)
cp "$work"/include/*.h "$out/include/"

# Version: git describe when the source is a checkout, else the header's numbers.
ver=""
if [ -d "$src/.git" ] || git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    ver=$(git -C "$src" describe --tags --always 2>/dev/null || true)
fi
if [ -z "$ver" ]; then
    ver=$(awk '/define ISAL_(MAJOR|MINOR|PATCH)_VERSION/ {printf "%s%s", sep, $3; sep="."}' \
          "$out/include/isal_api.h" 2>/dev/null || true)
fi
echo "${ver:-unknown}" >"$out/VERSION"
echo "ISA-L $(cat "$out/VERSION") built into $out"

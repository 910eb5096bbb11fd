#!/usr/bin/env bash
# Build GmSSL 3.1's `gmssl` command-line tool (statically linked against libgmssl) into
# BIN_DIR/gmssl. Usage: gmssl/build.sh BIN_DIR BUILD_ROOT
#
# The source is the Rust registry crate `gmssl-src` (GmSSL 3.1.1-dev, CMake, under gmssl/), put
# into the cargo registry cache by `cargo fetch` of ./Cargo.toml (exact pin). The crate
# ships no demos/ directory although GmSSL's CMakeLists.txt adds one executable per demo, so the
# source is copied under BUILD_ROOT and the demo loop is switched off in the copy, where the
# listening socket also gets SO_REUSEADDR (see below). CMake builds there, and BUILD_ROOT/gmssl-*
# is deleted afterwards. Skipped when the binary exists and BIN_DIR/.gmssl.stamp matches the
# crate version, CMake options and patches.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$1"
BUILD_ROOT="$2"
CRATE=gmssl-src
OPTS=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF)
JOBS="${SENTINEL_LAB_JOBS:-$(nproc)}"
OUT="$BIN/gmssl"
STAMP_FILE="$BIN/.gmssl.stamp"

# shellcheck source=../tongsuo/cargo-src.sh
source "$HERE/../tongsuo/cargo-src.sh"
mkdir -p "$BUILD_ROOT"
exec 9>"$BUILD_ROOT/.gmssl.lock"  # one build at a time (make lab-servers and the lab may both call build.sh)
flock 9
FOUND="$(cargo_src "$HERE" "$CRATE" "$BUILD_ROOT/cargo-gmssl")"
read -r VERSION SRC <<<"$FOUND"
SRC="$SRC/gmssl"
STAMP="$CRATE $VERSION ${OPTS[*]} target=gmssl-bin no-demos reuseaddr"

if [[ -x "$OUT" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]]; then
  echo "[build] gmssl up to date ($CRATE $VERSION)" >&2
  exit 0
fi
command -v cmake >/dev/null || { echo "cmake not found (needed to build GmSSL)" >&2; exit 1; }

BUILD="$BUILD_ROOT/gmssl-$VERSION"
echo "[build] gmssl ($CRATE $VERSION, $SRC) -> $OUT, in a copy under $BUILD" >&2
rm -rf "$BUILD"
mkdir -p "$BUILD/out"
start=$SECONDS
cp -a "$SRC" "$BUILD/src"
patch_once() { # FILE LITERAL-LINE SED-EXPR: apply SED-EXPR, failing unless LITERAL-LINE occurs exactly once
  [[ "$(grep -cxF -- "$2" "$1")" == 1 ]] || { echo "gmssl: '$2' not found once in $1" >&2; exit 1; }
  sed -i "$3" "$1"
}
patch_once "$BUILD/src/CMakeLists.txt" $'\tforeach(name ${demos})' 's/foreach(name ${demos})/foreach(name ${sentinel_no_demos})/'
# SO_REUSEADDR on the listening socket (POSIX tls_socket_bind). Stock GmSSL has none, so after a
# connection that the server closed first (every alert does) a restarted tlcp_server cannot bind
# the same port for 60 s (TIME_WAIT). Socket option only; nothing in TLS changes.
patch_once "$BUILD/src/src/socket.c" $'\tif (bind(sock, (const struct sockaddr *)addr, addr_len) == -1) {' \
  's|^\tif (bind(sock, (const struct sockaddr \*)addr, addr_len) == -1) {|\t{ int one = 1; setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, \&one, sizeof(one)); }\n&|'
cmake -S "$BUILD/src" -B "$BUILD/out" "${OPTS[@]}" >"$BUILD/cmake.log" 2>&1 || { tail -30 "$BUILD/cmake.log" >&2; exit 1; }
# Only the tool (and libgmssl): not the ~60 test programs and demos.
cmake --build "$BUILD/out" --target gmssl-bin -j "$JOBS" >"$BUILD/build.log" 2>&1 || { tail -40 "$BUILD/build.log" >&2; exit 1; }
"$BUILD/out/bin/gmssl" version >/dev/null
cp -f "$BUILD/out/bin/gmssl" "$OUT.tmp" && mv -f "$OUT.tmp" "$OUT"
echo "$STAMP" >"$STAMP_FILE"
rm -rf "$BUILD"
echo "[build] gmssl built in $((SECONDS - start)) s: $("$OUT" version | head -1)" >&2

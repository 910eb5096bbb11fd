#!/usr/bin/env bash
# Build a second Tongsuo 8.5 `openssl` binary with zlib TLS compression compiled in, into
# BIN_DIR/tongsuo-openssl-zlib: the lab's real server that negotiates TLS compression (CRIME)
# when started with `s_server -comp` (Debian's OpenSSL 3 and GnuTLS 3.7 have none).
# Usage: tongsuo/build-zlib.sh BIN_DIR BUILD_ROOT
# Same source crate as tongsuo/build.sh (tongsuo-src, Cargo.toml here), plus `zlib` (linked
# against the system libz: Debian zlib1g-dev). Skipped while BIN_DIR/.tongsuo-zlib.stamp matches.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$1"
BUILD_ROOT="$2"
CRATE=tongsuo-src
OPTS=(enable-ntls zlib no-tests no-shared)
JOBS="${SENTINEL_LAB_JOBS:-$(nproc)}"
OUT="$BIN/tongsuo-openssl-zlib"
STAMP_FILE="$BIN/.tongsuo-zlib.stamp"

# shellcheck source=cargo-src.sh
source "$HERE/cargo-src.sh"
mkdir -p "$BUILD_ROOT" "$BIN"
exec 9>"$BUILD_ROOT/.tongsuo.lock"  # one Tongsuo build at a time
flock 9
FOUND="$(cargo_src "$HERE" "$CRATE" "$BUILD_ROOT/cargo-tongsuo")"
read -r VERSION SRC <<<"$FOUND"
SRC="$SRC/tongsuo"
STAMP="$CRATE $VERSION ${OPTS[*]} target=build_programs"

if [[ -x "$OUT" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]]; then
  echo "[build] tongsuo-openssl-zlib up to date ($CRATE $VERSION)" >&2
  exit 0
fi
[[ -f /usr/include/zlib.h ]] || { echo "zlib.h missing: apt-get install zlib1g-dev" >&2; exit 1; }

BUILD="$BUILD_ROOT/tongsuo-zlib-$VERSION"
echo "[build] tongsuo $VERSION with zlib -> $OUT, out of tree in $BUILD, make -j$JOBS" >&2
rm -rf "$BUILD"
mkdir -p "$BUILD"
start=$SECONDS
(
  cd "$BUILD"
  "$SRC/config" "${OPTS[@]}" >config.log 2>&1 || { tail -30 config.log >&2; exit 1; }
  make -j"$JOBS" build_programs >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
)
"$BUILD/apps/openssl" version >/dev/null
cp -f "$BUILD/apps/openssl" "$OUT.tmp" && mv -f "$OUT.tmp" "$OUT"
echo "$STAMP" >"$STAMP_FILE"
rm -rf "$BUILD"
echo "[build] tongsuo-openssl-zlib built in $((SECONDS - start)) s: $("$OUT" version)" >&2

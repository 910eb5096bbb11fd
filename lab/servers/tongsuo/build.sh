#!/usr/bin/env bash
# Build Tongsuo 8.5's `openssl` binary (NTLS/TLCP enabled), in one of two variants:
#   plain (default): BIN_DIR/tongsuo-openssl, the lab's TLCP server and client;
#   zlib:            BIN_DIR/tongsuo-openssl-zlib, the same plus zlib TLS compression compiled
#                    in (linked against the system libz: Debian zlib1g-dev), the lab's real server
#                    that negotiates TLS compression (CRIME) when started with `s_server -comp`
#                    (Debian's OpenSSL 3 and GnuTLS 3.7 have none).
# Usage: tongsuo/build.sh BIN_DIR BUILD_ROOT [plain|zlib]   (or TONGSUO_VARIANT=zlib)
#
# The source is the Rust registry crate `tongsuo-src` (the whole Tongsuo source tree under
# tongsuo/), put into the cargo registry cache by `cargo fetch` of ./Cargo.toml (exact pin).
# The build runs out of tree under BUILD_ROOT and is deleted afterwards; the registry copy is
# never written to. Skipped when the binary exists and its stamp (BIN_DIR/.tongsuo.stamp,
# BIN_DIR/.tongsuo-zlib.stamp) matches the crate version and configure options.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$1"
BUILD_ROOT="$2"
VARIANT="${3:-${TONGSUO_VARIANT:-plain}}"
CRATE=tongsuo-src
JOBS="${SENTINEL_LAB_JOBS:-$(nproc)}"
case "$VARIANT" in
  plain) OPTS=(enable-ntls no-tests no-shared) NAME=tongsuo-openssl STAMP_NAME=.tongsuo.stamp DIR_PREFIX=tongsuo ;;
  zlib) OPTS=(enable-ntls zlib no-tests no-shared) NAME=tongsuo-openssl-zlib STAMP_NAME=.tongsuo-zlib.stamp DIR_PREFIX=tongsuo-zlib ;;
  *) echo "tongsuo/build.sh: variant must be plain or zlib, not '$VARIANT'" >&2; exit 2 ;;
esac
OUT="$BIN/$NAME"
STAMP_FILE="$BIN/$STAMP_NAME"

# shellcheck source=cargo-src.sh
source "$HERE/cargo-src.sh"
mkdir -p "$BUILD_ROOT" "$BIN"
exec 9>"$BUILD_ROOT/.tongsuo.lock"  # one Tongsuo build at a time (make lab-servers and the lab may both call build.sh)
flock 9
FOUND="$(cargo_src "$HERE" "$CRATE" "$BUILD_ROOT/cargo-tongsuo")"
read -r VERSION SRC <<<"$FOUND"
SRC="$SRC/tongsuo"
STAMP="$CRATE $VERSION ${OPTS[*]} target=build_programs"

if [[ -x "$OUT" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]]; then
  echo "[build] $NAME up to date ($CRATE $VERSION)" >&2
  exit 0
fi
if [[ "$VARIANT" == zlib && ! -f /usr/include/zlib.h ]]; then
  echo "zlib.h missing: apt-get install zlib1g-dev" >&2
  exit 1
fi

BUILD="$BUILD_ROOT/$DIR_PREFIX-$VERSION"
echo "[build] tongsuo $VERSION ($VARIANT, $SRC) -> $OUT, out of tree in $BUILD, make -j$JOBS" >&2
rm -rf "$BUILD"
mkdir -p "$BUILD"
start=$SECONDS
(
  cd "$BUILD"
  "$SRC/config" "${OPTS[@]}" >config.log 2>&1 || { tail -30 config.log >&2; exit 1; }
  # build_programs = libcrypto + libssl + apps/openssl; skips the man pages and the modules.
  make -j"$JOBS" build_programs >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
)
"$BUILD/apps/openssl" version >/dev/null
cp -f "$BUILD/apps/openssl" "$OUT.tmp" && mv -f "$OUT.tmp" "$OUT"
echo "$STAMP" >"$STAMP_FILE"
rm -rf "$BUILD"
echo "[build] $NAME built in $((SECONDS - start)) s: $("$OUT" version)" >&2

#!/usr/bin/env bash
# Build Tongsuo 8.5's `openssl` binary (NTLS/TLCP enabled) into BIN_DIR/tongsuo-openssl.
# Usage: tongsuo/build.sh BIN_DIR BUILD_ROOT
#
# The source is the Rust registry crate `tongsuo-src` (the whole Tongsuo source tree under
# tongsuo/), put into the cargo registry cache by `cargo fetch` of ./Cargo.toml (exact pin).
# The build runs out of tree under BUILD_ROOT and is deleted afterwards; the registry copy is
# never written to. Skipped when the binary exists and BIN_DIR/.tongsuo.stamp matches the crate
# version and configure options.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$1"
BUILD_ROOT="$2"
CRATE=tongsuo-src
OPTS=(enable-ntls no-tests no-shared)
JOBS="${SENTINEL_LAB_JOBS:-$(nproc)}"
OUT="$BIN/tongsuo-openssl"
STAMP_FILE="$BIN/.tongsuo.stamp"

# shellcheck source=cargo-src.sh
source "$HERE/cargo-src.sh"
mkdir -p "$BUILD_ROOT"
exec 9>"$BUILD_ROOT/.tongsuo.lock"  # one build at a time (make lab-servers and the lab may both call build.sh)
flock 9
FOUND="$(cargo_src "$HERE" "$CRATE" "$BUILD_ROOT/cargo-tongsuo")"
read -r VERSION SRC <<<"$FOUND"
SRC="$SRC/tongsuo"
STAMP="$CRATE $VERSION ${OPTS[*]} target=build_programs"

if [[ -x "$OUT" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]]; then
  echo "[build] tongsuo-openssl up to date ($CRATE $VERSION)" >&2
  exit 0
fi

BUILD="$BUILD_ROOT/tongsuo-$VERSION"
echo "[build] tongsuo $VERSION ($SRC) -> $OUT, out of tree in $BUILD, make -j$JOBS" >&2
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
echo "[build] tongsuo-openssl built in $((SECONDS - start)) s: $("$OUT" version)" >&2

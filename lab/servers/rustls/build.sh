#!/usr/bin/env bash
# Build rustls-lab (this folder's crate: rustls 0.23 on ring, versions pinned by Cargo.lock) into
# BIN_DIR/rustls-lab. Usage: rustls/build.sh BIN_DIR BUILD_ROOT. Cargo's target folder lives under
# BUILD_ROOT/rustls-target and is kept, so a warm run takes a second; a cold one ~20 s on 2 cores.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$1"
BUILD_ROOT="$2"
cargo="$(command -v cargo || echo "${CARGO_HOME:-$HOME/.cargo}/bin/cargo")"
[[ -x "$cargo" ]] || { echo "cargo not found (needed to build rustls-lab)" >&2; exit 1; }
mkdir -p "$BIN" "$BUILD_ROOT"
TARGET="$BUILD_ROOT/rustls-target"
echo "[build] cargo rustls-lab -> $BIN/rustls-lab" >&2
"$cargo" build --release --locked --offline --manifest-path "$HERE/Cargo.toml" --target-dir "$TARGET" >&2 2>/dev/null ||
  "$cargo" build --release --locked --manifest-path "$HERE/Cargo.toml" --target-dir "$TARGET" >&2
cp -f "$TARGET/release/rustls-lab" "$BIN/rustls-lab.tmp" && mv -f "$BIN/rustls-lab.tmp" "$BIN/rustls-lab"

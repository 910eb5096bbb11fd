#!/usr/bin/env bash
# Build Sentinel's lab TLS servers into $SENTINEL_LAB_CACHE/bin (default /var/cache/sentinel-lab/bin)
# and generate the lab certificates into $SENTINEL_LAB_CACHE/certs (kept if present; --new-certs
# regenerates). Reuses ~/.m2 and the Go module/build caches: a warm run takes seconds.
# Tongsuo (tongsuo-openssl) and GmSSL (gmssl) are built from the Rust registry's source crates
# tongsuo-src / gmssl-src (tongsuo/build.sh, gmssl/build.sh), once: a stamp file per binary
# records the crate version and build options. Their certificates go to certs/tongsuo/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SENTINEL_LAB_CACHE:-/var/cache/sentinel-lab}"  # the lab (sentinel/lab/state.py) reads it there
BIN="$CACHE/bin"
CERTS="$CACHE/certs"
NEW_CERTS=0
[[ "${1:-}" == "--new-certs" ]] && NEW_CERTS=1
mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

stamp() { # newest mtime of the sources of a component
  find "$@" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.java' -o -name 'pom.xml' \) \
    -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f1
}

build_go() { # dir binary
  local dir="$1" out="$BIN/$2"
  echo "[build] go $dir -> $out" >&2
  (cd "$HERE/$dir" && go build -trimpath -o "$out.tmp" . && mv -f "$out.tmp" "$out")
}

build_go gmtls gmtls-lab
build_go pqtls pqtls-lab

JAR="$BIN/bcsm-lab-server.jar"
SRC_STAMP="$(stamp "$HERE/bcsm")"
if [[ ! -f "$JAR" || ! -f "$BIN/.bcsm.stamp" || "$(cat "$BIN/.bcsm.stamp")" != "$SRC_STAMP" ]]; then
  echo "[build] maven bcsm -> $JAR" >&2
  (cd "$HERE/bcsm" && mvn -q -B -o package -DskipTests 2>/dev/null || mvn -q -B package -DskipTests)
  cp -f "$HERE/bcsm/target/bcsm-lab-server.jar" "$JAR.tmp" && mv -f "$JAR.tmp" "$JAR"
  echo "$SRC_STAMP" > "$BIN/.bcsm.stamp"
else
  echo "[build] bcsm jar up to date" >&2
fi

# Tongsuo 8.5 (NTLS/TLCP) and GmSSL 3.1: C builds out of tree under $CACHE/build, removed after.
# A cold Tongsuo build takes ~2.5 min on 2 cores; both are skipped while their stamps match.
bash "$HERE/tongsuo/build.sh" "$BIN" "$CACHE/build"
bash "$HERE/gmssl/build.sh" "$BIN" "$CACHE/build"
# TLS weakness servers (tests/integration/test_tls_weakness_local.py, bench/tls_weakness.py):
# Tongsuo with zlib (TLS compression) and a rustls server (no TLS_FALLBACK_SCSV).
bash "$HERE/tongsuo/build.sh" "$BIN" "$CACHE/build" zlib
bash "$HERE/rustls/build.sh" "$BIN" "$CACHE/build"

if [[ $NEW_CERTS == 1 || ! -f "$CERTS/ca.crt" || ! -f "$CERTS/ecdsa.key" ]]; then
  echo "[certs] generating into $CERTS" >&2
  "$BIN/gmtls-lab" gencerts --out "$CERTS" --cn "${SENTINEL_LAB_CN:-sentinel-lab.local}" \
    --san "${SENTINEL_LAB_SAN:-localhost,127.0.0.1,::1}" --days 365 >/dev/null
fi

if [[ $NEW_CERTS == 1 || ! -f "$CERTS/tongsuo/rsa.key" || ! -f "$CERTS/tongsuo/enc.gmssl.pem" ]]; then
  echo "[certs] generating Tongsuo/GmSSL certs into $CERTS/tongsuo" >&2
  bash "$HERE/tongsuo/gencerts.sh" "$BIN/tongsuo-openssl" "$CERTS/tongsuo"
fi

echo "gmtls=$BIN/gmtls-lab"
echo "pqtls=$BIN/pqtls-lab"
echo "bcsm=$JAR"
echo "tongsuo=$BIN/tongsuo-openssl"
echo "gmssl=$BIN/gmssl"
echo "tongsuo_zlib=$BIN/tongsuo-openssl-zlib"
echo "rustls=$BIN/rustls-lab"
echo "certs=$CERTS"
echo "tongsuo_certs=$CERTS/tongsuo"

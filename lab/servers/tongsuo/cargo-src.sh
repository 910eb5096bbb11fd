# Sourced by tongsuo/build.sh and gmssl/build.sh.
# cargo_src MANIFEST_DIR CRATE WORK_DIR: fetch the crates that MANIFEST_DIR/Cargo.toml depends on
# into the cargo registry cache, then print "VERSION DIR" for CRATE, DIR being its unpacked
# source there (~/.cargo/registry/src/...). Cargo runs on a copy of the manifest in WORK_DIR, so
# its Cargo.lock stays in the cache, not in the repo; the source crate itself is pinned with "="
# in the manifest. Offline first, so that a warm run touches no network; the registry is asked
# only when the cache lacks the crate.
cargo_src() {
  local dir="$1" crate="$2" work="$3" cargo
  cargo="$(command -v cargo || echo "${CARGO_HOME:-$HOME/.cargo}/bin/cargo")"  # rustup's place if not on PATH
  [[ -x "$cargo" ]] || { echo "cargo not found (needed to fetch $crate)" >&2; return 1; }
  mkdir -p "$work"
  cmp -s "$dir/Cargo.toml" "$work/Cargo.toml" || { cp -f "$dir/Cargo.toml" "$dir/lib.rs" "$work/" && rm -f "$work/Cargo.lock"; }
  if ! "$cargo" fetch --offline --manifest-path "$work/Cargo.toml" >/dev/null 2>&1; then
    echo "[fetch] cargo fetch $crate" >&2
    "$cargo" fetch --manifest-path "$work/Cargo.toml" >&2
  fi
  "$cargo" metadata --format-version 1 --offline --manifest-path "$work/Cargo.toml" 2>/dev/null |
    python3 -c '
import json, os, sys
crate = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == crate:
        print(p["version"], os.path.dirname(p["manifest_path"]))
        break
else:
    sys.exit(f"{crate} not in cargo metadata")
' "$crate"
}

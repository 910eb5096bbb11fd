#!/bin/sh
# Peers for bench/tls_peers.py, each in its own environment (sslyze is AGPL: it must never
# enter Sentinel's dependencies). Idempotent; re-run to upgrade.
set -eu
HOME_DIR="${SENTINEL_BENCH_HOME:-$HOME/.cache/sentinel-bench}"
VENV="$HOME_DIR/sslyze-venv"
mkdir -p "$HOME_DIR"
if [ ! -x "$VENV/bin/sslyze" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'sslyze>=6,<7'
fi
"$VENV/bin/sslyze" --help >/dev/null
for tool in nmap nginx openssl; do
    command -v "$tool" >/dev/null || echo "missing: $tool (apt-get install -y nmap nginx-light openssl)" >&2
done
command -v testssl >/dev/null || command -v testssl.sh >/dev/null \
    || echo "optional: apt-get install -y testssl.sh (or run the bench with --skip-testssl)" >&2
echo "sslyze: $VENV/bin/sslyze"

#!/usr/bin/env bash
# Stop the node started by tools/es/start.sh (idempotent). Data stays in $SENTINEL_ES_HOME/data.
#   SENTINEL_ES_HOME      default ~/.cache/sentinel-es
#   SENTINEL_ES_STOP_TIMEOUT  seconds to wait after SIGTERM before SIGKILL (default 60)
set -euo pipefail
STATE="${SENTINEL_ES_HOME:-$HOME/.cache/sentinel-es}"
PIDFILE="$STATE/es.pid"
TIMEOUT="${SENTINEL_ES_STOP_TIMEOUT:-60}"
log() { echo "[sentinel-es] $*" >&2; }

if [[ ! -f "$PIDFILE" ]]; then
  log "not running (no pid file $PIDFILE)"
  exit 0
fi
pid="$(cat "$PIDFILE" 2>/dev/null || true)"
if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
  log "not running (stale pid file removed)"
  rm -f "$PIDFILE"
  exit 0
fi
# Make sure the pid really is our Elasticsearch before signalling it.
if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'org.elasticsearch'; then
  log "pid $pid is not an Elasticsearch process; removing stale pid file"
  rm -f "$PIDFILE"
  exit 0
fi

log "stopping Elasticsearch (pid $pid)"
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + TIMEOUT))
while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.5; done
if kill -0 "$pid" 2>/dev/null; then
  log "still alive after ${TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
fi
rm -f "$PIDFILE"
log "stopped"

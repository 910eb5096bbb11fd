#!/usr/bin/env bash
# Stop the node started by tools/broker/start.sh (idempotent). Messages, users and vhosts stay in
# $SENTINEL_BROKER_HOME/mnesia.
#   SENTINEL_BROKER_HOME          default ~/.cache/sentinel-broker
#   SENTINEL_BROKER_STOP_TIMEOUT  seconds to wait for `rabbitmqctl stop`, then SIGTERM, then SIGKILL (default 60)
set -euo pipefail
STATE="${SENTINEL_BROKER_HOME:-$HOME/.cache/sentinel-broker}"
TIMEOUT="${SENTINEL_BROKER_STOP_TIMEOUT:-60}"
RMQ_BIN=/usr/lib/rabbitmq/bin
log() { echo "[sentinel-broker] $*" >&2; }

if [[ ! -d "$STATE" ]]; then
  log "not running (no state dir $STATE)"
  exit 0
fi
STATE="$(cd "$STATE" && pwd -P)"
PIDFILE="$STATE/rabbitmq.pid"
NODE="$(cat "$STATE/nodename" 2>/dev/null || echo sentinel@localhost)"
[[ "$NODE" =~ ^[A-Za-z0-9_-]+@localhost$ ]] || { log "ERROR: bad node name '$NODE' in $STATE/nodename"; exit 1; }

alive() {
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
    && [[ "$(stat -c %U "/proc/$pid" 2>/dev/null)" == rabbitmq ]] \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-s rabbit boot"
}

# Stop the epmd that start.sh launched, once no Erlang node is registered with it any more.
stop_our_epmd() {
  local epid
  epid="$(cat "$STATE/epmd.pid" 2>/dev/null || true)"
  [[ -n "$epid" ]] || return 0
  if [[ "$epid" =~ ^[0-9]+$ ]] && kill -0 "$epid" 2>/dev/null \
     && [[ "$(cat "/proc/$epid/comm" 2>/dev/null)" == epmd ]]; then
    if epmd -names 2>/dev/null | grep -q '^name '; then
      log "leaving epmd (pid $epid) running: other Erlang nodes are registered"
      return 0
    fi
    kill -TERM "$epid" 2>/dev/null || true
    log "stopped epmd (pid $epid)"
  fi
  rm -f "$STATE/epmd.pid"
}

pid="$(cat "$PIDFILE" 2>/dev/null || true)"
if ! alive; then
  log "not running (node $NODE)"
  rm -f "$PIDFILE"
  stop_our_epmd
  exit 0
fi

log "stopping RabbitMQ node $NODE (pid $pid)"
DIST_PORT="$(cat "$STATE/dist_port" 2>/dev/null || true)"
[[ "$DIST_PORT" =~ ^[0-9]+$ ]] || DIST_PORT=25672
( cd / && timeout -k 5 "$TIMEOUT" runuser -u rabbitmq -- env ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
    RABBITMQ_CTL_DIST_PORT_MIN="$((DIST_PORT + 10000))" RABBITMQ_CTL_DIST_PORT_MAX="$((DIST_PORT + 10010))" \
    "$RMQ_BIN/rabbitmqctl" -q -n "$NODE" stop >&2 ) || log "rabbitmqctl stop failed; falling back to signals"

deadline=$((SECONDS + TIMEOUT))
while alive && (( SECONDS < deadline )); do sleep 0.3; done
if alive; then
  log "still alive, sending SIGTERM"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 15))
  while alive && (( SECONDS < deadline )); do sleep 0.3; done
fi
if alive; then
  log "still alive, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
fi
rm -f "$PIDFILE"
stop_our_epmd
log "stopped"

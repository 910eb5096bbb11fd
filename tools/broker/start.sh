#!/usr/bin/env bash
# Start a local single-node RabbitMQ (Debian's rabbitmq-server) for Sentinel development/tests.
#
#   tools/broker/start.sh        # idempotent; prints exactly one line on stdout:
#                                #   SENTINEL_BROKER=amqp://sentinel:<password>@127.0.0.1:<port>/sentinel
#
# Everything else goes to stderr. The same line, plus the TLS URL and the CA path, is written to
# the mode-0600 file $SENTINEL_BROKER_HOME/broker.env (shell syntax), so that tests and the lab
# can read the credentials without a password on any command line.
#
# Environment (all optional):
#   SENTINEL_BROKER_HOME       state dir (mnesia, logs, config, TLS, password)  default ~/.cache/sentinel-broker
#   SENTINEL_BROKER_PORT       AMQP port on 127.0.0.1                           default 5672
#   SENTINEL_BROKER_TLS_PORT   AMQPS port on 127.0.0.1 ("off" = no listener)    default port - 1 (5671)
#   SENTINEL_BROKER_DIST_PORT  Erlang distribution port on 127.0.0.1            default port + 20000
#   SENTINEL_BROKER_NODE       Erlang node name     default sentinel@localhost (sentinel-<port>@localhost off 5672)
#   SENTINEL_BROKER_TIMEOUT    seconds to wait for the node to boot             default 60
#
# Needs root and the Debian package rabbitmq-server (installed by `make deps`); installs nothing.
# The node runs as the `rabbitmq` system user and binds 127.0.0.1 only (AMQP, AMQPS, Erlang
# distribution, and epmd if this script starts it).
set -euo pipefail

RMQ_BIN=/usr/lib/rabbitmq/bin
STATE="${SENTINEL_BROKER_HOME:-$HOME/.cache/sentinel-broker}"
PORT="${SENTINEL_BROKER_PORT:-5672}"
TLS_PORT="${SENTINEL_BROKER_TLS_PORT:-$((PORT - 1))}"
DIST_PORT="${SENTINEL_BROKER_DIST_PORT:-$((PORT + 20000))}"
if [[ "$PORT" == 5672 ]]; then NODE_DEFAULT=sentinel@localhost; else NODE_DEFAULT="sentinel-$PORT@localhost"; fi
NODE="${SENTINEL_BROKER_NODE:-$NODE_DEFAULT}"
TIMEOUT="${SENTINEL_BROKER_TIMEOUT:-60}"
VHOST=sentinel
BUSER=sentinel
LOOPBACK_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'

log() { echo "[sentinel-broker] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- 0. preconditions ------------------------------------------------------------------
[[ "$(id -u)" == 0 ]] || die "run as root: the node runs as the 'rabbitmq' system user and its state is chowned to it"
[[ -x "$RMQ_BIN/rabbitmq-server" && -x "$RMQ_BIN/rabbitmqctl" ]] \
  || die "Debian package rabbitmq-server is not installed (make deps)"
id rabbitmq >/dev/null 2>&1 || die "no 'rabbitmq' system user (is rabbitmq-server installed?)"
for tool in openssl runuser epmd; do command -v "$tool" >/dev/null || die "$tool is required"; done
for p in PORT DIST_PORT TIMEOUT; do
  [[ "${!p}" =~ ^[0-9]+$ ]] || die "$p must be a number (got '${!p}')"
done
TLS=1
case "$TLS_PORT" in off|none|0|"") TLS=0 ;; *) [[ "$TLS_PORT" =~ ^[0-9]+$ ]] || die "SENTINEL_BROKER_TLS_PORT must be a number or 'off'" ;; esac
[[ "$NODE" =~ ^[A-Za-z0-9_-]+@localhost$ ]] || die "SENTINEL_BROKER_NODE must be <name>@localhost (got '$NODE')"

mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd -P)"
# The path goes into rabbitmq.conf, definitions and broker.env unquoted: keep it simple.
[[ "$STATE" =~ ^/[A-Za-z0-9._/@+-]+$ ]] || die "state dir '$STATE' must match [A-Za-z0-9._/@+-]"

MNESIA="$STATE/mnesia"
LOGS="$STATE/log"
TLSDIR="$STATE/tls"
PIDFILE="$STATE/rabbitmq.pid"
OUT="$LOGS/startup.out"
PWFILE="$STATE/sentinel.password"
DEFS="$STATE/definitions.json"
CONF="$STATE/rabbitmq.conf"
ENVFILE="$STATE/broker.env"
STAGE="$STATE/.mnt"
SHORT="${NODE%@*}"

# rabbitmqctl as the rabbitmq user (its ~/.erlang.cookie is the node's). The CLI is an Erlang node
# too: keep its distribution listener on loopback, and never let it start an epmd on 0.0.0.0.
ctl() {
  (cd / && runuser -u rabbitmq -- env ERL_EPMD_ADDRESS=127.0.0.1 \
      RABBITMQ_CTL_ERL_ARGS="$LOOPBACK_ARGS" \
      RABBITMQ_CTL_DIST_PORT_MIN="$((DIST_PORT + 10000))" RABBITMQ_CTL_DIST_PORT_MAX="$((DIST_PORT + 10010))" \
      "$RMQ_BIN/rabbitmqctl" -n "$NODE" "$@")
}

# Our node is alive if the pid file names a live Erlang VM running rabbit as the rabbitmq user.
alive() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
    && [[ "$(stat -c %U "/proc/$pid" 2>/dev/null)" == rabbitmq ]] \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-s rabbit boot"
}

registered() { epmd -names 2>/dev/null | grep -q "^name $SHORT at port "; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log_tail() {
  log "---- last lines of $LOGS/$NODE.log ----"
  tail -n 40 "$LOGS/$NODE.log" >&2 2>/dev/null || true
  log "---- last lines of $OUT ----"
  tail -n 20 "$OUT" >&2 2>/dev/null || true
}

# ---- 1. password (generated once, kept mode 0600, root only) ---------------------------
umask 077
if [[ ! -s "$PWFILE" ]]; then
  openssl rand -hex 24 >"$PWFILE.tmp"
  mv "$PWFILE.tmp" "$PWFILE"
  log "generated a new password for user '$BUSER' in $PWFILE"
fi
chmod 0600 "$PWFILE"
PW="$(tr -d '\n' <"$PWFILE")"
[[ "$PW" =~ ^[A-Za-z0-9]{16,}$ ]] || die "$PWFILE must hold one alphanumeric password (16+ chars); delete it to regenerate"

# Definitions imported at every boot (load_definitions): vhost, user (salted SHA-256 hash, never the
# password itself), permissions. Because definitions are configured, RabbitMQ never seeds guest/guest.
write_definitions() {
  local salt hex hash
  hex="$(openssl rand -hex 4)"
  salt="\\x${hex:0:2}\\x${hex:2:2}\\x${hex:4:2}\\x${hex:6:2}"
  # rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)); printf is a builtin,
  # so the password is on no command line.
  hash="$( { printf "$salt"; { printf "$salt"; printf '%s' "$PW"; } | openssl dgst -sha256 -binary; } | base64 -w0)"
  cat >"$DEFS.tmp" <<EOF
{
  "vhosts": [{"name": "$VHOST"}],
  "users": [{"name": "$BUSER", "password_hash": "$hash",
             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}],
  "permissions": [{"user": "$BUSER", "vhost": "$VHOST", "configure": ".*", "write": ".*", "read": ".*"}]
}
EOF
  chown rabbitmq:rabbitmq "$DEFS.tmp"
  chmod 0600 "$DEFS.tmp"
  mv "$DEFS.tmp" "$DEFS"
}
if [[ ! -s "$DEFS" || "$PWFILE" -nt "$DEFS" ]]; then write_definitions; fi

# ---- 2. TLS material (first start; renewed when the server cert has < 30 days left) ------
make_tls() {
  local ext
  rm -rf "$TLSDIR"
  mkdir -p "$TLSDIR"
  ext="$TLSDIR/server.ext"
  printf '%s\n' 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost' 'basicConstraints=critical,CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' >"$ext"
  {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TLSDIR/ca.key"
    openssl req -x509 -new -key "$TLSDIR/ca.key" -sha256 -days 365 -subj "/O=Sentinel/CN=Sentinel broker test CA" \
      -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' -out "$TLSDIR/ca.pem"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TLSDIR/server.key"
    openssl req -new -key "$TLSDIR/server.key" -subj "/O=Sentinel/CN=localhost" -out "$TLSDIR/server.csr"
    openssl x509 -req -in "$TLSDIR/server.csr" -CA "$TLSDIR/ca.pem" -CAkey "$TLSDIR/ca.key" -sha256 -days 365 \
      -set_serial "0x$(openssl rand -hex 16)" -extfile "$ext" -out "$TLSDIR/server.pem"
  } >/dev/null 2>"$TLSDIR/openssl.err" || { cat "$TLSDIR/openssl.err" >&2; die "openssl could not create the TLS material"; }
  rm -f "$TLSDIR/server.csr" "$ext" "$TLSDIR/openssl.err"
  log "generated a self-signed CA and a server certificate (127.0.0.1, ::1, localhost; 365 days) in $TLSDIR"
}

# ---- 3. already running? ----------------------------------------------------------------
LAUNCHER=""
if alive; then
  log "already running (node $NODE, pid $(cat "$PIDFILE")), checking it has booted"
else
  rm -f "$PIDFILE"
  if registered; then
    die "an Erlang node named '$SHORT' is already registered in epmd but is not ours ($PIDFILE); stop it or set SENTINEL_BROKER_NODE"
  fi
  for p in "$PORT" "$DIST_PORT" $([[ $TLS == 1 ]] && echo "$TLS_PORT"); do
    port_busy "$p" && die "something already listens on 127.0.0.1:$p; stop it or choose other SENTINEL_BROKER_*PORT values"
  done

  # ---- 4. layout, owned by rabbitmq (the secrets stay root-only 0600) --------------------
  mkdir -p "$MNESIA" "$LOGS"
  if [[ $TLS == 1 ]]; then
    if [[ ! -s "$TLSDIR/ca.pem" || ! -s "$TLSDIR/server.pem" || ! -s "$TLSDIR/server.key" ]] \
       || ! openssl x509 -checkend $((30 * 86400)) -noout -in "$TLSDIR/server.pem" >/dev/null 2>&1; then
      make_tls
    fi
    chown root:root "$TLSDIR/ca.key" && chmod 0600 "$TLSDIR/ca.key"
    chown rabbitmq:rabbitmq "$TLSDIR/server.key" && chmod 0600 "$TLSDIR/server.key"
    chmod 0644 "$TLSDIR/ca.pem" "$TLSDIR/server.pem"
    chown rabbitmq:rabbitmq "$TLSDIR" && chmod 0755 "$TLSDIR"
  fi
  [[ -f "$STATE/enabled_plugins" ]] || echo '[].' >"$STATE/enabled_plugins"
  : >"$STATE/rabbitmq-env.conf"   # so that /etc/rabbitmq/rabbitmq-env.conf does not apply
  {
    echo "# generated by tools/broker/start.sh -- edits are overwritten"
    echo "load_definitions = $DEFS"
    echo "log.file.level = info"
    if [[ $TLS == 1 ]]; then
      cat <<EOF
listeners.ssl.default = 127.0.0.1:$TLS_PORT
ssl_options.cacertfile = $TLSDIR/ca.pem
ssl_options.certfile = $TLSDIR/server.pem
ssl_options.keyfile = $TLSDIR/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
EOF
    fi
  } >"$CONF"
  echo "$NODE" >"$STATE/nodename"
  echo "$DIST_PORT" >"$STATE/dist_port"
  chmod 0644 "$STATE/enabled_plugins" "$STATE/rabbitmq-env.conf" "$CONF" "$STATE/nodename" "$STATE/dist_port"
  chown rabbitmq:rabbitmq "$STATE" "$STATE/enabled_plugins" "$STATE/rabbitmq-env.conf" "$CONF"
  chown -R rabbitmq:rabbitmq "$MNESIA" "$LOGS"
  [[ -f "$STATE/feature_flags" ]] && chown rabbitmq:rabbitmq "$STATE/feature_flags"
  chmod 0750 "$STATE"

  # ---- 5. epmd on loopback (started by us only if none runs) -----------------------------
  if ! epmd -names >/dev/null 2>&1; then
    (cd / && runuser -u rabbitmq -- epmd -address 127.0.0.1 -daemon)
    for _ in $(seq 1 50); do epmd -names >/dev/null 2>&1 && break; sleep 0.1; done
    epmd_pid="$(pgrep -n -u rabbitmq -x epmd || true)"
    [[ -n "$epmd_pid" ]] && echo "$epmd_pid" >"$STATE/epmd.pid"
    log "started epmd on 127.0.0.1:4369 (pid ${epmd_pid:-?})"
  elif command -v ss >/dev/null && ss -ltnH 'sport = :4369' | awk '{print $4}' | grep -qvE '^(127\.|\[::1\]|\[::ffff:127\.)'; then
    log "WARNING: an epmd not started by this script listens beyond loopback on port 4369"
  fi

  # ---- 6. launch as rabbitmq ---------------------------------------------------------------
  SERVER_ENV=(
    RABBITMQ_MNESIA_BASE="$MNESIA" RABBITMQ_LOG_BASE="$LOGS" RABBITMQ_PID_FILE="$PIDFILE"
    RABBITMQ_FEATURE_FLAGS_FILE="$STATE/feature_flags" RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/enabled_plugins"
    RABBITMQ_CONFIG_FILE="$CONF" RABBITMQ_ADVANCED_CONFIG_FILE="$STATE/advanced.config"
    RABBITMQ_CONF_ENV_FILE="$STATE/rabbitmq-env.conf"
    RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$PORT"
    RABBITMQ_DIST_PORT="$DIST_PORT" RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$LOOPBACK_ARGS"
    ERL_EPMD_ADDRESS=127.0.0.1 ERL_CRASH_DUMP="$LOGS/erl_crash.dump"
  )
  LAUNCH=(runuser -u rabbitmq -- env "${SERVER_ENV[@]}" "$RMQ_BIN/rabbitmq-server")

  # The rabbitmq user must reach the state dir. Under root's home (mode 0700) it cannot: then the
  # node runs in a private mount namespace where the first unreachable ancestor is covered by a
  # tmpfs holding only a bind mount of the state dir at the same path. Nothing else changes on the
  # host, and the node sees nothing else of that ancestor.
  blocked="$(cd / && runuser -u rabbitmq -- bash -c 'set -f; IFS=/; p=""
    for c in $1; do [[ -z "$c" ]] && continue; p="$p/$c"; [[ -x "$p" ]] || { printf %s "$p"; exit 0; }; done' _ "$STATE")"
  : >"$OUT"
  if [[ -n "$blocked" ]]; then
    [[ "$blocked" != "$STATE" ]] || die "the rabbitmq user cannot enter $STATE itself"
    command -v unshare >/dev/null || die "$blocked is not reachable by the rabbitmq user and 'unshare' is missing; set SENTINEL_BROKER_HOME elsewhere"
    unshare --mount --propagation private true 2>/dev/null \
      || die "$blocked is not reachable by the rabbitmq user and mount namespaces are not permitted; set SENTINEL_BROKER_HOME to a folder it can reach"
    log "$blocked is closed to the rabbitmq user: running the node in a private mount namespace"
    mkdir -p "$STAGE"
    ( cd / && exec setsid unshare --mount --propagation private -- bash -c '
        set -e; A=$1; S=$2; G=$3; shift 3
        umask 022
        mount -t tmpfs -o mode=0755,size=1m sentinel-broker "$G"
        mkdir -p "$G${S#"$A"}"
        mount --bind "$S" "$G${S#"$A"}"
        mount --move "$G" "$A"
        cd "$S"
        exec "$@"' sentinel-broker-ns "$blocked" "$STATE" "$STAGE" "${LAUNCH[@]}" >>"$OUT" 2>&1 ) &
  else
    ( cd "$STATE" && exec setsid "${LAUNCH[@]}" >>"$OUT" 2>&1 ) &
  fi
  LAUNCHER=$!   # == session id of everything this start launched (exec setsid)
  log "starting RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null) node $NODE on 127.0.0.1:$PORT$([[ $TLS == 1 ]] && echo " (TLS $TLS_PORT)") (state $STATE)"
fi

# On failure, stop exactly what this invocation launched: the processes of our session.
abort_launch() {
  [[ -n "$LAUNCHER" ]] || return 0
  local pids
  pids="$(ps -eo pid=,sid= | awk -v s="$LAUNCHER" '$2 == s {print $1}')"
  [[ -n "$pids" ]] || return 0
  log "stopping the node this start launched (pids: $(echo $pids))"
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 60); do
    pids="$(ps -eo pid=,sid= | awk -v s="$LAUNCHER" '$2 == s {print $1}')"
    [[ -z "$pids" ]] && break
    sleep 0.5
  done
  [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null || true
  rm -f "$PIDFILE"
}
fail() { log_tail; abort_launch; die "$*"; }

# ---- 7. wait for boot ---------------------------------------------------------------------
deadline=$((SECONDS + TIMEOUT))
booted=0
while (( SECONDS < deadline )); do
  if registered; then
    if ctl -q await_startup -t "$((deadline - SECONDS > 1 ? deadline - SECONDS : 1))" >/dev/null 2>&1; then
      booted=1
      break
    fi
  fi
  if [[ -n "$LAUNCHER" ]]; then
    kill -0 "$LAUNCHER" 2>/dev/null || alive || fail "RabbitMQ exited during startup (see above)"
  else
    alive || fail "the running node went away"
  fi
  sleep 0.3
done
(( booted )) || fail "node $NODE not booted after ${TIMEOUT}s"

# ---- 8. users: sentinel present, guest absent ---------------------------------------------
# A node launched here loaded $DEFS at boot; a running one re-imports it when it changed
# (new password: delete sentinel.password and run start.sh again).
STAMP="$STATE/definitions.imported"
[[ -n "$LAUNCHER" ]] && touch -r "$DEFS" "$STAMP"
users="$(ctl -s list_users 2>/dev/null | awk '{print $1}')" || fail "rabbitmqctl list_users failed"
if ! grep -qx "$BUSER" <<<"$users" || [[ ! -e "$STAMP" || "$DEFS" -nt "$STAMP" ]]; then
  log "importing $DEFS (vhost and user '$BUSER')"
  ctl -q import_definitions <"$DEFS" >/dev/null || fail "could not import $DEFS"
  touch -r "$DEFS" "$STAMP"
fi
if grep -qx guest <<<"$users"; then
  log "deleting the default user 'guest'"
  ctl -q delete_user guest >/dev/null || fail "could not delete user guest"
fi

# ---- 9. publish the URLs --------------------------------------------------------------------
URL="amqp://$BUSER:$PW@127.0.0.1:$PORT/$VHOST"
{
  echo "SENTINEL_BROKER=$URL"
  if [[ $TLS == 1 ]]; then
    echo "SENTINEL_BROKER_TLS=amqps://$BUSER:$PW@127.0.0.1:$TLS_PORT/$VHOST"
    echo "SENTINEL_BROKER_CA=$TLSDIR/ca.pem"
  fi
} >"$ENVFILE.tmp"
chown root:root "$ENVFILE.tmp"
chmod 0600 "$ENVFILE.tmp"
mv "$ENVFILE.tmp" "$ENVFILE"
log "RabbitMQ node $NODE is up (pid $(cat "$PIDFILE" 2>/dev/null)); credentials in $ENVFILE"
echo "SENTINEL_BROKER=$URL"

#!/usr/bin/env bash
# Start a local single-node Elasticsearch 8.x for Sentinel development/tests.
#
#   tools/es/start.sh            # idempotent: returns 0 once the node answers green
#
# Environment (all optional):
#   SENTINEL_ES_HOME       state dir (dist, config, data, logs, pid)   default ~/.cache/sentinel-es
#   SENTINEL_ES_PORT       HTTP port on 127.0.0.1                      default 9200
#   SENTINEL_ES_TRANSPORT_PORT  transport port on 127.0.0.1            default HTTP port + 100
#   SENTINEL_ES_HEAP       JVM heap (-Xms/-Xmx)                        default 1g
#   SENTINEL_ES_TIMEOUT    seconds to wait for health                  default 120
#   SENTINEL_ES_JAVA_HOME  JDK to run ES with (17+)                    default: $JAVA_HOME, else `java` on PATH
#
# Nothing is downloaded at run time: the distribution comes from Maven Central
# through `mvn` the first time only (cached in ~/.m2 and $SENTINEL_ES_HOME/dist).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ES_VERSION="$(sed -n 's:.*<es.version>\(.*\)</es.version>.*:\1:p' "$HERE/pom.xml" | head -1)"
STATE="${SENTINEL_ES_HOME:-$HOME/.cache/sentinel-es}"
PORT="${SENTINEL_ES_PORT:-9200}"
TPORT="${SENTINEL_ES_TRANSPORT_PORT:-$((PORT + 100))}"
HEAP="${SENTINEL_ES_HEAP:-1g}"
TIMEOUT="${SENTINEL_ES_TIMEOUT:-120}"
DIST_ROOT="$STATE/dist"
ES_DIR="$DIST_ROOT/elasticsearch-$ES_VERSION"
CONF="$STATE/config"
DATA="$STATE/data"
LOGS="$STATE/logs"
PIDFILE="$STATE/es.pid"
OUT="$STATE/es.out"
URL="http://127.0.0.1:$PORT"

log() { echo "[sentinel-es] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

http_get() { curl -s --max-time "${2:-5}" "$URL$1"; }

# Our node is alive if the pid file names a live (non-zombie) Elasticsearch JVM.
alive() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'org.elasticsearch'
}

log_tail() {
  log "---- last lines of $LOGS/sentinel-es.log ----"
  tail -n 40 "$LOGS/sentinel-es.log" >&2 2>/dev/null || true
  log "---- last lines of $OUT ----"
  grep -v 'JVM arguments' "$OUT" 2>/dev/null | tail -n 20 >&2 || true
}

command -v curl >/dev/null || die "curl is required"
mkdir -p "$STATE" "$DATA" "$LOGS"

# ---- 1. resolve + unpack the distribution, build our root-info plugin (once) -----------
BUILD="$STATE/build"
PLUGIN_JAR="$BUILD/sentinel-es-root.jar"
PLUGIN_DIR="$ES_DIR/plugins/sentinel-rest-root"
need_build=0
[[ -x "$ES_DIR/bin/elasticsearch" && -f "$PLUGIN_JAR" ]] || need_build=1
if [[ $need_build == 0 ]] && [[ -n "$(find "$HERE/pom.xml" "$HERE/src" -newer "$PLUGIN_JAR" -type f 2>/dev/null | head -1)" ]]; then
  need_build=1
fi
if [[ $need_build == 1 ]]; then
  command -v mvn >/dev/null || die "mvn is required for the first start (resolves ES $ES_VERSION from Maven Central)"
  log "building: Elasticsearch $ES_VERSION from Maven Central (cached in ~/.m2) -> $DIST_ROOT"
  [[ -x "$ES_DIR/bin/elasticsearch" ]] || rm -rf "$DIST_ROOT"
  mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" -Des.build.dir="$BUILD" -Des.dist.dir="$DIST_ROOT" package \
    || die "maven could not resolve/unpack Elasticsearch or build tools/es/src"
  [[ -x "$ES_DIR/bin/elasticsearch" ]] || die "unpacked distribution has no $ES_DIR/bin/elasticsearch"
  [[ -f "$PLUGIN_JAR" ]] || die "maven did not produce $PLUGIN_JAR"
  rm -rf "$PLUGIN_DIR"
fi
if [[ ! -f "$PLUGIN_DIR/plugin-descriptor.properties" ]]; then
  mkdir -p "$PLUGIN_DIR"
  cp "$PLUGIN_JAR" "$PLUGIN_DIR/"
  cat > "$PLUGIN_DIR/plugin-descriptor.properties" <<EOF
description=Sentinel: GET / and HEAD / (rest-root is not in the integ-test-zip distribution)
version=1.0.0
name=sentinel-rest-root
classname=dev.sentinel.es.RootInfoPlugin
java.version=17
elasticsearch.version=$ES_VERSION
EOF
fi

# ---- 2. Java ------------------------------------------------------------------------
if [[ -n "${SENTINEL_ES_JAVA_HOME:-}" ]]; then
  export ES_JAVA_HOME="$SENTINEL_ES_JAVA_HOME"
elif [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
  export ES_JAVA_HOME="$JAVA_HOME"
else
  command -v java >/dev/null || die "no Java found (set SENTINEL_ES_JAVA_HOME to a JDK 17+)"
  ES_JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  export ES_JAVA_HOME
fi

# ---- 3. already running? -------------------------------------------------------------
if alive; then
  log "already running (pid $(cat "$PIDFILE")), checking health on $URL"
else
  rm -f "$PIDFILE"
  if http_get / 2 >/dev/null; then
    die "something else already answers on $URL (not our pid file $PIDFILE); stop it or set SENTINEL_ES_PORT"
  fi

  # ---- 4. config (rewritten each start so port/heap changes apply) ------------------
  mkdir -p "$CONF/jvm.options.d"
  cp "$ES_DIR/config/log4j2.properties" "$CONF/log4j2.properties"
  # stock jvm.options minus the 2 GiB rotating GC log
  grep -v -- '-Xlog:gc' "$ES_DIR/config/jvm.options" > "$CONF/jvm.options"
  cat > "$CONF/elasticsearch.yml" <<EOF
# generated by tools/es/start.sh -- edits are overwritten
cluster.name: sentinel-es
node.name: sentinel-es-1
path.data: $DATA
path.logs: $LOGS
network.host: 127.0.0.1
http.port: $PORT
transport.port: $TPORT
discovery.type: single-node
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  cat > "$CONF/jvm.options.d/sentinel.options" <<EOF
-Xms$HEAP
-Xmx$HEAP
EOF

  # ---- 5. launch ---------------------------------------------------------------------
  # Elasticsearch refuses to run as root ("can not run elasticsearch as root"). When we are
  # root (CI, dev containers) run it in a user namespace where our uid maps to an
  # unprivileged one: no system user needed, files stay owned by the real user.
  AS_USER=()
  if [[ "$(id -u)" == 0 ]]; then
    command -v unshare >/dev/null || die "running as root needs 'unshare' (util-linux) to drop root for Elasticsearch"
    uid="${SENTINEL_ES_NS_UID:-1000}"
    unshare --user --map-user="$uid" --map-group="$uid" true 2>/dev/null \
      || die "running as root but 'unshare --user' is not permitted here; run start.sh as a non-root user"
    AS_USER=(unshare --user --map-user="$uid" --map-group="$uid")
  fi
  log "starting Elasticsearch $ES_VERSION on $URL (heap $HEAP, state $STATE, java $ES_JAVA_HOME)"
  : > "$OUT"
  mkdir -p "$STATE/tmp"
  # -d daemonizes the server process; -p writes its pid. The launcher itself blocks until
  # the node is started, so we background it and poll with our own deadline.
  ( cd "$STATE" && ES_PATH_CONF="$CONF" ES_TMPDIR="$STATE/tmp" \
      exec setsid "${AS_USER[@]}" "$ES_DIR/bin/elasticsearch" -d -p "$PIDFILE" >>"$OUT" 2>&1 ) &
  LAUNCHER=$!   # == session id of everything this start launched (exec setsid)
fi

# On failure, stop exactly what this invocation launched: the processes of our session.
abort_launch() {
  [[ -n "${LAUNCHER:-}" ]] || return 0
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

# ---- 6. wait for health ----------------------------------------------------------------
deadline=$((SECONDS + TIMEOUT))
status=""
fixed_replicas=0
while (( SECONDS < deadline )); do
  health="$(http_get "/_cluster/health?wait_for_status=green&timeout=2s" 4 || true)"
  status="$(sed -n 's/.*"status":"\([a-z]*\)".*/\1/p' <<<"$health")"
  if [[ "$status" == "green" ]]; then
    break
  fi
  if [[ "$status" == "yellow" && $fixed_replicas == 0 ]]; then
    # Single node: replicas can never be assigned. Drop them on existing indices
    # (indices created without "number_of_replicas": 0) so the cluster can reach green.
    curl -s -o /dev/null -X PUT "$URL/_all/_settings?expand_wildcards=open,hidden&ignore_unavailable=true" \
      -H 'Content-Type: application/json' -d '{"index":{"number_of_replicas":0}}' || true
    fixed_replicas=1
  fi
  if { [[ -z "${LAUNCHER:-}" ]] || ! kill -0 "$LAUNCHER" 2>/dev/null; } && ! alive; then
    log_tail
    abort_launch
    die "Elasticsearch exited during startup (see above)"
  fi
  sleep 1
done

if [[ "$status" != "green" ]]; then
  log_tail
  abort_launch
  die "Elasticsearch on $URL not green after ${TIMEOUT}s (last status: '${status:-no answer}'); pid file $PIDFILE"
fi

log "Elasticsearch $ES_VERSION is up on $URL (pid $(cat "$PIDFILE" 2>/dev/null), status green)"
exit 0

#!/usr/bin/env bash
# kafka-single.sh — one Apache Kafka 4.x KRaft node (broker+controller) as a
# plain JVM process on 127.0.0.1, for conformance runs and side-by-side
# benchmarks.
#
#   kafka-single.sh start <dir> <port>   # prints the bootstrap, 127.0.0.1:<port>
#   kafka-single.sh stop  <dir>          # [<port>] accepted and ignored
#   kafka-single.sh status <dir>
#
# <dir> holds server.properties, log4j2.properties, data/, kafka.pid and
# server.out; the controller listens on <port>+1 (KAFKA_CONTROLLER_PORT
# overrides). start formats data/ once (a restart keeps the log) and returns
# when the broker answers on <port> and has logged that it started.
# Extra broker properties: KAFKA_PROPS="key=value key2=value2".
# Heap: KAFKA_HEAP (default 1g). Jars: HIGHWATER_KAFKA_LIB, else fetch.sh.
# Bounds: START_TIMEOUT (s, default 180), STOP_TIMEOUT (s, default 60; then
# SIGKILL).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: $0 start|stop|status <dir> [<port>]" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
port=${3:-}
pidfile="$dir/kafka.pid"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# wait_ready: the broker's port accepts a TCP connection and the server log
# says it finished starting (the port opens a little before the broker can
# serve metadata). Bounded by START_TIMEOUT seconds (default 180).
wait_ready() {
  local deadline=$((SECONDS + ${START_TIMEOUT:-180}))
  while [ $SECONDS -lt $deadline ]; do
    if ! running; then
      echo "kafka-single.sh: kafka exited during start; tail of $dir/server.out:" >&2
      tail -30 "$dir/server.out" >&2
      return 1
    fi
    # Kafka can linger for a minute after a fatal start-up error: fail fast.
    if grep -qE "Fatal error during|Address already in use|Exiting Kafka" "$dir/server.out" 2>/dev/null; then
      echo "kafka-single.sh: kafka failed to start; tail of $dir/server.out:" >&2
      grep -E "ERROR|Fatal|Caused by" "$dir/server.out" | tail -10 >&2
      return 1
    fi
    if grep -q "Kafka Server started" "$dir/server.out" 2>/dev/null &&
       (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "kafka-single.sh: kafka not ready after ${START_TIMEOUT:-180}s; tail of $dir/server.out:" >&2
  tail -30 "$dir/server.out" >&2
  return 1
}

start() {
  [ -n "$port" ] || usage
  if running; then
    echo "127.0.0.1:$port"
    return 0
  fi
  local lib cport
  lib=${HIGHWATER_KAFKA_LIB:-$("$here/fetch.sh")}
  cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
  local p
  for p in "$port" "$cport"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "kafka-single.sh: 127.0.0.1:$p is already in use" >&2
      return 1
    fi
  done
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  pidfile="$dir/kafka.pid"

  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:$cport
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  for kv in ${KAFKA_PROPS:-}; do echo "$kv" >> "$dir/server.properties"; done

  cat > "$dir/log4j2.properties" <<'LOG'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
logger.zk.name = org.apache.kafka.clients
logger.zk.level = WARN
LOG

  local java=${JAVA_HOME:+$JAVA_HOME/bin/}java
  local jvm=("$java" "-Xmx${KAFKA_HEAP:-1g}" "-Xms${KAFKA_HEAP:-1g}" -XX:+UseG1GC
    "-Dlog4j2.configurationFile=$dir/log4j2.properties" -cp "$lib/*")
  # The storage tool gets a small heap and only warnings.
  local tool=("$java" -Xmx256m -Dlog4j2.level=WARN -cp "$lib/*")
  if [ ! -f "$dir/data/meta.properties" ]; then
    # --standalone makes this node the sole voter of a dynamic quorum (KIP-853).
    "${tool[@]}" kafka.tools.StorageTool format --standalone \
      --config "$dir/server.properties" \
      --cluster-id "$("${tool[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" \
      --ignore-formatted > "$dir/format.out" 2>&1 || {
        echo "kafka-single.sh: format failed:" >&2; cat "$dir/format.out" >&2; return 1; }
  fi
  : > "$dir/server.out"
  nohup "${jvm[@]}" kafka.Kafka "$dir/server.properties" >> "$dir/server.out" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  # A node that never became ready is not left behind.
  wait_ready || { stop; return 1; }
  echo "127.0.0.1:$port"
}

stop() {
  running || { rm -f "$pidfile"; return 0; }
  local pid deadline
  pid=$(cat "$pidfile")
  kill "$pid"
  deadline=$((SECONDS + ${STOP_TIMEOUT:-60}))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  rm -f "$pidfile"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running pid $(cat "$pidfile")"; else echo stopped; exit 1; fi ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# run-against-kafka.sh — run conformance tests against a real Apache Kafka
# node instead of highwater: start kafka-single.sh in a temporary directory,
# run `go test` with HIGHWATER_BOOTSTRAP pointing at it, stop it.
#
#   conformance/java/run-against-kafka.sh                       # stock-client tests
#   conformance/java/run-against-kafka.sh -run TestKcat -v      # any go test flags
#
# Env: KAFKA_PORT (default 39092; the controller takes the next port),
# plus everything kafka-single.sh reads (KAFKA_HEAP, KAFKA_PROPS, ...).
# Tests that must configure or restart their broker skip themselves on an
# external cluster. The exit status is go test's. For the whole suite against
# Kafka (every test, nodes configured per test) use `make test-kafka`, i.e.
# HIGHWATER_TARGET=kafka go test ./conformance; this script is for pointing
# the suite at one long-lived node, e.g. while debugging a difference.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${KAFKA_PORT:-39092}
dir=$(mktemp -d "${TMPDIR:-/tmp}/highwater-kafka-XXXXXX")
cleanup() { "$here/kafka-single.sh" stop "$dir" || true; rm -rf "$dir"; }
trap cleanup EXIT

bootstrap=$("$here/kafka-single.sh" start "$dir" "$port")
echo "run-against-kafka.sh: Apache Kafka at $bootstrap (logs in $dir/server.out)" >&2
[ $# -gt 0 ] || set -- -run 'TestKcat|TestKafkaPython|TestJava' -count=1
cd "$root"
status=0
HIGHWATER_BOOTSTRAP=$bootstrap go test ./conformance "$@" || status=$?
exit $status

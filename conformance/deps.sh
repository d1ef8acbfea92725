#!/usr/bin/env bash
# deps.sh — install what the stock-client conformance tests need on a fresh
# Debian 12 machine (root), then lay Apache Kafka's jars into the cache:
#
#   kcat                 librdkafka's CLI (kcat_test.go)
#   python3-kafka        kafka-python 2.0.2 (python_test.go), plus its codec
#   python3-snappy         libraries: snappy, lz4, zstd (gzip is built in)
#   python3-lz4
#   python3-zstandard
#   python3-venv         a venv outside git ($HIGHWATER_CACHE/py-kafka-python-
#                        <v>-confluent-kafka-<v>, the codec libraries above
#                        visible) holding kafka-python and confluent-kafka
#                        from PyPI, pinned below: kafka-python's
#                        transactional producer needs >= 2.1 and Debian has
#                        2.0.2 (python_txn_test.go)
#   chromium             headless browser: reports' report.html screenshot
#                        test (scripts/report-screenshot.sh)
#   java/fetch.sh        Kafka server + tools + clients jars (java_test.go,
#                        java/kafka-single.sh); needs Java 17 and Maven
#
# Idempotent: installed packages and a fetched cache are left as they are.
# Prints the Kafka lib directory last.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pkgs=(kcat python3-kafka python3-snappy python3-lz4 python3-zstandard python3-venv chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Transactional Python clients in their own venv; python_txn_test.go reads
# both versions from the lines below, so keep them plain assignments.
kafka_python_version=2.3.3
confluent_kafka_version=2.12.2
pyvenv="${HIGHWATER_CACHE:-$HOME/.cache/highwater}/py-kafka-python-$kafka_python_version-confluent-kafka-$confluent_kafka_version"
if ! "$pyvenv/bin/python" -c "import kafka, confluent_kafka, sys; sys.exit(kafka.__version__ != '$kafka_python_version' or confluent_kafka.__version__ != '$confluent_kafka_version')" 2>/dev/null; then
  rm -rf "$pyvenv"
  /usr/bin/python3 -m venv --system-site-packages "$pyvenv"
  # Binary wheels only: confluent-kafka's bundles librdkafka, so nothing
  # is compiled here.
  "$pyvenv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
    "kafka-python==$kafka_python_version" "confluent-kafka==$confluent_kafka_version" >&2
fi

command -v java >/dev/null || { echo "deps.sh: java not found (Java 17 needed)" >&2; exit 1; }
"$here/java/fetch.sh"

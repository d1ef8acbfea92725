#!/usr/bin/env bash
# deps.sh — install what the stock-client conformance tests need on a fresh
# Debian 12 machine (root), then lay Apache Kafka's jars into the cache:
#
#   kcat                 librdkafka's CLI (kcat_test.go)
#   python3-kafka        kafka-python 2.0.2 (python_test.go), plus its codec
#   python3-snappy         libraries: snappy, lz4, zstd (gzip is built in)
#   python3-lz4
#   python3-zstandard
#   chromium             headless browser: reports' report.html screenshot
#                        test (scripts/report-screenshot.sh)
#   java/fetch.sh        Kafka server + tools + clients jars (java_test.go,
#                        java/kafka-single.sh); needs Java 17 and Maven
#
# Idempotent: installed packages and a fetched cache are left as they are.
# Prints the Kafka lib directory last.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pkgs=(kcat python3-kafka python3-snappy python3-lz4 python3-zstandard chromium)
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

command -v java >/dev/null || { echo "deps.sh: java not found (Java 17 needed)" >&2; exit 1; }
"$here/java/fetch.sh"

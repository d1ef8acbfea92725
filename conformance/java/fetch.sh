#!/usr/bin/env bash
# fetch.sh — lay Apache Kafka's jars (server, tools, clients, log4j2 binding)
# into a cache directory outside git and print that lib/ directory.
#
#   conformance/java/fetch.sh            # prints e.g. ~/.cache/highwater/kafka-4.1.1/lib
#
# Idempotent: when the stamp written after a complete copy matches this pom,
# nothing runs (a second call costs a sha256sum). The copy goes to a temporary
# directory first and is renamed into place, so an interrupted fetch never
# leaves a half-filled lib/ that looks complete.
#
# Env: HIGHWATER_CACHE (default $HOME/.cache/highwater), MVN (default mvn).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pom="$here/pom.xml"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
[ -n "$version" ] || { echo "fetch.sh: no kafka.version in $pom" >&2; exit 1; }

cache=${HIGHWATER_CACHE:-$HOME/.cache/highwater}
dest="$cache/kafka-$version"
lib="$dest/lib"
stamp="$dest/.pom.sha256"
want=$(sha256sum "$pom" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$lib" ]; then
  echo "$lib"
  exit 0
fi

command -v "${MVN:-mvn}" >/dev/null || { echo "fetch.sh: maven (mvn) not found" >&2; exit 1; }
mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.lib.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# -B: no colour codes or progress in CI logs; runtime scope is what a JVM needs.
# Maven's output is shown only when it fails (3.8 prints stray colour codes
# even when quiet).
if ! "${MVN:-mvn}" -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$tmp" > "$tmp.log" 2>&1; then
  cat "$tmp.log" >&2
  rm -f "$tmp.log"
  echo "fetch.sh: maven could not resolve Kafka $version" >&2
  exit 1
fi
rm -f "$tmp.log"

rm -rf "$lib"
mv "$tmp" "$lib"
trap - EXIT
echo "$want" > "$stamp"
echo "$lib"

#!/usr/bin/env bash
# report-screenshot.sh — render a highwater report.html in headless Chromium
# (Debian package `chromium`, installed by conformance/deps.sh / make deps):
#
#   scripts/report-screenshot.sh RUN_DIR/report.html out.png [out.dom.html]
#
# Writes a full-page-width screenshot (1200 px wide, 3000 px tall by
# default; HIGHWATER_SCREENSHOT_SIZE=W,H to change) and, when a third
# argument is given, the DOM after the page loaded (chromium --dump-dom).
# The page is self-contained, so networking is not needed and is kept off.
# CHROMIUM names the binary (default: chromium, then chromium-browser).
# Exit status 3 when no Chromium is installed.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 REPORT.html OUT.png [OUT.dom.html]" >&2
  exit 2
fi
report=$(realpath "$1")
png=$2
dom=${3:-}
[ -f "$report" ] || { echo "report-screenshot.sh: $report: no such file" >&2; exit 2; }

bin=${CHROMIUM:-}
if [ -z "$bin" ]; then
  for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null; then bin=$c; break; fi
  done
fi
[ -n "$bin" ] || { echo "report-screenshot.sh: chromium not found (apt-get install chromium, or make deps)" >&2; exit 3; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --no-sandbox: Chromium refuses to run as root otherwise (CI runs as root).
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --disable-dev-shm-usage --hide-scrollbars "--user-data-dir=$profile")
size=${HIGHWATER_SCREENSHOT_SIZE:-1200,3000}

timeout 90 "$bin" "${flags[@]}" "--window-size=$size" "--screenshot=$(realpath -m "$png")" "file://$report" >/dev/null 2>&1
[ -s "$png" ] || { echo "report-screenshot.sh: no screenshot written" >&2; exit 1; }
if [ -n "$dom" ]; then
  timeout 90 "$bin" "${flags[@]}" --dump-dom "file://$report" >"$dom" 2>/dev/null
  [ -s "$dom" ] || { echo "report-screenshot.sh: empty DOM dump" >&2; exit 1; }
fi
echo "$png"

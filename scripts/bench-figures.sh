#!/usr/bin/env bash
# bench-figures.sh OUT_DIR — the figures issue 7 asks for, in one sitting on
# one machine: produce MB/s and p99 of the reference broker, Apache Kafka and
# kfake, single node and 3 nodes RF 3, closed loop and open loop at half the
# closed-loop rate; the capacity search of each; and the sizing that
# `highwater size --calibrate` gives for the published example from the
# reference cluster's capacity. Everything lands in OUT_DIR (JSON, Markdown,
# HTML, logs); a summary is printed at the end.
#
# Knobs (environment): RECORDS (closed-loop records per run, 1000000),
# ROUNDS (2), OPEN_SECONDS (open-loop duration, 20), PROBE_SECONDS
# (capacity probe, 5), ACKS (all).
set -euo pipefail
out=${1:?usage: bench-figures.sh OUT_DIR}
mkdir -p "$out"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
records=${RECORDS:-1000000}
rounds=${ROUNDS:-2}
open_s=${OPEN_SECONDS:-20}
probe_s=${PROBE_SECONDS:-5}
acks=${ACKS:-all}
bin="$out/highwater"
go build -o "$bin" ./cmd/highwater
bash conformance/java/fetch.sh >/dev/null

# half_rate JSON TARGET: half the median closed-loop records/s of TARGET.
half_rate() {
	python3 - "$1" "$2" <<'PY'
import json, statistics, sys
rep = json.load(open(sys.argv[1]))
rates = [r["publishRate"] for r in rep["results"] if r["driver"] == sys.argv[2] and not r.get("error")]
print(int(statistics.median(rates) / 2) if rates else 0)
PY
}

run_set() { # NAME TARGETS...
	local name=$1 targets=$2
	echo "== $name closed loop: $targets"
	"$bin" bench --compare "$targets" --records "$records" --rounds "$rounds" --acks "$acks" \
		--json "$out/$name-closed.json" --markdown "$out/$name-closed.md" --html "$out/$name-closed.html" \
		2>"$out/$name-closed.log" | tee "$out/$name-closed.txt" | sed -n '/^target/,$p'
	local base=${targets%%,*}
	local label=$base
	case $base in reference:*|kafka:*) label="${base%%:*}-${base##*:}" ;; esac
	[[ $label == reference:1 || $label == reference-1 ]] && label=reference
	[[ $label == kafka-1 ]] && label=kafka
	local rate
	rate=$(half_rate "$out/$name-closed.json" "$label")
	if [[ $rate -le 0 ]]; then echo "no closed-loop rate for $label; skipping the open loop"; return; fi
	echo "== $name open loop at $rate records/s (half of $label's closed loop)"
	"$bin" bench --compare "$targets" --rate "$rate" --duration "${open_s}s" --rounds "$rounds" --acks "$acks" \
		--json "$out/$name-open.json" --markdown "$out/$name-open.md" --html "$out/$name-open.html" \
		2>"$out/$name-open.log" | tee "$out/$name-open.txt" | sed -n '/^target/,$p'
}

run_set single "reference:1,kafka:1,kfake"
run_set cluster "reference:3,kafka:3"

for t in reference:1 kafka:1 kfake reference:3 kafka:3; do
	f=${t/:/-}
	echo "== capacity search: $t"
	"$bin" bench --capacity --target "$t" --duration "${probe_s}s" --warmup 1s --acks "$acks" \
		--json "$out/capacity-$f.json" --calibration-out "$out/calibration-$f.json" \
		2>"$out/capacity-$f.log" | tee "$out/capacity-$f.txt" | tail -4 || echo "capacity search on $t failed (see $out/capacity-$f.log)"
done

if [[ -s $out/calibration-reference-3.json ]]; then
	echo "== highwater size --calibrate (reference cluster's capacity), the published example's workload"
	"$bin" size --calibrate "$out/calibration-reference-3.json" | tee "$out/size-calibrated.txt"
fi

package conformance

// Stock-client conformance, kafka-python side (Debian python3-kafka 2.0.2):
// python/kafka_python_check.py produces with each codec, consumes in a
// group, commits, and resumes from the commit; this test checks its JSON.
//
// kafka-python 2.0.2 picks its protocol versions from ApiVersions: it maps
// the advertised ranges to a broker version (DescribeAcls v2 -> 2.5.0,
// Produce v8 -> 2.4.0, Fetch v11 -> 2.3.0, ...). Against Apache Kafka 4.1 it
// detects 2.5.0 and works, so the test uses detection rather than pinning;
// HIGHWATER_PY_API_VERSION=2.5.0 pins it for diagnosis.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pyRecords is how many records each codec run produces.
const pyRecords = 200

// pyResult mirrors the JSON printed by kafka_python_check.py.
type pyResult struct {
	KafkaPython string             `json:"kafka_python"`
	Python      string             `json:"python"`
	Available   map[string]bool    `json:"available"`
	Codecs      map[string]pyCodec `json:"codecs"`
}

type pyCodec struct {
	Topic                string  `json:"topic"`
	ProducerAPIVersion   []int   `json:"producer_api_version"`
	ConsumerAPIVersion   []int   `json:"consumer_api_version"`
	ProducedOffsets      []int64 `json:"produced_offsets"`
	Consumed             [][]any `json:"consumed"`
	Committed            *int64  `json:"committed"`
	Resumed              [][]any `json:"resumed"`
	CommittedAfterResume *int64  `json:"committed_after_resume"`
	Error                string  `json:"error"`
	Traceback            string  `json:"traceback"`
}

// pyCodecs are kafka-python's compression_type values.
var pyCodecs = []string{"gzip", "snappy", "lz4", "zstd"}

// pyInterpreter finds a python3 that can import kafka: HIGHWATER_PYTHON,
// else Debian's /usr/bin/python3 (where python3-kafka installs; a pyenv
// python3 earlier on PATH would not see it), else python3 on PATH.
func pyInterpreter(t *testing.T) string {
	t.Helper()
	cands := []string{"/usr/bin/python3", "python3"}
	if p := os.Getenv("HIGHWATER_PYTHON"); p != "" {
		cands = []string{p}
	}
	for _, c := range cands {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = exec.CommandContext(ctx, p, "-c", "import kafka").Run()
		cancel()
		if err == nil {
			return p
		}
	}
	stockMissing(t, "no python3 among %v can import kafka (Debian python3-kafka)", cands)
	return ""
}

func TestKafkaPythonCodecsAndGroup(t *testing.T) {
	py := pyInterpreter(t)
	script, err := filepath.Abs(filepath.Join("python", "kafka_python_check.py"))
	if err != nil {
		t.Fatal(err)
	}
	tgt := newTarget(t, nil)
	prefix := stockTopic(t, "kpy")
	var topics []string
	for _, c := range pyCodecs {
		topics = append(topics, prefix+"-"+c)
	}
	stockCreateTopics(t, tgt.Bootstrap, 1, topics...)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := []string{script, "--bootstrap", tgt.Bootstrap, "--prefix", prefix,
		"--count", fmt.Sprint(pyRecords), "--timeout", "30"}
	if l := os.Getenv("HIGHWATER_PY_LOG"); l != "" { // e.g. DEBUG: kafka-python's protocol log
		args = append(args, "--log-level", l)
	}
	if v := os.Getenv("HIGHWATER_PY_API_VERSION"); v != "" {
		args = append(args, "--api-version", v)
	}
	out, stderr, err := stockRun(ctx, t, nil, py, args...)
	if err != nil {
		t.Fatalf("kafka_python_check.py: %v\nstderr:\n%s", err, stockTail(stderr, 40))
	}
	var res pyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr:\n%s", err, out, stockTail(stderr, 40))
	}
	t.Logf("kafka-python %s on python %s, codec libraries %v", res.KafkaPython, res.Python, res.Available)

	for _, codec := range pyCodecs {
		t.Run(codec, func(t *testing.T) {
			if !res.Available[codec] {
				stockMissing(t, "kafka-python cannot import the %s library (Debian python3-snappy / python3-lz4 / python3-zstandard)", codec)
			}
			pyCheckCodec(t, codec, res.Codecs[codec])
		})
	}
	if t.Failed() {
		t.Logf("stderr of the script:\n%s", stockTail(stderr, 40))
	}
}

// pyCheckCodec checks one codec's round trip: every record acknowledged at
// consecutive offsets, consumed back in order and unaltered, the commit
// equal to the next offset, and a new group member resuming there.
func pyCheckCodec(t *testing.T, codec string, r pyCodec) {
	t.Helper()
	if r.Error != "" {
		t.Fatalf("%s\n%s", r.Error, r.Traceback)
	}
	t.Logf("api_version detected: producer %v, consumer %v", r.ProducerAPIVersion, r.ConsumerAPIVersion)
	if len(r.ProducedOffsets) != pyRecords+1 {
		t.Fatalf("%d produce acks, want %d", len(r.ProducedOffsets), pyRecords+1)
	}
	for i, off := range r.ProducedOffsets {
		if off != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d, want %d (a fresh single-partition topic assigns dense offsets)", i, off, i)
		}
	}
	if len(r.Consumed) != pyRecords {
		t.Fatalf("consumed %d records, want %d", len(r.Consumed), pyRecords)
	}
	for i, rec := range r.Consumed {
		want := []any{fmt.Sprintf("k%04d", i), pyValue(codec, i), float64(i)}
		if fmt.Sprint(rec) != fmt.Sprint(want) {
			t.Fatalf("consumed record %d = %v, want %v", i, rec, want)
		}
	}
	if r.Committed == nil || *r.Committed != pyRecords {
		t.Fatalf("committed offset %v, want %d", pyDeref(r.Committed), pyRecords)
	}
	want := []any{fmt.Sprintf("k%04d", pyRecords), pyValue(codec, pyRecords), float64(pyRecords)}
	if len(r.Resumed) != 1 || fmt.Sprint(r.Resumed[0]) != fmt.Sprint(want) {
		t.Fatalf("new group member read %v, want only %v (it must resume from the committed offset)", r.Resumed, want)
	}
	if r.CommittedAfterResume == nil || *r.CommittedAfterResume != pyRecords+1 {
		t.Fatalf("committed offset after resume %v, want %d", pyDeref(r.CommittedAfterResume), pyRecords+1)
	}
}

// pyValue is the value kafka_python_check.py sends for record i.
func pyValue(codec string, i int) string {
	v := fmt.Sprintf("%s-v%04d", codec, i)
	return v + v + v + v
}

func pyDeref(p *int64) any {
	if p == nil {
		return "none"
	}
	return *p
}

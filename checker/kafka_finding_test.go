package checker

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gunzipHistory writes testdata/name (gzip) as dir/history.jsonl.
func gunzipHistory(t *testing.T, name, dir string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "history.jsonl")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRealHighWatermarkLagAfterFailover re-checks three real histories where,
// after a leader was killed, the new leader's consumer Fetch answered a high
// watermark one below an offset the old leader had acknowledged, until it
// committed a record of its own epoch:
//
//   - Apache Kafka 4.1.1, 3 nodes, RF 3, min ISR 2, acks=all (BUGS.md #8):
//     highwater chaos --impl kafka --nodes 3 --seed 20261128 --duration 1m0s
//     --rate 100 --partitions 4 --faults kill,pause
//   - the reference cluster, same settings (BUGS.md #11): highwater chaos
//     --impl reference --nodes 3 --duration 60s --faults
//     kill,pause,restart,stop --seed 42
//   - the reference cluster during a 17 s rolling restart (window 6,
//     49.29–66.67 s), whose leader change came 9 s into the window: fetch
//     op#7763 at 58.37 s reported hw 569 after offset 569 was acknowledged
//     (BUGS.md #11): highwater chaos --impl reference --nodes 3 --seed 11
//     --duration 1m0s --rate 200 --partitions 4 --faults
//     kill,pause,restart,stop
//
// Nothing was lost. By default that is valid with a
// stale-high-watermark-after-failover finding; with StrictHighWatermark it
// is not linearizable, naming the lagging fetch.
func TestRealHighWatermarkLagAfterFailover(t *testing.T) {
	for _, c := range []struct {
		file, partition, staleFetch string
	}{
		{"kafka-hw-lag-after-failover.jsonl.gz", "highwater-queue-2", "hw=86"},
		{"reference-hw-lag-after-kill.jsonl.gz", "highwater-queue-1", "hw=288"},
		{"reference-hw-lag-rolling-restart.jsonl.gz", "highwater-queue-2", "hw=569"},
	} {
		t.Run(c.file, func(t *testing.T) {
			dir := t.TempDir()
			path := gunzipHistory(t, c.file, dir)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := Check(ctx, path, dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.Valid != Valid {
				t.Fatalf("verdict %v, want valid:\n%s", s.Valid, s.Text())
			}
			f := findingOf(s, StaleHighWatermark)
			if f == nil || f.Topic+"-"+itoa(f.Partition) != c.partition || len(f.Ops) < 2 || f.End <= f.Start {
				t.Fatalf("want a %s finding on %s with its span and ops:\n%s", StaleHighWatermark, c.partition, s.Text())
			}
			if !strings.Contains(s.Text(), StaleHighWatermark) {
				t.Errorf("summary does not show the finding:\n%s", s.Text())
			}

			strict, err := CheckWith(ctx, path, t.TempDir(), Options{StrictHighWatermark: true})
			if err != nil {
				t.Fatal(err)
			}
			if strict.Valid != Invalid {
				t.Fatalf("strict verdict %v, want invalid:\n%s", strict.Valid, strict.Text())
			}
			if text := strict.Text(); !strings.Contains(text, NotLinearizable) || !strings.Contains(text, c.partition) || !strings.Contains(text, c.staleFetch) {
				t.Errorf("strict: want the lagging fetch (%s) on %s named:\n%s", c.staleFetch, c.partition, text)
			}
		})
	}
}

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

// TestKafkaHighWatermarkLagAfterFailover re-checks a real history from
// Apache Kafka 4.1.1 (3 nodes, kill -9 and pause; BUGS.md #8): after a
// leader is killed, the new leader's high watermark sits below an offset the
// old leader had acknowledged until it commits in its own epoch, so a fetch
// started after the acknowledgement does not see the record. Under this
// checker's model (a fetch's high watermark is the log's length) that is not
// linearizable, and it must stay detected.
func TestKafkaHighWatermarkLagAfterFailover(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "kafka-hw-lag-after-failover.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Check(ctx, path, dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Valid != Invalid {
		t.Fatalf("verdict %v, want invalid:\n%s", s.Valid, s.Text())
	}
	if text := s.Text(); !strings.Contains(text, "not-linearizable") || !strings.Contains(text, "highwater-queue-2") {
		t.Errorf("expected the high-watermark lag on highwater-queue-2:\n%s", text)
	}
}

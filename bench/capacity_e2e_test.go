package bench_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/bench"
	"github.com/highwater-io/highwater/internal/brokerproc"
	"github.com/highwater-io/highwater/sizing"
)

// TestCapacityReferenceCalibrates runs a short capacity search against a
// reference broker process and checks that sizing accepts the calibration
// it writes. Probes are 600 ms at rates far below what the broker can do,
// capped so that the search ends after three passing probes: this tests
// the plumbing, not the broker. The pass bars are loose for the same
// reason: with the default ones (sent ratio 0.995, p99 200 ms) a loaded
// two-core machine failed the 4000/s probe at a 0.9939 ratio, and the
// search bisected into seven probes.
func TestCapacityReferenceCalibrates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := brokerproc.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	target := bench.ProcTarget{TargetName: "reference", Binary: bin, WorkDir: t.TempDir()}
	w := bench.DefaultWorkload()
	w.Duration, w.Warmup, w.Partitions = 600*time.Millisecond, 100*time.Millisecond, 3
	cfg := bench.DefaultCapacityConfig()
	cfg.StartRatePerSec, cfg.StepFactor, cfg.MaxRatePerSec = 1000, 2, 4000
	cfg.MinSentRatio, cfg.P99Bound = 0.5, 10*time.Second
	var log strings.Builder
	res, err := bench.FindCapacity(ctx, target, w, cfg, bench.RunOptions{Log: &log})
	if err != nil {
		t.Fatalf("FindCapacity: %v\n%s", err, log.String())
	}
	t.Log(log.String())
	if !res.Found || len(res.Probes) != 3 || res.Brokers != 1 || res.MBPerSec <= 0 || res.ConsumeMBPerSec <= 0 {
		t.Fatalf("result %+v", res)
	}
	if res.CoresUsed <= 0 || math.Abs(res.MBPerSecPerCore*res.CoresUsed-res.MBPerSec) > 1e-6*res.MBPerSec {
		t.Errorf("per-core figures: %v cores, %v MB/s per core", res.CoresUsed, res.MBPerSecPerCore)
	}
	cal, err := res.Calibration("local", 2, w, time.Now(), "test")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := cal.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "calibration.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := sizing.ParseCalibration(data)
	if err != nil {
		t.Fatalf("sizing rejects bench's calibration: %v\n%s", err, data)
	}
	if parsed.ProduceMBps != res.MBPerSec || parsed.Partitions != 3 || parsed.Schema != sizing.CalibrationSchema {
		t.Errorf("parsed %+v", parsed)
	}
	cat, err := sizing.DefaultCatalog()
	if err != nil {
		t.Fatal(err)
	}
	// The measurement is far below the broker's capacity, so the example
	// may need more brokers than the catalogue holds: any answer but a bad
	// calibration will do.
	if _, err := sizing.Size(sizing.ExampleWorkload(), cat, sizing.Options{Calibration: &parsed}); errors.Is(err, sizing.ErrCalibration) {
		t.Errorf("sizing cannot use the calibration: %v", err)
	}
}

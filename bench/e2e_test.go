package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/internal/brokerproc"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// highwaterBinary builds ./cmd/highwater once per test binary.
func highwaterBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "bench-test-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		binPath, buildErr = brokerproc.Build(ctx, buildDir)
	})
	if buildErr != nil {
		t.Fatalf("build highwater: %v", buildErr)
	}
	return binPath
}

// TestEndToEndReference runs a small closed-loop and open-loop workload
// against a reference broker process: every acknowledged record is read
// back, and the figures are non-zero and consistent. No timing is asserted.
func TestEndToEndReference(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker process")
	}
	// Kafka's default 3 s initial rebalance delay would make the group
	// cases slow without testing anything more.
	target := ProcTarget{TargetName: "reference", Binary: highwaterBinary(t), WorkDir: t.TempDir(),
		Properties: map[string]string{"group.initial.rebalance.delay.ms": "0"}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	closed := DefaultWorkload()
	closed.Records, closed.Warmup, closed.Partitions = 5000, 0, 3
	open := closed
	open.RatePerSec, open.Duration, open.Records = 2000, time.Second, 0
	open.Warmup = 200 * time.Millisecond
	open.Producers = 2
	e2e := open
	e2e.EndToEnd = true
	group := closed
	group.Consumers = 3
	groupE2E := e2e
	groupE2E.Consumers = 2

	for _, tc := range []struct {
		name string
		w    Workload
		want int64
	}{{"closed", closed, 5000}, {"open", open, 2000}, {"end-to-end", e2e, 2000},
		{"group", group, 5000}, {"group end-to-end", groupE2E, 2000}} {
		t.Run(tc.name, func(t *testing.T) {
			var log strings.Builder
			r, err := RunOnce(ctx, target, tc.w, 1, RunOptions{Log: &log})
			if err != nil {
				t.Fatalf("RunOnce: %v\n%s", err, log.String())
			}
			p, c := r.Produce, r.Consume
			if p.TotalRecords != tc.want || p.Errors != 0 {
				t.Errorf("produced %d (errors %d), want %d", p.TotalRecords, p.Errors, tc.want)
			}
			if c.Records != p.TotalRecords || c.Bytes != p.TotalBytes {
				t.Errorf("consumed %d records / %d bytes, produced %d / %d", c.Records, c.Bytes, p.TotalRecords, p.TotalBytes)
			}
			if p.TotalBytes != tc.want*int64(tc.w.RecordBytes) {
				t.Errorf("produced bytes %d", p.TotalBytes)
			}
			if p.Records <= 0 || p.Records > p.TotalRecords || p.RecordsPerSec <= 0 || p.MBPerSec <= 0 || c.MBPerSec <= 0 {
				t.Errorf("rates: produce %+v consume %+v", p, c)
			}
			if l := p.Latency; l.Count <= 0 || l.MaxMs < l.P99Ms || l.P99Ms < l.P50Ms || l.AvgMs <= 0 {
				t.Errorf("latency summary inconsistent: %+v", l)
			}
			if p.Wire.Requests <= 0 || p.Wire.Bytes < p.TotalBytes || c.Wire.Requests <= 0 || c.Wire.Bytes < c.Bytes {
				t.Errorf("wire counts: produce %+v consume %+v", p.Wire, c.Wire)
			}
			if !r.Measured || r.Broker.PeakRSSBytes <= 0 || r.Broker.CPUSeconds < 0 || r.Broker.Processes != 1 {
				t.Errorf("broker resources: measured %v %+v", r.Measured, r.Broker)
			}
			if e := c.EndToEnd; (e.Count > 0) != tc.w.EndToEnd || e.MaxMs < e.P50Ms {
				t.Errorf("end-to-end latency %+v, want it exactly when measured", e)
			}
			if tc.w.Consumers > 1 {
				var sum int64
				for _, n := range c.Members {
					sum += n
				}
				if len(c.Members) != tc.w.Consumers || sum != c.Records || c.Group == "" {
					t.Errorf("group %q members %v (sum %d), want %d members summing to %d", c.Group, c.Members, sum, tc.w.Consumers, c.Records)
				}
			} else if c.Group != "" || c.Members != nil {
				t.Errorf("single reader reported group %q members %v", c.Group, c.Members)
			}
			if tc.w.RatePerSec > 0 && (p.TargetRate != 2000 || !p.WarmupExcluded) {
				t.Errorf("open loop: target rate %v, warm-up excluded %v", p.TargetRate, p.WarmupExcluded)
			}
			t.Log(ProducerLine(p))
			t.Log(ConsumerLine(c))
		})
	}
	entries, err := os.ReadDir(target.WorkDir)
	if err != nil || len(entries) != 0 {
		t.Errorf("run directories left behind: %v %v", entries, err)
	}
}

// TestCompareRecordsFailures: a target that cannot start is recorded and
// the comparison goes on.
func TestCompareRecordsFailures(t *testing.T) {
	bad := ProcTarget{TargetName: "missing", Binary: "/nonexistent/highwater", WorkDir: t.TempDir()}
	w := DefaultWorkload()
	w.Records = 1
	var perRun []string
	runs, err := Compare(context.Background(), []Target{bad}, w, 2, RunOptions{}, func(r RunResult) {
		perRun = append(perRun, fmt.Sprintf("%s/%d", r.Target, r.Round))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].OK() || strings.Join(perRun, ",") != "missing/1,missing/2" {
		t.Errorf("runs = %+v, perRun %v", runs, perRun)
	}
	if _, err := Compare(context.Background(), nil, w, 1, RunOptions{}, nil); err == nil {
		t.Error("no targets accepted")
	}
}

// TestAddressTargetCleansUp: against someone else's broker, the generated
// topic is deleted after the run.
func TestAddressTargetCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inst, err := ProcTarget{TargetName: "reference", Binary: highwaterBinary(t), WorkDir: t.TempDir()}.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop()
	w := DefaultWorkload()
	w.Records, w.Warmup, w.Partitions = 100, 0, 1
	r, err := RunOnce(ctx, AddressTarget{Addr: inst.Bootstrap()}, w, 1, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Measured || r.Consume.Records != 100 {
		t.Errorf("address run: measured %v, consumed %d", r.Measured, r.Consume.Records)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(inst.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has(r.Topic) {
		t.Errorf("topic %s left behind", r.Topic)
	}
}

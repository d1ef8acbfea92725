package bench

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestLatencyHistSummary(t *testing.T) {
	h := NewLatencyHist()
	if got := h.Summary(); got != (LatencySummary{}) {
		t.Fatalf("empty summary = %+v", got)
	}
	// 1..1000 ms: percentiles are known to within HdrHistogram's 0.1 %.
	for ms := 1; ms <= 1000; ms++ {
		h.Record(time.Duration(ms) * time.Millisecond)
	}
	s := h.Summary()
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > want*0.002+0.001 {
			t.Errorf("%s = %v, want ~%v", name, got, want)
		}
	}
	if s.Count != 1000 {
		t.Errorf("count = %d", s.Count)
	}
	near("avg", s.AvgMs, 500.5)
	near("max", s.MaxMs, 1000)
	near("p50", s.P50Ms, 500)
	near("p95", s.P95Ms, 950)
	near("p99", s.P99Ms, 990)
	near("p99.9", s.P999Ms, 999)
}

func TestLatencyHistClamps(t *testing.T) {
	h := NewLatencyHist()
	h.Record(-time.Second)
	h.Record(2 * time.Hour)
	s := h.Summary()
	if s.Count != 2 {
		t.Fatalf("count = %d, want both samples kept", s.Count)
	}
	if s.MaxMs < float64(time.Hour/time.Millisecond)*0.999 {
		t.Errorf("max = %v ms, want clamped to an hour", s.MaxMs)
	}
	other := NewLatencyHist()
	other.Record(time.Millisecond)
	h.Merge(other)
	h.Merge(nil)
	if h.Count() != 3 {
		t.Errorf("after merge count = %d", h.Count())
	}
}

func TestSchedule(t *testing.T) {
	s := NewSchedule(t0, 1000) // one every millisecond
	if !s.Open() || s.Interval != time.Millisecond {
		t.Fatalf("schedule = %+v", s)
	}
	tests := []struct {
		at   time.Duration
		want int64
	}{
		{-time.Nanosecond, 0},
		{0, 1},
		{999 * time.Microsecond, 1},
		{time.Millisecond, 2},
		{time.Second, 1001},
	}
	for _, tt := range tests {
		if got := s.DueBy(t0.Add(tt.at)); got != tt.want {
			t.Errorf("DueBy(+%v) = %d, want %d", tt.at, got, tt.want)
		}
	}
	if got := s.IntendedAt(250); !got.Equal(t0.Add(250 * time.Millisecond)) {
		t.Errorf("IntendedAt(250) = %v", got)
	}
	for _, rate := range []float64{0, -1, math.NaN(), math.Inf(1), 2e9} {
		if z := NewSchedule(t0, rate); z.Open() || z.DueBy(t0.Add(time.Hour)) != 0 {
			t.Errorf("rate %v gave an open schedule %+v", rate, z)
		}
	}
}

// TestScheduleProperty: record i is due exactly from IntendedAt(i) on, so
// the driver never sends early and never skips one.
func TestScheduleProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rate := rapid.Float64Range(0.5, 1e6).Draw(t, "rate")
		i := rapid.Int64Range(0, 1e7).Draw(t, "i")
		s := NewSchedule(t0, rate)
		at := s.IntendedAt(i)
		if got := s.DueBy(at); got != i+1 {
			t.Fatalf("DueBy(IntendedAt(%d)) = %d", i, got)
		}
		if got := s.DueBy(at.Add(-1)); got != i {
			t.Fatalf("DueBy(IntendedAt(%d)-1ns) = %d", i, got)
		}
	})
}

func TestRecorderWarmupAndRates(t *testing.T) {
	r := NewRecorder(t0, time.Second)
	// Warm-up: sent and acked before 1 s, excluded from everything but the
	// totals.
	r.Ack(t0, t0.Add(500*time.Millisecond), 100, nil)
	// Sent during warm-up, acked after: counts for throughput, not latency.
	r.Ack(t0.Add(900*time.Millisecond), t0.Add(1100*time.Millisecond), 100, nil)
	// Measured: sent and acked after the warm-up, latency 10 ms.
	for i := range 8 {
		sent := t0.Add(time.Second + time.Duration(i)*100*time.Millisecond)
		r.Ack(sent, sent.Add(10*time.Millisecond), 100, nil)
	}
	r.Ack(t0.Add(2*time.Second), t0.Add(2*time.Second), 100, errors.New("boom"))
	res := r.Result()
	if res.TotalRecords != 10 || res.TotalBytes != 1000 {
		t.Errorf("totals = %d records %d bytes, want 10 / 1000", res.TotalRecords, res.TotalBytes)
	}
	if res.Records != 9 || res.Bytes != 900 {
		t.Errorf("window = %d records %d bytes, want 9 / 900", res.Records, res.Bytes)
	}
	// Window: 1 s to the last ack at 1.71 s.
	if math.Abs(res.Seconds-0.71) > 1e-9 || math.Abs(res.RecordsPerSec-9/0.71) > 1e-6 {
		t.Errorf("seconds = %v, rate = %v", res.Seconds, res.RecordsPerSec)
	}
	if want := 900.0 / bytesPerMB / 0.71; math.Abs(res.MBPerSec-want) > 1e-9 {
		t.Errorf("MB/s = %v, want %v", res.MBPerSec, want)
	}
	if res.Latency.Count != 8 || math.Abs(res.Latency.MaxMs-10) > 0.01 {
		t.Errorf("latency = %+v, want 8 samples of 10 ms", res.Latency)
	}
	if res.Errors != 1 || res.FirstError != "boom" || !res.WarmupExcluded {
		t.Errorf("errors = %d %q, warm-up excluded %v", res.Errors, res.FirstError, res.WarmupExcluded)
	}
	if r.Acked() != 10 {
		t.Errorf("Acked = %d", r.Acked())
	}
}

func TestRecorderShortRunFallsBack(t *testing.T) {
	r := NewRecorder(t0, time.Minute)
	r.Ack(t0, t0.Add(time.Second), 10, nil)
	r.Ack(t0, t0.Add(2*time.Second), 10, nil)
	res := r.Result()
	if res.WarmupExcluded || res.Records != 2 || res.Seconds != 2 || res.Latency.Count != 2 {
		t.Errorf("short run = %+v, want the whole run reported", res)
	}
	if empty := NewRecorder(t0, 0).Result(); empty.Records != 0 || empty.MBPerSec != 0 {
		t.Errorf("empty = %+v", empty)
	}
}

func TestProducerPlan(t *testing.T) {
	w := DefaultWorkload()
	w.Records, w.Producers = 10, 3
	var sum int64
	for i := range 3 {
		p := producerPlan(w, i, t0)
		sum += p.records
		if p.sched.Open() || !p.deadline.IsZero() {
			t.Errorf("closed count plan %d = %+v", i, p)
		}
	}
	if sum != 10 {
		t.Errorf("records split sums to %d", sum)
	}
	// Open loop over a duration: a fixed count per producer.
	w.RatePerSec, w.Duration = 3000, 2*time.Second
	for i := range 3 {
		p := producerPlan(w, i, t0)
		if p.records != 2000 || !p.deadline.IsZero() || p.sched.Interval != time.Millisecond {
			t.Errorf("open plan %d = %+v, want 2000 records 1 ms apart", i, p)
		}
	}
	w.RatePerSec = 0
	if p := producerPlan(w, 0, t0); p.records != 0 || !p.deadline.Equal(t0.Add(2*time.Second)) {
		t.Errorf("closed duration plan = %+v", p)
	}
}

func TestWorkloadValidate(t *testing.T) {
	if err := DefaultWorkload().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	bad := DefaultWorkload()
	bad.Acks, bad.Compression, bad.Partitions, bad.Records = "2", "brotli", 0, 0
	err := bad.Validate()
	if !errors.Is(err, ErrBadWorkload) {
		t.Fatalf("Validate = %v", err)
	}
	for _, want := range []string{"acks", "compression", "partitions", "record count"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	w := DefaultWorkload()
	w.EndToEnd, w.Consume = true, false
	if err := w.Validate(); err == nil {
		t.Error("end-to-end without a consumer accepted")
	}
	w = DefaultWorkload()
	w.Duration, w.Warmup = time.Second, time.Second
	if err := w.Validate(); err == nil {
		t.Error("warm-up as long as the duration accepted")
	}
	for _, c := range []string{"none", "GZIP", "snappy", "lz4", "zstd"} {
		w := DefaultWorkload()
		w.Compression = c
		if err := w.Validate(); err != nil {
			t.Errorf("compression %s: %v", c, err)
		}
	}
}

func TestPayloads(t *testing.T) {
	a, b := Payloads(7, 4, 32), Payloads(7, 4, 32)
	for i := range a {
		if string(a[i]) != string(b[i]) || len(a[i]) != 32 || strings.Trim(string(a[i]), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Fatalf("payload %d = %q vs %q", i, a[i], b[i])
		}
	}
	if string(a[0]) == string(a[1]) {
		t.Error("variants are identical")
	}
}

func TestSpreadAndSummarise(t *testing.T) {
	if s := NewSpread([]float64{3, 1, 2}); s != (Spread{Median: 2, Min: 1, Max: 3, N: 3}) {
		t.Errorf("odd spread = %+v", s)
	}
	if s := NewSpread([]float64{4, 1, 2, 3}); s.Median != 2.5 {
		t.Errorf("even median = %v", s.Median)
	}
	if s := NewSpread(nil); s != (Spread{}) {
		t.Errorf("empty spread = %+v", s)
	}
	run := func(target string, round int, prodMB, consMB, cpu float64, rss int64) RunResult {
		return RunResult{Target: target, Round: round, Measured: true,
			Produce: ProduceResult{MBPerSec: prodMB, Latency: LatencySummary{P99Ms: 5}},
			Consume: ConsumeResult{Records: 1, MBPerSec: consMB},
			Broker:  ProcStats{PeakRSSBytes: rss, CPUSeconds: cpu, WriteBytes: 10}}
	}
	runs := []RunResult{
		run("a", 1, 100, 200, 10, 50), run("b", 1, 50, 100, 30, 500),
		run("a", 2, 120, 220, 12, 60), run("b", 2, 60, 110, 20, 400),
		run("a", 3, 110, 210, 11, 55), {Target: "b", Round: 3, Err: "no java"},
	}
	sums := Summarise(runs)
	if len(sums) != 2 || sums[0].Target != "a" || sums[1].Target != "b" {
		t.Fatalf("order = %+v", sums)
	}
	a, b := sums[0], sums[1]
	if a.ProduceMBps != (Spread{Median: 110, Min: 100, Max: 120, N: 3}) || a.PeakRSSBytes != 60 {
		t.Errorf("a = %+v", a)
	}
	if b.Failed != 1 || b.FirstError != "no java" || b.ProduceMBps.Median != 55 || b.ConsumeMBps.Median != 105 {
		t.Errorf("b = %+v", b)
	}
	if math.Abs(b.ProduceRatio-0.5) > 1e-9 || math.Abs(b.ConsumeRatio-0.5) > 1e-9 ||
		math.Abs(b.RSSRatio-500.0/60) > 1e-9 || math.Abs(b.CPURatio-25.0/11) > 1e-9 || a.ProduceRatio != 1 {
		t.Errorf("ratios a=%v b=%v/%v/%v/%v", a.ProduceRatio, b.ProduceRatio, b.ConsumeRatio, b.RSSRatio, b.CPURatio)
	}
	var out strings.Builder
	if err := WriteTable(&out, sums); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"110.0 (100.0–120.0)", "2 (1 failed)", "b: no java", "0.50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	rep := NewReport(t0, DefaultWorkload(), runs)
	if len(rep.Results) != 6 || rep.Results[0].PublishThroughputMBs != 100 || rep.Results[5].Error != "no java" {
		t.Errorf("report results = %+v", rep.Results)
	}
	var js strings.Builder
	if err := rep.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"aggregatedPublishLatency99pct": 5`) {
		t.Errorf("json (%v):\n%s", err, js.String())
	}
}

func TestLines(t *testing.T) {
	p := ProducerLine(ProduceResult{Records: 10, RecordsPerSec: 5, MBPerSec: 1.5,
		Latency: LatencySummary{AvgMs: 1, MaxMs: 9, P50Ms: 1, P95Ms: 2, P99Ms: 3, P999Ms: 4}})
	want := "10 records sent, 5.0 records/sec (1.50 MB/sec), 1.00 ms avg latency, 9.00 ms max latency, 1.00 ms 50th, 2.00 ms 95th, 3.00 ms 99th, 4.00 ms 99.9th."
	if p != want {
		t.Errorf("ProducerLine =\n%s\nwant\n%s", p, want)
	}
	c := ConsumerLine(consumeRate(2048, 2*bytesPerMB, 2*time.Second, 15*time.Millisecond))
	if want := "2048 records consumed, 1024.0 records/sec (1.00 MB/sec), 2.00 MB in 2.00 s, 15.0 ms to first record."; c != want {
		t.Errorf("ConsumerLine = %s", c)
	}
	withE2E := consumeRate(1, 1, time.Second, 0)
	withE2E.EndToEnd = LatencySummary{Count: 1, AvgMs: 2, MaxMs: 3, P50Ms: 2, P95Ms: 3, P99Ms: 3, P999Ms: 3}
	if c := ConsumerLine(withE2E); !strings.HasSuffix(c, " End to end: 2.00 ms avg latency, 3.00 ms max latency, 2.00 ms 50th, 3.00 ms 95th, 3.00 ms 99th, 3.00 ms 99.9th.") {
		t.Errorf("ConsumerLine with end-to-end = %s", c)
	}
}

func TestReadProcStatsSelf(t *testing.T) {
	st, err := ReadProcStats("/proc", os.Getpid())
	if errors.Is(err, ErrNoProc) {
		t.Skip("no /proc here")
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.PeakRSSBytes <= 0 || st.Processes < 1 || st.CPUSeconds < 0 {
		t.Errorf("self stats = %+v", st)
	}
	if _, err := ReadProcStats("/proc", 0); !errors.Is(err, ErrNoProc) {
		t.Errorf("pid 0: %v", err)
	}
	d := ProcStats{CPUSeconds: 3, WriteBytes: 10, PeakRSSBytes: 7}.Sub(ProcStats{CPUSeconds: 1, WriteBytes: 4, PeakRSSBytes: 5})
	if d.CPUSeconds != 2 || d.WriteBytes != 6 || d.PeakRSSBytes != 7 {
		t.Errorf("Sub = %+v", d)
	}
	if d := (ProcStats{WriteBytes: -1}).Sub(ProcStats{}); d.WriteBytes != -1 {
		t.Errorf("unknown writes became %d", d.WriteBytes)
	}
}

func TestProcParsers(t *testing.T) {
	f := statFields([]byte("42 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 150 50 3 2 20 0"))
	if len(f) < 15 || f[1] != "1" || f[11] != "150" {
		t.Fatalf("statFields = %q", f)
	}
	if v, ok := statusKB([]byte("Name:\tx\nVmHWM:\t  1234 kB\n"), "VmHWM:"); !ok || v != 1234 {
		t.Errorf("statusKB = %d %v", v, ok)
	}
	if _, ok := statusKB([]byte("VmRSS: 1 kB\n"), "VmHWM:"); ok {
		t.Error("statusKB found a missing key")
	}
	if v, ok := ioField([]byte("rchar: 1\nwrite_bytes: 4096\n"), "write_bytes:"); !ok || v != 4096 {
		t.Errorf("ioField = %d %v", v, ok)
	}
}

func TestProcessCPUSecondsSelf(t *testing.T) {
	own, err := ProcessCPUSeconds("/proc", os.Getpid())
	if errors.Is(err, ErrNoProc) {
		t.Skip("no /proc here")
	}
	if err != nil || own < 0 {
		t.Fatalf("ProcessCPUSeconds = %v, %v", own, err)
	}
	tree, err := ReadProcStats("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if own > tree.CPUSeconds+0.05 {
		t.Errorf("own CPU %v exceeds the tree's %v", own, tree.CPUSeconds)
	}
}

package bench

import (
	"sync"
	"time"
)

// bytesPerMB is the megabyte of kafka-producer-perf-test and OpenMessaging
// Benchmark (1024×1024), so figures compare with theirs directly.
const bytesPerMB = 1024 * 1024

// Recorder accumulates producer acknowledgements. It is pure (times come in
// as arguments) and safe for concurrent use, because franz-go calls the
// produce promises from its own goroutines.
type Recorder struct {
	start     time.Time
	warmupEnd time.Time

	mu       sync.Mutex
	all      *LatencyHist // every acknowledged record
	measured *LatencyHist // records sent at or after warmupEnd
	total    counts       // every acknowledged record
	window   counts       // acknowledgements at or after warmupEnd
	lastAck  time.Time
	errs     int64
	firstErr error
	// maxPerSecond[i] is the largest latency of the records acknowledged
	// in second i of the run (warm-up included), in milliseconds.
	maxPerSecond []float64
}

// maxTimelineSeconds bounds the per-second timeline (a day).
const maxTimelineSeconds = 86400

type counts struct{ records, bytes int64 }

// NewRecorder starts a recording at start whose first warmup is excluded.
func NewRecorder(start time.Time, warmup time.Duration) *Recorder {
	if warmup < 0 {
		warmup = 0
	}
	return &Recorder{
		start:     start,
		warmupEnd: start.Add(warmup),
		all:       NewLatencyHist(),
		measured:  NewLatencyHist(),
	}
}

// Ack records one produce outcome: sent is the record's intended send time
// (open loop) or the time it was handed to the client (closed loop), acked
// when the promise fired, bytes its value size.
func (r *Recorder) Ack(sent, acked time.Time, bytes int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs++
		if r.firstErr == nil {
			r.firstErr = err
		}
		return
	}
	lat := acked.Sub(sent)
	r.all.Record(lat)
	r.timeline(acked, lat)
	r.total.records++
	r.total.bytes += int64(bytes)
	if !sent.Before(r.warmupEnd) {
		r.measured.Record(lat)
	}
	if !acked.Before(r.warmupEnd) {
		r.window.records++
		r.window.bytes += int64(bytes)
	}
	if acked.After(r.lastAck) {
		r.lastAck = acked
	}
}

// timeline keeps the largest latency per second of acknowledgement time,
// which shows whether a run's tail came from one stall (and when) or from
// the whole run. r.mu is held.
func (r *Recorder) timeline(acked time.Time, lat time.Duration) {
	sec := int(acked.Sub(r.start) / time.Second)
	if sec < 0 || sec >= maxTimelineSeconds {
		return
	}
	for len(r.maxPerSecond) <= sec {
		r.maxPerSecond = append(r.maxPerSecond, 0)
	}
	if ms := float64(lat) / float64(time.Millisecond); ms > r.maxPerSecond[sec] {
		r.maxPerSecond[sec] = ms
	}
}

// Acked is how many records have been acknowledged so far (warm-up
// included).
func (r *Recorder) Acked() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total.records
}

// Progress is the records and bytes acknowledged so far (warm-up
// included).
func (r *Recorder) Progress() (records, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total.records, r.total.bytes
}

// ProduceResult is one producer run's outcome. Records, Bytes, Seconds and
// the rates cover the measured window (warm-up end to last
// acknowledgement); Latency covers records sent after the warm-up.
type ProduceResult struct {
	Records       int64          `json:"records"`
	Bytes         int64          `json:"bytes"`
	Seconds       float64        `json:"seconds"`
	RecordsPerSec float64        `json:"recordsPerSec"`
	MBPerSec      float64        `json:"mbPerSec"`
	Latency       LatencySummary `json:"latency"`
	// TotalRecords and TotalBytes count every acknowledged record, warm-up
	// included: what a consumer must read back.
	TotalRecords int64  `json:"totalRecords"`
	TotalBytes   int64  `json:"totalBytes"`
	Errors       int64  `json:"errors"`
	FirstError   string `json:"firstError,omitempty"`
	// WarmupExcluded is false when the run ended before the warm-up did and
	// the figures therefore cover the whole run.
	WarmupExcluded bool `json:"warmupExcluded"`
	// TargetRate is the open-loop rate in records/s, 0 for closed loop.
	TargetRate float64 `json:"targetRate"`

	// Wire counts the produce requests the clients wrote (warm-up
	// included).
	Wire WireStats `json:"wire"`

	// MaxLatencyMsPerSecond is the largest latency of the records
	// acknowledged in each second since the start (warm-up included; 0
	// for a second without acknowledgements).
	MaxLatencyMsPerSecond []float64 `json:"maxLatencyMsPerSecond,omitempty"`

	// Hist holds the measured latencies for merging and plotting.
	Hist *LatencyHist `json:"-"`
}

// WorstSecond is the second since the start whose acknowledgements had the
// largest latency, and that latency; -1 and 0 when nothing was recorded.
func (r ProduceResult) WorstSecond() (second int, maxMs float64) {
	second = -1
	for i, ms := range r.MaxLatencyMsPerSecond {
		if ms > maxMs {
			second, maxMs = i, ms
		}
	}
	return second, maxMs
}

// Result reduces what was recorded.
func (r *Recorder) Result() ProduceResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := ProduceResult{
		TotalRecords:          r.total.records,
		TotalBytes:            r.total.bytes,
		Errors:                r.errs,
		MaxLatencyMsPerSecond: append([]float64(nil), r.maxPerSecond...),
	}
	if r.firstErr != nil {
		res.FirstError = r.firstErr.Error()
	}
	from, window, hist := r.warmupEnd, r.window, r.measured
	res.WarmupExcluded = r.warmupEnd.After(r.start)
	if window.records == 0 || hist.Count() == 0 {
		// Nothing after the warm-up: report the whole run rather than
		// nothing.
		from, window, hist = r.start, r.total, r.all
		res.WarmupExcluded = false
	}
	res.Records, res.Bytes, res.Hist = window.records, window.bytes, hist
	res.Latency = hist.Summary()
	if secs := r.lastAck.Sub(from).Seconds(); secs > 0 {
		res.Seconds = secs
		res.RecordsPerSec = float64(window.records) / secs
		res.MBPerSec = float64(window.bytes) / bytesPerMB / secs
	}
	return res
}

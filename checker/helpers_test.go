package checker

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/highwater-io/highwater/history"
)

// hb builds small histories by hand: each call appends complete events
// through a real history.Writer (so the contract is exercised) on a clock
// that advances 1ms per event.
type hb struct {
	t     tb
	buf   bytes.Buffer
	w     *history.Writer
	clock time.Duration
}

// tb is what hb needs from *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
}

func newHB(t tb) *hb { return newHBHeader(t, history.Header{Scenario: "test", Seed: 1}) }

func newHBHeader(t tb, hdr history.Header) *hb {
	b := &hb{t: t}
	hdr.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // stable testdata
	w, err := history.NewWriter(&b.buf, hdr,
		history.WithClock(func() time.Duration { b.clock += time.Millisecond; return b.clock }))
	if err != nil {
		t.Fatal(err)
	}
	b.w = w
	return b
}

func (b *hb) must(_ history.Event, err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

type rec struct {
	o int64
	v string
}

func recs(rs []rec) []history.Record {
	out := make([]history.Record, len(rs))
	for i, r := range rs {
		out[i] = history.Record{Offset: r.o, Value: r.v}
	}
	return out
}

func sendOf(topic string, part int32, values ...string) *history.Send {
	s := &history.Send{}
	for _, v := range values {
		s.Records = append(s.Records, history.SendRecord{Topic: topic, Partition: part, Value: v})
	}
	return s
}

// invokeSend starts a send of values to t-0 by proc.
func (b *hb) invokeSend(proc int, values ...string) {
	b.must(b.w.Invoke(proc, history.FSend, sendOf("t", 0, values...)))
}

// ackSend completes proc's send ok with the given offsets, one per value.
func (b *hb) ackSend(proc int, values []string, offsets ...int64) {
	s := sendOf("t", 0, values...)
	for i := range s.Records {
		s.Records[i].Offset = history.Int64(offsets[i])
	}
	b.must(b.w.Ok(proc, s))
}

func (b *hb) sendOK(proc int, value string, offset int64) {
	b.invokeSend(proc, value)
	b.ackSend(proc, []string{value}, offset)
}

func (b *hb) sendInfo(proc int, value string) {
	b.invokeSend(proc, value)
	b.must(b.w.Info(proc, nil, nil))
}

func (b *hb) sendFail(proc int, value string) {
	b.invokeSend(proc, value)
	b.must(b.w.Fail(proc, nil, nil))
}

func (b *hb) poll(proc int, rs ...rec) {
	b.pollRebalanced(proc, nil, rs...)
}

func (b *hb) pollRebalanced(proc int, rebalanced []history.TopicPartition, rs ...rec) {
	b.must(b.w.Invoke(proc, history.FPoll, nil))
	p := &history.Poll{Rebalanced: rebalanced}
	if len(rs) > 0 {
		p.Partitions = []history.PartitionRecords{{Topic: "t", Partition: 0, Records: recs(rs)}}
	}
	b.must(b.w.Ok(proc, p))
}

func (b *hb) assign(proc int, seek bool) {
	b.must(b.w.Invoke(proc, history.FAssign, &history.Assign{Partitions: []history.TopicPartition{{Topic: "t"}}, SeekToBeginning: seek}))
	b.must(b.w.Ok(proc, nil))
}

func (b *hb) fetch(proc int, offset, hw int64, rs ...rec) {
	b.must(b.w.Invoke(proc, history.FFetch, &history.Fetch{Topic: "t", Offset: offset}))
	b.must(b.w.Ok(proc, &history.Fetch{Topic: "t", Offset: offset, Records: recs(rs), HighWatermark: history.Int64(hw)}))
}

func (b *hb) listOffsets(proc int, hw int64) {
	b.must(b.w.Invoke(proc, history.FListOffsets, &history.ListOffsets{Topic: "t"}))
	b.must(b.w.Ok(proc, &history.ListOffsets{Topic: "t", HighWatermark: history.Int64(hw)}))
}

func (b *hb) faultStart(window int64, name, desc string) {
	b.must(b.w.FaultStart(history.Fault{Window: window, Fault: name, Description: desc}))
}

func (b *hb) faultStop(window int64, name string) {
	b.must(b.w.FaultStop(history.Fault{Window: window, Fault: name}))
}

func (b *hb) phase(name string) { b.must(b.w.Phase(name, "")) }

// drain marks a final drain around the given reads by process 99.
func (b *hb) drain(rs ...rec) {
	b.phase(history.PhaseDrain)
	b.assign(99, true)
	b.poll(99, rs...)
	b.phase(history.PhaseDone)
}

func (b *hb) history() *history.History {
	b.t.Helper()
	h, err := history.Read(bytes.NewReader(b.buf.Bytes()))
	if err != nil {
		b.t.Fatal(err)
	}
	return h
}

func (b *hb) bytes() []byte { return append([]byte(nil), b.buf.Bytes()...) }

func runAll(t testing.TB, h *history.History, outDir string) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// slotTarget 1 cuts wherever the log allows, so the small hand-written
	// histories exercise chunking; Check (testdata) uses the defaults.
	return Run(ctx, h, &Queue{}, &Linearizability{OutDir: outDir, Timeout: 20 * time.Second, slotTarget: 1})
}

package history

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestTxnRoundTrip: a txn op, an isolation-marked poll and a group-offsets
// op read back as written.
func TestTxnRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Duration(0)
	w, err := NewWriter(&buf, Header{Scenario: "txn", Params: map[string]string{"workload": "txn"}},
		WithClock(func() time.Duration { clock += time.Millisecond; return clock }))
	if err != nil {
		t.Fatal(err)
	}
	x := &Txn{TransactionalID: "tid-1", Commit: true, Sends: []SendRecord{{Topic: "t", Partition: 1, Value: "a"}}}
	must := func(_ Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Invoke(0, FTxn, x))
	end := w.Elapsed()
	done := *x
	done.ProducerID, done.ProducerEpoch, done.EndTime = Int64(7), Int16(2), &end
	done.Sends = []SendRecord{{Topic: "t", Partition: 1, Value: "a", Offset: Int64(4)}}
	done.Reads = []PartitionRecords{{Topic: "t", Partition: 0, Records: []Record{{Offset: 1, Value: "b"}}}}
	must(w.Ok(0, &done))
	must(w.Invoke(1, FPoll, &Poll{Isolation: ReadCommitted}))
	must(w.Ok(1, &Poll{Isolation: ReadCommitted}))
	must(w.Invoke(2, FGroupOffsets, &Commit{Group: "g"}))
	must(w.Ok(2, &Commit{Group: "g", Offsets: []PartitionOffset{{Topic: "t", Offset: 3}}}))
	h, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := h.Ops[0].Complete.Txn()
	if !ok || got.TransactionalID != "tid-1" || *got.ProducerID != 7 || *got.ProducerEpoch != 2 ||
		*got.Sends[0].Offset != 4 || got.Reads[0].Records[0].Value != "b" || *got.EndTime != end {
		t.Fatalf("txn read back as %+v", got)
	}
	if !got.Committed(h.Ops[0].Type()) || got.Aborted(h.Ops[0].Type()) {
		t.Error("ok commit must be committed, not aborted")
	}
	if p, ok := h.Ops[1].Complete.Poll(); !ok || !p.ReadCommitted() {
		t.Errorf("poll isolation lost: %+v", p)
	}
	if c, ok := h.Ops[2].Complete.Value.(*Commit); !ok || c.Offsets[0].Offset != 3 {
		t.Errorf("group offsets read back as %#v", h.Ops[2].Complete.Value)
	}
}

// TestPollWithoutIsolation: a poll written before isolation existed reads
// as read_uncommitted.
func TestPollWithoutIsolation(t *testing.T) {
	in := `{"format":"highwater-history","version":1,"scenario":"old","seed":1,"start":"2026-01-01T00:00:00Z"}
{"index":0,"time":1,"process":0,"type":"invoke","f":"poll"}
{"index":1,"time":2,"process":0,"type":"ok","f":"poll","value":{"partitions":[{"topic":"t","partition":0,"records":[{"offset":0,"value":"a"}]}]}}
`
	h, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := h.Ops[0].Complete.Poll(); !ok || p.ReadCommitted() || p.Isolation != "" {
		t.Fatalf("old poll read as %+v", p)
	}
}

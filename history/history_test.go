package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock advances 1µs per reading so times are distinct and ordered.
func fakeClock() func() time.Duration {
	var n atomic.Int64
	return func() time.Duration { return time.Duration(n.Add(1000)) }
}

// mustEvent fails the test on a writer error: mustEvent(t)(w.Ok(…)).
func mustEvent(t *testing.T) func(Event, error) {
	return func(_ Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Scenario: "queue", Seed: 42, Params: map[string]string{"partitions": "3"}}, WithClock(fakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	send := &Send{Records: []SendRecord{{Topic: "t", Partition: 1, Value: "v1", Key: "k"}}}
	mustEvent(t)(w.Invoke(0, FSend, send))
	mustEvent(t)(w.FaultStart(Fault{Window: 1, Fault: "kill", Description: "kill -9 node 2", Targets: []string{"n2"}}))
	mustEvent(t)(w.Invoke(1, FFetch, &Fetch{Topic: "t", Partition: 1, Offset: 0}))
	mustEvent(t)(w.Ok(0, &Send{Records: []SendRecord{{Topic: "t", Partition: 1, Value: "v1", Key: "k", Offset: Int64(0)}}}))
	mustEvent(t)(w.Ok(1, &Fetch{Topic: "t", Partition: 1, Offset: 0, Records: []Record{{Offset: 0, Value: "v1"}}, HighWatermark: Int64(1), LastStableOffset: Int64(1)}))
	mustEvent(t)(w.FaultStop(Fault{Window: 1, Fault: "kill"}))
	mustEvent(t)(w.Phase(PhaseDrain, ""))
	mustEvent(t)(w.Invoke(2, FPoll, nil))
	mustEvent(t)(w.Ok(2, &Poll{Partitions: []PartitionRecords{{Topic: "t", Partition: 1, Records: []Record{{Offset: 0, Value: "v1"}}}}}))
	mustEvent(t)(w.Invoke(3, F("future-op"), json.RawMessage(`{"x":1}`)))
	mustEvent(t)(w.Invoke(0, FSend, send))
	mustEvent(t)(w.Info(0, nil, errors.New("timeout")))
	mustEvent(t)(w.Invoke(0, FSend, send)) // never completes

	h, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if h.Header.Scenario != "queue" || h.Header.Seed != 42 || h.Header.Params["partitions"] != "3" || h.Header.Version != FormatVersion {
		t.Fatalf("header: %+v", h.Header)
	}
	if len(h.Events) != 13 || len(h.Ops) != 6 {
		t.Fatalf("events %d ops %d", len(h.Events), len(h.Ops))
	}
	op := h.Ops[0]
	s, ok := op.Complete.Send()
	if !ok || op.Type() != TypeOK || *s.Records[0].Offset != 0 || op.Invoke.Index != 0 || op.Complete.Index != 3 {
		t.Fatalf("op 0: %+v", op)
	}
	f, ok := h.Ops[1].Complete.Fetch()
	if !ok || *f.HighWatermark != 1 || f.Records[0].Value != "v1" {
		t.Fatalf("fetch: %+v", h.Ops[1])
	}
	if raw, ok := h.Ops[3].Invoke.Value.(json.RawMessage); !ok || string(raw) != `{"x":1}` {
		t.Fatalf("unknown f value: %#v", h.Ops[3].Invoke.Value)
	}
	if !h.Ops[3].Incomplete || h.Ops[3].Type() != TypeInfo {
		t.Fatalf("op 3 should be an incomplete info: %+v", h.Ops[3])
	}
	if h.Ops[4].Type() != TypeInfo || h.Ops[4].Complete.Error != "timeout" || h.Ops[4].Incomplete {
		t.Fatalf("op 4: %+v", h.Ops[4])
	}
	if _, ok := h.Ops[4].Value().(*Send); !ok {
		t.Fatalf("info op falls back to the invoke value")
	}
	last := h.Ops[5]
	if !last.Incomplete || last.Type() != TypeInfo || last.Complete.Index != -1 || last.Complete.Time != h.EndTime() {
		t.Fatalf("incomplete op: %+v", last)
	}
	if len(h.Faults) != 1 || h.Faults[0].StopIndex != 5 || h.Faults[0].Description != "kill -9 node 2" {
		t.Fatalf("faults: %+v", h.Faults)
	}
	if _, ok := h.Phase(PhaseDrain); !ok {
		t.Fatal("drain phase missing")
	}
	for i, e := range h.Events {
		if e.Index != int64(i) || (i > 0 && e.Time < h.Events[i-1].Time) {
			t.Fatalf("event %d: index %d time %d", i, e.Index, e.Time)
		}
	}
	// Re-encoding the events gives the same bytes: nothing is lost.
	var again bytes.Buffer
	lines := strings.SplitN(buf.String(), "\n", 2)
	again.WriteString(lines[0] + "\n")
	enc := json.NewEncoder(&again)
	for _, e := range h.Events {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	if again.String() != buf.String() {
		t.Fatalf("re-encoded history differs:\n%s\nvs\n%s", again.String(), buf.String())
	}
}

func TestWriterRejectsInvalid(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{}, WithClock(fakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Ok(1, nil); !errors.Is(err, ErrNoInvoke) {
		t.Fatalf("ok without invoke: %v", err)
	}
	mustEvent(t)(w.Invoke(1, FPoll, nil))
	if _, err := w.Invoke(1, FPoll, nil); !errors.Is(err, ErrOutstanding) {
		t.Fatalf("double invoke: %v", err)
	}
	if _, err := w.FaultStop(Fault{Window: 9}); !errors.Is(err, ErrFault) {
		t.Fatalf("stop without start: %v", err)
	}
	if _, err := w.Invoke(-1, FPoll, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("reserved process: %v", err)
	}
	// Rejected events consumed no index: the history still reads back.
	if _, err := Read(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Invoke(2, FPoll, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := Create(path, Header{Scenario: "concurrent"})
	if err != nil {
		t.Fatal(err)
	}
	const procs, opsEach = 16, 200
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range opsEach {
				v := fmt.Sprintf("p%d-%d", p, i)
				rec := []SendRecord{{Topic: "t", Partition: int32(p % 3), Value: v}}
				if _, err := w.Invoke(p, FSend, &Send{Records: rec}); err != nil {
					t.Error(err)
					return
				}
				rec[0].Offset = Int64(int64(i))
				if _, err := w.Ok(p, &Send{Records: rec}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Ops) != procs*opsEach {
		t.Fatalf("ops %d", len(h.Ops))
	}
	for _, op := range h.Ops {
		if op.Type() != TypeOK || op.Complete.Process != op.Process {
			t.Fatalf("bad op %+v", op)
		}
	}
}

func TestMalformed(t *testing.T) {
	hdr := `{"format":"highwater-history","version":1,"scenario":"s","seed":1,"start":"2026-01-01T00:00:00Z"}` + "\n"
	cases := []struct {
		name, body string
		want       error
	}{
		{"empty", "", ErrFormat},
		{"no header", `{"index":0,"time":0,"process":0,"type":"invoke","f":"poll"}` + "\n", ErrFormat},
		{"future version", `{"format":"highwater-history","version":99}` + "\n", ErrFormat},
		{"other format", `{"format":"jepsen","version":1}` + "\n", ErrFormat},
		{"garbage line", hdr + "{not json}\n", ErrMalformed},
		{"unknown type", hdr + `{"index":0,"time":0,"process":0,"type":"maybe","f":"poll"}` + "\n", ErrMalformed},
		{"invoke without f", hdr + `{"index":0,"time":0,"process":0,"type":"invoke"}` + "\n", ErrMalformed},
		{"bad send value", hdr + `{"index":0,"time":0,"process":0,"type":"invoke","f":"send","value":{"records":"x"}}` + "\n", ErrMalformed},
		{"ok without invoke", hdr + `{"index":0,"time":0,"process":0,"type":"ok","f":"poll"}` + "\n", ErrNoInvoke},
		{"completion of another f", hdr +
			`{"index":0,"time":0,"process":0,"type":"invoke","f":"poll"}` + "\n" +
			`{"index":1,"time":1,"process":0,"type":"ok","f":"send"}` + "\n", ErrNoInvoke},
		{"two outstanding", hdr +
			`{"index":0,"time":0,"process":0,"type":"invoke","f":"poll"}` + "\n" +
			`{"index":1,"time":1,"process":0,"type":"invoke","f":"poll"}` + "\n", ErrOutstanding},
		{"index gap", hdr + `{"index":1,"time":0,"process":0,"type":"invoke","f":"poll"}` + "\n", ErrOrder},
		{"time backwards", hdr +
			`{"index":0,"time":10,"process":0,"type":"invoke","f":"poll"}` + "\n" +
			`{"index":1,"time":9,"process":0,"type":"ok","f":"poll"}` + "\n", ErrOrder},
		{"negative time", hdr + `{"index":0,"time":-1,"process":0,"type":"invoke","f":"poll"}` + "\n", ErrOrder},
		{"stop without start", hdr + `{"index":0,"time":0,"process":-1,"type":"nemesis","f":"stop","value":{"window":1,"fault":"kill"}}` + "\n", ErrFault},
		{"start twice", hdr +
			`{"index":0,"time":0,"process":-1,"type":"nemesis","f":"start","value":{"window":1,"fault":"kill"}}` + "\n" +
			`{"index":1,"time":0,"process":-1,"type":"nemesis","f":"start","value":{"window":1,"fault":"kill"}}` + "\n", ErrFault},
		{"nemesis without value", hdr + `{"index":0,"time":0,"process":-1,"type":"nemesis","f":"start"}` + "\n", ErrFault},
		{"nemesis bad f", hdr + `{"index":0,"time":0,"process":-1,"type":"nemesis","f":"pause","value":{"window":1}}` + "\n", ErrFault},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(c.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestTruncatedLastLine(t *testing.T) {
	hdr := `{"format":"highwater-history","version":1,"scenario":"s","seed":1,"start":"2026-01-01T00:00:00Z"}` + "\n"
	body := hdr + `{"index":0,"time":0,"process":0,"type":"invoke","f":"poll"}` + "\n" + `{"index":1,"time":5,"proc`
	h, err := Read(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Truncated || len(h.Ops) != 1 || h.Ops[0].Type() != TypeInfo || !h.Ops[0].Incomplete {
		t.Fatalf("truncated history: %+v", h)
	}
	// A complete but invalid last line is still an error.
	if _, err := Read(strings.NewReader(body + "\n")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("newline-terminated garbage: %v", err)
	}
}

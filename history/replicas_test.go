package history

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestReplicasRoundTrip: the replicas phase event reads back as written,
// counts as a phase and leaves the drain markers alone.
func TestReplicasRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Scenario: "queue"}, WithClock(fakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	mustEvent(t)(w.Phase(PhaseDrain, ""))
	mustEvent(t)(w.Phase(PhaseDone, ""))
	want := Replicas{Topic: "t", Partitions: []ReplicaPartition{{
		Partition: 0, HighWatermark: 2, ISR: []int32{1, 2},
		Replicas: []ReplicaLog{
			{Node: 1, StartOffset: 0, EndOffset: 2, Offsets: []int64{0, 1}, Values: []string{"a", "b"}},
			{Node: 2, StartOffset: 0, EndOffset: 3, Offsets: []int64{0, 1, 2}, Values: []string{"a", "b", "c"}, Error: "corrupt"},
		},
	}}}
	mustEvent(t)(w.RecordReplicas(want))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := h.Replicas()
	if !ok {
		t.Fatal("no replicas snapshot read back")
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("read back %+v, want %+v", *got, want)
	}
	if len(h.Phases) != 3 || string(h.Phases[2].F) != PhaseReplicas {
		t.Errorf("phases %v", h.Phases)
	}
	if d, _ := h.Phase(PhaseDrain); d.Index != 0 {
		t.Errorf("drain marker at %d", d.Index)
	}
}

// TestReplicasAbsent: a history without the event (written before it
// existed) has no snapshot; a skipped snapshot reads back as skipped.
func TestReplicasAbsent(t *testing.T) {
	old := `{"format":"highwater-history","version":1,"scenario":"s","seed":1,"start":"2026-01-01T00:00:00Z"}
{"index":0,"time":1,"process":-2,"type":"phase","f":"drain"}
{"index":1,"time":2,"process":-2,"type":"phase","f":"done","value":{"description":"x"}}
`
	h, err := Read(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Replicas(); ok {
		t.Error("snapshot found in a history without one")
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{}, WithClock(fakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	mustEvent(t)(w.RecordReplicas(Replicas{Skipped: "kfake"}))
	h, err = Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := h.Replicas(); !ok || r.Skipped != "kfake" {
		t.Errorf("skipped snapshot read back as %+v, %v", r, ok)
	}
}

package checker

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/highwater-io/highwater/history"
)

// replica is a node's log in a table test: records from offset start on,
// "" marking an offset without a data record.
func replica(node int32, start int64, values ...string) history.ReplicaLog {
	rl := history.ReplicaLog{Node: node, StartOffset: start, EndOffset: start + int64(len(values))}
	for i, v := range values {
		if v != "" {
			rl.Offsets = append(rl.Offsets, start+int64(i))
			rl.Values = append(rl.Values, v)
		}
	}
	return rl
}

func TestReplicas(t *testing.T) {
	type tc struct {
		name     string
		snap     *history.Replicas // nil: the history has none
		reads    []rec             // a drain reading these records
		valid    Validity
		anomaly  int      // replica-divergence count
		findings []string // finding types, in order
		explain  []string // substrings of the first anomaly's explanation
	}
	part := func(hw int64, isr []int32, rs ...history.ReplicaLog) *history.Replicas {
		return &history.Replicas{Topic: "t", Partitions: []history.ReplicaPartition{{Partition: 0, HighWatermark: hw, ISR: isr, Replicas: rs}}}
	}
	for _, c := range []tc{
		{name: "no snapshot", valid: Valid, findings: []string{ReplicasSkipped}},
		{name: "skipped driver", snap: &history.Replicas{Skipped: "the kfake driver keeps no data directories"}, valid: Valid, findings: []string{ReplicasSkipped}},
		{name: "identical", valid: Valid,
			snap: part(3, []int32{1, 2, 3}, replica(1, 0, "a", "b", "c"), replica(2, 0, "a", "b", "c"), replica(3, 0, "a", "b", "c"))},
		{name: "lagging replica holds a prefix", valid: Valid,
			snap: part(3, []int32{1, 2}, replica(1, 0, "a", "b", "c"), replica(2, 0, "a", "b"))},
		{name: "different start offsets", valid: Valid,
			snap: part(3, nil, replica(1, 0, "a", "b", "c"), replica(2, 2, "c"))},
		{name: "control records at the same offsets", valid: Valid,
			snap: part(3, nil, replica(1, 0, "a", "", "c"), replica(2, 0, "a", "", "c"))},
		{name: "diverged below the high watermark", valid: Invalid, anomaly: 1,
			snap:    part(4, []int32{1, 2}, replica(1, 0, "a", "b", "c", "d"), replica(2, 0, "a", "x", "y", "d")),
			explain: []string{"nodes 1 and 2", "2 offsets", "below its final high watermark 4", `offset 1: node 1 "b", node 2 "x"`, "uncommitted tail"}},
		{name: "record against no record", valid: Invalid, anomaly: 1,
			snap:    part(3, nil, replica(1, 0, "a", "b", "c"), replica(2, 0, "a", "", "c")),
			explain: []string{`offset 1: node 1 "b", node 2 no record`}},
		{name: "diverged above the high watermark only", valid: Valid, findings: []string{ReplicaUncommittedTail},
			snap: part(2, []int32{1, 2}, replica(1, 0, "a", "b", "c"), replica(2, 0, "a", "b", "z"))},
		{name: "diverged replica outside the ISR", valid: Valid, findings: []string{ReplicaOutsideISR},
			snap: part(3, []int32{1}, replica(1, 0, "a", "b", "c"), replica(2, 0, "a", "x", "c"))},
		{name: "three replicas, one diverged", valid: Invalid, anomaly: 2,
			snap: part(3, nil, replica(1, 0, "a", "b", "c"), replica(2, 0, "a", "b", "c"), replica(3, 0, "a", "q", "c"))},
		{name: "unknown high watermark falls back to the reads", valid: Invalid, anomaly: 1,
			reads: []rec{{0, "a"}, {1, "b"}},
			snap:  part(-1, nil, replica(1, 0, "a", "b", "c"), replica(2, 0, "x", "b", "d")),
			// offset 0 is below the highest offset read + 1 = 2, offset 2 is not
			findings: []string{ReplicaUncommittedTail},
			explain:  []string{"1 offsets", "highest offset read", `offset 0: node 1 "a", node 2 "x"`}},
		{name: "unreadable log", valid: Valid, findings: []string{ReplicaUnreadable},
			snap: part(1, nil, replica(1, 0, "a"), func() history.ReplicaLog { r := replica(2, 0, "a"); r.Error = "crc"; return r }())},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newHB(t)
			b.drain(c.reads...)
			if c.snap != nil {
				b.must(b.w.RecordReplicas(*c.snap))
			}
			r := (&Replicas{}).Check(context.Background(), b.history())
			if r.Valid != c.valid {
				t.Fatalf("verdict %s, want %s: %+v", r.Valid, c.valid, r)
			}
			if r.Counts[ReplicaDivergence] != c.anomaly {
				t.Errorf("%d divergences, want %d: %+v", r.Counts[ReplicaDivergence], c.anomaly, r.Anomalies)
			}
			var types []string
			for _, f := range r.Findings {
				types = append(types, f.Type)
			}
			if !slices.Equal(types, c.findings) {
				t.Errorf("findings %v, want %v", types, c.findings)
			}
			for _, s := range c.explain {
				if len(r.Anomalies) == 0 || !strings.Contains(r.Anomalies[0].Explanation, s) {
					t.Errorf("explanation lacks %q: %+v", s, r.Anomalies)
				}
			}
		})
	}
}

// TestReplicasCancelled: a cancelled check is unknown, not valid.
func TestReplicasCancelled(t *testing.T) {
	b := newHB(t)
	b.must(b.w.RecordReplicas(history.Replicas{Topic: "t", Partitions: []history.ReplicaPartition{{HighWatermark: 1}}}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := (&Replicas{}).Check(ctx, b.history()); r.Valid != Unknown {
		t.Errorf("verdict %s after cancel", r.Valid)
	}
}

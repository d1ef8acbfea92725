package checker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/history"
)

// Chunking must not change porcupine's verdict: compare with a check of
// each whole (tightened) partition on random histories, correct and
// mutated. Tightening itself adds the evidence of polls, which a plain
// porcupine check ignores, so it may only find more.
func TestReductionsPreserveVerdict(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHistory(t)
		var fetches []*history.Fetch
		var acks []*history.SendRecord
		for _, op := range h.Ops {
			if f, ok := op.Complete.Fetch(); ok && op.Type() == history.TypeOK {
				fetches = append(fetches, f)
			}
			if s, ok := op.Complete.Send(); ok && op.Type() == history.TypeOK {
				acks = append(acks, &s.Records[0])
			}
		}
		switch rapid.IntRange(0, 3).Draw(t, "mutation") {
		case 1:
			if len(acks) > 0 {
				a := rapid.SampledFrom(acks).Draw(t, "ack")
				a.Offset = history.Int64(*a.Offset + rapid.Int64Range(-2, 2).Draw(t, "delta"))
			}
		case 2:
			if len(fetches) > 0 && len(acks) > 0 {
				f := rapid.SampledFrom(fetches).Draw(t, "fetch")
				if len(f.Records) > 0 {
					f.Records[0].Value = rapid.SampledFrom(acks).Draw(t, "other").Value
				}
			}
		case 3:
			if len(fetches) > 0 {
				f := rapid.SampledFrom(fetches).Draw(t, "fetch")
				f.HighWatermark = history.Int64(*f.HighWatermark + rapid.Int64Range(-1, 1).Draw(t, "delta"))
			}
		}
		c := &Linearizability{slotTarget: rapid.IntRange(1, 4).Draw(t, "slot-target")}
		// A fault window somewhere relaxes the reads around it (stalehw.go):
		// chunking must stay exact with lagging reads too.
		c.StaleHWGrace, c.StaleHWSpan = time.Nanosecond, time.Nanosecond
		if end := h.EndTime(); end > 0 && rapid.Bool().Draw(t, "fault") {
			from := rapid.Int64Range(0, end).Draw(t, "fault-start")
			to := rapid.Int64Range(from, end).Draw(t, "fault-stop")
			h.Faults = append(h.Faults, history.Window{ID: 1, Fault: "kill", StartTime: from, StopTime: to})
		}
		got := c.Check(context.Background(), h)
		model := c.model(context.Background())
		relaxed := func() []porcupine.Operation {
			ops := linOperations(h)
			excuseStaleReads(h, ops, hwEvidenceOf(ops), c.StaleHWGrace, c.StaleHWSpan, c.hwCheckpoint(h))
			return ops
		}
		plain := porcupine.CheckOperations(model, relaxed())
		obs := observe(h)
		var tightened []porcupine.Operation
		for _, g := range model.Partition(relaxed()) {
			g, _ = tighten(g, obs[g[0].Input.(*linInput).tp])
			tightened = append(tightened, g...)
		}
		want := porcupine.CheckOperations(model, tightened)
		if (got.Valid == Valid) != want || got.Valid == Unknown {
			t.Fatalf("chunked check %s (%s), whole-partition porcupine legal=%v", got.Valid, got.Reason, want)
		}
		if !plain && want {
			t.Fatalf("tightening hid a violation plain porcupine found")
		}
	})
}

func TestPlogAt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 300).Draw(t, "n")
		var l *plog
		var vals []string
		for i := range n {
			v := string(rune('a' + i%26))
			vals = append(vals, v)
			l = l.append(v)
		}
		for range 20 {
			off := rapid.Int64Range(-1, int64(n)).Draw(t, "off")
			v, ok := l.at(off)
			if ok != (off >= 0 && off < int64(n)) || (ok && v != vals[off]) {
				t.Fatalf("at(%d) = %q %v", off, v, ok)
			}
		}
		var m *plog
		for _, v := range vals {
			m = m.append(v)
		}
		if !l.equal(m) || l.hashOf() != m.hashOf() {
			t.Fatal("equal logs differ")
		}
		if n > 0 && l.equal(m.prev) {
			t.Fatal("different lengths compare equal")
		}
	})
}

func TestChunkingAndLimits(t *testing.T) {
	// Mostly sequential operations: cut into several chunks.
	h := validHistory(t).history()
	r := (&Linearizability{slotTarget: 1}).Check(context.Background(), h)
	if r.Valid != Valid || r.Stats["chunks"] < 4 {
		t.Fatalf("%s %v", r.Valid, r.Stats)
	}
	// Overlapping sends cannot be cut; over the limit they are Unknown.
	b := newHB(t)
	b.invokeSend(1, "a")
	b.invokeSend(2, "b")
	b.invokeSend(3, "c")
	b.ackSend(1, []string{"a"}, 0)
	b.ackSend(2, []string{"b"}, 1)
	b.ackSend(3, []string{"c"}, 2)
	r = (&Linearizability{MaxChunkOperations: 2}).Check(context.Background(), b.history())
	if r.Valid != Unknown || !strings.Contains(r.Reason, "MaxChunkOperations") {
		t.Fatalf("%s (%s)", r.Valid, r.Reason)
	}
	if r := (&Linearizability{}).Check(context.Background(), b.history()); r.Valid != Valid {
		t.Fatalf("%s (%s)", r.Valid, r.Reason)
	}
}

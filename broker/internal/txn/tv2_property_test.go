package txn

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyTV2RandomOps is TestPropertyRandomOps for transaction
// version 2 producers (partitions added by the produce path, EndTxn v5),
// mixed with the older protocol's requests, epochs near overflow, write
// failures, marker acknowledgements, timeouts and restarts. After every
// step: every change is a transition Kafka allows; the producer id never
// goes back and, for one id, neither does the epoch; a next producer id is
// pending only in a prepared state; the replayed log equals memory;
// ongoing transactions hold partitions, complete ones none (a prepared
// abort may hold none: version 2 allows aborting an empty transaction).
func TestPropertyTV2RandomOps(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness()
		id := "t"
		type holder struct {
			pid   int64
			epoch int16
		}
		var producers []holder
		parts := []string{"a-0", "a-1", "b-0"}
		prev, hadPrev := Metadata{}, false
		steps := rapid.IntRange(1, 80).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			h.failWrite = rapid.IntRange(0, 9).Draw(rt, "fail") == 0
			var line string
			who := func() holder { return producers[rapid.IntRange(0, len(producers)-1).Draw(rt, "who")] }
			switch op := rapid.IntRange(0, 10).Draw(rt, "op"); {
			case op == 0 || len(producers) == 0:
				line = "init " + id
			case op <= 2:
				p := who()
				line = fmt.Sprintf("add2 %s %d %d %s", id, p.pid, p.epoch, rapid.SampledFrom(parts).Draw(rt, "tp"))
			case op <= 4:
				p := who()
				line = fmt.Sprintf("end2 %s %d %d %s", id, p.pid, p.epoch, rapid.SampledFrom([]string{"commit", "abort"}).Draw(rt, "how"))
			case op == 5:
				p := who()
				line = fmt.Sprintf("add %s %d %d %s", id, p.pid, p.epoch, rapid.SampledFrom(parts).Draw(rt, "tp"))
			case op == 6:
				line = "markers " + id
			case op == 7:
				line = fmt.Sprintf("advance %d", rapid.IntRange(0, 90000).Draw(rt, "ms"))
			case op == 8:
				line = "restart"
			case op == 9:
				if m, ok := h.c.Get(id); ok && m.ProducerEpoch < math.MaxInt16-3 {
					line = fmt.Sprintf("set-epoch %s %d", id, math.MaxInt16-3)
				} else {
					line = "state " + id
				}
			default:
				line = "state " + id
			}
			h.failWrite = h.failWrite && line != "restart" && !strings.HasPrefix(line, "set-epoch")
			h.exec(line)
			m, ok := h.c.Get(id)
			if !ok {
				hadPrev = false
				continue
			}
			if strings.HasPrefix(line, "init") || strings.HasPrefix(line, "end2") {
				// A producer that got this answer holds the current id and
				// epoch (or, mid-overflow, the next id at epoch 0).
				if m.NextProducerID >= 0 {
					producers = append(producers, holder{m.NextProducerID, 0})
				} else {
					producers = append(producers, holder{m.ProducerID, m.ProducerEpoch})
				}
			}
			if hadPrev {
				if prev.State != m.State && !CanTransition(prev.State, m.State) &&
					!(prev.State == Ongoing && m.State == PrepareAbort) {
					rt.Fatalf("after %q: %v -> %v is not a Kafka transition", line, prev.State, m.State)
				}
				if m.ProducerID < prev.ProducerID || (m.ProducerID == prev.ProducerID && m.ProducerEpoch < prev.ProducerEpoch) {
					rt.Fatalf("after %q: producer went back %d/%d -> %d/%d", line, prev.ProducerID, prev.ProducerEpoch, m.ProducerID, m.ProducerEpoch)
				}
			}
			switch m.State {
			case Ongoing, PrepareCommit:
				if len(m.Partitions) == 0 {
					rt.Fatalf("%v with no partitions", m.State)
				}
			case PrepareAbort:
			default:
				if len(m.Partitions) != 0 {
					rt.Fatalf("%v with partitions %v", m.State, m.Partitions)
				}
			}
			if m.NextProducerID >= 0 && m.State != PrepareCommit && m.State != PrepareAbort {
				rt.Fatalf("after %q: next producer id %d pending in %v", line, m.NextProducerID, m.State)
			}
			prev, hadPrev = m, true
			replayed, _ := NewCoordinator(h.cfg)
			if err := replayed.Load(h.log); err != nil {
				rt.Fatal(err)
			}
			a, _ := h.c.Get(id)
			b, bok := replayed.Get(id)
			a.LastProducerEpoch, b.LastProducerEpoch = 0, 0 // in memory only, as in Kafka
			if !bok || fmtMeta(a) != fmtMeta(b) {
				rt.Fatalf("after %q: memory %s, replay %s", line, fmtMeta(a), fmtMeta(b))
			}
		}
	})
}

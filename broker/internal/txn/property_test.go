package txn

import (
	"fmt"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestPropertyRandomOps drives one transactional id with random requests
// from a current and a zombie producer, random write failures, marker
// acknowledgements (delivered, dropped, duplicated), timeouts and
// coordinator restarts, and checks after every step:
//   - every applied change is a transition Kafka allows;
//   - the (producer id, epoch) pair only grows;
//   - the state replayed from the log equals the state in memory;
//   - prepared and ongoing transactions hold partitions, complete ones none.
func TestPropertyRandomOps(t *testing.T) {
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
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			h.failWrite = rapid.IntRange(0, 9).Draw(rt, "fail") == 0
			var line string
			switch op := rapid.IntRange(0, 7).Draw(rt, "op"); {
			case op == 0 || len(producers) == 0:
				line = "init " + id
			case op <= 2:
				p := producers[rapid.IntRange(0, len(producers)-1).Draw(rt, "who")]
				line = fmt.Sprintf("add %s %d %d %s", id, p.pid, p.epoch, rapid.SampledFrom(parts).Draw(rt, "tp"))
			case op == 3:
				p := producers[rapid.IntRange(0, len(producers)-1).Draw(rt, "who")]
				line = fmt.Sprintf("end %s %d %d %s", id, p.pid, p.epoch, rapid.SampledFrom([]string{"commit", "abort"}).Draw(rt, "how"))
			case op == 4:
				line = "markers " + id
			case op == 5:
				line = fmt.Sprintf("advance %d", rapid.IntRange(0, 90000).Draw(rt, "ms"))
			case op == 6:
				line = "restart"
			default:
				line = "state " + id
			}
			h.failWrite = h.failWrite && line != "restart"
			h.exec(line)
			if m, ok := h.c.Get(id); ok {
				if line[:4] == "init" && (m.State == Empty) {
					producers = append(producers, holder{m.ProducerID, m.ProducerEpoch})
				}
				if hadPrev {
					if prev.State != m.State && !CanTransition(prev.State, m.State) &&
						!(prev.State == Ongoing && m.State == PrepareAbort) {
						rt.Fatalf("after %q: %v -> %v is not a Kafka transition", line, prev.State, m.State)
					}
					if m.ProducerID == prev.ProducerID && m.ProducerEpoch < prev.ProducerEpoch {
						rt.Fatalf("after %q: epoch went back %d -> %d", line, prev.ProducerEpoch, m.ProducerEpoch)
					}
				}
				switch m.State {
				case Ongoing, PrepareCommit, PrepareAbort:
					if len(m.Partitions) == 0 {
						rt.Fatalf("%v with no partitions", m.State)
					}
				default:
					if len(m.Partitions) != 0 {
						rt.Fatalf("%v with partitions %v", m.State, m.Partitions)
					}
				}
				prev, hadPrev = m, true
			} else {
				hadPrev = false
			}
			replayed, _ := NewCoordinator(h.cfg)
			if err := replayed.Load(h.log); err != nil {
				rt.Fatal(err)
			}
			a, aok := h.c.Get(id)
			b, bok := replayed.Get(id)
			a.LastProducerEpoch, b.LastProducerEpoch = 0, 0 // in memory only, as in Kafka
			if aok != bok || (aok && fmtMeta(a) != fmtMeta(b)) {
				rt.Fatalf("after %q: memory %s, replay %s", line, fmtMeta(a), fmtMeta(b))
			}
		}
	})
}

// TestEpochExhaustionRotatesProducerID: at the last usable epoch
// InitProducerId hands out a new producer id with epoch 0 (KIP-360), and
// a retry carrying the exhausted epoch of the previous id gets it again.
func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	h := newHarness()
	now := h.now
	h.commit(h.c.InitProducerID(now, "t", 1000, nil))
	m, _ := h.c.Get("t")
	m.ProducerEpoch = math.MaxInt16 - 1
	h.c.Apply(m)
	d := h.c.InitProducerID(now, "t", 1000, &ProducerIDAndEpoch{0, math.MaxInt16 - 1})
	h.commit(d)
	if d.Err != nil || d.ProducerID != 1 || d.ProducerEpoch != 0 || d.Next.PrevProducerID != 0 {
		t.Fatalf("rotation: %s", fmtDecision(d))
	}
	retry := h.c.InitProducerID(now, "t", 1000, &ProducerIDAndEpoch{0, math.MaxInt16 - 1})
	if retry.Err != nil || retry.ProducerID != 1 || retry.ProducerEpoch != 0 {
		t.Fatalf("retry after rotation: %s", fmtDecision(retry))
	}
}

func TestRecordRoundTrip(t *testing.T) {
	m := Metadata{TransactionalID: "id", ProducerID: 5, PrevProducerID: 4, ProducerEpoch: 7, LastProducerEpoch: -1,
		TimeoutMs: 1000, State: PrepareCommit, StartMs: 10, LastUpdateMs: 20,
		Partitions: map[TopicPartition]struct{}{{"a", 1}: {}, {"a", 0}: {}, {"b", 3}: {}}}
	got, err := DecodeRecord(m.Record())
	if err != nil || fmtMeta(got) != fmtMeta(m) {
		t.Fatalf("round trip: %v %s", err, fmtMeta(got))
	}
	dead, err := DecodeRecord(KV{Key: Key("id")})
	if err != nil || dead.State != Dead {
		t.Fatalf("tombstone: %v %v", err, dead.State)
	}
	for _, bad := range []KV{{Key: []byte{0}}, {Key: Key("x"), Value: []byte{0, 1, 2}}} {
		if _, err := DecodeRecord(bad); err == nil {
			t.Fatalf("decoded garbage %v", bad)
		}
	}
	_ = time.Second
}

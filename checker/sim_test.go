package checker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/history"
)

// sim drives a simulated correct broker (one committed log per partition,
// appended at a linearization point between invoke and completion) with
// concurrent producers, explicit-offset readers and consumers, recording
// everything through a history.Writer. What it records must check valid.
type sim struct {
	t      *rapid.T
	b      *hb
	tps    []history.TopicPartition
	logs   map[history.TopicPartition][]string
	nextV  int
	acked  int
	prods  []*prodState
	limbo  []limboValue
	reads  []*readState
	cons   []*consState
	drainP int
}

type prodState struct {
	busy, applied bool
	value         string
	tp            history.TopicPartition
	offset        int64
}

type limboValue struct {
	value string
	tp    history.TopicPartition
}

type readState struct {
	stage  int // 0 idle, 1 invoked, 2 read
	list   bool
	tp     history.TopicPartition
	offset int64
	recs   []history.Record
	hw     int64
}

type consState struct {
	stage int
	pos   map[history.TopicPartition]int64
	got   []history.PartitionRecords
}

const (
	prodBase = 0
	readBase = 100
	consBase = 200
)

func newSim(t *rapid.T) *sim {
	s := &sim{t: t, b: newHB(t), logs: map[history.TopicPartition][]string{}, drainP: 999}
	nParts := rapid.IntRange(1, 3).Draw(t, "partitions")
	for p := range nParts {
		s.tps = append(s.tps, history.TopicPartition{Topic: "t", Partition: int32(p)})
	}
	for range rapid.IntRange(1, 4).Draw(t, "producers") {
		s.prods = append(s.prods, &prodState{})
	}
	for range rapid.IntRange(0, 2).Draw(t, "readers") {
		s.reads = append(s.reads, &readState{})
	}
	for i := range rapid.IntRange(0, 2).Draw(t, "consumers") {
		c := &consState{pos: map[history.TopicPartition]int64{}}
		s.cons = append(s.cons, c)
		s.b.must(s.b.w.Invoke(consBase+i, history.FAssign, &history.Assign{Partitions: s.tps, SeekToBeginning: true}))
		s.b.must(s.b.w.Ok(consBase+i, nil))
	}
	return s
}

func (s *sim) apply(tp history.TopicPartition, v string) int64 {
	s.logs[tp] = append(s.logs[tp], v)
	return int64(len(s.logs[tp]) - 1)
}

func (s *sim) stepProducer(i int) {
	p := s.prods[i]
	w := s.b.w
	if !p.busy {
		s.nextV++
		tp := rapid.SampledFrom(s.tps).Draw(s.t, "tp")
		*p = prodState{busy: true, value: fmt.Sprintf("v%d", s.nextV), tp: tp}
		s.b.must(w.Invoke(prodBase+i, history.FSend, sendOf(tp.Topic, tp.Partition, p.value)))
		return
	}
	switch rapid.IntRange(0, 5).Draw(s.t, "producer-action") {
	case 0: // gives up before the append: fail, or info and maybe later
		if !p.applied {
			if rapid.Bool().Draw(s.t, "info") {
				s.limbo = append(s.limbo, limboValue{p.value, p.tp})
				s.b.must(w.Info(prodBase+i, nil, fmt.Errorf("timeout")))
			} else {
				s.b.must(w.Fail(prodBase+i, nil, fmt.Errorf("not enough replicas")))
			}
			p.busy = false
			return
		}
		s.b.must(w.Info(prodBase+i, nil, fmt.Errorf("timeout after append")))
		p.busy = false
	default:
		if !p.applied {
			p.offset, p.applied = s.apply(p.tp, p.value), true
			return
		}
		s.ackProducer(i)
	}
}

func (s *sim) ackProducer(i int) {
	p := s.prods[i]
	sd := sendOf(p.tp.Topic, p.tp.Partition, p.value)
	sd.Records[0].Offset = history.Int64(p.offset)
	s.b.must(s.b.w.Ok(prodBase+i, sd))
	p.busy = false
	s.acked++
}

func (s *sim) stepReader(i int) {
	r := s.reads[i]
	w := s.b.w
	switch r.stage {
	case 0:
		*r = readState{stage: 1, list: rapid.Bool().Draw(s.t, "list"), tp: rapid.SampledFrom(s.tps).Draw(s.t, "tp")}
		if r.list {
			s.b.must(w.Invoke(readBase+i, history.FListOffsets, &history.ListOffsets{Topic: r.tp.Topic, Partition: r.tp.Partition}))
			return
		}
		r.offset = rapid.Int64Range(0, int64(len(s.logs[r.tp]))+1).Draw(s.t, "offset")
		s.b.must(w.Invoke(readBase+i, history.FFetch, &history.Fetch{Topic: r.tp.Topic, Partition: r.tp.Partition, Offset: r.offset}))
	case 1:
		log := s.logs[r.tp]
		r.hw = int64(len(log))
		for o := r.offset; o < r.hw && o < r.offset+3; o++ {
			r.recs = append(r.recs, history.Record{Offset: o, Value: log[o]})
		}
		r.stage = 2
	case 2:
		r.stage = 0
		if r.list {
			s.b.must(w.Ok(readBase+i, &history.ListOffsets{Topic: r.tp.Topic, Partition: r.tp.Partition, HighWatermark: history.Int64(r.hw)}))
			return
		}
		s.b.must(w.Ok(readBase+i, &history.Fetch{Topic: r.tp.Topic, Partition: r.tp.Partition, Offset: r.offset, Records: r.recs, HighWatermark: history.Int64(r.hw)}))
	}
}

// consume reads up to max records per partition from c's positions.
func (s *sim) consume(c *consState, max int64) {
	c.got = nil
	for _, tp := range s.tps {
		log := s.logs[tp]
		pr := history.PartitionRecords{Topic: tp.Topic, Partition: tp.Partition}
		for o := c.pos[tp]; o < int64(len(log)) && o < c.pos[tp]+max; o++ {
			pr.Records = append(pr.Records, history.Record{Offset: o, Value: log[o]})
		}
		c.pos[tp] += int64(len(pr.Records))
		if len(pr.Records) > 0 {
			c.got = append(c.got, pr)
		}
	}
}

func (s *sim) stepConsumer(i int) {
	c := s.cons[i]
	w := s.b.w
	switch c.stage {
	case 0:
		s.b.must(w.Invoke(consBase+i, history.FPoll, nil))
		c.stage = 1
	case 1:
		s.consume(c, rapid.Int64Range(1, 4).Draw(s.t, "max"))
		c.stage = 2
	case 2:
		c.stage = 0
		if rapid.IntRange(0, 9).Draw(s.t, "poll-info") == 0 {
			s.b.must(w.Info(consBase+i, nil, fmt.Errorf("consumer crashed")))
			return
		}
		s.b.must(w.Ok(consBase+i, &history.Poll{Partitions: c.got}))
	}
}

// finish completes everything outstanding, resolves info sends, and drains.
func (s *sim) finish() {
	for i, p := range s.prods {
		if p.busy {
			if !p.applied {
				p.offset, p.applied = s.apply(p.tp, p.value), true
			}
			s.ackProducer(i)
		}
	}
	if s.acked == 0 {
		// A history without an effective send is judged unknown by
		// design (nothing to check); give every history one.
		s.stepProducer(0)
		p := s.prods[0]
		p.offset, p.applied = s.apply(p.tp, p.value), true
		s.ackProducer(0)
	}
	for _, l := range s.limbo {
		if rapid.Bool().Draw(s.t, "limbo-lands") {
			s.apply(l.tp, l.value)
		}
	}
	for i, r := range s.reads {
		for r.stage != 0 {
			s.stepReader(i)
		}
	}
	for i, c := range s.cons {
		for c.stage != 0 {
			s.stepConsumer(i)
		}
	}
	s.b.phase(history.PhaseDrain)
	w := s.b.w
	s.b.must(w.Invoke(s.drainP, history.FAssign, &history.Assign{Partitions: s.tps, SeekToBeginning: true}))
	s.b.must(w.Ok(s.drainP, nil))
	d := &consState{pos: map[history.TopicPartition]int64{}}
	for {
		s.consume(d, 4)
		if len(d.got) == 0 {
			break
		}
		s.b.must(w.Invoke(s.drainP, history.FPoll, nil))
		s.b.must(w.Ok(s.drainP, &history.Poll{Partitions: d.got}))
	}
	s.b.phase(history.PhaseDone)
}

func genHistory(t *rapid.T) *history.History {
	s := newSim(t)
	steps := rapid.IntRange(0, 120).Draw(t, "steps")
	for range steps {
		switch rapid.IntRange(0, 3).Draw(t, "actor") {
		case 0, 1:
			s.stepProducer(rapid.IntRange(0, len(s.prods)-1).Draw(t, "producer"))
		case 2:
			if len(s.reads) > 0 {
				s.stepReader(rapid.IntRange(0, len(s.reads)-1).Draw(t, "reader"))
			} else if len(s.limbo) > 0 {
				l := s.limbo[0]
				s.limbo = s.limbo[1:]
				s.apply(l.tp, l.value)
			}
		case 3:
			if len(s.cons) > 0 {
				s.stepConsumer(rapid.IntRange(0, len(s.cons)-1).Draw(t, "consumer"))
			}
		}
	}
	s.finish()
	return s.b.history()
}

func checkFast(h *history.History) Summary {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Run(ctx, h, &Queue{}, &Linearizability{Timeout: 15 * time.Second})
}

func TestSimulatedHistoriesAreValid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHistory(t)
		if s := checkFast(h); s.Valid != Valid {
			t.Fatalf("a correct log's history judged %s:\n%s", s.Valid, s.Text())
		}
	})
}

// drainPolls returns the drain's poll ops.
func drainPolls(h *history.History) []*history.Poll {
	var out []*history.Poll
	for i := range h.Ops {
		op := &h.Ops[i]
		if p, ok := op.Complete.Poll(); ok && op.Process == 999 {
			out = append(out, p)
		}
	}
	return out
}

type recRef struct {
	poll, part, rec int
}

func TestMutationsAreCaught(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHistory(t)
		acked := map[string]bool{}
		for _, op := range h.Ops {
			if op.F == history.FSend && op.Type() == history.TypeOK {
				s, _ := op.Invoke.Send()
				acked[s.Records[0].Value] = true
			}
		}
		polls := drainPolls(h)
		// Candidate records: acknowledged values the drain read that are
		// neither the first nor the last it read from their partition
		// (skipping those is invisible: nothing says where a drain starts
		// or must stop).
		first, last := map[history.TopicPartition]recRef{}, map[history.TopicPartition]recRef{}
		var all []recRef
		for pi, p := range polls {
			for qi, pr := range p.Partitions {
				for ri := range pr.Records {
					ref := recRef{pi, qi, ri}
					if _, ok := first[pr.TopicPartition()]; !ok {
						first[pr.TopicPartition()] = ref
					}
					last[pr.TopicPartition()] = ref
					all = append(all, ref)
				}
			}
		}
		var inner []recRef
		for _, ref := range all {
			pr := polls[ref.poll].Partitions[ref.part]
			tp := pr.TopicPartition()
			if ref != first[tp] && ref != last[tp] && acked[pr.Records[ref.rec].Value] {
				inner = append(inner, ref)
			}
		}
		if len(all) == 0 {
			return
		}
		kind := rapid.SampledFrom([]string{"drop", "duplicate", "reorder"}).Draw(t, "mutation")
		switch kind {
		case "drop":
			if len(inner) == 0 {
				return
			}
			ref := rapid.SampledFrom(inner).Draw(t, "victim")
			pr := &polls[ref.poll].Partitions[ref.part]
			pr.Records = append(pr.Records[:ref.rec:ref.rec], pr.Records[ref.rec+1:]...)
		case "duplicate":
			ref := rapid.SampledFrom(all).Draw(t, "victim")
			pr := &polls[ref.poll].Partitions[ref.part]
			r := pr.Records[ref.rec]
			pr.Records = append(pr.Records[:ref.rec+1:ref.rec+1], append([]history.Record{r}, pr.Records[ref.rec+1:]...)...)
		case "reorder":
			var pairs []recRef
			for _, ref := range all {
				if ref.rec+1 < len(polls[ref.poll].Partitions[ref.part].Records) {
					pairs = append(pairs, ref)
				}
			}
			if len(pairs) == 0 {
				return
			}
			ref := rapid.SampledFrom(pairs).Draw(t, "victim")
			rs := polls[ref.poll].Partitions[ref.part].Records
			rs[ref.rec], rs[ref.rec+1] = rs[ref.rec+1], rs[ref.rec]
		}
		if s := checkFast(h); s.Valid != Invalid {
			t.Fatalf("%s mutation not caught (%s):\n%s", kind, s.Valid, s.Text())
		}
	})
}

// TestAckedOffsetMutationsAreCaught moves one acknowledged offset onto
// another acknowledged record's offset.
func TestAckedOffsetMutationsAreCaught(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHistory(t)
		var recs []*history.SendRecord
		for _, op := range h.Ops {
			if op.F == history.FSend && op.Type() == history.TypeOK {
				s, _ := op.Complete.Send()
				recs = append(recs, &s.Records[0])
			}
		}
		if len(recs) < 2 {
			return
		}
		a := rapid.IntRange(0, len(recs)-1).Draw(t, "a")
		b := rapid.IntRange(0, len(recs)-1).Draw(t, "b")
		if a == b || recs[a].TopicPartition() != recs[b].TopicPartition() {
			return
		}
		recs[a].Offset = history.Int64(*recs[b].Offset)
		if s := checkFast(h); s.Valid != Invalid {
			t.Fatalf("offset mutation not caught (%s):\n%s", s.Valid, s.Text())
		}
	})
}

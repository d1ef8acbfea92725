package controller

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// Rack-aware replica placement with the semantics of KRaft's
// StripedReplicaPlacer: racks (sorted by name, brokers without a rack form
// one rack "") are taken round robin, so a partition's replicas land in as
// many racks as there are; within a rack brokers are taken round robin too,
// unfenced ones first; each new partition starts one rack further on, which
// stripes leaders (the first replica) evenly over the brokers. The leader
// is always an unfenced broker. Once every unfenced broker has led a round,
// the order is shuffled so the same replica sets do not repeat. Where
// KRaft starts from random offsets, the random source is the controller's
// seeded one; and for CreatePartitions both offsets continue from the
// topic's last partition, as KRaft does.

type brokerRing struct {
	ids    []int32
	offset int // added to index, modulo len(ids)
	index  int // taken so far in the current round
	round  int
}

// next returns the next broker of the ring in round, or -1 when the ring
// has given all its brokers in this round.
func (r *brokerRing) next(round int) int32 {
	if len(r.ids) == 0 {
		return -1
	}
	if r.round != round {
		r.round, r.index = round, 0
		r.offset = (r.offset + 1) % len(r.ids)
	}
	if r.index >= len(r.ids) {
		return -1
	}
	id := r.ids[(r.index+r.offset)%len(r.ids)]
	r.index++
	return id
}

type rack struct {
	name             string
	unfenced, fenced brokerRing
}

func (rk *rack) next(round int) int32 {
	if id := rk.unfenced.next(round); id >= 0 {
		return id
	}
	return rk.fenced.next(round)
}

type placer struct {
	rnd      *rand.Rand
	racks    []*rack
	offset   int // rack the next partition starts at
	round    int
	unfenced int
	total    int
}

// newPlacer builds the rack rings from the image's brokers (brokers in
// controlled shutdown count as fenced). existing is the topic's current
// assignment, for CreatePartitions to continue the stripe.
func newPlacer(img metadata.Image, rnd *rand.Rand, existing [][]int32) *placer {
	pl := &placer{rnd: rnd}
	byName := map[string]*rack{}
	rackOf := map[int32]string{}
	for _, b := range img.Brokers() { // by id: rings come out sorted
		rk := byName[b.Rack]
		if rk == nil {
			rk = &rack{name: b.Rack}
			byName[b.Rack] = rk
			pl.racks = append(pl.racks, rk)
		}
		rackOf[b.ID] = b.Rack
		if b.Active() {
			rk.unfenced.ids = append(rk.unfenced.ids, b.ID)
			pl.unfenced++
		} else {
			rk.fenced.ids = append(rk.fenced.ids, b.ID)
		}
		pl.total++
	}
	slices.SortFunc(pl.racks, func(a, b *rack) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	for _, rk := range pl.racks {
		rk.fenced.offset = randIndex(rnd, len(rk.fenced.ids))
		rk.unfenced.offset = randIndex(rnd, len(rk.unfenced.ids))
		if prev, ok := lastUsedInRack(existing, rackOf, rk); ok {
			rk.unfenced.offset = (prev + 1) % len(rk.unfenced.ids)
		}
	}
	pl.offset = randIndex(rnd, len(pl.racks))
	if n := len(existing); n > 0 && len(existing[n-1]) > 0 {
		if name, ok := rackOf[existing[n-1][0]]; ok {
			i := slices.IndexFunc(pl.racks, func(rk *rack) bool { return rk.name == name })
			pl.offset = (i + 1) % len(pl.racks)
		}
	}
	return pl
}

func randIndex(rnd *rand.Rand, n int) int {
	if n == 0 {
		return 0
	}
	return rnd.IntN(n)
}

// lastUsedInRack is the ring index of the broker of rk that the latest
// existing partition placed, if it is unfenced.
func lastUsedInRack(existing [][]int32, rackOf map[int32]string, rk *rack) (int, bool) {
	for i := len(existing) - 1; i >= 0; i-- {
		for _, id := range existing[i] {
			if name, ok := rackOf[id]; ok && name == rk.name {
				j := slices.Index(rk.unfenced.ids, id)
				return j, j >= 0
			}
		}
	}
	return 0, false
}

// place returns the replicas of the next partition, leader first.
func (pl *placer) place(rf int) ([]int32, error) {
	switch {
	case rf <= 0:
		return nil, fmt.Errorf("%w: replication factor %d must be positive", ErrInvalidReplicationFactor, rf)
	case rf > pl.total:
		return nil, fmt.Errorf("%w: replication factor %d > %d registered brokers", ErrInvalidReplicationFactor, rf, pl.total)
	case pl.unfenced == 0:
		return nil, fmt.Errorf("%w: all brokers are fenced", ErrInvalidReplicationFactor)
	}
	if pl.round == pl.unfenced && pl.unfenced > 1 {
		pl.shuffle()
		pl.round = 0
	}
	n := len(pl.racks)
	pl.offset %= n
	// The leader: the first unfenced broker from the starting rack on.
	first, out := -1, make([]int32, 0, rf)
	for i := 0; i < n && first < 0; i++ {
		if id := pl.racks[(pl.offset+i)%n].unfenced.next(pl.round); id >= 0 {
			first = (pl.offset + i) % n
			out = append(out, id)
		}
	}
	if first < 0 {
		return nil, fmt.Errorf("%w: no unfenced broker left in this round", ErrInternal)
	}
	// The followers: racks round robin from the starting rack, skipping
	// the leader's rack once. Bounded: each visit either yields a broker or
	// consumes one rack's round, so (total+1)*n visits are plenty.
	ri, skip := pl.offset, first
	for visits := 0; len(out) < rf; visits++ {
		if visits > (pl.total+1)*n {
			return nil, fmt.Errorf("%w: placement did not converge", ErrInternal)
		}
		var id int32 = -1
		if ri == skip {
			skip = -1
		} else {
			id = pl.racks[ri].next(pl.round)
		}
		ri = (ri + 1) % n
		if id >= 0 {
			out = append(out, id)
		}
	}
	pl.round++
	pl.offset++
	return out, nil
}

func (pl *placer) shuffle() {
	pl.rnd.Shuffle(len(pl.racks), func(i, j int) { pl.racks[i], pl.racks[j] = pl.racks[j], pl.racks[i] })
	for _, rk := range pl.racks {
		for _, ring := range []*brokerRing{&rk.unfenced, &rk.fenced} {
			pl.rnd.Shuffle(len(ring.ids), func(i, j int) { ring.ids[i], ring.ids[j] = ring.ids[j], ring.ids[i] })
		}
	}
}

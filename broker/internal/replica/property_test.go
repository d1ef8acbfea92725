package replica

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyNoAckedLoss simulates a 3-replica partition under random
// message loss, duplication and reordering, clock jumps, broker fencing and
// leader changes by a controller that only elects from the ISR. After every
// step: no replica truncates below a published leader high watermark, a
// leader's high watermark never exceeds the log end of an ISR member (real
// logs), an acks=all record is on every ISR member when acknowledged, and
// every new leader holds every acknowledged acks=all record. The state
// machines' own invariants run on every Step.
func TestPropertyNoAckedLoss(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := DefaultConfig()
		cfg.ReplicaLagTimeMaxMs = 200
		cfg.MinInsyncReplicas = rapid.IntRange(1, 3).Draw(rt, "min-isr")
		cfg.FetchTimeoutMs = 300
		cfg.FetchBackoffMs = 50
		cfg.AlterPartitionRetryMs = 300
		cfg.HoldHighWatermarkUnderMinISR = rapid.Bool().Draw(rt, "hold-hw")
		ids := []int32{1, 2, 3}
		c := newCluster(cfg, ids, rt.Logf)
		c.maxFetch = rapid.IntRange(1, 4).Draw(rt, "max-fetch")
		if err := c.ctl.elect(rapid.SampledFrom(ids).Draw(rt, "first-leader")); err != nil {
			rt.Fatal(err)
		}
		c.broadcast()
		steps := rapid.IntRange(20, 400).Draw(rt, "steps")
		for i := 0; i < steps && len(c.failures) == 0; i++ {
			simAction(rt, c, ids)
		}
		heal(c, ids)
		if l := c.ctl.leader; l >= 0 && len(c.failures) == 0 {
			c.checkAcked(c.nodes[l], "final leader")
			checkConverged(c, l)
		}
		if len(c.failures) > 0 {
			rt.Fatalf("%d failures, first: %s\n%s", len(c.failures), c.failures[0], c.describe())
		}
	})
}

func simAction(rt *rapid.T, c *cluster, ids []int32) {
	pick := func(label string) *envelope {
		if len(c.queue) == 0 {
			return nil
		}
		i := rapid.IntRange(0, len(c.queue)-1).Draw(rt, label)
		e := c.queue[i]
		c.queue = slices.Delete(c.queue, i, i+1)
		return e
	}
	switch a := rapid.IntRange(0, 99).Draw(rt, "action"); {
	case a < 35:
		if e := pick("deliver"); e != nil {
			c.deliver(e)
		}
	case a < 55:
		// A healthy stretch: the oldest messages, in order.
		for k := rapid.IntRange(1, 12).Draw(rt, "burst"); k > 0 && len(c.queue) > 0; k-- {
			e := c.queue[0]
			c.queue = c.queue[1:]
			c.deliver(e)
		}
	case a < 60:
		pick("drop")
	case a < 63:
		if e := pick("dup"); e != nil {
			cp := *e
			c.nextEnv++
			cp.id = c.nextEnv
			c.queue = append(c.queue, e, &cp)
		}
	case a < 78:
		// Mostly at the leader the controller knows, sometimes at a stale one.
		node := rapid.SampledFrom(append([]int32{c.ctl.leader, c.ctl.leader}, ids...)).Draw(rt, "producer")
		if node < 0 {
			return
		}
		acks := rapid.SampledFrom([]int16{AcksAll, AcksAll, AcksLeader}).Draw(rt, "acks")
		_, _ = c.produce(node, rapid.IntRange(1, 3).Draw(rt, "count"), acks, c.nowMs+1000)
	case a < 90:
		c.tick(int64(rapid.IntRange(1, 150).Draw(rt, "ms")))
	case a < 94:
		var cands []int32
		for _, id := range c.ctl.isr {
			if !slices.Contains(c.ctl.fenced, id) {
				cands = append(cands, id)
			}
		}
		if len(cands) > 0 {
			_ = c.ctl.elect(rapid.SampledFrom(cands).Draw(rt, "elect"))
			c.broadcast()
		}
	case a < 97:
		c.ctl.fence(rapid.SampledFrom(ids).Draw(rt, "fence"))
		c.broadcast()
	default:
		c.ctl.unfence(rapid.SampledFrom(ids).Draw(rt, "unfence"))
		c.broadcast()
	}
}

// heal unfences everyone and lets the cluster run with a reliable network.
func heal(c *cluster, ids []int32) {
	for _, id := range ids {
		c.ctl.unfence(id)
	}
	c.broadcast()
	for i := 0; i < 100 && len(c.failures) == 0; i++ {
		c.run(1)
		c.tick(40)
	}
}

// checkConverged: after a heal every replica holds the leader's log, the ISR
// is everyone and the high watermarks agree (liveness of catch-up,
// truncation and ISR expansion).
func checkConverged(c *cluster, leader int32) {
	l := c.nodes[leader]
	if l.p.Role() != RoleLeader || len(l.p.ISR()) != len(c.ids) || l.p.HighWatermark() != l.leo() {
		c.failf("converged: leader %s: %s", nodeName(leader), l.p)
		return
	}
	for _, id := range c.ids {
		n := c.nodes[id]
		if !slices.Equal(n.log, l.log) || n.p.HighWatermark() != l.p.HighWatermark() {
			c.failf("converged: %s log %s hw %d, leader log %s hw %d", nodeName(id), fmtLog(n), n.p.HighWatermark(), fmtLog(l), l.p.HighWatermark())
		}
	}
}

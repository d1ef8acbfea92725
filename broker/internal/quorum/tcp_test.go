package quorum

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestTCPTransportCluster(t *testing.T) {
	var dials atomic.Int64
	c := newCluster(t, clusterOpts{nodes: 3, seed: 9, tcp: true, dials: &dials})
	lead := c.waitLeader(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := c.proposeMany(ctx, "t", 200, 4)
	final := c.waitConverged(10 * time.Second)
	if len(final) != 200 {
		t.Fatalf("applied %d entries, want 200", len(final))
	}
	checkOutcomes(t, final, out)
	if dials.Load() < 4 {
		t.Fatalf("%d dials through the Dial seam, want >= 4 (leader to each follower and back)", dials.Load())
	}

	// Restart a follower on the same address: peers must reconnect to it.
	follower := lead%3 + 1
	c.crash(follower, false)
	for v, o := range c.proposeMany(ctx, "u", 50, 2) {
		out[v] = o
	}
	c.start(follower)
	final = c.waitConverged(10 * time.Second)
	if len(final) != 250 {
		t.Fatalf("applied %d entries after restart, want 250", len(final))
	}
	checkOutcomes(t, final, out)
}

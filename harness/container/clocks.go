package container

import (
	"context"
	"fmt"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
)

// The reference broker's clock seam (harness/internal/faultclient) on the
// metrics listener, served when highwater.fault.endpoints is true (the
// driver's default).

var _ cluster.Clocks = (*Cluster)(nil)

// initClocks points the clock client at the nodes' metrics listeners.
func (c *Cluster) initClocks() {
	c.clocks.MetricsAddr = func(id int32) (string, error) {
		n, err := c.node(id)
		if err != nil {
			return "", err
		}
		return n.addr(metricsIdx), nil
	}
}

// probeClocks asks node 1's clock endpoint once after New, so a broker
// without it is reported unavailable up front rather than mid-run.
func (c *Cluster) probeClocks(ctx context.Context) {
	c.clocks.Probe(ctx, c.nodes[0].id, c.properties(c.nodes[0]))
}

// ClocksAvailable is nil when the brokers serve the clock fault endpoint.
func (c *Cluster) ClocksAvailable() error { return c.clocks.Available() }

// SkewClock sets node id's clock offset from real time.
func (c *Cluster) SkewClock(ctx context.Context, id int32, offset time.Duration) error {
	return c.clocks.Skew(ctx, id, offset)
}

// ResetClock removes node id's offset; a node that is not running has
// none (a restarted broker starts at zero).
func (c *Cluster) ResetClock(ctx context.Context, id int32) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if n.ctr == nil {
		return nil
	}
	st, _, err := c.state(ctx, n)
	if err != nil {
		return fmt.Errorf("node %d: %w", id, err)
	}
	if !st.running {
		return nil
	}
	return c.clocks.Reset(ctx, id)
}

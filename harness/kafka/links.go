package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/netns"
)

var _ cluster.Links = (*Cluster)(nil)

// LinksAvailable: lossy links in NetNS mode (real packet loss through
// nftables, inter-node and client traffic alike); slow links never, since
// nftables cannot delay packets and tc netem does not work here, and a
// JVM's listeners have no dialer seam for the proxy the reference cluster
// uses.
func (c *Cluster) LinksAvailable(kind string) error {
	switch {
	case kind != cluster.LinkSlow && kind != cluster.LinkLossy:
		return fmt.Errorf("%w: link degradation %q", cluster.ErrUnavailable, kind)
	case kind == cluster.LinkSlow:
		return fmt.Errorf("%w: slow links for Apache Kafka: nftables cannot delay packets and tc netem does not work here", cluster.ErrUnavailable)
	case c.net == nil:
		return fmt.Errorf("%w: lossy links need the Kafka cluster in network namespaces (--netns, root)", cluster.ErrUnavailable)
	}
	return nil
}

// SlowLinks is unavailable for Kafka (see LinksAvailable).
func (c *Cluster) SlowLinks(context.Context, int32, time.Duration, time.Duration, int64) error {
	return c.LinksAvailable(cluster.LinkSlow)
}

// LossyLinks drops lossPercent of node id's packets, both directions.
func (c *Cluster) LossyLinks(ctx context.Context, id int32, lossPercent int) error {
	if err := c.LinksAvailable(cluster.LinkLossy); err != nil {
		return err
	}
	if lossPercent < 1 || lossPercent > 100 {
		return fmt.Errorf("kafka: loss %d%% (1..100)", lossPercent)
	}
	if _, err := c.node(id); err != nil {
		return err
	}
	return c.net.Degrade(ctx, id, netns.Degradation{LossPercent: lossPercent})
}

// RestoreLinks removes node id's packet loss.
func (c *Cluster) RestoreLinks(ctx context.Context, id int32) error {
	if c.net == nil {
		return nil
	}
	if _, err := c.node(id); err != nil {
		return err
	}
	return c.net.Restore(ctx, id)
}

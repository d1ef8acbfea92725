package reference

import (
	"context"
	"fmt"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/proxy"
)

// ClientCutsAvailable: one client's traffic can be cut in Proxy mode only,
// where every client connection to a node passes its client proxy.
func (c *Cluster) ClientCutsAvailable() error {
	if c.proxies == nil {
		return fmt.Errorf("%w: cutting one client from a node needs the reference cluster started with Proxy (--proxy)", cluster.ErrUnavailable)
	}
	return nil
}

// CutClient blackholes, on node id's client proxy, every connection whose
// first request names clientID: that client's requests to the node go
// unanswered (as in a silent partition) while every other client, and
// the node's peers, keep reaching it. It lasts until HealClient or until
// the next link change (a cut, heal or degradation re-applies every
// proxy's per-client faults from the link state); the nemesis runs one
// fault at a time, so its windows never overlap one.
func (c *Cluster) CutClient(_ context.Context, id int32, clientID string) error {
	if err := c.ClientCutsAvailable(); err != nil {
		return err
	}
	if _, err := c.node(id); err != nil {
		return err
	}
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	return c.proxies.client[id].SetFaultsFor(clientID, proxy.Faults{Blackhole: true})
}

// HealClient lifts CutClient by re-applying the link state, which drops
// every per-client fault the link state does not call for.
func (c *Cluster) HealClient(_ context.Context, id int32, _ string) error {
	if err := c.ClientCutsAvailable(); err != nil {
		return err
	}
	if _, err := c.node(id); err != nil {
		return err
	}
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	return c.proxies.apply(c.faults.degraded, c.faults.cuts)
}

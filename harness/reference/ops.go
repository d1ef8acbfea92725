package reference

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/highwater-io/highwater/harness/cluster"
)

// Nodes lists every node in id order.
func (c *Cluster) Nodes() []cluster.Node {
	out := make([]cluster.Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = cluster.Node{ID: n.id, Rack: n.rack, Addr: n.advertised, ControllerAddr: n.ctrl}
	}
	return out
}

// Bootstrap is every node's client address, comma-separated.
func (c *Cluster) Bootstrap() string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.advertised
	}
	return strings.Join(addrs, ",")
}

// MetricsURL is node id's Prometheus endpoint ("" for an unknown id).
func (c *Cluster) MetricsURL(id int32) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	return "http://" + n.metr + "/metrics"
}

// Logs is the path of node id's captured output.
func (c *Cluster) Logs(id int32) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	return n.logPath
}

func (c *Cluster) node(id int32) (*node, error) { return cluster.NodeAt(c.nodes, id) }

// do runs f on node id's process under the node's lock.
func (c *Cluster) do(id int32, f func(n *node) error) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.closeMu.Lock()
	closed := c.closed
	c.closeMu.Unlock()
	if closed {
		return cluster.ErrClosed
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return f(n)
}

// Start starts a stopped or killed node and waits until it is back: it
// answers and lists itself as an unfenced broker. A running node is left
// alone.
func (c *Cluster) Start(ctx context.Context, id int32) error {
	return c.do(id, func(n *node) error {
		if n.proc.Running() {
			return nil
		}
		return c.restart(ctx, n)
	})
}

// Restart stops node id gracefully if it runs and starts it again with its
// data and ports, waiting as Start does.
func (c *Cluster) Restart(ctx context.Context, id int32) error {
	return c.do(id, func(n *node) error { return c.restart(ctx, n) })
}

func (c *Cluster) restart(ctx context.Context, n *node) error {
	if err := n.proc.Restart(ctx); err != nil {
		return fmt.Errorf("node %d: %w", n.id, err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	return c.poll(rctx, fmt.Sprintf("node %d", n.id), func(ctx context.Context) error {
		return c.directs[n.id-1].Sees(ctx, []int32{n.id})
	})
}

// Stop sends SIGTERM (controlled shutdown), SIGKILL after the stop timeout.
func (c *Cluster) Stop(_ context.Context, id int32) error {
	return c.do(id, func(n *node) error { return n.proc.Stop() })
}

// Kill SIGKILLs node id.
func (c *Cluster) Kill(_ context.Context, id int32) error {
	return c.do(id, func(n *node) error { return n.proc.Kill() })
}

// Pause SIGSTOPs node id.
func (c *Cluster) Pause(_ context.Context, id int32) error {
	return c.do(id, func(n *node) error { return n.proc.Pause() })
}

// Resume SIGCONTs node id.
func (c *Cluster) Resume(_ context.Context, id int32) error {
	return c.do(id, func(n *node) error { return n.proc.Resume() })
}

// Leaders is every partition's leader, the highest leader epoch across the
// nodes' Metadata answers winning.
func (c *Cluster) Leaders(ctx context.Context) (map[cluster.TopicPartition]int32, error) {
	return cluster.MetadataLeaders(ctx, c.admin, cluster.IDs(c.directs))
}

// ActiveController is the controller id the answering nodes' Metadata
// names most often (ties: the lowest id). The reference broker reports
// its metadata quorum's leader there (it does not serve DescribeQuorum);
// a paused node does not answer within cluster.PerNodeTimeout and is not
// counted.
func (c *Cluster) ActiveController(ctx context.Context) (int32, error) {
	return cluster.MetadataController(ctx, c.directs)
}

// StopAll stops every node gracefully and concurrently (SIGTERM, SIGKILL
// after the stop timeout), for a clean shutdown before Close.
func (c *Cluster) StopAll(ctx context.Context) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Stop(ctx, n.id)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close kills every node, waits for it, and closes clients and log files.
// The data directory stays. Safe after a failed New and to call twice.
func (c *Cluster) Close(ctx context.Context) error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return nil
	}
	c.closed = true
	c.closeMu.Unlock()
	var errs []error
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.proc != nil {
			errs = append(errs, n.proc.Kill())
		}
		if n.direct != nil {
			n.direct.Close()
		}
		if n.log != nil {
			errs = append(errs, n.log.Close())
		}
		n.mu.Unlock()
	}
	if c.admin != nil {
		c.admin.Close()
	}
	if c.proxies != nil {
		c.proxies.close()
	}
	if c.net != nil {
		// The processes are gone (Kill waits), so the namespaces can go.
		errs = append(errs, c.net.Close(context.WithoutCancel(ctx)))
	}
	return errors.Join(errs...)
}

// Network cuts links between nodes in NetNS mode (dropped packets) and
// in Proxy mode (blackholed proxies); otherwise it returns an error
// wrapping cluster.ErrUnavailable that says how to get it.
func (c *Cluster) Network() (cluster.Network, error) {
	if c.proxies != nil {
		return proxyNet{c}, nil
	}
	if c.net == nil {
		return nil, fmt.Errorf("%w: network partitions need each reference node in its own network namespace: start the cluster with NetNS (--netns) as root, or with Proxy (--proxy) unprivileged",
			cluster.ErrUnavailable)
	}
	return c.net, nil
}

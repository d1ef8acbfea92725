package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/await"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

// Nodes lists every node in id order.
func (c *Cluster) Nodes() []cluster.Node {
	out := make([]cluster.Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = cluster.Node{ID: n.id, Rack: n.rack, Addr: n.addr.client(), ControllerAddr: n.addr.ctrl()}
	}
	return out
}

// Bootstrap is every node's client address, comma-separated.
func (c *Cluster) Bootstrap() string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr.client()
	}
	return strings.Join(addrs, ",")
}

// Dir is the cluster directory.
func (c *Cluster) Dir() string { return c.cfg.Dir }

// Logs is the path of node id's server.log ("" for an unknown id).
func (c *Cluster) Logs(id int32) string {
	if n, err := c.node(id); err == nil {
		return n.logPath
	}
	return ""
}

// PID is node id's JVM pid, 0 when it is not running. Local to this driver:
// code above the driver must not rely on it.
func (c *Cluster) PID(id int32) int {
	if n, err := c.node(id); err == nil {
		return n.pid()
	}
	return 0
}

func (c *Cluster) node(id int32) (*node, error) { return cluster.NodeAt(c.nodes, id) }

// op runs f on node id with its faults serialized, refusing after Close.
func (c *Cluster) op(id int32, f func(n *node) error) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return cluster.ErrClosed
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	n.opMu.Lock()
	defer n.opMu.Unlock()
	return f(n)
}

// Start starts a stopped node and waits until it serves as a registered
// broker; a running node is left alone.
func (c *Cluster) Start(ctx context.Context, id int32) error {
	return c.op(id, func(n *node) error { return c.startNode(ctx, n) })
}

func (c *Cluster) startNode(ctx context.Context, n *node) error {
	if n.running() {
		return nil
	}
	if err := n.start(n.argv, n.dir, n.logPath); err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	if err := c.waitNodeReady(readyCtx, n); err != nil {
		_ = n.kill()
		return err
	}
	return nil
}

// Stop shuts node id down with SIGTERM (controlled shutdown), killing it
// after StopTimeout.
func (c *Cluster) Stop(_ context.Context, id int32) error {
	return c.op(id, func(n *node) error { return n.stop(c.cfg.StopTimeout) })
}

// Kill SIGKILLs node id.
func (c *Cluster) Kill(_ context.Context, id int32) error {
	return c.op(id, func(n *node) error { return n.kill() })
}

// Pause SIGSTOPs node id.
func (c *Cluster) Pause(_ context.Context, id int32) error {
	return c.op(id, func(n *node) error { return n.pause(true) })
}

// Resume SIGCONTs node id.
func (c *Cluster) Resume(_ context.Context, id int32) error {
	return c.op(id, func(n *node) error { return n.pause(false) })
}

// Restart stops node id gracefully (if running) and starts it again with
// its data.
func (c *Cluster) Restart(ctx context.Context, id int32) error {
	return c.op(id, func(n *node) error {
		if err := n.stop(c.cfg.StopTimeout); err != nil && !errors.Is(err, errStopTimeout) {
			return err
		}
		return c.startNode(ctx, n)
	})
}

// Leaders is every partition's leader from Metadata.
func (c *Cluster) Leaders(ctx context.Context) (map[cluster.TopicPartition]int32, error) {
	return cluster.MetadataLeaders(ctx, c.admin, c.ids())
}

func (c *Cluster) ids() []int32 {
	ids := make([]int32, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.id
	}
	return ids
}

// ActiveController is the KRaft quorum leader from DescribeQuorum.
func (c *Cluster) ActiveController(ctx context.Context) (int32, error) {
	return cluster.QuorumLeader(ctx, c.admin, c.ids())
}

// Network returns the link cutter, or an error wrapping
// cluster.ErrUnavailable when the cluster runs without namespaces.
func (c *Cluster) Network() (cluster.Network, error) {
	if c.net == nil {
		return nil, fmt.Errorf("%w: network partitions need each node in its own network namespace: start the cluster with NetNS (--netns) as root", cluster.ErrUnavailable)
	}
	return c.net, nil
}

// Close kills every node, waits for the exits and removes the namespaces,
// links and tables it made. The cluster directory stays (logs, data).
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for _, n := range c.nodes {
		n.opMu.Lock()
		errs = append(errs, n.kill())
		n.opMu.Unlock()
	}
	if c.admin != nil {
		c.admin.Close()
	}
	if c.net != nil {
		errs = append(errs, c.net.Close(ctx))
	}
	return errors.Join(errs...)
}

// readyAttempt bounds one readiness check, so a node that does not
// answer costs one attempt rather than the whole wait.
const readyAttempt = 3 * time.Second

// waitClusterReady waits until Metadata lists every broker and the quorum
// has a leader, failing fast when a node exits or logs a fatal error.
func (c *Cluster) waitClusterReady(ctx context.Context) error {
	return await.Until(ctx, await.Options{
		Interval: pollInterval,
		Attempt:  readyAttempt,
		Fatal: func(context.Context) error {
			for _, n := range c.nodes {
				if err := n.failed(); err != nil {
					return err
				}
			}
			return nil
		},
		TimedOut: func(last error) error {
			return fmt.Errorf("%w: %d-node cluster after %v: %v (fix: raise the ready timeout; the nodes' logs say what they wait for)\n%s",
				ErrNotReady, len(c.nodes), c.cfg.ReadyTimeout, last, c.quoteLogs())
		},
	}, c.clusterReady)
}

func (c *Cluster) clusterReady(ctx context.Context) error {
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, c.admin)
	if err != nil {
		return err
	}
	if len(resp.Brokers) != len(c.nodes) {
		return fmt.Errorf("metadata lists %d of %d brokers", len(resp.Brokers), len(c.nodes))
	}
	_, err = cluster.QuorumLeader(ctx, c.admin, c.ids())
	return err
}

// waitNodeReady waits until n answers and lists itself among the live
// brokers in its own Metadata.
func (c *Cluster) waitNodeReady(ctx context.Context, n *node) error {
	return await.Until(ctx, await.Options{
		Interval: pollInterval,
		Attempt:  readyAttempt,
		Fatal:    func(context.Context) error { return n.failed() },
		TimedOut: func(last error) error {
			return fmt.Errorf("%w: node %d after %v: %v (fix: raise the ready timeout; see %s)\n%s",
				ErrNotReady, n.id, c.cfg.ReadyTimeout, last, n.logPath, n.quoteLog())
		},
	}, func(ctx context.Context) error { return c.nodeReady(ctx, n) })
}

func (c *Cluster) nodeReady(ctx context.Context, n *node) error {
	if err := brokerproc.Probe(ctx, n.addr.client()); err != nil {
		return err
	}
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, c.admin.Broker(int(n.id)))
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(resp.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == n.id }) {
		return fmt.Errorf("node %d not yet registered and unfenced", n.id)
	}
	return nil
}

// failed reports a node that exited or logged a fatal start-up error.
func (n *node) failed() error {
	select {
	case <-n.doneChan():
		return fmt.Errorf("%w: node %d (%v); last lines of %s:\n%s", ErrExited, n.id, n.exitError(), n.logPath, n.quoteLog())
	default:
	}
	tail := n.logTail()
	for _, m := range fatalMarkers {
		if strings.Contains(tail, m) {
			_ = n.kill()
			return fmt.Errorf("%w: node %d logged %q; last lines of %s:\n%s", ErrExited, n.id, m, n.logPath, n.quoteLog())
		}
	}
	return nil
}

// logTail is the end of the node's log since its latest start.
func (n *node) logTail() string {
	f, err := os.Open(n.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > logTailBytes {
		_, _ = f.Seek(st.Size()-logTailBytes, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	s := string(b)
	if i := strings.LastIndex(s, "==== highwater: starting"); i >= 0 {
		s = s[i:]
	}
	return s
}

// quoteLog is the errors and the last lines of the node's log.
func (n *node) quoteLog() string {
	tail := n.logTail()
	var errs []string
	for _, l := range strings.Split(tail, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "at ") {
			continue
		}
		if strings.Contains(l, "ERROR") || strings.Contains(l, "Caused by") || strings.Contains(l, "Exception:") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 10 {
		errs = errs[len(errs)-10:]
	}
	out := lastLines(tail, quoteLines)
	if len(errs) > 0 {
		out = strings.Join(errs, "\n") + "\n…\n" + out
	}
	return out
}

func (c *Cluster) quoteLogs() string {
	var b strings.Builder
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "--- node %d (%s):\n%s\n", n.id, n.logPath, lastLines(n.quoteLog(), 8))
	}
	return b.String()
}

package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/highwater-io/highwater/harness/cluster"
)

// killWait bounds how long Kill waits for the engine to report the
// container gone.
const killWait = 15 * time.Second

// logLimitBytes caps one saved container log.
const logLimitBytes = 64 << 20

// RunID is the value of LabelKey on everything this cluster created.
func (c *Cluster) RunID() string { return c.runID }

// Nodes lists every node in id order; addresses are the nodes' own
// addresses on the cluster network, which the harness reaches directly.
func (c *Cluster) Nodes() []cluster.Node {
	out := make([]cluster.Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = cluster.Node{ID: n.id, Rack: n.rack, Addr: n.addr(clientIdx), ControllerAddr: n.addr(controllerIdx)}
	}
	return out
}

// Bootstrap is every node's client address, comma-separated.
func (c *Cluster) Bootstrap() string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr(clientIdx)
	}
	return strings.Join(addrs, ",")
}

// MetricsURL is node id's Prometheus endpoint ("" for an unknown id).
func (c *Cluster) MetricsURL(id int32) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	return "http://" + n.addr(metricsIdx) + "/metrics"
}

// ContainerName is node id's container name ("" for an unknown id).
func (c *Cluster) ContainerName(id int32) string {
	n, err := c.node(id)
	if err != nil || n.ctr == nil {
		return ""
	}
	return fmt.Sprintf("highwater-%s-node-%d", c.runID, n.id)
}

// Logs is the path of node id's saved container log: written on Stop,
// Kill, Restart and Close (the whole log of the container, every run of
// it), so it is current once the node is down.
func (c *Cluster) Logs(id int32) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	return n.logPath
}

func (c *Cluster) node(id int32) (*node, error) { return cluster.NodeAt(c.nodes, id) }

// do runs f on node id under the node's lock.
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
	if err := f(n); err != nil {
		return fmt.Errorf("node %d: %w", n.id, err)
	}
	return nil
}

// state is what the engine says about n's container.
type state struct{ running, paused bool }

func (c *Cluster) state(ctx context.Context, n *node) (state, int, error) {
	res, err := c.api.ContainerInspect(ctx, n.ctr.GetContainerID(), client.ContainerInspectOptions{})
	if err != nil {
		return state{}, 0, fmt.Errorf("inspect container: %w", err)
	}
	st := res.Container.State
	if st == nil {
		return state{}, 0, errors.New("inspect container: no state")
	}
	return state{running: st.Running, paused: st.Paused}, st.Pid, nil
}

// Start starts a stopped or killed node's container again and waits until
// the node lists itself as a live broker; a running or paused node is
// left alone.
func (c *Cluster) Start(ctx context.Context, id int32) error {
	return c.do(id, func(n *node) error {
		st, _, err := c.state(ctx, n)
		if err != nil {
			return err
		}
		if st.running {
			return nil
		}
		return c.start(ctx, n)
	})
}

// Restart stops node id gracefully if it runs (resuming it first when
// paused) and starts it again with the same data, id and address.
func (c *Cluster) Restart(ctx context.Context, id int32) error {
	return c.do(id, func(n *node) error {
		st, _, err := c.state(ctx, n)
		if err != nil {
			return err
		}
		if st.paused {
			if _, err := c.api.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
				return fmt.Errorf("unpause: %w", err)
			}
		}
		if st.running {
			if err := c.stop(ctx, n); err != nil {
				return err
			}
		}
		return c.start(ctx, n)
	})
}

// start starts n's container, puts its cuts back (a new container run has
// a new network namespace) and waits until n sees itself.
func (c *Cluster) start(ctx context.Context, n *node) error {
	if err := n.ctr.Start(ctx); err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	if err := c.cuts.apply(ctx, n); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	return c.poll(rctx, fmt.Sprintf("node %d", n.id), func(ctx context.Context) error {
		return c.directs[n.id-1].Sees(ctx, []int32{n.id})
	})
}

// Stop stops node id's container: SIGTERM (controlled shutdown), SIGKILL
// from the engine after Config.StopTimeout. A paused node is resumed
// first so it can shut down.
func (c *Cluster) Stop(ctx context.Context, id int32) error {
	return c.do(id, func(n *node) error {
		st, _, err := c.state(ctx, n)
		if err != nil {
			return err
		}
		if st.paused {
			if _, err := c.api.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
				return fmt.Errorf("unpause: %w", err)
			}
		}
		if !st.running {
			return nil
		}
		return c.stop(ctx, n)
	})
}

func (c *Cluster) stop(ctx context.Context, n *node) error {
	timeout := c.cfg.StopTimeout
	if err := n.ctr.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop container: %w", err)
	}
	return c.saveLogs(n)
}

// Kill sends SIGKILL to node id's broker (the engine does, even to a
// paused container) and waits until the engine reports it exited.
func (c *Cluster) Kill(ctx context.Context, id int32) error {
	return c.do(id, func(n *node) error { return c.kill(ctx, n) })
}

func (c *Cluster) kill(ctx context.Context, n *node) error {
	st, _, err := c.state(ctx, n)
	if err != nil {
		return err
	}
	if !st.running {
		return nil
	}
	if _, err := c.api.ContainerKill(ctx, n.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("kill container: %w", err)
	}
	deadline := time.Now().Add(killWait)
	for {
		st, _, err := c.state(ctx, n)
		if err != nil {
			return err
		}
		if !st.running {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container still running %v after SIGKILL", killWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return c.saveLogs(n)
}

// Pause freezes node id's container (the engine's cgroup freezer): its
// connections stay open and nothing is answered. A paused node is left
// as it is; a node that is not running is an error wrapping
// cluster.ErrNotRunning.
func (c *Cluster) Pause(ctx context.Context, id int32) error {
	return c.do(id, func(n *node) error {
		st, _, err := c.state(ctx, n)
		if err != nil {
			return err
		}
		switch {
		case st.paused:
			return nil
		case !st.running:
			return fmt.Errorf("pause: %w", cluster.ErrNotRunning)
		}
		if _, err := c.api.ContainerPause(ctx, n.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
			return fmt.Errorf("pause container: %w", err)
		}
		return nil
	})
}

// Resume thaws a paused node; on any other node it does nothing.
func (c *Cluster) Resume(ctx context.Context, id int32) error {
	return c.do(id, func(n *node) error {
		st, _, err := c.state(ctx, n)
		if err != nil {
			return err
		}
		if !st.paused {
			return nil
		}
		if _, err := c.api.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
			return fmt.Errorf("resume container: %w", err)
		}
		return nil
	})
}

// Leaders is every partition's leader, the highest leader epoch across the
// nodes' Metadata answers winning.
func (c *Cluster) Leaders(ctx context.Context) (map[cluster.TopicPartition]int32, error) {
	return cluster.MetadataLeaders(ctx, c.admin, cluster.IDs(c.directs))
}

// ActiveController is the controller id the answering nodes' Metadata
// names most often (ties: the lowest id): the reference broker reports its
// metadata quorum's leader there and does not serve DescribeQuorum. A
// paused or cut-off node does not answer within cluster.PerNodeTimeout and
// is not counted.
func (c *Cluster) ActiveController(ctx context.Context) (int32, error) {
	return cluster.MetadataController(ctx, c.directs)
}

// containerLogs is n's whole container log (every run), or "" when the
// engine has none.
func (c *Cluster) containerLogs(n *node) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := n.ctr.Logs(ctx)
	if err != nil {
		return ""
	}
	defer r.Close()
	b, _ := io.ReadAll(io.LimitReader(r, logLimitBytes))
	return string(b)
}

// saveLogs writes n's container log to its server.log.
func (c *Cluster) saveLogs(n *node) error {
	if n.ctr == nil {
		return nil
	}
	if err := os.WriteFile(n.logPath, []byte(c.containerLogs(n)), 0o644); err != nil {
		return fmt.Errorf("save container log: %w", err)
	}
	return nil
}

// Close kills every container, saves its log, removes the containers, the
// network and (when this cluster built it) the image. Node data under
// Config.Dir stays. Safe after a failed New and to call twice.
func (c *Cluster) Close(ctx context.Context) error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return nil
	}
	c.closed = true
	c.closeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.mu.Lock()
			defer n.mu.Unlock()
			errs[i] = c.remove(ctx, n)
		}()
	}
	wg.Wait()
	for _, n := range c.nodes {
		if n.direct != nil {
			n.direct.Close()
		}
	}
	if c.admin != nil {
		c.admin.Close()
	}
	if c.network != nil {
		if err := c.network.Remove(ctx); err != nil {
			errs = append(errs, fmt.Errorf("container: remove network: %w", err))
		}
	}
	if c.ownImage && c.api != nil {
		errs = append(errs, removeImage(ctx, c.api, c.image))
	}
	if c.api != nil {
		errs = append(errs, c.api.Close())
	}
	return errors.Join(errs...)
}

// remove kills n's container (a paused one too), saves its log and
// removes it.
func (c *Cluster) remove(ctx context.Context, n *node) error {
	if n.ctr == nil {
		return nil
	}
	var errs []error
	if err := c.kill(ctx, n); err != nil {
		errs = append(errs, fmt.Errorf("node %d: %w", n.id, err))
	}
	if err := c.saveLogs(n); err != nil {
		errs = append(errs, fmt.Errorf("node %d: %w", n.id, err))
	}
	if err := n.ctr.Terminate(ctx, testcontainers.StopTimeout(0), testcontainers.RemoveVolumes()); err != nil {
		errs = append(errs, fmt.Errorf("node %d: remove container: %w", n.id, err))
	}
	return errors.Join(errs...)
}

// imageRepo is the repository of the images New builds (tag: RunID).
const imageRepo = "highwater-cluster"

// RemoveLeftovers removes what a cluster that was never closed (the
// harness was killed) left behind: containers and networks labelled
// LabelKey=runID and the image highwater-cluster:runID; with runID empty,
// those of every cluster. Node data directories are left alone. It
// returns how many containers it removed.
func RemoveLeftovers(ctx context.Context, runID string) (int, error) {
	api, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w at %s: %w; %s", ErrNoEngine, EngineHost(), err, SetupHint)
	}
	defer api.Close()
	label := LabelKey
	if runID != "" {
		label += "=" + runID
	}
	f := make(client.Filters).Add("label", label)
	var errs []error
	cs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("container: list containers: %w", err)
	}
	removed := 0
	for _, ct := range cs.Items {
		if _, err := api.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("container: remove container %s: %w", ct.ID, err))
			continue
		}
		removed++
	}
	ns, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("container: list networks: %w", err))
	} else {
		for _, n := range ns.Items {
			if _, err := api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
				errs = append(errs, fmt.Errorf("container: remove network %s: %w", n.Name, err))
			}
		}
	}
	ref := imageRepo
	if runID != "" {
		ref += ":" + runID
	}
	is, err := api.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", ref)})
	if err != nil {
		errs = append(errs, fmt.Errorf("container: list images: %w", err))
	} else {
		for _, im := range is.Items {
			errs = append(errs, removeImage(ctx, api, im.ID))
		}
	}
	return removed, errors.Join(errs...)
}

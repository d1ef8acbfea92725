package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
)

// nftTable is the table the driver owns in every container's network
// namespace; each apply replaces it whole.
const nftTable = "highwater_faults"

var (
	_ cluster.Network      = cutter{}
	_ cluster.Links        = (*Cluster)(nil)
	_ cluster.UnsyncedLoss = (*Cluster)(nil)
)

// cutState is the partitions and packet loss in effect. It is the truth:
// each change rewrites the affected containers' nftables table from it,
// and a container that (re)starts gets it again (its new run has a new
// network namespace).
type cutState struct {
	mu     sync.Mutex
	c      *Cluster
	cut    map[[2]int32]bool // (low id, high id)
	loss   map[int32]int     // node id -> loss percent
	availE error             // nil when nsenter+nft can reach the namespaces
}

func (s *cutState) init(c *Cluster) {
	s.c = c
	s.cut = map[[2]int32]bool{}
	s.loss = map[int32]int{}
	s.availE = nftAvailable()
	if c.cfg.HostNetwork {
		s.availE = fmt.Errorf("%w: network partitions and lossy links: with HostNetwork every container shares the host's network namespace, so there is no per-node namespace to cut in (fix: the default bridge network, as root)", cluster.ErrUnavailable)
	}
}

// nftAvailable says whether this process can enter container network
// namespaces and run nft there.
func nftAvailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: container partitions run nft inside each container's network namespace through nsenter, which needs root (run the harness as root)", cluster.ErrUnavailable)
	}
	for _, bin := range []string{"nsenter", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%w: container partitions need %s on the host (Debian: util-linux, nftables): %w", cluster.ErrUnavailable, bin, err)
		}
	}
	return nil
}

func pair(a, b int32) [2]int32 {
	if a > b {
		a, b = b, a
	}
	return [2]int32{a, b}
}

// Network cuts real traffic between containers: nftables rules in each
// container's own network namespace drop every packet to and from the cut
// peer's address. The harness's clients (from the host's bridge address)
// are never cut. Unavailable without root, nsenter or nft.
func (c *Cluster) Network() (cluster.Network, error) {
	if c.cuts.availE != nil {
		return nil, c.cuts.availE
	}
	return cutter{c}, nil
}

type cutter struct{ c *Cluster }

// Cut drops every packet between nodes a and b, both directions.
func (t cutter) Cut(ctx context.Context, a, b int32) error {
	return t.c.cuts.set(ctx, a, b, true)
}

// Heal restores the link between a and b.
func (t cutter) Heal(ctx context.Context, a, b int32) error {
	return t.c.cuts.set(ctx, a, b, false)
}

// HealAll restores every link (packet loss from LossyLinks stays).
func (t cutter) HealAll(ctx context.Context) error {
	s := &t.c.cuts
	s.mu.Lock()
	touched := map[int32]bool{}
	for p := range s.cut {
		touched[p[0]], touched[p[1]] = true, true
	}
	clear(s.cut)
	s.mu.Unlock()
	var errs []error
	for _, n := range t.c.nodes {
		if touched[n.id] {
			errs = append(errs, s.apply(ctx, n))
		}
	}
	return errors.Join(errs...)
}

func (s *cutState) set(ctx context.Context, a, b int32, cut bool) error {
	na, err := s.c.node(a)
	if err != nil {
		return err
	}
	nb, err := s.c.node(b)
	if err != nil {
		return err
	}
	if a == b {
		return nil
	}
	s.mu.Lock()
	if cut {
		s.cut[pair(a, b)] = true
	} else {
		delete(s.cut, pair(a, b))
	}
	s.mu.Unlock()
	return errors.Join(s.apply(ctx, na), s.apply(ctx, nb))
}

// ruleset is n's nftables table as the state asks: drop the cut peers'
// addresses both ways, and lose a share of every packet when lossy.
func (s *cutState) ruleset(n *node) string {
	s.mu.Lock()
	var peers []string
	for p := range s.cut {
		var other int32
		switch n.id {
		case p[0]:
			other = p[1]
		case p[1]:
			other = p[0]
		default:
			continue
		}
		peers = append(peers, s.c.nodes[other-1].ip.String())
	}
	loss := s.loss[n.id]
	s.mu.Unlock()
	slices.Sort(peers)
	var b strings.Builder
	// Declare, delete and recreate: replaces the table whether or not it
	// existed, in one transaction.
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", nftTable, nftTable, nftTable)
	for _, chain := range []struct{ name, dir string }{{"in", "input"}, {"out", "output"}} {
		addr := "saddr"
		if chain.dir == "output" {
			addr = "daddr"
		}
		fmt.Fprintf(&b, "  chain %s {\n    type filter hook %s priority -10; policy accept;\n", chain.name, chain.dir)
		if len(peers) > 0 {
			fmt.Fprintf(&b, "    ip %s { %s } drop\n", addr, strings.Join(peers, ", "))
		}
		if loss > 0 {
			fmt.Fprintf(&b, "    numgen random mod 100 < %d drop\n", loss)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// apply writes n's table into its running container's network namespace;
// a node that is not running gets it when it starts.
func (s *cutState) apply(ctx context.Context, n *node) error {
	if s.availE != nil {
		s.mu.Lock()
		idle := len(s.cut) == 0 && len(s.loss) == 0
		s.mu.Unlock()
		if idle {
			return nil // nothing to apply, and starts must not fail for it
		}
		return s.availE
	}
	st, pid, err := s.c.state(ctx, n)
	if err != nil {
		return err
	}
	if !st.running || pid <= 0 {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(actx, "nsenter", "-t", strconv.Itoa(pid), "-n", "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(s.ruleset(n))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("node %d: nft in container netns (pid %d): %w: %s", n.id, pid, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// LinksAvailable: lossy links are real packet loss in the container's
// namespace (clients' traffic included); slow links need delay, which
// nftables cannot do and this kernel has no netem for.
func (c *Cluster) LinksAvailable(kind string) error {
	switch kind {
	case cluster.LinkLossy:
		return c.cuts.availE
	case cluster.LinkSlow:
		return fmt.Errorf("%w: slow links: the container driver cuts and drops with nftables, which cannot delay packets (no tc netem here); use the reference driver's Proxy mode", cluster.ErrUnavailable)
	default:
		return fmt.Errorf("%w: link kind %q", cluster.ErrUnavailable, kind)
	}
}

// SlowLinks is unavailable (see LinksAvailable).
func (c *Cluster) SlowLinks(context.Context, int32, time.Duration, time.Duration, int64) error {
	return c.LinksAvailable(cluster.LinkSlow)
}

// LossyLinks drops lossPercent of node id's packets, both directions.
func (c *Cluster) LossyLinks(ctx context.Context, id int32, lossPercent int) error {
	if err := c.LinksAvailable(cluster.LinkLossy); err != nil {
		return err
	}
	if lossPercent < 1 || lossPercent > 100 {
		return fmt.Errorf("container: loss %d%% (1..100)", lossPercent)
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.cuts.mu.Lock()
	c.cuts.loss[id] = lossPercent
	c.cuts.mu.Unlock()
	return c.cuts.apply(ctx, n)
}

// RestoreLinks removes node id's packet loss.
func (c *Cluster) RestoreLinks(ctx context.Context, id int32) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.cuts.mu.Lock()
	delete(c.cuts.loss, id)
	c.cuts.mu.Unlock()
	return c.cuts.apply(ctx, n)
}

// pageCacheKey turns on the broker's own page cache, which kill -9 loses.
const pageCacheKey = "highwater.fault.page.cache"

// UnsyncedLossAvailable is nil when every node runs with the broker's page
// cache (Set highwater.fault.page.cache=true), so Kill loses unsynced
// writes.
func (c *Cluster) UnsyncedLossAvailable() error {
	for _, n := range c.nodes {
		if v := c.properties(n)[pageCacheKey]; !strings.EqualFold(strings.TrimSpace(v), "true") {
			return fmt.Errorf("%w: lost unsynced writes: node %d runs without %s=true (set it in Config.Set)", cluster.ErrUnavailable, n.id, pageCacheKey)
		}
	}
	return nil
}

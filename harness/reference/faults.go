package reference

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/faultclient"
	"github.com/highwater-io/highwater/harness/netns"
	"github.com/highwater-io/highwater/harness/proxy"
)

// Broker properties of the reference broker's fault seams.
const (
	faultEndpointsKey = faultclient.EndpointsKey
	pageCacheKey      = "highwater.fault.page.cache"
)

var (
	_ cluster.Links        = (*Cluster)(nil)
	_ cluster.Clocks       = (*Cluster)(nil)
	_ cluster.UnsyncedLoss = (*Cluster)(nil)
)

// Client ids the reference broker's own clients send (broker/
// replication_fetch.go, broker/cluster_txn.go): Proxy mode recognises a
// peer's replica fetches and transaction markers on a node's client proxy
// by them, so a cut can stop them and leave the harness's clients alone.
var peerClientIDs = []string{"highwater-replica-%d", "highwater-txn-coordinator-%d"}

// degradation is what the slow and lossy faults ask of one node.
type degradation struct {
	delay, jitter      time.Duration
	rateBytesPerSecond int64
	lossPercent        int
}

// faultState holds the degradations in effect and the clock seam's
// client, which remembers whether the seam answers.
type faultState struct {
	mu       sync.Mutex
	degraded map[int32]degradation
	cuts     map[[2]int32]bool // Proxy mode's cut links (low id, high id)
	clock    faultclient.Clock
}

func (f *faultState) init(c *Cluster) {
	f.degraded = map[int32]degradation{}
	f.cuts = map[[2]int32]bool{}
	f.clock.MetricsAddr = func(id int32) (string, error) {
		n, err := c.node(id)
		if err != nil {
			return "", err
		}
		return n.metr, nil
	}
}

// probeClock asks node 1's fault endpoint once, after the cluster is
// ready, so clock-skew is reported unavailable up front on a broker
// without the endpoints instead of failing mid-run.
func (f *faultState) probeClock(ctx context.Context, c *Cluster) {
	f.clock.Probe(ctx, c.nodes[0].id, c.properties(c.nodes[0]))
}

// ClocksAvailable is nil when the brokers serve the clock fault endpoint.
func (c *Cluster) ClocksAvailable() error { return c.faults.clock.Available() }

// SkewClock sets node id's clock offset through PUT /fault/clock.
func (c *Cluster) SkewClock(ctx context.Context, id int32, offset time.Duration) error {
	return c.faults.clock.Skew(ctx, id, offset)
}

// ResetClock removes node id's offset (DELETE /fault/clock); a node that
// does not run has none to remove, since a restarted broker starts at
// offset zero.
func (c *Cluster) ResetClock(ctx context.Context, id int32) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if n.proc == nil || !n.proc.Running() {
		return nil
	}
	return c.faults.clock.Reset(ctx, id)
}

// UnsyncedLossAvailable is nil when every node keeps writes in the
// broker's own page cache until fsync, so a Kill loses them.
func (c *Cluster) UnsyncedLossAvailable() error {
	for _, n := range c.nodes {
		if v, _ := strconv.ParseBool(c.properties(n)[pageCacheKey]); !v {
			return fmt.Errorf("%w: node %d runs without %s=true, so kill -9 keeps its unsynced writes in the OS page cache (fix: --set %s=true)",
				cluster.ErrUnavailable, n.id, pageCacheKey, pageCacheKey)
		}
	}
	return nil
}

// LinksAvailable: in Proxy mode both kinds (lossy as connection closes
// and stalls); in NetNS mode lossy only (real packet loss), since
// nftables cannot delay packets and tc netem does not work here.
func (c *Cluster) LinksAvailable(kind string) error {
	switch {
	case kind != cluster.LinkSlow && kind != cluster.LinkLossy:
		return fmt.Errorf("%w: link degradation %q", cluster.ErrUnavailable, kind)
	case c.proxies != nil:
		return nil
	case c.net != nil && kind == cluster.LinkLossy:
		return nil
	case c.net != nil:
		return fmt.Errorf("%w: slow links: NetNS mode cannot delay packets (nftables has no delay and tc netem does not work here); start the reference cluster with Proxy (--proxy) instead", cluster.ErrUnavailable)
	default:
		return fmt.Errorf("%w: %s links need the reference cluster started with Proxy (--proxy, unprivileged) or, for lossy, NetNS (--netns, root)", cluster.ErrUnavailable, kind)
	}
}

// SlowLinks delays and rate-caps node id's links (Proxy mode): its client
// proxy (clients and replica fetchers reaching it) and its controller
// links both ways.
func (c *Cluster) SlowLinks(ctx context.Context, id int32, delay, jitter time.Duration, rateBytesPerSecond int64) error {
	if err := c.LinksAvailable(cluster.LinkSlow); err != nil {
		return err
	}
	return c.degrade(ctx, id, func(d *degradation) {
		d.delay, d.jitter, d.rateBytesPerSecond = delay, jitter, rateBytesPerSecond
	})
}

// LossyLinks loses lossPercent of node id's traffic: real packets in
// NetNS mode (inter-node and client traffic), connection closes and
// stalls per chunk in Proxy mode.
func (c *Cluster) LossyLinks(ctx context.Context, id int32, lossPercent int) error {
	if err := c.LinksAvailable(cluster.LinkLossy); err != nil {
		return err
	}
	if lossPercent < 1 || lossPercent > 100 {
		return fmt.Errorf("reference: loss %d%% (1..100)", lossPercent)
	}
	return c.degrade(ctx, id, func(d *degradation) { d.lossPercent = lossPercent })
}

// RestoreLinks removes node id's degradations.
func (c *Cluster) RestoreLinks(ctx context.Context, id int32) error {
	return c.degrade(ctx, id, func(d *degradation) { *d = degradation{} })
}

// degrade changes node id's degradation and applies the result.
func (c *Cluster) degrade(ctx context.Context, id int32, change func(*degradation)) error {
	if _, err := c.node(id); err != nil {
		return err
	}
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	d := c.faults.degraded[id]
	change(&d)
	if d == (degradation{}) {
		delete(c.faults.degraded, id)
	} else {
		c.faults.degraded[id] = d
	}
	switch {
	case c.proxies != nil:
		return c.proxies.apply(c.faults.degraded, c.faults.cuts)
	case c.net != nil:
		return c.net.Degrade(ctx, id, netns.Degradation{LossPercent: d.lossPercent, RateBytesPerSecond: d.rateBytesPerSecond})
	default:
		return c.LinksAvailable(cluster.LinkLossy)
	}
}

// proxies are Proxy mode's proxies: one in front of each node's client
// listener, one per ordered pair of nodes for controller traffic.
type proxies struct {
	client map[int32]*proxy.Proxy
	ctrl   map[[2]int32]*proxy.Proxy // (from, to)
}

// newProxies starts the proxies and points each node's advertised
// address at its client proxy.
func newProxies(nodes []*node, seed int64) (*proxies, error) {
	ps := &proxies{client: map[int32]*proxy.Proxy{}, ctrl: map[[2]int32]*proxy.Proxy{}}
	listen := func(target string, i int64) (*proxy.Proxy, error) {
		p, err := proxy.Start(proxy.Config{Listen: hostPort(host, 0), Target: target, Seed: seed + i, Identify: kafkaClientID})
		if err != nil {
			ps.close()
			return nil, fmt.Errorf("reference: %w", err)
		}
		return p, nil
	}
	var err error
	for _, n := range nodes {
		if ps.client[n.id], err = listen(n.client, int64(n.id)); err != nil {
			return nil, err
		}
		n.advertised = ps.client[n.id].Addr()
		for _, to := range nodes {
			if to.id == n.id || to.ctrl == "" {
				continue
			}
			if ps.ctrl[[2]int32{n.id, to.id}], err = listen(to.ctrl, int64(1000*n.id+to.id)); err != nil {
				return nil, err
			}
		}
	}
	return ps, nil
}

// voterAddr is the address node n dials for voter o: o's own listener
// for itself or without proxies, else the (n, o) proxy.
func (c *Cluster) voterAddr(n, o *node) string {
	if c.proxies != nil {
		if p, ok := c.proxies.ctrl[[2]int32{n.id, o.id}]; ok {
			return p.Addr()
		}
	}
	return o.ctrl
}

// apply sets every proxy's faults from the degradations of the nodes it
// joins (the worse of the two for a controller link) and the cuts: a cut
// link's controller proxies are blackholed both ways, and so are the
// peer's replica-fetch and marker connections on each side's client
// proxy.
func (ps *proxies) apply(deg map[int32]degradation, cuts map[[2]int32]bool) error {
	cut := func(a, b int32) bool { return cuts[[2]int32{min(a, b), max(a, b)}] }
	var errs []error
	for id, p := range ps.client {
		errs = append(errs, p.SetFaults(toFaults(deg[id])))
		named := map[string]proxy.Faults{}
		for peer := range ps.client {
			if peer != id && cut(id, peer) {
				for _, f := range peerClientIDs {
					named[fmt.Sprintf(f, peer)] = proxy.Faults{Blackhole: true}
				}
			}
		}
		errs = append(errs, p.ReplaceFaultsFor(named))
	}
	for k, p := range ps.ctrl {
		f := toFaults(worse(deg[k[0]], deg[k[1]]))
		f.Blackhole = cut(k[0], k[1])
		errs = append(errs, p.SetFaults(f))
	}
	return errors.Join(errs...)
}

// kafkaClientID reads the client id from the first Kafka request on a
// connection (size, api key, api version, correlation id, then the client
// id as an int16-length string in every request header version the
// harness meets); "" when the bytes are not a whole header.
func kafkaClientID(b []byte) string {
	const idAt = 4 + 2 + 2 + 4
	if len(b) < idAt+2 {
		return ""
	}
	n := int(int16(binary.BigEndian.Uint16(b[idAt:])))
	if n < 0 || len(b) < idAt+2+n {
		return ""
	}
	return string(b[idAt+2 : idAt+2+n])
}

// proxyNet cuts links in Proxy mode: silently (blackholes), controller
// traffic and the peers' replica fetches both ways; the harness's clients
// keep reaching every node.
type proxyNet struct{ c *Cluster }

var _ cluster.Network = proxyNet{}

func (n proxyNet) Cut(_ context.Context, a, b int32) error  { return n.c.setCut(a, b, true) }
func (n proxyNet) Heal(_ context.Context, a, b int32) error { return n.c.setCut(a, b, false) }

func (n proxyNet) HealAll(context.Context) error {
	c := n.c
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	clear(c.faults.cuts)
	return c.proxies.apply(c.faults.degraded, c.faults.cuts)
}

func (c *Cluster) setCut(a, b int32, cut bool) error {
	for _, id := range []int32{a, b} {
		if _, err := c.node(id); err != nil {
			return err
		}
	}
	if a == b {
		return fmt.Errorf("reference: cannot cut node %d from itself", a)
	}
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	key := [2]int32{min(a, b), max(a, b)}
	if cut {
		c.faults.cuts[key] = true
	} else {
		delete(c.faults.cuts, key)
	}
	return c.proxies.apply(c.faults.degraded, c.faults.cuts)
}

func worse(a, b degradation) degradation {
	rate := max(a.rateBytesPerSecond, b.rateBytesPerSecond)
	if a.rateBytesPerSecond > 0 && b.rateBytesPerSecond > 0 {
		rate = min(a.rateBytesPerSecond, b.rateBytesPerSecond)
	}
	return degradation{delay: max(a.delay, b.delay), jitter: max(a.jitter, b.jitter),
		rateBytesPerSecond: rate, lossPercent: max(a.lossPercent, b.lossPercent)}
}

func toFaults(d degradation) proxy.Faults {
	return proxy.Faults{Delay: d.delay, Jitter: d.jitter, RateBytesPerSecond: d.rateBytesPerSecond, DropPercent: d.lossPercent}
}

func (ps *proxies) close() {
	for _, p := range ps.client {
		_ = p.Close()
	}
	for _, p := range ps.ctrl {
		_ = p.Close()
	}
}

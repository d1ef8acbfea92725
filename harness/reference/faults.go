package reference

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/netns"
	"github.com/highwater-io/highwater/harness/proxy"
)

// Broker properties of the reference broker's fault seams.
const (
	faultEndpointsKey = "highwater.fault.endpoints"
	pageCacheKey      = "highwater.fault.page.cache"
)

// clockPath is the fault endpoint on the metrics listener.
const clockPath = "/fault/clock"

// faultHTTPTimeout bounds one fault endpoint request.
const faultHTTPTimeout = 3 * time.Second

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

// faultState holds the degradations in effect and whether the clock seam
// answers.
type faultState struct {
	mu       sync.Mutex
	degraded map[int32]degradation
	cuts     map[[2]int32]bool // Proxy mode's cut links (low id, high id)
	clockErr error
	http     *http.Client
}

func (f *faultState) init(*Cluster) {
	f.degraded = map[int32]degradation{}
	f.cuts = map[[2]int32]bool{}
	f.http = &http.Client{Timeout: faultHTTPTimeout}
	f.clockErr = errors.New("not probed yet")
}

// probeClock asks node 1's fault endpoint once, after the cluster is
// ready, so clock-skew is reported unavailable up front on a broker
// without the endpoints instead of failing mid-run.
func (f *faultState) probeClock(ctx context.Context, c *Cluster) {
	var err error
	if v := c.properties(c.nodes[0])[faultEndpointsKey]; v != "true" {
		err = fmt.Errorf("%w: clock skew needs the broker's fault endpoints (fix: leave %s=true, Set has %q)", cluster.ErrUnavailable, faultEndpointsKey, v)
	} else if _, err = f.call(ctx, http.MethodGet, c.nodes[0], ""); err != nil {
		err = fmt.Errorf("%w: clock skew: the broker does not serve %s on its metrics listener (%w); it needs a build with the fault endpoints", cluster.ErrUnavailable, clockPath, err)
	}
	f.mu.Lock()
	f.clockErr = err
	f.mu.Unlock()
}

// clockBody is the clock endpoint's answer: {"offset_ms":N}.
type clockBody struct {
	OffsetMs *int64 `json:"offset_ms"`
}

// call sends one request to n's clock endpoint and returns the offset it
// answers (anything else, such as a metrics page served for every path,
// is an error).
func (f *faultState) call(ctx context.Context, method string, n *node, query string) (time.Duration, error) {
	body, err := f.send(ctx, method, n, query)
	if err != nil {
		return 0, err
	}
	var cb clockBody
	if err := json.Unmarshal([]byte(body), &cb); err != nil || cb.OffsetMs == nil {
		return 0, fmt.Errorf("%s %s: not a clock answer: %.80q", method, clockPath, body)
	}
	return time.Duration(*cb.OffsetMs) * time.Millisecond, nil
}

func (f *faultState) send(ctx context.Context, method string, n *node, query string) (string, error) {
	url := "http://" + n.metr + clockPath
	if query != "" {
		url += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// ClocksAvailable is nil when the brokers serve the clock fault endpoint.
func (c *Cluster) ClocksAvailable() error {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	return c.faults.clockErr
}

// SkewClock sets node id's clock offset through PUT /fault/clock.
func (c *Cluster) SkewClock(ctx context.Context, id int32, offset time.Duration) error {
	if err := c.ClocksAvailable(); err != nil {
		return err
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	got, err := c.faults.call(ctx, http.MethodPut, n, "offset_ms="+strconv.FormatInt(offset.Milliseconds(), 10))
	if err != nil {
		return fmt.Errorf("node %d: skew clock: %w", id, err)
	}
	if got != offset.Truncate(time.Millisecond) {
		return fmt.Errorf("node %d: skew clock by %v: the broker answered %v", id, offset, got)
	}
	return nil
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
	if _, err := c.faults.call(ctx, http.MethodDelete, n, ""); err != nil {
		return fmt.Errorf("node %d: reset clock: %w", id, err)
	}
	return nil
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

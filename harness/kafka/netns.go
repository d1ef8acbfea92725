package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/highwater-io/highwater/harness/cluster"
)

// Names of everything the namespace mode creates carry a tag: the owner's
// pid (6 hex digits) and a per-process sequence number (2 hex digits), so a
// sweep can tell resources of dead owners from live ones. Link names must
// fit in 15 bytes.
const (
	nsPrefix     = "hwk"        // network namespace hwk<tag>-<node>
	bridgePrefix = "hwb"        // bridge hwb<tag>
	vethPrefix   = "hwv"        // root-side veth hwv<tag><node, 2 hex>
	tablePrefix  = "highwater_" // nftables bridge table highwater_<tag>
	tagLen       = 8
	// subnetFirst, subnetSecond: the private 10.213.x.0/24 subnets the
	// namespaces use; the bridge is .1, node i is .(10+i).
	subnetFirst, subnetSecond = 10, 213
)

var netnsSeq atomic.Uint32

// netns is the namespaces, veths, bridge and nftables table of one cluster.
// It implements cluster.Network.
type netns struct {
	tag    string
	subnet int
	nodes  int
	ipPath string
	table  *nftables.Table
	chain  *nftables.Chain

	mu   sync.Mutex
	cuts map[[2]int32]bool // (low id, high id)
	made []func(context.Context) error
}

var _ cluster.Network = (*netns)(nil)

// netnsAvailable explains why namespace mode cannot run here.
func netnsAvailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: network namespaces need root (fix: run as root, or start without --netns; then network partitions are unavailable)", cluster.ErrUnavailable)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: network namespaces need the ip command (fix: apt-get install -y iproute2)", cluster.ErrUnavailable)
	}
	return nil
}

func (n *netns) nsName(id int) string { return fmt.Sprintf("%s%s-%d", nsPrefix, n.tag, id) }
func (n *netns) bridge() string       { return bridgePrefix + n.tag }
func (n *netns) veth(id int) string   { return fmt.Sprintf("%s%s%02x", vethPrefix, n.tag, id) }
func (n *netns) nodeIP(id int) string { return n.ip(10 + id) }
func (n *netns) ip(host int) string {
	return fmt.Sprintf("%d.%d.%d.%d", subnetFirst, subnetSecond, n.subnet, host)
}
func (n *netns) ipRaw(id int32) []byte { return net.ParseIP(n.nodeIP(int(id))).To4() }

// newNetns sweeps stale resources, then builds a bridge, one namespace per
// node with a veth pair to the bridge, and an empty nftables table. On
// failure it removes what it made.
func newNetns(ctx context.Context, nodes int) (*netns, error) {
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		return nil, err
	}
	sweepStale(ctx, ipPath)
	n := &netns{
		tag:    fmt.Sprintf("%06x%02x", os.Getpid()&0xffffff, netnsSeq.Add(1)&0xff),
		nodes:  nodes,
		ipPath: ipPath,
		cuts:   map[[2]int32]bool{},
	}
	if n.subnet, err = freeSubnet(ctx, ipPath, n.tag); err != nil {
		return nil, err
	}
	if err := n.build(ctx); err != nil {
		_ = n.close(context.WithoutCancel(ctx))
		return nil, err
	}
	return n, nil
}

func (n *netns) build(ctx context.Context) error {
	br := n.bridge()
	if err := n.ipCmd(ctx, "link", "add", br, "type", "bridge"); err != nil {
		return err
	}
	n.made = append(n.made, func(ctx context.Context) error { return n.ipCmd(ctx, "link", "del", br) })
	if err := n.ipCmds(ctx,
		[]string{"addr", "add", n.ip(1) + "/24", "dev", br},
		[]string{"link", "set", br, "up"}); err != nil {
		return err
	}
	for id := 1; id <= n.nodes; id++ {
		ns, veth := n.nsName(id), n.veth(id)
		if err := n.ipCmd(ctx, "netns", "add", ns); err != nil {
			return err
		}
		n.made = append(n.made, func(ctx context.Context) error { return n.ipCmd(ctx, "netns", "del", ns) })
		if err := n.ipCmd(ctx, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns); err != nil {
			return err
		}
		n.made = append(n.made, func(ctx context.Context) error { return n.ipCmd(ctx, "link", "del", veth) })
		if err := n.ipCmds(ctx,
			[]string{"link", "set", veth, "master", br},
			[]string{"link", "set", veth, "up"},
			[]string{"-n", ns, "addr", "add", n.nodeIP(id) + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"}); err != nil {
			return err
		}
	}
	return n.buildTable()
}

// buildTable creates a bridge-family table whose forward chain will hold
// the drop rules: frames between two namespaces are forwarded by the
// bridge, while the harness's own traffic to a node leaves the root
// namespace through the bridge's output hook and is never matched.
func (n *netns) buildTable() error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("kafka: nftables: %w", err)
	}
	n.table = conn.AddTable(&nftables.Table{Family: nftables.TableFamilyBridge, Name: tablePrefix + n.tag})
	policy := nftables.ChainPolicyAccept
	n.chain = conn.AddChain(&nftables.Chain{
		Name: "forward", Table: n.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("kafka: nftables: create table %s: %w (fix: the kernel needs nf_tables with bridge support)", n.table.Name, err)
	}
	table := n.table
	n.made = append(n.made, func(context.Context) error { return delTable(table) })
	return nil
}

func delTable(t *nftables.Table) error {
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	conn.DelTable(t)
	return conn.Flush()
}

// Cut drops every IPv4 packet between nodes a and b.
func (n *netns) Cut(_ context.Context, a, b int32) error {
	return n.change(a, b, true)
}

// Heal removes the cut between a and b.
func (n *netns) Heal(_ context.Context, a, b int32) error {
	return n.change(a, b, false)
}

// HealAll removes every cut.
func (n *netns) HealAll(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
	return n.apply()
}

func (n *netns) change(a, b int32, cut bool) error {
	for _, id := range []int32{a, b} {
		if id < 1 || int(id) > n.nodes {
			return fmt.Errorf("%w: %d (nodes are 1..%d)", cluster.ErrUnknownNode, id, n.nodes)
		}
	}
	if a == b {
		return fmt.Errorf("kafka: cannot cut node %d from itself", a)
	}
	key := [2]int32{min(a, b), max(a, b)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if cut {
		n.cuts[key] = true
	} else {
		delete(n.cuts, key)
	}
	return n.apply()
}

// apply replaces the chain's rules with one drop rule per direction of
// every cut, in one netlink transaction.
func (n *netns) apply() error {
	if n.table == nil {
		return fmt.Errorf("%w: namespaces are torn down", cluster.ErrClosed)
	}
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("kafka: nftables: %w", err)
	}
	conn.FlushChain(n.chain)
	keys := make([][2]int32, 0, len(n.cuts))
	for k := range n.cuts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]int32) int { return int(x[0]-y[0])*1000 + int(x[1]-y[1]) })
	for _, k := range keys {
		conn.AddRule(&nftables.Rule{Table: n.table, Chain: n.chain, Exprs: dropBetween(n.ipRaw(k[0]), n.ipRaw(k[1]))})
		conn.AddRule(&nftables.Rule{Table: n.table, Chain: n.chain, Exprs: dropBetween(n.ipRaw(k[1]), n.ipRaw(k[0]))})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("kafka: nftables: update cuts: %w", err)
	}
	return nil
}

// dropBetween is `meta protocol ip ip saddr src ip daddr dst drop` for the
// bridge family.
func dropBetween(src, dst []byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(0x0800)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: src},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// close removes everything made, newest first, and reports every failure.
// Processes inside the namespaces must be gone already.
func (n *netns) close(ctx context.Context) error {
	n.mu.Lock()
	made := n.made
	n.made, n.table = nil, nil
	n.mu.Unlock()
	var errs []error
	for i := len(made) - 1; i >= 0; i-- {
		errs = append(errs, made[i](ctx))
	}
	return errors.Join(errs...)
}

func (n *netns) ipCmds(ctx context.Context, cmds ...[]string) error {
	for _, args := range cmds {
		if err := n.ipCmd(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func (n *netns) ipCmd(ctx context.Context, args ...string) error {
	return runIP(ctx, n.ipPath, args...)
}

func runIP(ctx context.Context, ipPath string, args ...string) error {
	out, err := exec.CommandContext(ctx, ipPath, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kafka: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freeSubnet picks a 10.213.x.0/24 no interface uses, starting from one
// derived from the tag so concurrent clusters rarely race for the same.
func freeSubnet(ctx context.Context, ipPath, tag string) (int, error) {
	out, err := exec.CommandContext(ctx, ipPath, "-4", "-o", "addr", "show").Output()
	if err != nil {
		return 0, fmt.Errorf("kafka: ip addr show: %w", err)
	}
	seed, _ := strconv.ParseUint(tag, 16, 64)
	for i := range 254 {
		x := 1 + int((seed+uint64(i))%254)
		if !strings.Contains(string(out), fmt.Sprintf(" %d.%d.%d.", subnetFirst, subnetSecond, x)) {
			return x, nil
		}
	}
	return 0, fmt.Errorf("kafka: no free %d.%d.x.0/24 subnet for namespaces", subnetFirst, subnetSecond)
}

// ownerDead reports whether the owner pid encoded in a tag has exited.
func ownerDead(tag string) bool {
	if len(tag) < tagLen {
		return false
	}
	pid, err := strconv.ParseInt(tag[:6], 16, 32)
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(int(pid), 0), syscall.ESRCH)
}

// sweepStale removes namespaces, links and tables left by owners that
// died without cleaning up (a SIGKILLed test binary). Failures are
// ignored: a sweep must not stop a new cluster.
func sweepStale(ctx context.Context, ipPath string) {
	if out, err := exec.CommandContext(ctx, ipPath, "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], nsPrefix) && ownerDead(strings.TrimPrefix(f[0], nsPrefix)) {
				_ = runIP(ctx, ipPath, "netns", "del", f[0])
			}
		}
	}
	if out, err := exec.CommandContext(ctx, ipPath, "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			for _, p := range []string{bridgePrefix, vethPrefix} {
				if strings.HasPrefix(name, p) && ownerDead(strings.TrimPrefix(name, p)) {
					_ = runIP(ctx, ipPath, "link", "del", name)
				}
			}
		}
	}
	if conn, err := nftables.New(); err == nil {
		if tables, err := conn.ListTablesOfFamily(nftables.TableFamilyBridge); err == nil {
			for _, t := range tables {
				if strings.HasPrefix(t.Name, tablePrefix) && ownerDead(strings.TrimPrefix(t.Name, tablePrefix)) {
					_ = delTable(t)
				}
			}
		}
	}
}

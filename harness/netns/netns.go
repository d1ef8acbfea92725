package netns

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

	"github.com/highwater-io/highwater/harness/cluster"
)

// Names of everything New creates carry a tag: the owner's pid (6 hex
// digits) and a per-process sequence number (2 hex digits), so a sweep can
// tell resources of dead owners from live ones. Link names must fit in 15
// bytes.
const (
	NSPrefix     = "hwk"        // network namespace hwk<tag>-<node>
	BridgePrefix = "hwb"        // bridge hwb<tag>
	VethPrefix   = "hwv"        // root-side veth hwv<tag><node, 2 hex>
	TablePrefix  = "highwater_" // nftables bridge table highwater_<tag>
	tagLen       = 8
	// subnetFirst, subnetSecond: the private 10.213.x.0/24 subnets the
	// namespaces use; the bridge is .1, node i is .(10+i).
	subnetFirst, subnetSecond = 10, 213
	// MaxNodes keeps node addresses and veth names in range.
	MaxNodes = 200
)

var seq atomic.Uint32

// Net is the namespaces, veths, bridge and nftables table of one cluster.
// It implements cluster.Network.
type Net struct {
	tag    string
	subnet int
	nodes  int
	ipPath string

	mu       sync.Mutex
	table    *nftables.Table
	chains   chains
	cuts     map[[2]int32]bool // (low id, high id)
	degraded map[int32]Degradation
	made     []func(context.Context) error
}

var _ cluster.Network = (*Net)(nil)

// Degradation is what Degrade does to one node's links.
type Degradation struct {
	// LossPercent of the node's packets are dropped at random (0..100).
	LossPercent int
	// RateBytesPerSecond polices each direction of the node's traffic:
	// packets beyond it are dropped (0: no cap).
	RateBytesPerSecond int64
}

// Available explains why namespace mode cannot run here (nil when it can).
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: network namespaces need root (fix: run as root, or start without --netns; then network partitions are unavailable)", cluster.ErrUnavailable)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: network namespaces need the ip command (fix: apt-get install -y iproute2)", cluster.ErrUnavailable)
	}
	return nil
}

// Tag is the suffix every resource name of n carries.
func (n *Net) Tag() string { return n.tag }

// NSName is node id's namespace name.
func (n *Net) NSName(id int) string { return fmt.Sprintf("%s%s-%d", NSPrefix, n.tag, id) }

// NodeIP is node id's address, reachable from the root namespace and
// from every other node's namespace.
func (n *Net) NodeIP(id int) string { return n.ip(10 + id) }

// HostIP is the bridge's address in the root namespace, reachable from
// every node's namespace (where a proxy in the harness can listen).
func (n *Net) HostIP() string { return n.ip(1) }

// Exec is the command prefix that runs a program in node id's namespace.
func (n *Net) Exec(id int) []string { return []string{n.ipPath, "netns", "exec", n.NSName(id)} }

func (n *Net) bridge() string     { return BridgePrefix + n.tag }
func (n *Net) veth(id int) string { return fmt.Sprintf("%s%s%02x", VethPrefix, n.tag, id) }
func (n *Net) ip(host int) string {
	return fmt.Sprintf("%d.%d.%d.%d", subnetFirst, subnetSecond, n.subnet, host)
}
func (n *Net) ipRaw(id int32) []byte { return net.ParseIP(n.NodeIP(int(id))).To4() }

// New sweeps stale resources, then builds a bridge, one namespace per node
// with a veth pair to the bridge, and an empty nftables table. On failure
// it removes what it made.
func New(ctx context.Context, nodes int) (*Net, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if nodes < 1 || nodes > MaxNodes {
		return nil, fmt.Errorf("netns: %d nodes (1..%d)", nodes, MaxNodes)
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		return nil, err
	}
	SweepStale(ctx, ipPath)
	n := &Net{
		tag:      fmt.Sprintf("%06x%02x", os.Getpid()&0xffffff, seq.Add(1)&0xff),
		nodes:    nodes,
		ipPath:   ipPath,
		cuts:     map[[2]int32]bool{},
		degraded: map[int32]Degradation{},
	}
	if n.subnet, err = freeSubnet(ctx, ipPath, n.tag); err != nil {
		return nil, err
	}
	if err := n.build(ctx); err != nil {
		_ = n.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return n, nil
}

func (n *Net) build(ctx context.Context) error {
	br := n.bridge()
	if err := n.ipCmd(ctx, "link", "add", br, "type", "bridge"); err != nil {
		return err
	}
	n.made = append(n.made, func(ctx context.Context) error { return n.ipCmd(ctx, "link", "del", br) })
	if err := n.ipCmds(ctx,
		[]string{"addr", "add", n.HostIP() + "/24", "dev", br},
		[]string{"link", "set", br, "up"}); err != nil {
		return err
	}
	for id := 1; id <= n.nodes; id++ {
		ns, veth := n.NSName(id), n.veth(id)
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
			[]string{"-n", ns, "addr", "add", n.NodeIP(id) + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"}); err != nil {
			return err
		}
	}
	return n.buildTable()
}

// Close removes everything made, newest first, and reports every failure.
// Processes inside the namespaces must be gone already. Safe to call
// twice.
func (n *Net) Close(ctx context.Context) error {
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

func (n *Net) ipCmds(ctx context.Context, cmds ...[]string) error {
	for _, args := range cmds {
		if err := n.ipCmd(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func (n *Net) ipCmd(ctx context.Context, args ...string) error {
	return RunIP(ctx, n.ipPath, args...)
}

// RunIP runs the ip command and quotes its output on failure.
func RunIP(ctx context.Context, ipPath string, args ...string) error {
	out, err := exec.CommandContext(ctx, ipPath, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freeSubnet picks a 10.213.x.0/24 no interface uses, starting from one
// derived from the tag so concurrent clusters rarely race for the same.
func freeSubnet(ctx context.Context, ipPath, tag string) (int, error) {
	out, err := exec.CommandContext(ctx, ipPath, "-4", "-o", "addr", "show").Output()
	if err != nil {
		return 0, fmt.Errorf("netns: ip addr show: %w", err)
	}
	seed, _ := strconv.ParseUint(tag, 16, 64)
	for i := range 254 {
		x := 1 + int((seed+uint64(i))%254)
		if !strings.Contains(string(out), fmt.Sprintf(" %d.%d.%d.", subnetFirst, subnetSecond, x)) {
			return x, nil
		}
	}
	return 0, fmt.Errorf("netns: no free %d.%d.x.0/24 subnet for namespaces", subnetFirst, subnetSecond)
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

// SweepStale removes namespaces, links and tables left by owners that died
// without cleaning up (a SIGKILLed test binary). Failures are ignored: a
// sweep must not stop a new cluster.
func SweepStale(ctx context.Context, ipPath string) {
	if out, err := exec.CommandContext(ctx, ipPath, "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], NSPrefix) && ownerDead(strings.TrimPrefix(f[0], NSPrefix)) {
				_ = RunIP(ctx, ipPath, "netns", "del", f[0])
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
			for _, p := range []string{BridgePrefix, VethPrefix} {
				if strings.HasPrefix(name, p) && ownerDead(strings.TrimPrefix(name, p)) {
					_ = RunIP(ctx, ipPath, "link", "del", name)
				}
			}
		}
	}
	if conn, err := nftables.New(); err == nil {
		if tables, err := conn.ListTablesOfFamily(nftables.TableFamilyBridge); err == nil {
			for _, t := range tables {
				if strings.HasPrefix(t.Name, TablePrefix) && ownerDead(strings.TrimPrefix(t.Name, TablePrefix)) {
					_ = delTable(t)
				}
			}
		}
	}
}

// sortedKeys returns m's keys in order (rules are laid out
// deterministically).
func sortedCuts(m map[[2]int32]bool) [][2]int32 {
	keys := make([][2]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]int32) int {
		if x[0] != y[0] {
			return int(x[0] - y[0])
		}
		return int(x[1] - y[1])
	})
	return keys
}

// Leftovers lists the namespaces, links and nftables tables whose names
// carry tag: empty after Close (tests check it).
func Leftovers(ctx context.Context, tag string) []string {
	var out []string
	if b, err := exec.CommandContext(ctx, "ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], tag) {
				out = append(out, "netns "+f[0])
			}
		}
	}
	if b, err := exec.CommandContext(ctx, "ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.Contains(f[1], tag) {
				out = append(out, "link "+strings.TrimSuffix(f[1], ":"))
			}
		}
	}
	if conn, err := nftables.New(); err == nil {
		if tables, err := conn.ListTablesOfFamily(nftables.TableFamilyBridge); err == nil {
			for _, t := range tables {
				if strings.Contains(t.Name, tag) {
					out = append(out, "nftables table "+t.Name)
				}
			}
		}
	}
	return out
}

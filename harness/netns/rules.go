package netns

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/highwater-io/highwater/harness/cluster"
)

// chains of the bridge table: forward sees node-to-node frames, input and
// output the frames between a node and the root namespace (the harness).
type chains struct{ forward, input, output *nftables.Chain }

// buildTable creates the bridge-family table and its three chains.
func (n *Net) buildTable() error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("netns: nftables: %w", err)
	}
	n.table = conn.AddTable(&nftables.Table{Family: nftables.TableFamilyBridge, Name: TablePrefix + n.tag})
	policy := nftables.ChainPolicyAccept
	chain := func(name string, hook *nftables.ChainHook) *nftables.Chain {
		return conn.AddChain(&nftables.Chain{
			Name: name, Table: n.table, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: &policy,
		})
	}
	n.chains = chains{
		forward: chain("forward", nftables.ChainHookForward),
		input:   chain("input", nftables.ChainHookInput),
		output:  chain("output", nftables.ChainHookOutput),
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("netns: nftables: create table %s: %w (fix: the kernel needs nf_tables with bridge support)", n.table.Name, err)
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
func (n *Net) Cut(_ context.Context, a, b int32) error { return n.change(a, b, true) }

// Heal removes the cut between a and b.
func (n *Net) Heal(_ context.Context, a, b int32) error { return n.change(a, b, false) }

// HealAll removes every cut and every degradation.
func (n *Net) HealAll(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
	clear(n.degraded)
	return n.apply()
}

func (n *Net) checkID(id int32) error {
	if id < 1 || int(id) > n.nodes {
		return fmt.Errorf("%w: %d (nodes are 1..%d)", cluster.ErrUnknownNode, id, n.nodes)
	}
	return nil
}

func (n *Net) change(a, b int32, cut bool) error {
	for _, id := range []int32{a, b} {
		if err := n.checkID(id); err != nil {
			return err
		}
	}
	if a == b {
		return fmt.Errorf("netns: cannot cut node %d from itself", a)
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

// Degrade replaces node id's degradation with d (every link of the node,
// client traffic included).
func (n *Net) Degrade(_ context.Context, id int32, d Degradation) error {
	if err := n.checkID(id); err != nil {
		return err
	}
	if d.LossPercent < 0 || d.LossPercent > 100 || d.RateBytesPerSecond < 0 {
		return fmt.Errorf("netns: bad degradation %+v (loss 0..100 %%, rate >= 0)", d)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.degraded[id] = d
	return n.apply()
}

// Restore removes node id's degradation.
func (n *Net) Restore(_ context.Context, id int32) error {
	if err := n.checkID(id); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.degraded, id)
	return n.apply()
}

// apply replaces every chain's rules with the current cuts and
// degradations, in one netlink transaction. Called with mu held.
func (n *Net) apply() error {
	if n.table == nil {
		return fmt.Errorf("%w: namespaces are torn down", cluster.ErrClosed)
	}
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("netns: nftables: %w", err)
	}
	all := []*nftables.Chain{n.chains.forward, n.chains.input, n.chains.output}
	for _, c := range all {
		conn.FlushChain(c)
	}
	for _, k := range sortedCuts(n.cuts) {
		conn.AddRule(&nftables.Rule{Table: n.table, Chain: n.chains.forward, Exprs: drop(matchPair(n.ipRaw(k[0]), n.ipRaw(k[1])))})
		conn.AddRule(&nftables.Rule{Table: n.table, Chain: n.chains.forward, Exprs: drop(matchPair(n.ipRaw(k[1]), n.ipRaw(k[0])))})
	}
	for _, id := range slices.Sorted(maps.Keys(n.degraded)) {
		d := n.degraded[id]
		for _, c := range all {
			for _, m := range [][]expr.Any{matchAddr(ipSrcOffset, n.ipRaw(id)), matchAddr(ipDstOffset, n.ipRaw(id))} {
				if d.LossPercent > 0 {
					conn.AddRule(&nftables.Rule{Table: n.table, Chain: c, Exprs: drop(append(slices.Clone(m), randomBelow(d.LossPercent)...))})
				}
				if d.RateBytesPerSecond > 0 {
					conn.AddRule(&nftables.Rule{Table: n.table, Chain: c, Exprs: drop(append(slices.Clone(m), rateOver(d.RateBytesPerSecond)))})
				}
			}
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("netns: nftables: update rules: %w", err)
	}
	return nil
}

// Offsets of the IPv4 source and destination addresses.
const ipSrcOffset, ipDstOffset = 12, 16

// matchIPv4 is `meta protocol ip` for the bridge family.
func matchIPv4() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(0x0800)},
	}
}

// matchAddr is `meta protocol ip ip saddr|daddr addr`.
func matchAddr(offset uint32, addr []byte) []expr.Any {
	return append(matchIPv4(),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr})
}

// matchPair is `meta protocol ip ip saddr src ip daddr dst`.
func matchPair(src, dst []byte) []expr.Any {
	return append(matchAddr(ipSrcOffset, src),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: ipDstOffset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst})
}

// randomBelow is `numgen random mod 100 < percent`: the number is
// converted to network order first, as nft does, since cmp compares bytes.
func randomBelow(percent int) []expr.Any {
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(percent))},
	}
}

// rateOver is `limit rate over R bytes/second burst R bytes`: true for
// packets beyond the rate.
func rateOver(bytesPerSecond int64) expr.Any {
	burst := uint32(min(bytesPerSecond, 1<<30))
	return &expr.Limit{Type: expr.LimitTypePktBytes, Rate: uint64(bytesPerSecond), Over: true, Unit: expr.LimitTimeSecond, Burst: burst}
}

func drop(match []expr.Any) []expr.Any {
	return append(match, &expr.Verdict{Kind: expr.VerdictDrop})
}

package nemesis

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Selectors name a step's target; they are resolved against the live
// topology at injection time, drawing from Env.Rand:
//
//	random           one node
//	node:2           node 2 (node:1,3 for several)
//	leader           the leader of one partition (random among those with a leader)
//	leader:orders/0  the leader of partition 0 of topic orders
//	controller       the active controller
//	rack             every node of one rack (random among the racks)
//	rack:az-a        every node of rack az-a
//	minority         (n-1)/2 random nodes
//	majority         n/2+1 random nodes
//	all              every node, in random order
//	majority-ring    every node in random order (the ring's order)
//	bridge           every node in random order (the first is the bridge)
//	coordinator      the transaction coordinator of one transactional id
//	coordinator:tx-1 the transaction coordinator of transactional id tx-1
const (
	SelectRandom       = "random"
	SelectNode         = "node"
	SelectLeader       = "leader"
	SelectController   = "controller"
	SelectRack         = "rack"
	SelectMinority     = "minority"
	SelectMajority     = "majority"
	SelectAll          = "all"
	SelectMajorityRing = "majority-ring"
	SelectBridge       = "bridge"
)

// Resolve turns a selector into a target against env's topology, drawing
// any random choice from rnd. With the same topology (and the same leaders
// and controller) and the same rnd state it picks the same nodes.
func Resolve(ctx context.Context, env Env, sel string, rnd *rand.Rand) (Target, error) {
	if env.Topology == nil {
		return Target{}, fmt.Errorf("%w: %q: no topology", ErrSelect, sel)
	}
	ids := env.nodeIDs()
	if len(ids) == 0 {
		return Target{}, fmt.Errorf("%w: %q: the topology has no nodes", ErrSelect, sel)
	}
	kind, arg, hasArg := strings.Cut(sel, ":")
	if hasArg && arg == "" {
		return Target{}, fmt.Errorf("%w: %q: empty argument", ErrSelect, sel)
	}
	switch kind {
	case SelectRandom, SelectMinority, SelectMajority, SelectAll, SelectMajorityRing, SelectBridge:
		if hasArg {
			return Target{}, fmt.Errorf("%w: %q takes no argument", ErrSelect, sel)
		}
		return pickSome(kind, ids, rnd), nil
	case SelectNode:
		return selectNodes(sel, arg, ids)
	case SelectLeader:
		return selectLeader(ctx, env, sel, arg, hasArg, ids, rnd)
	case SelectController:
		if hasArg {
			return Target{}, fmt.Errorf("%w: %q takes no argument", ErrSelect, sel)
		}
		id, err := env.Topology.ActiveController(ctx)
		if err != nil {
			return Target{}, fmt.Errorf("%w: %q: %w", ErrSelect, sel, err)
		}
		if !slices.Contains(ids, id) {
			return Target{}, fmt.Errorf("%w: %q: active controller %d is not a known node", ErrSelect, sel, id)
		}
		return Target{Nodes: []int32{id}, Desc: fmt.Sprintf("controller n%d", id)}, nil
	case SelectCoordinator:
		return selectCoordinator(ctx, env, sel, arg, hasArg, ids, rnd)
	case SelectRack:
		return selectRack(env, sel, arg, hasArg, rnd)
	default:
		return Target{}, fmt.Errorf("%w: %q: unknown selector", ErrSelect, sel)
	}
}

// pickSome resolves the selectors that only draw random nodes.
func pickSome(kind string, ids []int32, rnd *rand.Rand) Target {
	shuffled := slices.Clone(ids)
	rnd.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	n := len(ids)
	switch kind {
	case SelectRandom:
		shuffled = shuffled[:1]
	case SelectMinority:
		shuffled = shuffled[:(n-1)/2]
	case SelectMajority:
		shuffled = shuffled[:n/2+1]
	}
	return Target{Nodes: shuffled, Desc: fmt.Sprintf("%s %s", kind, nodeList(shuffled))}
}

func selectNodes(sel, arg string, ids []int32) (Target, error) {
	var out []int32
	for _, s := range strings.Split(arg, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return Target{}, fmt.Errorf("%w: %q: %w", ErrSelect, sel, err)
		}
		if !slices.Contains(ids, int32(id)) {
			return Target{}, fmt.Errorf("%w: %q: no node %d", ErrSelect, sel, id)
		}
		if !slices.Contains(out, int32(id)) {
			out = append(out, int32(id))
		}
	}
	return Target{Nodes: out, Desc: "node " + nodeList(out)}, nil
}

func selectLeader(ctx context.Context, env Env, sel, arg string, hasArg bool, ids []int32, rnd *rand.Rand) (Target, error) {
	var want TopicPartition
	if hasArg {
		topic, p, ok := cutLast(arg, "/")
		n, err := strconv.ParseInt(p, 10, 32)
		if !ok || topic == "" || err != nil || n < 0 {
			return Target{}, fmt.Errorf("%w: %q: want leader:TOPIC/PARTITION", ErrSelect, sel)
		}
		want = TopicPartition{Topic: topic, Partition: int32(n)}
	}
	leaders, err := env.Topology.Leaders(ctx)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %q: %w", ErrSelect, sel, err)
	}
	if !hasArg {
		// Sorted keys so the draw depends on the partitions, not map order.
		var led []TopicPartition
		for tp, id := range leaders {
			if slices.Contains(ids, id) {
				led = append(led, tp)
			}
		}
		if len(led) == 0 {
			return Target{}, fmt.Errorf("%w: %q: no partition has a known leader", ErrSelect, sel)
		}
		slices.SortFunc(led, func(a, b TopicPartition) int {
			if c := strings.Compare(a.Topic, b.Topic); c != 0 {
				return c
			}
			return int(a.Partition) - int(b.Partition)
		})
		want = led[rnd.IntN(len(led))]
	}
	id, ok := leaders[want]
	if !ok || !slices.Contains(ids, id) {
		return Target{}, fmt.Errorf("%w: %q: %s has no leader among the nodes", ErrSelect, sel, want)
	}
	return Target{Nodes: []int32{id}, Desc: fmt.Sprintf("leader of %s n%d", want, id)}, nil
}

func selectRack(env Env, sel, arg string, hasArg bool, rnd *rand.Rand) (Target, error) {
	byRack := racks(env)
	rack := arg
	if !hasArg {
		names := slices.Sorted(maps.Keys(byRack))
		if len(names) == 0 {
			return Target{}, fmt.Errorf("%w: %q: no node has a rack", ErrSelect, sel)
		}
		rack = names[rnd.IntN(len(names))]
	}
	nodes := byRack[rack]
	if len(nodes) == 0 {
		return Target{}, fmt.Errorf("%w: %q: no node in rack %q", ErrSelect, sel, rack)
	}
	return Target{Nodes: nodes, Desc: fmt.Sprintf("rack %s %s", rack, nodeList(nodes))}, nil
}

// racks maps each non-empty rack to its nodes in id order.
func racks(env Env) map[string][]int32 {
	out := map[string][]int32{}
	if env.Topology == nil {
		return out
	}
	for _, n := range env.Topology.Nodes() {
		if n.Rack != "" && !slices.Contains(out[n.Rack], n.ID) {
			out[n.Rack] = append(out[n.Rack], n.ID)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// cutLast splits s around the last sep (topic names may not contain '/',
// but the partition is always last).
func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

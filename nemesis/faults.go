package nemesis

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// The registered faults. Each is a value; the partition faults differ only
// in the shape they cut and the target they pick by default.
func init() {
	Register(processFault{name: "kill", verb: "kill -9", sel: SelectRandom, act: Processes.Kill, undo: Processes.Start})
	Register(processFault{name: "stop", verb: "stop", sel: SelectRandom, act: Processes.Stop, undo: Processes.Start})
	Register(processFault{name: "pause", verb: "pause", sel: SelectRandom, act: Processes.Pause, undo: Processes.Resume})
	Register(processFault{name: "az-loss", verb: "kill -9", sel: SelectRack, racks: true, act: Processes.Kill, undo: Processes.Start})
	Register(rollingRestart{})
	Register(partitionFault{name: "partition-node", sel: SelectRandom, shape: shapeIsolate})
	Register(partitionFault{name: "partition-leader", sel: SelectLeader, shape: shapeIsolate})
	Register(partitionFault{name: "partition-controller", sel: SelectController, shape: shapeIsolate})
	Register(partitionFault{name: "partition-halves", sel: SelectMinority, shape: shapeIsolate, minNodes: 3})
	Register(partitionFault{name: "partition-ring", sel: SelectMajorityRing, shape: shapeRing, minNodes: 3})
	Register(partitionFault{name: "partition-bridge", sel: SelectBridge, shape: shapeBridge, minNodes: 3})
	Register(partitionFault{name: "az-cut", sel: SelectRack, shape: shapeIsolate, racks: true})
}

type procOp func(Processes, context.Context, int32) error

// processFault applies act to every target node at once and heals with undo
// on every one of them at once: starting a killed majority one node at a
// time could wait forever on the first, which cannot serve without quorum.
type processFault struct {
	name, verb, sel string
	racks           bool // needs nodes in at least two racks
	act, undo       procOp
}

func (f processFault) Name() string          { return f.name }
func (f processFault) DefaultSelect() string { return f.sel }

func (f processFault) Available(env Env) error {
	if env.Processes == nil {
		return fmt.Errorf("%w: %s: needs process control (the cluster driver cannot stop or start nodes)", ErrUnavailable, f.name)
	}
	if err := needNodes(env, f.name, 1); err != nil {
		return err
	}
	if f.racks {
		return needRacks(env, f.name)
	}
	return nil
}

func (f processFault) Inject(ctx context.Context, env Env, t Target) (func(context.Context) error, error) {
	if len(t.Nodes) == 0 {
		return nil, fmt.Errorf("%w: %s: empty target", ErrSelect, f.name)
	}
	p := env.Processes
	// Undo on every target even if act failed on some: act may have taken
	// effect before reporting an error (a kill that timed out waiting).
	heal := func(ctx context.Context) error {
		return forEach(ctx, t.Nodes, func(ctx context.Context, id int32) error { return f.undo(p, ctx, id) })
	}
	err := forEach(ctx, t.Nodes, func(ctx context.Context, id int32) error { return f.act(p, ctx, id) })
	if err != nil {
		return heal, fmt.Errorf("%s: %w", f.name, err)
	}
	return heal, nil
}

// rollingRestart restarts the target nodes one at a time, each back and
// serving before the next goes down (the driver's Restart waits for that);
// it is done when Inject returns, and heal only makes sure every target
// runs.
type rollingRestart struct{}

func (rollingRestart) Name() string          { return "restart" }
func (rollingRestart) DefaultSelect() string { return SelectAll }

func (r rollingRestart) Available(env Env) error {
	if env.Processes == nil {
		return fmt.Errorf("%w: restart: needs process control (the cluster driver cannot restart nodes)", ErrUnavailable)
	}
	return needNodes(env, "restart", 1)
}

func (rollingRestart) Inject(ctx context.Context, env Env, t Target) (func(context.Context) error, error) {
	if len(t.Nodes) == 0 {
		return nil, fmt.Errorf("%w: restart: empty target", ErrSelect)
	}
	p := env.Processes
	heal := func(ctx context.Context) error {
		return forEach(ctx, t.Nodes, p.Start)
	}
	for _, id := range t.Nodes {
		if err := p.Restart(ctx, id); err != nil {
			return heal, fmt.Errorf("restart: node %d: %w", id, err)
		}
	}
	return heal, nil
}

func (rollingRestart) Describe(_ Env, t Target) string {
	return "rolling restart " + nodeList(t.Nodes)
}

type shape int

const (
	shapeIsolate shape = iota // target nodes cut from the rest
	shapeRing                 // majorities ring in target order
	shapeBridge               // two halves joined by the first target node
)

// partitionFault cuts the links of a shape and heals exactly those.
type partitionFault struct {
	name, sel string
	shape     shape
	minNodes  int
	racks     bool
}

func (f partitionFault) Name() string          { return f.name }
func (f partitionFault) DefaultSelect() string { return f.sel }

func (f partitionFault) Available(env Env) error {
	if env.Network == nil {
		return fmt.Errorf("%w: %s: needs a Network to cut links between nodes (network-namespace mode as root, or the proxy mode)", ErrUnavailable, f.name)
	}
	if err := needNodes(env, f.name, max(2, f.minNodes)); err != nil {
		return err
	}
	if f.racks {
		return needRacks(env, f.name)
	}
	return nil
}

// cuts computes the links the shape cuts for target t over env's nodes.
func (f partitionFault) cuts(env Env, t Target) []Link {
	all := env.nodeIDs()
	switch f.shape {
	case shapeRing:
		return RingCuts(completeOrder(t.Nodes, all))
	case shapeBridge:
		return BridgeCuts(completeOrder(t.Nodes, all))
	default:
		return IsolateCuts(t.Nodes, all)
	}
}

func (f partitionFault) Describe(env Env, t Target) string {
	all := env.nodeIDs()
	switch f.shape {
	case shapeRing:
		return "majorities ring " + nodeList(completeOrder(t.Nodes, all))
	case shapeBridge:
		b, x, y := BridgeSides(completeOrder(t.Nodes, all))
		return fmt.Sprintf("bridge n%d between [%s] and [%s]", b, nodeList(x), nodeList(y))
	default:
		return "isolate " + t.Desc
	}
}

func (f partitionFault) Inject(ctx context.Context, env Env, t Target) (func(context.Context) error, error) {
	cuts := f.cuts(env, t)
	if len(cuts) == 0 {
		return nil, fmt.Errorf("%w: %s: %s cuts no link", ErrSelect, f.name, t.Desc)
	}
	n := env.Network
	var done []Link
	heal := func(ctx context.Context) error {
		var errs []error
		for _, l := range done {
			if err := n.Heal(ctx, l.A, l.B); err != nil {
				errs = append(errs, fmt.Errorf("heal %s: %w", l, err))
			}
		}
		if len(errs) == 0 {
			return nil
		}
		// A link that would not heal alone may still heal with the rest.
		if err := n.HealAll(ctx); err != nil {
			return fmt.Errorf("%s: %w (heal all: %w)", f.name, errors.Join(errs...), err)
		}
		return nil
	}
	for _, l := range cuts {
		// Recorded before Cut: a Cut that errors may still have dropped
		// some packets' path, and healing an uncut link is harmless.
		done = append(done, l)
		if err := n.Cut(ctx, l.A, l.B); err != nil {
			return heal, fmt.Errorf("%s: cut %s: %w", f.name, l, err)
		}
	}
	return heal, nil
}

func needNodes(env Env, name string, n int) error {
	if env.Topology == nil {
		return fmt.Errorf("%w: %s: no topology", ErrUnavailable, name)
	}
	if got := len(env.nodeIDs()); got < n {
		return fmt.Errorf("%w: %s: needs at least %d nodes, the cluster has %d", ErrUnavailable, name, n, got)
	}
	return nil
}

func needRacks(env Env, name string) error {
	if got := len(racks(env)); got < 2 {
		return fmt.Errorf("%w: %s: needs nodes in at least two racks (broker.rack), the cluster has %d", ErrUnavailable, name, got)
	}
	return nil
}

// forEach runs f on every id concurrently and joins the errors.
func forEach(ctx context.Context, ids []int32, f func(context.Context, int32) error) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			if err := f(ctx, id); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", id, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (f processFault) Describe(_ Env, t Target) string {
	return fmt.Sprintf("%s %s", f.verb, t.Desc)
}

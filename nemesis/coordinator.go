package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SelectCoordinator names the transaction coordinator of a transactional
// id: "coordinator:ID" for that id, "coordinator" for one drawn from the
// workload's ids (Env.TransactionalIDs) or, when those are not given, from
// the transactions the cluster lists as live (ListTransactions), so the
// fault lands mid-transaction.
const SelectCoordinator = "coordinator"

// coordinatorQueryTimeout bounds one coordinator lookup: a paused node
// must not stall a step forever.
const coordinatorQueryTimeout = 10 * time.Second

// TxnCoordinators answers which node coordinates a transactional id. A
// Topology or the Processes driver may implement it; otherwise Env asks the
// cluster itself through Kafka requests when Processes has Bootstrap.
type TxnCoordinators interface {
	// TxnCoordinator returns the node id FindCoordinator (key type 1)
	// answers for transactionalID.
	TxnCoordinator(ctx context.Context, transactionalID string) (int32, error)
	// TransactionalIDs lists the transactional ids the cluster knows,
	// sorted (ListTransactions on every node).
	TransactionalIDs(ctx context.Context) ([]string, error)
}

// ClientCuts partitions one client, named by the client id it sends, from
// one node and lifts that partition; harness/reference implements it in
// proxy mode.
type ClientCuts interface {
	// ClientCutsAvailable returns nil, or an error that says why this
	// cluster cannot cut one client's traffic, and the fix.
	ClientCutsAvailable() error
	// CutClient silently drops every connection of clientID to node id.
	CutClient(ctx context.Context, id int32, clientID string) error
	// HealClient lifts CutClient.
	HealClient(ctx context.Context, id int32, clientID string) error
}

// bootstrapper is what Env needs of a driver to ask the cluster itself:
// harness/cluster.Cluster has it.
type bootstrapper interface{ Bootstrap() string }

// coordinators returns env's way to find transaction coordinators, or nil.
func (e Env) coordinators() TxnCoordinators {
	if c, ok := e.Topology.(TxnCoordinators); ok {
		return c
	}
	if c, ok := e.Processes.(TxnCoordinators); ok {
		return c
	}
	if b, ok := e.Processes.(bootstrapper); ok && b.Bootstrap() != "" {
		return kafkaCoordinators{bootstrap: b.Bootstrap}
	}
	return nil
}

func (e Env) clientCuts() ClientCuts {
	c, _ := e.Processes.(ClientCuts)
	return c
}

// kafkaCoordinators asks the cluster through a short-lived client.
type kafkaCoordinators struct{ bootstrap func() string }

func (k kafkaCoordinators) client() (*kgo.Client, error) {
	seeds := strings.Split(k.bootstrap(), ",")
	return kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("highwater-nemesis"),
		kgo.RequestRetries(2), kgo.RetryTimeout(coordinatorQueryTimeout))
}

func (k kafkaCoordinators) TxnCoordinator(ctx context.Context, tid string) (int32, error) {
	cl, err := k.client()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, coordinatorQueryTimeout)
	defer cancel()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = 1 // transaction
	req.CoordinatorKey = tid
	req.CoordinatorKeys = []string{tid}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("find coordinator of %q: %w", tid, err)
	}
	return coordinatorOf(resp, tid)
}

// coordinatorOf reads the node out of a FindCoordinator answer in either
// shape (per-key list from v4, top-level fields before).
func coordinatorOf(resp *kmsg.FindCoordinatorResponse, tid string) (int32, error) {
	code, node := resp.ErrorCode, resp.NodeID
	for _, c := range resp.Coordinators {
		if c.Key == tid {
			code, node = c.ErrorCode, c.NodeID
		}
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return 0, fmt.Errorf("find coordinator of %q: %w", tid, err)
	}
	if node < 0 {
		return 0, fmt.Errorf("find coordinator of %q: no coordinator (node %d)", tid, node)
	}
	return node, nil
}

// TransactionalIDs lists the ids with an ongoing transaction, so a fault
// lands mid-transaction, or, when none is ongoing, every id the
// coordinators know.
func (k kafkaCoordinators) TransactionalIDs(ctx context.Context) ([]string, error) {
	cl, err := k.client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, coordinatorQueryTimeout)
	defer cancel()
	ids, err := listTransactions(ctx, cl, []string{"Ongoing"})
	if len(ids) > 0 {
		return ids, nil
	}
	if all, err2 := listTransactions(ctx, cl, nil); len(all) > 0 || err2 != nil {
		return all, err2
	}
	return nil, err
}

// listTransactions asks every node for the transactional ids it
// coordinates in the given states (nil: any).
func listTransactions(ctx context.Context, cl *kgo.Client, states []string) ([]string, error) {
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters = states
	var ids []string
	var errs []error
	for _, sh := range cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			errs = append(errs, sh.Err)
			continue
		}
		resp := sh.Resp.(*kmsg.ListTransactionsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range resp.TransactionStates {
			ids = append(ids, s.TransactionalID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("list transactions: %w", errors.Join(errs...))
	}
	return ids, nil
}

// selectCoordinator resolves "coordinator" and "coordinator:ID".
func selectCoordinator(ctx context.Context, env Env, sel, arg string, hasArg bool, ids []int32, rnd *rand.Rand) (Target, error) {
	co := env.coordinators()
	if co == nil {
		return Target{}, fmt.Errorf("%w: %q: the cluster driver cannot look up transaction coordinators", ErrSelect, sel)
	}
	tid := arg
	if !hasArg {
		cands := slices.Sorted(slices.Values(env.TransactionalIDs))
		if len(cands) == 0 {
			var err error
			if cands, err = co.TransactionalIDs(ctx); err != nil {
				return Target{}, fmt.Errorf("%w: %q: %w", ErrSelect, sel, err)
			}
		}
		if len(cands) == 0 {
			return Target{}, fmt.Errorf("%w: %q: no transactional id to pick from (no transactional workload running?)", ErrSelect, sel)
		}
		tid = cands[rnd.IntN(len(cands))]
	}
	id, err := co.TxnCoordinator(ctx, tid)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %q: %w", ErrSelect, sel, err)
	}
	if !slices.Contains(ids, id) {
		return Target{}, fmt.Errorf("%w: %q: coordinator %d of %q is not a known node", ErrSelect, sel, id, tid)
	}
	return Target{Nodes: []int32{id}, Desc: fmt.Sprintf("coordinator of %s n%d", tid, id), TransactionalID: tid}, nil
}

// needCoordinators is the availability check of the coordinator faults.
func needCoordinators(env Env, name string) error {
	if env.coordinators() == nil {
		return fmt.Errorf("%w: %s: the cluster driver can neither look up transaction coordinators nor give a bootstrap address to ask", ErrUnavailable, name)
	}
	if env.NoTransactions {
		return fmt.Errorf("%w: %s: the workload runs no transactions (only the txn and eos workloads do)", ErrUnavailable, name)
	}
	return nil
}

// coordinatorFault is a process fault aimed at a transaction coordinator.
type coordinatorFault struct{ processFault }

func (f coordinatorFault) Available(env Env) error {
	if err := f.processFault.Available(env); err != nil {
		return err
	}
	return needCoordinators(env, f.name)
}

// partitionProducerCoordinator blackholes one transactional producer's
// connections to its coordinator's node for the window, then lifts it.
// The producer is the one whose transactional id the selector drew; the
// workload sends its transactional id as its client id.
type partitionProducerCoordinator struct{}

func (partitionProducerCoordinator) Name() string          { return "partition-producer-coordinator" }
func (partitionProducerCoordinator) DefaultSelect() string { return SelectCoordinator }

func (f partitionProducerCoordinator) Available(env Env) error {
	cc := env.clientCuts()
	if cc == nil {
		return fmt.Errorf("%w: %s: the cluster driver cannot cut one client's traffic (the reference cluster in proxy mode, --proxy, can)", ErrUnavailable, f.Name())
	}
	if err := cc.ClientCutsAvailable(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, f.Name(), err)
	}
	if err := needNodes(env, f.Name(), 1); err != nil {
		return err
	}
	return needCoordinators(env, f.Name())
}

func (f partitionProducerCoordinator) Describe(_ Env, t Target) string {
	return fmt.Sprintf("cut producer %s from its %s", t.TransactionalID, t.Desc)
}

func (f partitionProducerCoordinator) Inject(ctx context.Context, env Env, t Target) (func(context.Context) error, error) {
	if len(t.Nodes) != 1 || t.TransactionalID == "" {
		return nil, fmt.Errorf("%w: %s: wants one coordinator and its transactional id (selector coordinator[:ID]), got %s", ErrSelect, f.Name(), t.Desc)
	}
	cc := env.clientCuts()
	if cc == nil {
		return nil, f.Available(env)
	}
	node, client := t.Nodes[0], t.TransactionalID
	heal := func(ctx context.Context) error { return cc.HealClient(ctx, node, client) }
	if err := cc.CutClient(ctx, node, client); err != nil {
		return heal, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return heal, nil
}

func init() {
	Register(coordinatorFault{processFault{name: "kill-coordinator", verb: "kill -9", sel: SelectCoordinator, act: Processes.Kill, undo: Processes.Start}})
	Register(coordinatorFault{processFault{name: "pause-coordinator", verb: "pause", sel: SelectCoordinator, act: Processes.Pause, undo: Processes.Resume}})
	Register(partitionProducerCoordinator{})
}

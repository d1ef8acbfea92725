package nemesis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"
)

// Sentinel errors; concrete errors wrap them.
var (
	// ErrUnavailable means a fault cannot run against this environment
	// (no Network, no process control, no racks); the wrapping error says
	// why and, where there is one, the fix.
	ErrUnavailable = errors.New("nemesis: fault unavailable")
	// ErrUnknownFault means a fault name that is not registered.
	ErrUnknownFault = errors.New("nemesis: unknown fault")
	// ErrSelect means a target selector that is malformed or that selects
	// nothing in the current topology (no such node, partition or rack).
	ErrSelect = errors.New("nemesis: bad target selector")
	// ErrSchedule means a schedule that does not parse or validate.
	ErrSchedule = errors.New("nemesis: bad schedule")
)

// Node is one node of the cluster as the nemesis sees it.
type Node struct {
	ID   int32
	Rack string
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Processes controls node processes. It mirrors the process half of
// harness/cluster.Cluster (same semantics: Start on a running node is a
// no-op and waits until the node serves; Kill is SIGKILL-like; Pause and
// Resume are SIGSTOP/SIGCONT-like; Restart is a graceful stop then start).
type Processes interface {
	Kill(ctx context.Context, id int32) error
	Start(ctx context.Context, id int32) error
	Stop(ctx context.Context, id int32) error
	Pause(ctx context.Context, id int32) error
	Resume(ctx context.Context, id int32) error
	Restart(ctx context.Context, id int32) error
}

// Network cuts and heals links between nodes, both directions at once. It
// is harness/cluster.Network, so a cluster's Network satisfies it as is.
type Network interface {
	Cut(ctx context.Context, a, b int32) error
	Heal(ctx context.Context, a, b int32) error
	HealAll(ctx context.Context) error
}

// Topology answers who the nodes are and who leads what. Leaders and
// ActiveController come from the live cluster, so they may fail or change
// between calls; Nodes is fixed for a run.
type Topology interface {
	Nodes() []Node
	Leaders(ctx context.Context) (map[TopicPartition]int32, error)
	ActiveController(ctx context.Context) (int32, error)
}

// Links degrades every link of one node without cutting it: the slow and
// lossy faults. harness/cluster.Links has the same method set, so a
// cluster driver satisfies both. What a driver can do differs (a TCP proxy
// cannot drop packets, nftables cannot delay them); the driver documents
// how it applies each degradation.
type Links interface {
	// LinksAvailable returns nil, or an error that says why this cluster
	// cannot apply the degradation kind ("slow" or "lossy") and the fix.
	LinksAvailable(kind string) error
	// SlowLinks delays node id's traffic by delay ± jitter and caps its
	// rate at rateBytesPerSecond (0: no cap), replacing an earlier
	// degradation of the node.
	SlowLinks(ctx context.Context, id int32, delay, jitter time.Duration, rateBytesPerSecond int64) error
	// LossyLinks loses lossPercent (1..100) of node id's traffic.
	LossyLinks(ctx context.Context, id int32, lossPercent int) error
	// RestoreLinks removes node id's degradation.
	RestoreLinks(ctx context.Context, id int32) error
}

// Clocks skews the clock a node's broker reads through its clock seam
// (harness/cluster.Clocks has the same method set).
type Clocks interface {
	// ClocksAvailable returns nil, or an error that says why not.
	ClocksAvailable() error
	// SkewClock sets node id's clock offset from real time.
	SkewClock(ctx context.Context, id int32, offset time.Duration) error
	// ResetClock sets node id's offset back to zero.
	ResetClock(ctx context.Context, id int32) error
}

// UnsyncedLoss is implemented by drivers whose Kill can lose writes not
// yet fsynced, as a power loss would (the reference broker's own page
// cache); harness/cluster.UnsyncedLoss has the same method set.
type UnsyncedLoss interface {
	// UnsyncedLossAvailable returns nil when a Kill drops every write the
	// node has not fsynced, or an error that says why not and the fix.
	UnsyncedLossAvailable() error
}

// Env is what faults act on. Processes and Network are nil when the
// cluster cannot provide them; faults that need them report so from
// Available. Links, Clocks and Unsynced, when nil, are taken from
// Processes if it implements them (a cluster driver passed as Processes
// brings its optional abilities along).
type Env struct {
	Processes Processes
	Network   Network // nil = unavailable
	Topology  Topology
	Links     Links
	Clocks    Clocks
	Unsynced  UnsyncedLoss
	// Rand drives target selection; seed it (NewRand) so a replay picks
	// the same nodes given the same topology. Run draws one seed from it
	// and gives each step its own source derived from that seed and the
	// step's time. Nil: Run derives them from the schedule's seed.
	Rand *rand.Rand
	// Logger receives one line per step (injected, healed, skipped); nil
	// discards.
	Logger *slog.Logger
	// TransactionalIDs are the transactional ids the workload uses; the
	// "coordinator" selector draws from them. Nil: it draws from the ids
	// the cluster lists (ListTransactions).
	TransactionalIDs []string
	// NoTransactions says the workload runs no transactions, so the
	// coordinator faults are unavailable. False (the zero value) leaves
	// them available wherever coordinators can be looked up.
	NoTransactions bool
	// HealTimeout bounds each heal, which runs even after the run's context
	// is cancelled. Zero means DefaultHealTimeout.
	HealTimeout time.Duration
}

// DefaultHealTimeout bounds a heal when Env.HealTimeout is zero: long
// enough for a JVM broker to start again and serve.
const DefaultHealTimeout = 3 * time.Minute

func (e Env) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e Env) healTimeout() time.Duration {
	if e.HealTimeout <= 0 {
		return DefaultHealTimeout
	}
	return e.HealTimeout
}

func (e Env) links() Links {
	if e.Links != nil {
		return e.Links
	}
	l, _ := e.Processes.(Links)
	return l
}

func (e Env) clocks() Clocks {
	if e.Clocks != nil {
		return e.Clocks
	}
	c, _ := e.Processes.(Clocks)
	return c
}

func (e Env) unsynced() UnsyncedLoss {
	if e.Unsynced != nil {
		return e.Unsynced
	}
	u, _ := e.Processes.(UnsyncedLoss)
	return u
}

// nodeIDs lists the topology's node ids in ascending order.
func (e Env) nodeIDs() []int32 {
	if e.Topology == nil {
		return nil
	}
	var ids []int32
	for _, n := range e.Topology.Nodes() {
		ids = append(ids, n.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Fault is one kind of fault, as a value. Inject applies it to target and
// returns heal, which undoes it; on error Inject still returns a heal (or
// nil) that undoes whatever part it applied. heal must be safe to call
// with a fresh context after ctx is cancelled.
type Fault interface {
	Name() string
	// Available returns nil, or an error wrapping ErrUnavailable that says
	// why this environment cannot run the fault.
	Available(env Env) error
	Inject(ctx context.Context, env Env, target Target) (heal func(context.Context) error, err error)
}

// DefaultSelector is implemented by faults whose natural target is not one
// random node: Generate writes it into each step, Run uses it for a step
// with an empty Select.
type DefaultSelector interface {
	DefaultSelect() string
}

// Describer is implemented by faults whose effect is more than "act on
// Target.Nodes" (partition shapes): Run records its description instead of
// the target's.
type Describer interface {
	Describe(env Env, target Target) string
}

// Target is what a selector resolved to at injection time: the nodes (their
// order matters to the ring and bridge shapes) and a description for logs
// and the history. Seed drives a fault's own parameters (a delay, a clock
// offset): Run draws it from the step's source after resolving, so a
// replay applies the same amounts; Describe and Inject derive the same
// parameters from it.
type Target struct {
	Nodes []int32
	Desc  string
	Seed  int64
	// TransactionalID is the id a "coordinator" selector resolved through
	// (empty for other selectors).
	TransactionalID string
}

var registry = struct {
	sync.RWMutex
	faults map[string]Fault
}{faults: map[string]Fault{}}

// Register adds f to the registry. It panics on an empty or duplicate name:
// registration happens at init, where that is a programming error.
func Register(f Fault) {
	registry.Lock()
	defer registry.Unlock()
	name := f.Name()
	if name == "" || !validName(name) {
		panic(fmt.Sprintf("nemesis: Register: invalid fault name %q", name))
	}
	if _, dup := registry.faults[name]; dup {
		panic(fmt.Sprintf("nemesis: Register: fault %q registered twice", name))
	}
	registry.faults[name] = f
}

// Lookup returns the registered fault with that name.
func Lookup(name string) (Fault, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.faults[name]
	return f, ok
}

// Names lists every registered fault name, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.faults))
	for n := range registry.faults {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Unavailable checks every fault the schedule names against env and
// returns, per fault name, why it cannot run (unknown names included), so
// the harness can put it in the report before the run starts.
func Unavailable(env Env, s Schedule) map[string]error {
	out := map[string]error{}
	seen := map[string]bool{}
	for _, st := range s.Steps {
		if seen[st.Fault] {
			continue
		}
		seen[st.Fault] = true
		f, ok := Lookup(st.Fault)
		if !ok {
			out[st.Fault] = fmt.Errorf("%w: %q", ErrUnknownFault, st.Fault)
			continue
		}
		if err := f.Available(env); err != nil {
			out[st.Fault] = err
		}
	}
	return out
}

// Runnable splits fault names into those env can run, in the given order,
// and, for the others, why not (unknown names included): the harness
// generates its schedule from the first and reports the second.
func Runnable(env Env, names []string) (ok []string, not map[string]error) {
	not = map[string]error{}
	for _, name := range names {
		f, found := Lookup(name)
		switch {
		case !found:
			not[name] = fmt.Errorf("%w: %q", ErrUnknownFault, name)
		case f.Available(env) != nil:
			not[name] = f.Available(env)
		default:
			ok = append(ok, name)
		}
	}
	return ok, not
}

// NewRand is the random source every seeded choice of this package uses;
// the harness builds Env.Rand with it from its nemesis sub-seed.
func NewRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973)) // "nemesis"
}

// SubSeed derives a seed for one purpose from a root seed by name, so
// adding a consumer of randomness does not shift any other's stream.
func SubSeed(seed int64, name string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, name)
	return int64(h.Sum64())
}

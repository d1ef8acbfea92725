package nemesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/history"
)

// fakeCluster implements Processes, Network and Topology in memory and
// records every call, so tests can check that faults leave a clean state.
type fakeCluster struct {
	startDelay time.Duration
	mu         sync.Mutex
	nodes      []Node
	state      map[int32]string // "running", "killed", "stopped", "paused"
	cut        map[Link]bool
	calls      []string
	leaders    map[TopicPartition]int32
	controller int32
	// failOn makes the named call ("kill 2", "cut 1 2") fail once.
	failOn map[string]error
	// degraded and skew are the link and clock faults in effect by node;
	// noLinks, noClocks, noUnsynced make those abilities unavailable.
	degraded                      map[int32]string
	skew                          map[int32]time.Duration
	noLinks, noClocks, noUnsynced error
	// txns maps the transactional ids the fake knows to their
	// coordinators; clientCuts holds the CutClient calls in effect
	// ("node/client").
	txns       map[string]int32
	clientCuts map[string]bool
}

func (f *fakeCluster) LinksAvailable(string) error { return f.noLinks }
func (f *fakeCluster) SlowLinks(_ context.Context, id int32, d, j time.Duration, rate int64) error {
	return f.degrade(id, fmt.Sprintf("slow %d %v %v %d", id, d, j, rate))
}
func (f *fakeCluster) LossyLinks(_ context.Context, id int32, pct int) error {
	return f.degrade(id, fmt.Sprintf("lossy %d %d", id, pct))
}
func (f *fakeCluster) RestoreLinks(_ context.Context, id int32) error {
	return f.degrade(id, fmt.Sprintf("restore %d", id))
}
func (f *fakeCluster) degrade(id int32, call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(call); err != nil {
		return err
	}
	if strings.HasPrefix(call, "restore") {
		delete(f.degraded, id)
	} else {
		f.degraded[id] = call
	}
	return nil
}
func (f *fakeCluster) ClocksAvailable() error { return f.noClocks }
func (f *fakeCluster) SkewClock(_ context.Context, id int32, off time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skew[id] = off
	return f.record(fmt.Sprintf("skew %d %v", id, off))
}
func (f *fakeCluster) ResetClock(_ context.Context, id int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.skew, id)
	return f.record(fmt.Sprintf("reset clock %d", id))
}
func (f *fakeCluster) UnsyncedLossAvailable() error { return f.noUnsynced }

func newFake(racks ...string) *fakeCluster {
	f := &fakeCluster{state: map[int32]string{}, cut: map[Link]bool{}, failOn: map[string]error{},
		degraded: map[int32]string{}, skew: map[int32]time.Duration{}, clientCuts: map[string]bool{}}
	for i, r := range racks {
		f.nodes = append(f.nodes, Node{ID: int32(i), Rack: r})
		f.state[int32(i)] = "running"
	}
	f.leaders = map[TopicPartition]int32{{"orders", 0}: 1, {"orders", 1}: 2 % int32(len(racks))}
	f.txns = map[string]int32{"tx-a": 0, "tx-b": int32(len(racks) - 1)}
	return f
}

func (f *fakeCluster) env() Env {
	return Env{Processes: f, Network: f, Topology: f, Rand: NewRand(1)}
}

func (f *fakeCluster) record(call string) error {
	f.calls = append(f.calls, call)
	if err, ok := f.failOn[call]; ok {
		delete(f.failOn, call)
		return err
	}
	return nil
}

func (f *fakeCluster) proc(verb string, id int32, from []string, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(fmt.Sprintf("%s %d", verb, id)); err != nil {
		return err
	}
	st, ok := f.state[id]
	if !ok {
		return fmt.Errorf("no node %d", id)
	}
	if from != nil && !slices.Contains(from, st) {
		return fmt.Errorf("%s node %d: it is %s", verb, id, st)
	}
	f.state[id] = to
	return nil
}

func (f *fakeCluster) Kill(_ context.Context, id int32) error {
	return f.proc("kill", id, []string{"running", "paused"}, "killed")
}
func (f *fakeCluster) Stop(_ context.Context, id int32) error {
	return f.proc("stop", id, []string{"running"}, "stopped")
}
func (f *fakeCluster) Pause(_ context.Context, id int32) error {
	return f.proc("pause", id, []string{"running"}, "paused")
}
func (f *fakeCluster) Resume(_ context.Context, id int32) error {
	return f.proc("resume", id, []string{"paused"}, "running")
}

// Start leaves a running or paused node as it is, like the drivers.
func (f *fakeCluster) Start(_ context.Context, id int32) error {
	time.Sleep(f.startDelay) // a slow restart, when a test sets it
	f.mu.Lock()
	st := f.state[id]
	f.mu.Unlock()
	to := "running"
	if st == "paused" {
		to = "paused"
	}
	return f.proc("start", id, nil, to)
}
func (f *fakeCluster) Restart(_ context.Context, id int32) error {
	return f.proc("restart", id, []string{"running", "stopped", "killed"}, "running")
}

func (f *fakeCluster) Cut(_ context.Context, a, b int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(fmt.Sprintf("cut %d %d", a, b)); err != nil {
		return err
	}
	f.cut[link(a, b)] = true
	return nil
}
func (f *fakeCluster) Heal(_ context.Context, a, b int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(fmt.Sprintf("heal %d %d", a, b)); err != nil {
		return err
	}
	delete(f.cut, link(a, b))
	return nil
}
func (f *fakeCluster) HealAll(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("healall"); err != nil {
		return err
	}
	clear(f.cut)
	return nil
}

func (f *fakeCluster) Nodes() []Node { return slices.Clone(f.nodes) }
func (f *fakeCluster) Leaders(context.Context) (map[TopicPartition]int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("leaders"); err != nil {
		return nil, err
	}
	out := map[TopicPartition]int32{}
	for k, v := range f.leaders {
		out[k] = v
	}
	return out, nil
}
func (f *fakeCluster) ActiveController(context.Context) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.controller, f.record("controller")
}

// clean reports what is not back to normal: nodes not running, links cut.
func (f *fakeCluster) clean() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, st := range f.state {
		if st != "running" {
			return fmt.Errorf("node %d is %s", id, st)
		}
	}
	if len(f.cut) > 0 {
		return fmt.Errorf("links still cut: %v", f.cut)
	}
	if len(f.degraded) > 0 {
		return fmt.Errorf("links still degraded: %v", f.degraded)
	}
	if len(f.clientCuts) > 0 {
		return fmt.Errorf("clients still cut: %v", f.clientCuts)
	}
	if len(f.skew) > 0 {
		return fmt.Errorf("clocks still skewed: %v", f.skew)
	}
	return nil
}

func (f *fakeCluster) cutLinks() []Link {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Link
	for l := range f.cut {
		out = append(out, l)
	}
	return normalize(out)
}

func (f *fakeCluster) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// memRecorder keeps fault events in order.
type memRecorder struct {
	mu      sync.Mutex
	events  []string
	faults  []history.Fault
	onStart func()
}

func (m *memRecorder) FaultStart(f history.Fault) (history.Event, error) {
	m.mu.Lock()
	m.events = append(m.events, fmt.Sprintf("start %d %s", f.Window, f.Fault))
	m.faults = append(m.faults, f)
	hook := m.onStart
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	return history.Event{}, nil
}

func (m *memRecorder) FaultStop(f history.Fault) (history.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, fmt.Sprintf("stop %d %s", f.Window, f.Fault))
	return history.Event{}, nil
}

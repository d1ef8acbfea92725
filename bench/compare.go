package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RunResult is one workload run against one target.
type RunResult struct {
	Target string `json:"target"`
	Round  int    `json:"round"`
	Topic  string `json:"topic"`
	// StartSeconds is how long the target took to come up.
	StartSeconds float64 `json:"startSeconds"`
	// ReplicationFactor is the topic's, after capping at the target's node
	// count; Nodes is that count (0 when unknown: an address target).
	ReplicationFactor int16         `json:"replicationFactor"`
	Nodes             int           `json:"nodes,omitempty"`
	Produce           ProduceResult `json:"produce"`
	Consume           ConsumeResult `json:"consume"`
	// Broker is the target process's resource use over the produce and
	// consume phases (PeakRSSBytes: since the process started); Measured is
	// false when the target is not a local process.
	Broker   ProcStats `json:"broker"`
	Measured bool      `json:"measured"`
	// ClientCPUSeconds is this process's own CPU (brokers it started as
	// children excluded) over the same phases: the load generator shares the
	// machine with the broker.
	ClientCPUSeconds float64 `json:"clientCpuSeconds"`
	// LoadAvg1 is the host's one-minute load average when the produce
	// phase began (-1 when unknown): on a shared machine it tells a round
	// that ran in a load spike from the target's own behaviour.
	LoadAvg1 float64 `json:"loadAvg1"`
	Err      string  `json:"error,omitempty"`
}

// OK reports whether the run completed.
func (r RunResult) OK() bool { return r.Err == "" }

// RunOnce starts t, runs w on it (creating the topic first) and stops it.
// Failures are returned and also recorded in the result.
func RunOnce(ctx context.Context, t Target, w Workload, round int, opts RunOptions) (RunResult, error) {
	log := opts.Log
	res := RunResult{Target: t.Name(), Round: round, Topic: w.Topic}
	generated := res.Topic == ""
	if generated {
		res.Topic = fmt.Sprintf("bench-%d-r%d", time.Now().UnixNano(), round)
	}
	fail := func(err error) (RunResult, error) {
		res.Err = err.Error()
		return res, err
	}
	if err := w.Validate(); err != nil {
		return fail(err)
	}
	began := time.Now()
	inst, err := t.Start(ctx)
	if err != nil {
		return fail(err)
	}
	res.StartSeconds = time.Since(began).Seconds()
	defer func() {
		if err := inst.Stop(); err != nil && log != nil {
			fmt.Fprintf(log, "%s: stop: %v\n", t.Name(), err)
		}
	}()
	w.ReplicationFactor = effectiveRF(w, inst)
	res.ReplicationFactor = w.ReplicationFactor
	if n, ok := inst.(interface{ NodeCount() int }); ok {
		res.Nodes = n.NodeCount()
	}
	if err := createTopic(ctx, inst.Bootstrap(), res.Topic, w); err != nil {
		return fail(err)
	}
	pids := instancePIDs(inst)
	if len(pids) == 0 && generated {
		// Someone else's broker: do not leave gigabytes of bench data
		// behind. (Process targets lose their whole directory on Stop.)
		defer func() {
			if err := deleteTopic(inst.Bootstrap(), res.Topic); err != nil && log != nil {
				fmt.Fprintf(log, "%s: delete topic %s: %v\n", t.Name(), res.Topic, err)
			}
		}()
	}
	before, procErr := ReadProcStatsOf("/proc", pids)
	selfBefore, selfErr := ProcessCPUSeconds("/proc", os.Getpid())
	res.Measured = procErr == nil

	res.LoadAvg1 = loadAvg1("/proc")
	rp := opts.begin(fmt.Sprintf("%s round %d", t.Name(), round))
	res.Produce, res.Consume, err = produceConsume(ctx, inst.Bootstrap(), res.Topic, w, rp)
	if rp != nil {
		rp.End()
	}
	if err != nil {
		return fail(err)
	}
	if res.Measured {
		after, err := ReadProcStatsOf("/proc", pids)
		if err != nil {
			return fail(fmt.Errorf("resource use of pids %v: %w", pids, err))
		}
		res.Broker = after.Sub(before)
	}
	if selfAfter, err := ProcessCPUSeconds("/proc", os.Getpid()); err == nil && selfErr == nil {
		res.ClientCPUSeconds = selfAfter - selfBefore
	}
	return res, nil
}

// produceConsume runs the producer, then the consumer, or both at once for
// an end-to-end workload.
func produceConsume(ctx context.Context, bootstrap, topic string, w Workload, rp RunProgress) (ProduceResult, ConsumeResult, error) {
	spec := consumeSpec{bootstrap: bootstrap, topic: topic, group: w.consumerGroup(topic), members: w.Consumers,
		idle: w.IdleTimeout, partitions: w.Partitions}
	if !w.EndToEnd {
		p, err := Produce(ctx, bootstrap, topic, w, rp)
		if err == nil && p.Errors > 0 {
			err = fmt.Errorf("%d records failed, first: %s", p.Errors, p.FirstError)
		}
		if err != nil || !w.Consume {
			return p, ConsumeResult{}, wrapPhase("produce", err)
		}
		spec.want = knownWant(p.TotalRecords)
		spec.phase = phaseOf(rp, "consume")
		c, err := consume(ctx, spec)
		spec.phase.Done()
		return p, c, wrapPhase("consume", err)
	}
	var want atomic.Int64
	want.Store(-1)
	spec.want = func() (int64, bool) { n := want.Load(); return n, n >= 0 }
	consCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		c    ConsumeResult
		cErr error
		wg   sync.WaitGroup
	)
	// The producer stamps its start a little later (after connecting), so
	// a few warm-up records may count: milliseconds of a seconds-long
	// warm-up.
	spec.e2eSince = time.Now().Add(w.Warmup)
	spec.phase = phaseOf(rp, "consume")
	defer spec.phase.Done()
	spec.ready = make(chan struct{})
	consumerDone := make(chan struct{})
	wg.Go(func() {
		defer close(consumerDone)
		c, cErr = consume(consCtx, spec)
	})
	// A group still joining would charge its join to the first records'
	// end-to-end latency.
	select {
	case <-spec.ready:
	case <-consumerDone:
		return ProduceResult{}, c, wrapPhase("consume", cmp.Or(cErr, errors.New("consumer ended before producing")))
	}
	p, err := Produce(ctx, bootstrap, topic, w, rp)
	if err == nil && p.Errors > 0 {
		err = fmt.Errorf("%d records failed, first: %s", p.Errors, p.FirstError)
	}
	if err != nil {
		cancel()
		wg.Wait()
		return p, c, wrapPhase("produce", err)
	}
	want.Store(p.TotalRecords)
	wg.Wait()
	return p, c, wrapPhase("consume", cErr)
}

func wrapPhase(phase string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", phase, err)
}

// createTopic creates the run's topic and waits until its partitions have
// leaders, so the first produce does not measure metadata retries.
func createTopic(ctx context.Context, bootstrap, topic string, w Workload) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seedList(bootstrap)...))
	if err != nil {
		return fmt.Errorf("bench: admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, w.Partitions, w.ReplicationFactor, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("bench: create topic %s: %w", topic, err)
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil && int32(len(td.Partitions)) >= w.Partitions && allLed(td) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: topic %s has no leaders: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// deleteTopic removes a topic the run created, bounded by its own timeout
// so that it also runs after the run's context was cancelled.
func deleteTopic(bootstrap, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seedList(bootstrap)...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}

func allLed(td kadm.TopicDetail) bool {
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// Compare runs w on every target, interleaved in rounds whose order
// rotates (A B C, B C A, C A B, ...), and returns every run. Rotating
// matters on a shared machine whose load drifts: with a fixed order the
// first target always ran in the first (or last) conditions of a round,
// which made one target's figures systematically worse. A run that fails
// is recorded and the comparison goes on; only a cancelled context stops
// it early. perRun, when not nil, is called after each run (to print it).
func Compare(ctx context.Context, targets []Target, w Workload, rounds int, opts RunOptions, perRun func(RunResult)) ([]RunResult, error) {
	if len(targets) == 0 || rounds < 1 {
		return nil, fmt.Errorf("%w: %d targets, %d rounds", ErrBadWorkload, len(targets), rounds)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	var runs []RunResult
	for round := 1; round <= rounds; round++ {
		for _, i := range RoundOrder(len(targets), round) {
			t := targets[i]
			logf(opts.Log, "== round %d/%d: %s\n", round, rounds, t.Name())
			r, _ := RunOnce(ctx, t, w, round, opts)
			runs = append(runs, r)
			if perRun != nil {
				perRun(r)
			}
			if err := ctx.Err(); err != nil {
				return runs, err
			}
		}
	}
	return runs, nil
}

// RoundOrder is the order (indexes into the targets) of 1-based round
// round: the targets rotated left by round-1, so over n rounds every target
// runs once in every position.
func RoundOrder(targets, round int) []int {
	order := make([]int, targets)
	if targets == 0 {
		return order
	}
	shift := (round - 1) % targets
	if shift < 0 {
		shift += targets
	}
	for i := range order {
		order[i] = (i + shift) % targets
	}
	return order
}

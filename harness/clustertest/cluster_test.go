package clustertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The cluster behaviour suite (issue 4's acceptance, and issue 5's kill -9
// test for Kafka), written once and run against both implementations.

func TestReferenceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node reference cluster; skipped in -short")
	}
	if kafkaTarget() {
		t.Skip(envTarget + "=kafka: this run is the Kafka pass")
	}
	suite(t, newFixture(t, Reference))
}

func TestKafkaCluster(t *testing.T) {
	if ok, why := kafkaWanted(); !ok {
		t.Skip(why)
	}
	suite(t, newFixture(t, Kafka))
}

func suite(t *testing.T, f *fixture) {
	t.Run("KillLeaderDuringAcksAllProduce", func(t *testing.T) { killLeaderDuringProduce(t, f) })
	t.Run("TwoOfThreeDown", func(t *testing.T) { twoOfThreeDown(t, f) })
	t.Run("RestartedNodeRejoinsISR", func(t *testing.T) { restartedNodeRejoins(t, f) })
	t.Run("KillAllRestart", func(t *testing.T) { killAllRestart(t, f) })
	t.Run("SigtermLeaderOnlyRetriable", func(t *testing.T) { sigtermLeader(t, f) })
	t.Run("ClientRackFetchesFromOwnRack", func(t *testing.T) { clientRack(t, f) })
	t.Run("FailoverMeasured", func(t *testing.T) { failoverMeasured(t, f) })
}

// failoverMeasured runs what `highwater failover` runs, with two kills:
// the gaps are bounded by the session timeout plus an election, and the
// partition checks out afterwards.
func failoverMeasured(t *testing.T, f *fixture) {
	ctx := f.sub(t, 4*time.Minute)
	res, err := Failover(ctx, f.c, FailoverConfig{Topic: f.topicName(t), Kills: 2, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gaps %v (median %v, max %v); %d sent, %d acknowledged, %d failed", res.Gaps(), res.Median(), res.Max(), res.Sent, res.Acked, res.Failed)
	if res.CheckErr != nil {
		t.Errorf("partition check:\n%v", res.CheckErr)
	}
	if res.Failed > 0 {
		t.Errorf("%d records failed", res.Failed)
	}
	if bound := 3*testSessionTimeout + 10*time.Second; res.Max() > bound {
		t.Errorf("max gap %v above %v", res.Max(), bound)
	}
}

// testLog writes Failover's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// finish stops prod and a watcher, reads the partition back and checks
// it. No record may fail: the producer is idempotent and its delivery
// timeout is longer than any failover here.
func finish(t *testing.T, ctx context.Context, f *fixture, topic string, prod *Producer, w *Watcher) []Ack {
	t.Helper()
	acks, errs, sent := prod.Stop(ctx)
	var seen []Read
	if w != nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := w.CatchUp(cctx, f.c, topic, 0); err != nil {
			t.Errorf("the concurrent consumer did not catch up within 30 s of the faults healing: %v", err)
		}
		cancel()
		var werrs []error
		seen, werrs = w.Stop()
		if len(werrs) > 0 {
			t.Logf("consumer saw %d fetch errors during the faults (first: %v)", len(werrs), werrs[0])
		}
	}
	for i, err := range errs {
		if i < 5 {
			t.Errorf("record failed: %v", err)
		}
	}
	reads, err := ReadBack(ctx, f.c, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sent, %d acknowledged, %d failed, %d read back, %d seen by the concurrent consumer (%d above the high watermark their fetch reported)",
		sent, len(acks), len(errs), len(reads), len(seen), AboveReportedHW(seen)+AboveReportedHW(reads))
	if err := Check(prodPrefix, acks, reads, seen); err != nil {
		t.Errorf("partition check:\n%v", err)
	}
	return acks
}

const prodPrefix = "s"

func startProducer(t *testing.T, ctx context.Context, f *fixture, topic string) *Producer {
	t.Helper()
	p, err := StartProducer(ctx, f.c, ProducerConfig{Topic: topic, Prefix: prodPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background()) })
	return p
}

func startWatcher(t *testing.T, ctx context.Context, f *fixture, topic string, opts ...kgo.Opt) *Watcher {
	t.Helper()
	if os.Getenv("HIGHWATER_CLUSTERTEST_CLIENT_LOG") != "" { // debugging a stuck consumer
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, func() string { return "watcher " })))
	}
	w, err := StartWatcher(ctx, f.c, topic, 0, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop() })
	return w
}

// killLeaderDuringProduce: acks=all idempotent produce without pause while
// the partition leader is killed -9: nothing acknowledged lost, order
// kept, nothing read beyond the high watermark (everything a concurrent
// consumer saw is in the final log).
func killLeaderDuringProduce(t *testing.T, f *fixture) {
	ctx := f.sub(t, 3*time.Minute)
	topic := f.topic(t, ctx, 1)
	w := startWatcher(t, ctx, f, topic)
	prod := startProducer(t, ctx, f, topic)
	waitAcked(t, ctx, prod, time.Time{}, 200, "before the kill")
	victim := f.state(t, ctx, topic, 0).Leader
	killedAt := time.Now()
	if err := f.c.Kill(ctx, victim); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, ctx, prod, killedAt, 200, fmt.Sprintf("after killing leader %d", victim))
	t.Logf("leader %d killed; acks resumed %v later", victim, firstAckAfter(prod, killedAt).Sub(killedAt).Round(time.Millisecond))
	if err := f.c.Start(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := WaitFullISR(ctx, f.c, f.cl, topic, 1); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, ctx, prod, time.Now(), 100, "after the restart")
	finish(t, ctx, f, topic, prod, w)
}

func firstAckAfter(p *Producer, t0 time.Time) time.Time {
	for _, a := range p.Acks() {
		if a.At.After(t0) {
			return a.At
		}
	}
	return time.Time{}
}

// twoOfThreeDown: with both followers of a partition down, acks=all
// produce fails with NOT_ENOUGH_REPLICAS while acks=1 still succeeds.
// The followers stop gracefully: in a 3-node combined-mode cluster the
// second one down takes the metadata quorum (2 of 3 voters) with it, so
// only a controlled shutdown, which leaves the ISR before the process
// exits, shrinks the ISR below min.insync.replicas. After a second kill -9
// nothing is left to shrink the ISR, and acks=all would wait for the dead
// follower until it times out.
func twoOfThreeDown(t *testing.T, f *fixture) {
	ctx := f.sub(t, 3*time.Minute)
	topic := f.topic(t, ctx, 1)
	leader := f.state(t, ctx, topic, 0).Leader
	for _, id := range f.others(leader) {
		if err := f.c.Stop(ctx, id); err != nil {
			t.Fatalf("stop node %d: %v", id, err)
		}
	}
	produceOne := func(acks kgo.Acks, v string) (*kgo.Record, error) {
		cl, err := NewClient(f.c, kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite(),
			kgo.RecordRetries(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProduceRequestTimeout(5*time.Second), kgo.RecordDeliveryTimeout(15*time.Second))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}
		return r, cl.ProduceSync(ctx, r).FirstErr()
	}
	var last error
	err := Until(ctx, "acks=all refused with NOT_ENOUGH_REPLICAS", func(context.Context) error {
		_, last = produceOne(kgo.AllISRAcks(), "all")
		if last == nil {
			return nil // reported below
		}
		if errors.Is(last, kerr.NotEnoughReplicas) {
			return nil
		}
		return last
	})
	if err != nil {
		t.Fatal(err)
	}
	if last == nil {
		t.Fatalf("acks=all produce succeeded with nodes %v down", f.others(leader))
	}
	var acked []*kgo.Record
	for i := range 10 {
		r, err := produceOne(kgo.LeaderAck(), fmt.Sprintf("one-%d", i))
		if err != nil {
			t.Fatalf("acks=1 produce with two of three down: %v", err)
		}
		acked = append(acked, r)
	}
	f.startAll(t, ctx)
	if err := WaitFullISR(ctx, f.c, f.cl, topic, 1); err != nil {
		t.Fatal(err)
	}
	reads, err := ReadBack(ctx, f.c, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := map[int64]string{}
	for _, r := range reads {
		at[r.Offset] = r.Value
	}
	for _, r := range acked {
		if at[r.Offset] != string(r.Value) {
			t.Errorf("acks=1 record %q at offset %d: read back %q", r.Value, r.Offset, at[r.Offset])
		}
	}
}

// restartedNodeRejoins: a follower killed -9 misses writes; restarted, it
// catches up and rejoins the ISR while produce goes on.
func restartedNodeRejoins(t *testing.T, f *fixture) {
	ctx := f.sub(t, 3*time.Minute)
	topic := f.topic(t, ctx, 1)
	leader := f.state(t, ctx, topic, 0).Leader
	follower := f.others(leader)[0]
	prod := startProducer(t, ctx, f, topic)
	waitAcked(t, ctx, prod, time.Time{}, 100, "before the kill")
	killedAt := time.Now()
	if err := f.c.Kill(ctx, follower); err != nil {
		t.Fatal(err)
	}
	// The ISR shrinks (session timeout) and acks=all goes on with two.
	if err := Until(ctx, fmt.Sprintf("node %d out of the ISR", follower), func(ctx context.Context) error {
		s, err := Describe(ctx, f.c, f.cl, topic)
		if err != nil {
			return err
		}
		if s[0].InISR(follower) {
			return fmt.Errorf("ISR %v", s[0].ISR)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, ctx, prod, killedAt, 500, "with the follower down")
	startedAt := time.Now()
	if err := f.c.Start(ctx, follower); err != nil {
		t.Fatal(err)
	}
	if err := WaitFullISR(ctx, f.c, f.cl, topic, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("node %d back in the ISR %v after its start", follower, time.Since(startedAt).Round(time.Millisecond))
	waitAcked(t, ctx, prod, time.Now(), 100, "after the rejoin")
	finish(t, ctx, f, topic, prod, nil)
}

// killAllRestart: every node killed -9 at once, then restarted: nothing
// acknowledged is lost.
func killAllRestart(t *testing.T, f *fixture) {
	ctx := f.sub(t, 4*time.Minute)
	topic := f.topic(t, ctx, 1)
	prod := startProducer(t, ctx, f, topic)
	waitAcked(t, ctx, prod, time.Time{}, 500, "before the kills")
	var wg sync.WaitGroup
	errs := make([]error, len(f.c.Nodes()))
	for i, n := range f.c.Nodes() {
		wg.Go(func() { errs[i] = f.c.Kill(ctx, n.ID) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	errs = make([]error, len(f.c.Nodes()))
	for i, n := range f.c.Nodes() {
		wg.Go(func() { errs[i] = f.c.Start(ctx, n.ID) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := WaitFullISR(ctx, f.c, f.cl, topic, 1); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, ctx, prod, killedAt, 100, "after restarting every node")
	finish(t, ctx, f, topic, prod, nil)
}

// sigtermLeader: a graceful stop of the partition leader (controlled
// shutdown moves leadership first) costs acks=all idempotent clients only
// retriable errors: the client retries them and no record fails.
func sigtermLeader(t *testing.T, f *fixture) {
	ctx := f.sub(t, 3*time.Minute)
	topic := f.topic(t, ctx, 1)
	w := startWatcher(t, ctx, f, topic)
	prod := startProducer(t, ctx, f, topic)
	waitAcked(t, ctx, prod, time.Time{}, 200, "before the stop")
	victim := f.state(t, ctx, topic, 0).Leader
	stoppedAt := time.Now()
	if err := f.c.Stop(ctx, victim); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, ctx, prod, stoppedAt, 200, fmt.Sprintf("after stopping leader %d", victim))
	t.Logf("leader %d stopped (SIGTERM, took %v); acks resumed %v after the signal", victim,
		time.Since(stoppedAt).Round(time.Millisecond), firstAckAfter(prod, stoppedAt).Sub(stoppedAt).Round(time.Millisecond))
	if err := f.c.Start(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := WaitFullISR(ctx, f.c, f.cl, topic, 1); err != nil {
		t.Fatal(err)
	}
	finish(t, ctx, f, topic, prod, w)
}

// fetchNodes records which node served each fetched batch.
type fetchNodes struct {
	mu    sync.Mutex
	count map[int32]int
}

func (h *fetchNodes) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, _ kgo.FetchBatchMetrics) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count[meta.NodeID]++
}

func (h *fetchNodes) of(id int32) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count[id]
}

// clientRack: a consumer that sets client.rack to a follower's rack is sent
// to that follower (KIP-392, RackAwareReplicaSelector) and reads from it.
func clientRack(t *testing.T, f *fixture) {
	ctx := f.sub(t, 2*time.Minute)
	topic := f.topic(t, ctx, 1)
	leader := f.state(t, ctx, topic, 0).Leader
	follower := f.others(leader)[0]
	rack := f.rack(follower)
	prod := startProducer(t, ctx, f, topic)
	waitAcked(t, ctx, prod, time.Time{}, 50, "before consuming")
	hook := &fetchNodes{count: map[int32]int{}}
	w := startWatcher(t, ctx, f, topic, kgo.Rack(rack), kgo.WithHooks(hook))
	err := Until(ctx, fmt.Sprintf("a batch fetched from node %d (rack %s)", follower, rack), func(context.Context) error {
		if hook.of(follower) == 0 {
			hook.mu.Lock()
			defer hook.mu.Unlock()
			return fmt.Errorf("batches per node %v (leader %d)", hook.count, leader)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	t.Logf("batches fetched per node: leader %d: %d, follower %d (rack %s): %d", leader, hook.of(leader), follower, rack, hook.of(follower))
	finish(t, ctx, f, topic, prod, w)
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/faults"
)

// hardKill stops node id as kill -9 with the page cache on would: no
// controlled shutdown, no log flush, no page-cache write-back and no
// clean-shutdown marker; what the node's page cache held is lost.
func (c *testCluster) hardKill(id int32) {
	c.mu.Lock()
	rb := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	b := rb.b
	cn := b.cluster
	cn.pidMu.Lock()
	lc := cn.lc
	cn.lc = nil
	cn.pidMu.Unlock()
	if lc != nil {
		lc.Stop()
	}
	rb.stop()
	<-rb.ran
	cn.repl.cancel()
	cn.client.Close()
	_ = cn.srv.Stop()
	if b.ln != nil {
		b.ln.Close()
	}
	if b.metricsLn != nil {
		b.metricsLn.Close()
	}
	if b.unlock != nil {
		b.unlock()
	}
}

// registeredEpoch is node id's broker epoch in node from's image (0: none).
func (c *testCluster) registeredEpoch(from, id int32) int64 {
	c.mu.Lock()
	rb := c.nodes[from]
	c.mu.Unlock()
	if rb == nil {
		return 0
	}
	b, _ := rb.b.cluster.Image().Broker(id)
	return b.Epoch
}

// A clean shutdown leaves the marker with the broker epoch; a start takes
// it (the file is gone) and registers with it; a kill leaves none.
func TestCleanShutdownMarker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	c, _, _, closeAll := startReplicatedTopic(ctx, t, "marker")
	defer closeAll()
	marker := filepath.Join(c.dirs[2], cleanShutdownFile)
	epoch := c.registeredEpoch(1, 2)
	c.stopNode(2)
	data, err := os.ReadFile(marker)
	if err != nil || !slices.Contains([]string{fmt.Sprintf(`{"version":0,"brokerEpoch":%d}`, epoch)}, string(data)) {
		t.Fatalf("after a clean shutdown at epoch %d the marker holds %q (%v)", epoch, data, err)
	}
	c.start(2)
	eventually(ctx, t, "node 2 registers again", func() error {
		if e := c.registeredEpoch(1, 2); e <= epoch {
			return fmt.Errorf("epoch %d", e)
		}
		return nil
	})
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the marker outlived the start: %v", err)
	}
	c.hardKill(2)
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a kill left a marker: %v", err)
	}
	c.start(2)
	if got, err := c.nodes[2].b.cluster.takeCleanShutdownEpoch(); err != nil || got != controller.NoPreviousBrokerEpoch {
		t.Fatalf("after a kill the previous epoch is %d (%v), want -1", got, err)
	}
}

// Power-loss semantics (highwater.fault.page.cache): a follower killed
// with its log only in the page cache comes back without its tail. It
// must not count in the ISR before it has fetched the records again
// (KIP-966: its unclean registration takes it out of every ISR; KIP-903:
// the leader's proposals carry the broker epoch of the incarnation whose
// fetches they count), and when the leader is killed next, every
// acknowledged record is still there.
func TestClusterFollowerLosesTailOnKill(t *testing.T) {
	t.Cleanup(func() { faults.SetReplicaFetchDelay(0) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "powercut"
	c, seeds, leader, closeAll := startReplicatedTopicWith(ctx, t, topic, []string{"highwater.fault.page.cache", "true"})
	defer closeAll()
	// A slow replication link: followers are always a little behind, so a
	// follower's kill lands in records it held only in its page cache.
	faults.SetReplicaFetchDelay(20 * time.Millisecond)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.RecordRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	acked := 0
	produce := func(n int) {
		t.Helper()
		if err := produceN(ctx, cl, topic, acked, n); err != nil {
			t.Fatalf("producing %d..%d: %v", acked, acked+n, err)
		}
		acked += n
	}
	produce(200)

	follower := int32(1)
	for follower == leader {
		follower++
	}
	oldEpoch := c.registeredEpoch(leader, follower)
	c.hardKill(follower)
	c.start(follower)
	end, _, _ := c.partitionLog(follower, topic)
	t.Logf("follower %d restarted with log end %d of %d acknowledged", follower, end, acked)
	if end >= int64(acked) {
		t.Fatalf("the kill lost nothing (log end %d): the page cache is not in effect", end)
	}

	// Once the restarted follower registered (its dead predecessor stays
	// in the ISR until the session expires, as in Kafka), the leader's
	// metadata must not count it in the ISR before it holds every
	// acknowledged record again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		registered := c.registeredEpoch(leader, follower) > oldEpoch
		isr, err := c.isrOf(ctx, leader, topic)
		end, _, lerr := c.partitionLog(follower, topic)
		if registered && err == nil && lerr == nil && slices.Contains(isr, follower) {
			if end < int64(acked) {
				t.Fatalf("follower %d in isr %v with log end %d < %d acknowledged", follower, isr, end, acked)
			}
			break // back in the ISR, legitimately
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower %d did not rejoin the isr (isr %v, log end %d)", follower, isr, end)
		}
		time.Sleep(20 * time.Millisecond)
	}
	produce(100)

	// Now the leader: another replica takes over and has everything.
	c.hardKill(leader)
	c.start(leader)
	produce(100)
	got := map[string]bool{}
	ccl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(follower)), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()}}), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	for len(got) < acked && ctx.Err() == nil {
		fs := ccl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	for i := range acked {
		if !got[strconv.Itoa(i)] {
			t.Fatalf("acknowledged record %d lost (%d of %d read)", i, len(got), acked)
		}
	}
}

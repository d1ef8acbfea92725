package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// After the whole cluster is killed at once (page cache on) and restarted,
// every node registers its new incarnation promptly and acks=all produce
// works again. A new active controller grants every registered broker a
// fresh session; before, that grace session made each new incarnation a
// DUPLICATE_BROKER_REGISTRATION until it expired (and again after every
// controller change), so no producer id could be allocated meanwhile.
func TestClusterFullRestartRegistersQuickly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const topic = "fullrestart"
	c, seeds, _, closeAll := startReplicatedTopicWith(ctx, t, topic, []string{"highwater.fault.page.cache", "true",
		"log.flush.interval.messages", "1"})
	defer closeAll()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	if err := produceN(ctx, cl, topic, 0, 50); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	for id := int32(1); id <= 3; id++ {
		c.hardKill(id)
	}
	start := time.Now()
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	registered := map[int32]time.Duration{}
	eventually(ctx, t, "every node registered", func() error {
		for id := int32(1); id <= 3; id++ {
			if _, ok := registered[id]; ok {
				continue
			}
			c.mu.Lock()
			cn := c.nodes[id].b.cluster
			c.mu.Unlock()
			cn.pidMu.Lock()
			lc := cn.lc
			cn.pidMu.Unlock()
			if lc != nil && lc.Status().Epoch > 0 && !lc.Status().Fenced {
				registered[id] = time.Since(start)
			}
		}
		if len(registered) < 3 {
			return fmt.Errorf("registered and unfenced: %v", registered)
		}
		return nil
	})
	allRegistered := time.Since(start)
	seeds = []string{c.addr(1), c.addr(2), c.addr(3)}
	cl, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	eventually(ctx, t, "an idempotent acks=all produce", func() error { return produceN(ctx, cl, topic, 50, 1) })
	firstAck := time.Since(start)
	t.Logf("full restart: nodes unfenced after %v (all by %v), first acks=all produce after %v (session timeout %v)",
		registered, allRegistered.Round(time.Millisecond), firstAck.Round(time.Millisecond), clusterSessionTimeout)
	if allRegistered > clusterSessionTimeout {
		t.Fatalf("registration took %v, longer than the old incarnations' sessions (%v)", allRegistered, clusterSessionTimeout)
	}
}

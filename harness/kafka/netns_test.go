package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/netns"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skip(err)
	}
}

// TestNetNSPartition: with every node in its own namespace, cutting the
// leader of a partition off from the other two moves leadership to the
// majority; healing brings the ISR back to 3. Client traffic from the
// root namespace keeps reaching every node throughout.
func TestNetNSPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the partition test starts a second cluster")
	}
	requireRoot(t)
	requireKafka(t)
	c := startCluster(t, Config{Dir: testDir(t), Nodes: 3, NetNS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	nw, err := cluster.NetworkOf(c)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 3, -1, nil, testTopic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	if err := waitISR(ctx, adm, testTopic, 3); err != nil {
		t.Fatal(err)
	}
	acked := produceN(ctx, t, cl, 0, 100)

	leaders, err := c.Leaders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tp := cluster.TopicPartition{Topic: testTopic, Partition: 0}
	victim := leaders[tp]
	began := time.Now()
	if err := cluster.Isolate(ctx, c, nw, victim); err != nil {
		t.Fatalf("Isolate(%d): %v", victim, err)
	}
	var moved int32
	err = poll(ctx, 90*time.Second, func(ctx context.Context) error {
		l, err := c.Leaders(ctx)
		if err != nil {
			return err
		}
		if moved = l[tp]; moved == victim || moved < 1 {
			return fmt.Errorf("leader of %v still %d", tp, moved)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("leadership did not move off isolated node %d: %v", victim, err)
	}
	t.Logf("isolated leader %d of %v; node %d leads after %v", victim, tp, moved, time.Since(began).Round(time.Millisecond))
	// The isolated node still answers clients (only node-to-node links are
	// cut); a fresh client that follows the newest metadata writes to the
	// majority's leader.
	acked = append(acked, produceN(ctx, t, cl, 0, 50)...)

	began = time.Now()
	if err := nw.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitISR(ctx, adm, testTopic, 3); err != nil {
		t.Fatalf("ISR did not recover after heal: %v", err)
	}
	t.Logf("ISR back to 3 %v after heal", time.Since(began).Round(time.Millisecond))

	// Lossy links: 20% of one node's packets dropped; TCP retransmits, so
	// acks=all writes still complete, only slower.
	if err := c.LossyLinks(ctx, victim, 20); err != nil {
		t.Fatalf("LossyLinks: %v", err)
	}
	began = time.Now()
	acked = append(acked, produceN(ctx, t, cl, 0, 30)...)
	t.Logf("30 acks=all records with 20%% loss on node %d in %v", victim, time.Since(began).Round(time.Millisecond))
	if err := c.RestoreLinks(ctx, victim); err != nil {
		t.Fatalf("RestoreLinks: %v", err)
	}
	consumeExpect(ctx, t, c.Bootstrap(), acked)
}

// Links without namespaces, and slow links ever, are unavailable and say
// why.
func TestLinksUnavailable(t *testing.T) {
	c := &Cluster{}
	for _, kind := range []string{cluster.LinkSlow, cluster.LinkLossy} {
		err := c.LinksAvailable(kind)
		if !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), kind) {
			t.Errorf("%s: %v, want ErrUnavailable naming it", kind, err)
		}
	}
	if err := c.LossyLinks(context.Background(), 1, 10); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("LossyLinks without netns: %v", err)
	}
}

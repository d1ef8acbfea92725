package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

const testTopic = "hw-rf3"

// TestCluster runs one 3-node cluster through the driver's whole surface:
// produce/consume with acks=all, leaders and controller against kadm and
// every node, then (not with -short) kill -9 of a partition leader during
// idempotent produce, restart, pause/resume and graceful restart of the
// active controller.
func TestCluster(t *testing.T) {
	requireKafka(t)
	c := startCluster(t, Config{Dir: testDir(t), Nodes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	t.Run("racks", func(t *testing.T) {
		meta, err := adm.BrokerMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		racks := map[int32]string{}
		for _, b := range meta.Brokers {
			if b.Rack != nil {
				racks[b.NodeID] = *b.Rack
			}
		}
		want := map[int32]string{1: "az-a", 2: "az-b", 3: "az-c"}
		if fmt.Sprint(racks) != fmt.Sprint(want) {
			t.Fatalf("racks = %v, want %v", racks, want)
		}
	})

	// -1: the cluster's default.replication.factor, which must be 3.
	resp, err := adm.CreateTopic(ctx, 3, -1, nil, testTopic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	if err := waitISR(ctx, adm, testTopic, 3); err != nil {
		t.Fatal(err)
	}

	t.Run("produce-consume", func(t *testing.T) {
		acked := produceN(ctx, t, cl, 0, 300)
		consumeExpect(ctx, t, c.Bootstrap(), acked)
	})

	t.Run("leaders-agree-with-kadm", func(t *testing.T) {
		checkLeaders(ctx, t, c, adm)
	})

	t.Run("active-controller", func(t *testing.T) {
		id, err := c.ActiveController(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// kadm has no DescribeQuorum: ask each node on its own.
		for _, n := range c.Nodes() {
			got, err := cluster.QuorumLeader(ctx, cl, []int32{n.ID})
			if err != nil || got != id {
				t.Errorf("node %d says controller %d (%v), driver says %d", n.ID, got, err, id)
			}
		}
	})

	if _, err := cluster.NetworkOf(c); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("NetworkOf(plain cluster) = %v, want ErrUnavailable", err)
	}
	if testing.Short() {
		t.Log("-short: skipping the fault sequence")
		return
	}

	t.Run("kill-leader-during-produce", func(t *testing.T) { killLeaderDuringProduce(ctx, t, c, cl, adm) })
	t.Run("pause-resume", func(t *testing.T) { pauseResume(ctx, t, c, adm) })
	t.Run("restart-controller", func(t *testing.T) {
		old, err := c.ActiveController(ctx)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if err := c.Restart(ctx, old); err != nil {
			t.Fatalf("Restart(%d): %v", old, err)
		}
		t.Logf("graceful restart of node %d took %v", old, time.Since(began).Round(time.Millisecond))
		if err := waitISR(ctx, adm, testTopic, 3); err != nil {
			t.Fatal(err)
		}
		checkLeaders(ctx, t, c, adm)
	})
}

func killLeaderDuringProduce(ctx context.Context, t *testing.T, c *Cluster, cl *kgo.Client, adm *kadm.Client) {
	leaders, err := c.Leaders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tp := cluster.TopicPartition{Topic: testTopic, Partition: 0}
	victim := leaders[tp]
	if victim < 1 {
		t.Fatalf("no leader for %v: %v", tp, leaders)
	}
	// An idempotent acks=all producer writes unique values while the
	// leader dies; everything acknowledged must be read back.
	prod, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	pctx, stopProducing := context.WithCancel(ctx)
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; pctx.Err() == nil; i++ {
			v := "k" + strconv.Itoa(i)
			r := &kgo.Record{Topic: testTopic, Partition: 0, Value: []byte(v)}
			prod.Produce(pctx, r, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked = append(acked, string(r.Value))
					mu.Unlock()
				}
			})
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(2 * time.Second)
	began := time.Now()
	if err := c.Kill(ctx, victim); err != nil {
		t.Fatalf("Kill(%d): %v", victim, err)
	}
	if c.PID(victim) != 0 {
		t.Fatal("pid still set after Kill")
	}
	var newLeader int32
	err = poll(ctx, 60*time.Second, func(ctx context.Context) error {
		l, err := c.Leaders(ctx)
		if err != nil {
			return err
		}
		if newLeader = l[tp]; newLeader == victim || newLeader < 1 {
			return fmt.Errorf("leader of %v still %d", tp, newLeader)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no new leader after killing %d: %v", victim, err)
	}
	t.Logf("killed leader %d of %v; node %d leads after %v", victim, tp, newLeader, time.Since(began).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // produce against the new leader too

	began = time.Now()
	if err := c.Start(ctx, victim); err != nil {
		t.Fatalf("Start(%d): %v", victim, err)
	}
	t.Logf("node %d restarted (ready) in %v", victim, time.Since(began).Round(time.Millisecond))
	if err := waitISR(ctx, adm, testTopic, 3); err != nil {
		t.Fatal(err)
	}
	t.Logf("ISR back to 3 after %v", time.Since(began).Round(time.Millisecond))
	stopProducing()
	wg.Wait()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = prod.Flush(fctx)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d records acknowledged across the kill", len(acked))
	if len(acked) < 100 {
		t.Fatalf("only %d records acknowledged", len(acked))
	}
	consumeExpect(ctx, t, c.Bootstrap(), acked)
}

func pauseResume(ctx context.Context, t *testing.T, c *Cluster, adm *kadm.Client) {
	const id = 2
	addr := c.Nodes()[id-1].Addr
	if err := c.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err := brokerproc.Probe(pctx, addr)
	cancel()
	if err == nil {
		t.Error("a paused node answered ApiVersions")
	}
	// Leaders must still answer while a node is frozen (bounded per node).
	if _, err := c.Leaders(ctx); err != nil {
		t.Errorf("Leaders with node %d paused: %v", id, err)
	}
	if err := c.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, 30*time.Second, func(ctx context.Context) error { return brokerproc.Probe(ctx, addr) }); err != nil {
		t.Fatalf("node %d silent after Resume: %v", id, err)
	}
	if err := waitISR(ctx, adm, testTopic, 3); err != nil {
		t.Fatal(err)
	}
}

// produceN writes n values to partition part synchronously and returns them.
func produceN(ctx context.Context, t *testing.T, cl *kgo.Client, part int32, n int) []string {
	t.Helper()
	var vals []string
	var recs []*kgo.Record
	for i := range n {
		v := fmt.Sprintf("p%d-%d", part, i)
		vals = append(vals, v)
		recs = append(recs, &kgo.Record{Topic: testTopic, Partition: part, Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return vals
}

// consumeExpect reads the whole topic and fails unless every value in want
// is present.
func consumeExpect(ctx context.Context, t *testing.T, bootstrap string, want []string) {
	t.Helper()
	cons, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	missing := make(map[string]bool, len(want))
	for _, v := range want {
		missing[v] = true
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for len(missing) > 0 && cctx.Err() == nil {
		fs := cons.PollFetches(cctx)
		fs.EachRecord(func(r *kgo.Record) { delete(missing, string(r.Value)) })
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged values not read back", len(missing), len(want))
	}
}

func checkLeaders(ctx context.Context, t *testing.T, c *Cluster, adm *kadm.Client) {
	t.Helper()
	err := poll(ctx, 30*time.Second, func(ctx context.Context) error {
		got, err := c.Leaders(ctx)
		if err != nil {
			return err
		}
		td, err := adm.ListTopics(ctx, testTopic)
		if err != nil {
			return err
		}
		for _, p := range td[testTopic].Partitions {
			tp := cluster.TopicPartition{Topic: testTopic, Partition: p.Partition}
			if got[tp] != p.Leader {
				return fmt.Errorf("%v: driver says leader %d, kadm says %d", tp, got[tp], p.Leader)
			}
		}
		if len(td[testTopic].Partitions) != 3 {
			return fmt.Errorf("kadm lists %d partitions", len(td[testTopic].Partitions))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitISR waits until every partition of topic has isr in-sync replicas.
func waitISR(ctx context.Context, adm *kadm.Client, topic string, isr int) error {
	return poll(ctx, 90*time.Second, func(ctx context.Context) error {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return err
		}
		d := td[topic]
		if d.Err != nil {
			return d.Err
		}
		for _, p := range d.Partitions {
			if len(p.ISR) != isr || len(p.Replicas) != isr {
				return fmt.Errorf("%s-%d: replicas %v isr %v, want %d", topic, p.Partition, p.Replicas, p.ISR, isr)
			}
		}
		return nil
	})
}

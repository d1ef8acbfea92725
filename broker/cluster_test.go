package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// testCluster is three in-process combined-mode brokers on 127.0.0.1.
type testCluster struct {
	t      *testing.T
	voters string
	dirs   map[int32]string
	racks  map[int32]string
	extra  []string // more properties, key then value, for every node

	mu    sync.Mutex
	lns   map[string]net.Listener // pre-bound controller listeners by address
	nodes map[int32]*runningBroker
}

type runningBroker struct {
	b    *Broker
	stop context.CancelFunc
	ran  chan error
}

const clusterSessionTimeout = 3 * time.Second

func newTestCluster(t *testing.T) *testCluster {
	c := &testCluster{t: t, dirs: map[int32]string{}, racks: map[int32]string{}, lns: map[string]net.Listener{},
		nodes: map[int32]*runningBroker{}}
	var voters []string
	for id := int32(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.lns[ln.Addr().String()] = ln
		voters = append(voters, fmt.Sprintf("%d@%s", id, ln.Addr()))
		c.dirs[id] = t.TempDir()
		c.racks[id] = "az-" + string(rune('a'+id-1))
	}
	c.voters = strings.Join(voters, ",")
	return c
}

// listen hands out the pre-bound controller listeners (once each; a
// restarted node binds its port again).
func (c *testCluster) listen(network, addr string) (net.Listener, error) {
	c.mu.Lock()
	ln, ok := c.lns[addr]
	delete(c.lns, addr)
	c.mu.Unlock()
	if ok {
		return ln, nil
	}
	return net.Listen(network, addr)
}

func (c *testCluster) controllerAddr(id int32) string {
	for _, v := range strings.Split(c.voters, ",") {
		if n, addr, _ := strings.Cut(v, "@"); n == strconv.Itoa(int(id)) {
			return addr
		}
	}
	c.t.Fatalf("no voter %d", id)
	return ""
}

func (c *testCluster) start(id int32) {
	c.t.Helper()
	cfg := DefaultConfig()
	cfg.Properties = props(c.dirs[id], append([]string{
		"node.id", strconv.Itoa(int(id)),
		"process.roles", "broker,controller",
		"controller.quorum.voters", c.voters,
		"controller.listener.names", "CONTROLLER",
		"listeners", "PLAINTEXT://127.0.0.1:0,CONTROLLER://" + c.controllerAddr(id),
		"broker.rack", c.racks[id],
		"broker.session.timeout.ms", strconv.Itoa(int(clusterSessionTimeout.Milliseconds())),
		"broker.heartbeat.interval.ms", "300",
	}, c.extra...)...)
	cfg.Listen = c.listen
	cfg.Logger = slog.New(slog.DiscardHandler)
	b, err := New(cfg)
	if err != nil {
		c.t.Fatalf("node %d: New: %v", id, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	rb := &runningBroker{b: b, stop: stop, ran: make(chan error, 1)}
	go func() { rb.ran <- b.Run(ctx) }()
	c.mu.Lock()
	c.nodes[id] = rb
	c.mu.Unlock()
}

func (c *testCluster) stopNode(id int32) {
	c.mu.Lock()
	rb := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if rb == nil {
		return
	}
	rb.stop()
	if err := <-rb.ran; err != nil {
		c.t.Errorf("node %d: Run: %v", id, err)
	}
	if err := rb.b.Close(); err != nil {
		c.t.Errorf("node %d: Close: %v", id, err)
	}
}

// close stops every node at once (so controlled shutdowns overlap while
// the quorum still stands) and closes unused listeners.
func (c *testCluster) close() {
	var wg sync.WaitGroup
	for id := int32(1); id <= 3; id++ {
		wg.Go(func() { c.stopNode(id) })
	}
	wg.Wait()
	c.mu.Lock()
	for _, ln := range c.lns {
		_ = ln.Close()
	}
	c.mu.Unlock()
}

func (c *testCluster) addr(id int32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id].b.Addr().String()
}

// metadata asks node id directly (not through client routing).
func (c *testCluster) metadata(ctx context.Context, id int32, topic string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(id)))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(rctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// eventually polls check until it returns nil or ctx ends.
func eventually(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v (last: %v)", what, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// brokersOf maps node id to rack for the brokers a Metadata answer lists.
func brokersOf(resp *kmsg.MetadataResponse) map[int32]string {
	out := map[int32]string{}
	for _, b := range resp.Brokers {
		out[b.NodeID] = ""
		if b.Rack != nil {
			out[b.NodeID] = *b.Rack
		}
	}
	return out
}

// leadersOf is the topic's partition → leader, or an error while a
// partition has none.
func leadersOf(resp *kmsg.MetadataResponse, partitions int) ([]int32, [][]int32, error) {
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil, nil, fmt.Errorf("topic not in metadata: %+v", resp.Topics)
	}
	t := resp.Topics[0]
	if len(t.Partitions) != partitions {
		return nil, nil, fmt.Errorf("%d partitions, want %d", len(t.Partitions), partitions)
	}
	leaders := make([]int32, partitions)
	replicas := make([][]int32, partitions)
	for _, p := range t.Partitions {
		if p.Leader < 0 || p.ErrorCode != 0 {
			return nil, nil, fmt.Errorf("partition %d: leader %d, error %d", p.Partition, p.Leader, p.ErrorCode)
		}
		leaders[p.Partition], replicas[p.Partition] = p.Leader, p.Replicas
	}
	return leaders, replicas, nil
}

// Three combined-mode brokers form one cluster: an RF-3 topic is placed
// across the three racks, every node answers the same Metadata, records
// produced to the leaders are read back, a closed leader's partitions
// move to the survivors, and the node rejoins on restart.
func TestClusterOfThree(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const (
		topic      = "spread"
		partitions = 6
		records    = 60
	)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	c := newTestCluster(t)
	defer c.close()
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	wantRacks := map[int32]string{1: "az-a", 2: "az-b", 3: "az-c"}
	allUp := func(ids ...int32) func() error {
		return func() error {
			for _, id := range ids {
				resp, err := c.metadata(ctx, id, "")
				if err != nil {
					return err
				}
				if got := brokersOf(resp); !mapsEqual(got, wantRacks) {
					return fmt.Errorf("node %d lists brokers %v", id, got)
				}
			}
			return nil
		}
	}
	eventually(ctx, t, "three brokers registered and unfenced", allUp(1, 2, 3))

	seeds := []string{c.addr(1), c.addr(2), c.addr(3)}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	eventually(ctx, t, "create topic", func() error {
		_, err := adm.CreateTopic(ctx, partitions, 3, nil, topic)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return nil // an earlier attempt's outcome was unknown but it did commit
		}
		return err
	})

	var leaders []int32
	eventually(ctx, t, "every node agrees on placement", func() error {
		var first []int32
		for id := int32(1); id <= 3; id++ {
			resp, err := c.metadata(ctx, id, topic)
			if err != nil {
				return err
			}
			ls, reps, err := leadersOf(resp, partitions)
			if err != nil {
				return fmt.Errorf("node %d: %w", id, err)
			}
			for p, rs := range reps {
				racks := map[string]bool{}
				for _, r := range rs {
					racks[wantRacks[r]] = true
				}
				if len(rs) != 3 || len(racks) != 3 {
					return fmt.Errorf("node %d: partition %d replicas %v not across 3 racks", id, p, rs)
				}
			}
			if first == nil {
				first = ls
			} else if !slices.Equal(first, ls) {
				return fmt.Errorf("leaders differ: %v vs node %d's %v", first, id, ls)
			}
		}
		leaders = first
		return nil
	})

	produceAndConsume(ctx, t, seeds, topic, partitions, records)

	victim := leaders[0]
	var moved []int32 // partitions the victim led
	for p, l := range leaders {
		if l == victim {
			moved = append(moved, int32(p))
		}
	}
	var survivors []int32
	for id := int32(1); id <= 3; id++ {
		if id != victim {
			survivors = append(survivors, id)
		}
	}
	closedAt := time.Now()
	c.stopNode(victim)
	failCtx, failCancel := context.WithTimeout(ctx, clusterSessionTimeout+10*time.Second)
	defer failCancel()
	eventually(failCtx, t, fmt.Sprintf("partitions %v leave closed node %d", moved, victim), func() error {
		for _, id := range survivors {
			resp, err := c.metadata(failCtx, id, topic)
			if err != nil {
				return err
			}
			if _, listed := brokersOf(resp)[victim]; listed {
				return fmt.Errorf("node %d still lists %d", id, victim)
			}
			ls, _, err := leadersOf(resp, partitions)
			if err != nil {
				return fmt.Errorf("node %d: %w", id, err)
			}
			for _, p := range moved {
				if ls[p] == victim {
					return fmt.Errorf("node %d: partition %d still led by %d", id, p, victim)
				}
			}
		}
		return nil
	})
	t.Logf("leadership moved %v after closing node %d", time.Since(closedAt), victim)

	c.start(victim)
	eventually(ctx, t, fmt.Sprintf("node %d re-registers", victim), allUp(1, 2, 3))
}

func mapsEqual(a, b map[int32]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// produceAndConsume writes records round-robin over the partitions with
// acks=1 and reads them all back from the leaders.
func produceAndConsume(ctx context.Context, t *testing.T, seeds []string, topic string, partitions, records int) {
	t.Helper()
	pcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	var rs []*kgo.Record
	for i := range records {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(strconv.Itoa(i))})
	}
	pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
	defer pcancel()
	if err := pcl.ProduceSync(pctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	ccl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	seen := map[string]int32{}
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
	defer ccancel()
	for len(seen) < records {
		fs := ccl.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(seen), records, cctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = r.Partition })
	}
	for i := range records {
		if p, ok := seen[strconv.Itoa(i)]; !ok || p != int32(i%partitions) {
			t.Errorf("record %d: seen %v in partition %d, want partition %d", i, ok, p, i%partitions)
		}
	}
}

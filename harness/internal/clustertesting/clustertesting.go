package clustertesting

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/await"
)

const (
	// ioTimeout bounds one Produce or ConsumeExpect.
	ioTimeout = 30 * time.Second
	// tryTimeout bounds one try of WaitFor's condition.
	tryTimeout = 3 * time.Second
	// tryInterval is the pause between WaitFor's tries.
	tryInterval = 100 * time.Millisecond
)

// MustClient is a franz-go client with opts; t fails when it cannot be
// made. The caller closes it.
func MustClient(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// Seeds is the client option that bootstraps from every node of c.
func Seeds(c cluster.Cluster) kgo.Opt { return kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...) }

// Admin is an admin client bootstrapping from every node of c; the
// caller closes it.
func Admin(t testing.TB, c cluster.Cluster) *kadm.Client {
	t.Helper()
	return kadm.NewClient(MustClient(t, Seeds(c)))
}

// Produce writes n acks=all records ("<prefix>-<i>") to partition 0 of
// topic and returns their values in order.
func Produce(ctx context.Context, t testing.TB, c cluster.Cluster, topic string, n int, prefix string) []string {
	t.Helper()
	cl := MustClient(t, Seeds(c), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	var vals []string
	var recs []*kgo.Record
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		vals = append(vals, v)
		recs = append(recs, &kgo.Record{Partition: 0, Value: []byte(v)})
	}
	if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", prefix, err)
	}
	return vals
}

// ConsumeExpect reads partition 0 of topic from the start and fails t
// unless it holds exactly want, in order.
func ConsumeExpect(ctx context.Context, t testing.TB, c cluster.Cluster, topic string, want []string) {
	t.Helper()
	cl := MustClient(t, Seeds(c), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	var got []string
	for len(got) < len(want) {
		fs := cl.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(got), len(want))
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read back %d records, not the %d produced in order", len(got), len(want))
	}
}

// ISRIs is nil when every partition of topic has an ISR of n replicas.
func ISRIs(ctx context.Context, adm *kadm.Client, topic string, n int) error {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		return fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	for _, p := range td.Partitions {
		if len(p.ISR) != n {
			return fmt.Errorf("%s-%d ISR %v", topic, p.Partition, p.ISR)
		}
	}
	return nil
}

// WaitFor polls f (each try bounded by 3 s) until it succeeds or within
// passes; the error then says how long it waited and f's last error.
func WaitFor(ctx context.Context, within time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return await.Until(ctx, await.Options{
		Interval: tryInterval,
		Attempt:  tryTimeout,
		TimedOut: func(last error) error { return fmt.Errorf("after %v: %w", within, last) },
	}, f)
}

// WaitISR waits up to within for every partition of topic to have an ISR
// of n replicas.
func WaitISR(ctx context.Context, adm *kadm.Client, topic string, n int, within time.Duration) error {
	return WaitFor(ctx, within, func(ctx context.Context) error { return ISRIs(ctx, adm, topic, n) })
}

// CreateTopic creates topic with the given partitions at replication
// factor 3 and waits up to within for every ISR to be whole; t fails
// otherwise.
func CreateTopic(ctx context.Context, t testing.TB, adm *kadm.Client, topic string, partitions int32, within time.Duration) {
	t.Helper()
	if _, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := WaitISR(ctx, adm, topic, 3, within); err != nil {
		t.Fatal(err)
	}
}

// LeaderOf is tp's leader as c reports it; t fails when it has none.
func LeaderOf(ctx context.Context, t testing.TB, c cluster.Cluster, tp cluster.TopicPartition) int32 {
	t.Helper()
	leaders, err := c.Leaders(ctx)
	if err != nil || leaders[tp] < 1 {
		t.Fatalf("Leaders = %v, %v", leaders, err)
	}
	return leaders[tp]
}

// NewLeader waits up to within for tp to be led by a node other than old
// and returns it.
func NewLeader(ctx context.Context, c cluster.Cluster, tp cluster.TopicPartition, old int32, within time.Duration) (int32, error) {
	var got int32
	err := WaitFor(ctx, within, func(ctx context.Context) error {
		l, err := c.Leaders(ctx)
		if err != nil {
			return err
		}
		if l[tp] == old || l[tp] < 1 {
			return fmt.Errorf("leader of %v is %d", tp, l[tp])
		}
		got = l[tp]
		return nil
	})
	return got, err
}

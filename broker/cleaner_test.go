package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// startCleanerBroker starts a single-node broker on dir; stop shuts it down.
func startCleanerBroker(t *testing.T, dir string, kv ...string) (b *Broker, stop func()) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Properties = props(dir, kv...)
	return startCleanerBrokerConfig(t, cfg)
}

// startCleanerBrokerConfig is startCleanerBroker with a whole Config.
func startCleanerBrokerConfig(t *testing.T, cfg Config) (b *Broker, stop func()) {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- b.Run(ctx) }()
	return b, func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

var cleanerProps = []string{
	"log.cleaner.backoff.ms", "20",
	"offsets.topic.num.partitions", "1",
	"offsets.topic.segment.bytes", "2048",
	"group.initial.rebalance.delay.ms", "0",
}

type keyed struct {
	offset int64
	value  string // "<nil>" for a tombstone
}

// consumeCompacted reads partition 0 of topic from its start to its end.
func consumeCompacted(ctx context.Context, t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	var out []*kgo.Record
	next := int64(0)
	for next < end.Offset {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming %s: %v (at %d of %d)", topic, err, next, end.Offset)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			next = r.Offset + 1
		})
	}
	return out
}

// A compacted topic keeps, once cleaned, exactly the newest record per key
// at its original offset (tombstones too, within delete.retention.ms), a
// restart keeps it so, and a keyless record is refused with
// INVALID_RECORD without failing the request's other partitions.
func TestCompactedTopic(t *testing.T) {
	const topic = "compacted"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	b, stop := startCleanerBroker(t, dir, cleanerProps...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	segBytes := "1024"
	res, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"cleanup.policy": ptr("compact"), "segment.bytes": &segBytes,
		"min.cleanable.dirty.ratio": ptr("0.01")}, topic)
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	want := map[string]keyed{}
	produce := func(key string, value []byte) {
		r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		v := "<nil>"
		if value != nil {
			v = string(value)
		}
		want[key] = keyed{r.Offset, v}
	}
	for round := range 15 {
		for k := range 8 {
			produce(fmt.Sprint("k", k), fmt.Appendf(nil, "v%d-%d", round, k))
		}
	}
	produce("k3", nil) // a tombstone
	produce("k5", []byte("last"))
	// Unique keys push everything above into sealed segments.
	for i := range 30 {
		produce(fmt.Sprint("filler", i), []byte("................................"))
	}
	check := func() error {
		got := map[string]keyed{}
		n := 0
		for _, r := range consumeCompacted(ctx, t, b.Addr().String(), topic) {
			v := "<nil>"
			if r.Value != nil {
				v = string(r.Value)
			}
			got[string(r.Key)] = keyed{r.Offset, v}
			n++
		}
		if n != len(got) {
			return fmt.Errorf("%d records for %d keys: not compacted yet", n, len(got))
		}
		for k, w := range want {
			if got[k] != w {
				return fmt.Errorf("key %s: got %+v, want %+v", k, got[k], w)
			}
		}
		return nil
	}
	eventually(ctx, t, "the topic compacted to the newest record per key", check)
	mfs, err := b.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetGauge() != nil {
			seen[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if v, ok := seen["kafka_log_logcleaner_cleaner_recopy_percent"]; !ok || v <= 0 || v > 100 {
		t.Errorf("kafka_log_logcleaner_cleaner_recopy_percent = %v (present %v), want in (0, 100]", v, ok)
	}
	if _, ok := seen["kafka_log_logcleanermanager_uncleanable_partitions_count"]; !ok {
		t.Error("kafka_log_logcleanermanager_uncleanable_partitions_count not exported")
	}

	// Keyless record on partition 0, keyed on partition 1, one request.
	keyless := &kgo.Record{Topic: topic, Partition: 0, Value: []byte("no key")}
	keyedRec := &kgo.Record{Topic: topic, Partition: 1, Key: []byte("k"), Value: []byte("v")}
	results := cl.ProduceSync(ctx, keyless, keyedRec)
	for _, r := range results {
		switch r.Record.Partition {
		case 0:
			if !errors.Is(r.Err, kerr.InvalidRecord) {
				t.Errorf("keyless record: %v, want INVALID_RECORD", r.Err)
			}
		case 1:
			if r.Err != nil {
				t.Errorf("keyed record on the other partition: %v", r.Err)
			}
		}
	}
	cl.Close()
	stop()

	b, stop = startCleanerBroker(t, dir, cleanerProps...)
	defer stop()
	if err := check(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func ptr(s string) *string { return &s }

// __consumer_offsets is compacted and group state survives it: many
// commits, a cleaning, a restart, and the last commit per partition is
// what OffsetFetch answers; a deleted group stays deleted.
func TestCompactedGroupOffsetsSurviveRestart(t *testing.T) {
	const topic = "data"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	b, stop := startCleanerBroker(t, dir, cleanerProps...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.catalog.Get(offsetsTopic); v.Configs()["cleanup.policy"] != "compact" {
		t.Fatalf("%s configs %v, want cleanup.policy=compact", offsetsTopic, v.Configs())
	}
	commit := func(group string, offset int64) {
		os := kadm.Offsets{}
		for p := range int32(3) {
			os.Add(kadm.Offset{Topic: topic, Partition: p, At: offset + int64(p), LeaderEpoch: -1})
		}
		resp, err := adm.CommitOffsets(ctx, group, os)
		if err != nil || resp.Error() != nil {
			t.Fatal(err, resp.Error())
		}
	}
	for i := range 200 {
		commit("g", int64(i))
	}
	commit("gone", 5)
	if _, err := adm.DeleteGroups(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// Push the commits into sealed segments with another group's.
	for i := range 40 {
		commit(fmt.Sprint("other", i), 1)
	}
	eventually(ctx, t, "__consumer_offsets compacted", func() error {
		tp, _ := b.catalog.Get(offsetsTopic)
		kvs, err := replayPartition(tp.Partition(0))
		if err != nil {
			return err
		}
		if n := len(kvs); n > 150 {
			return fmt.Errorf("%d records readable, not compacted yet", n)
		}
		return nil
	})
	cl.Close()
	stop()

	b, stop = startCleanerBroker(t, dir, cleanerProps...)
	defer stop()
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm = kadm.NewClient(cl)
	fetched, err := adm.FetchOffsets(ctx, "g")
	if err != nil || fetched.Error() != nil {
		t.Fatal(err, fetched.Error())
	}
	for p := range int32(3) {
		o, ok := fetched.Lookup(topic, p)
		if !ok || o.At != 199+int64(p) {
			t.Errorf("group g %s-%d: committed %+v (found %v), want %d", topic, p, o, ok, 199+p)
		}
	}
	gone, err := adm.FetchOffsets(ctx, "gone")
	if err == nil && len(gone) > 0 {
		for _, ps := range gone {
			for _, o := range ps {
				if o.At >= 0 {
					t.Errorf("deleted group came back with %+v", o)
				}
			}
		}
	}
}

// localKeys reads a replica's own log of partition 0: key to its newest
// record, and how many data records there are.
func localKeys(b *Broker, topic string) (map[string]keyed, int, error) {
	t, ok := b.catalog.Get(topic)
	if !ok || t.Partition(0) == nil {
		return nil, 0, fmt.Errorf("node has no %s-0", topic)
	}
	return localKeysOf(t.Partition(0).Log)
}

// localKeysOf is localKeys for one log.
func localKeysOf(l *partlog.Log) (map[string]keyed, int, error) {
	got, n := map[string]keyed{}, 0
	for off := l.StartOffset(); off < l.EndOffset(); {
		data, err := l.Read(off, 1<<20, l.EndOffset())
		if err != nil || len(data) == 0 {
			return nil, 0, fmt.Errorf("read at %d: %v", off, err)
		}
		for len(data) > 0 {
			h, recs, err := records.Decode(data)
			if err != nil {
				return nil, 0, err
			}
			for _, r := range recs {
				v := "<nil>"
				if r.Value != nil {
					v = string(r.Value)
				}
				got[string(r.Key)] = keyed{h.BaseOffset + int64(r.OffsetDelta), v}
				n++
			}
			off = h.LastOffset() + 1
			data = data[h.Size():]
		}
	}
	return got, n, nil
}

// Cluster mode: every replica compacts its own log to the newest record
// per key, and a follower that was down while its leader compacted
// catches up across the leader's offset gaps and rejoins the ISR.
func TestCompactedTopicCluster(t *testing.T) {
	const topic = "compacted"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := newTestCluster(t)
	c.extra = []string{"log.cleaner.backoff.ms", "20"}
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	defer c.close()
	c.waitAllUp(ctx, t)
	seeds := []string{c.addr(1), c.addr(2), c.addr(3)}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	eventually(ctx, t, "create the topic", func() error {
		res, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, map[string]*string{"cleanup.policy": ptr("compact"),
			"segment.bytes": ptr("1024"), "min.cleanable.dirty.ratio": ptr("0.01")}, topic)
		if err == nil && res.Err != nil && !errors.Is(res.Err, kerr.TopicAlreadyExists) {
			err = res.Err
		}
		return err
	})
	var leader int32
	eventually(ctx, t, "a leader with a full ISR", func() error {
		l, _, _, err := c.partitionZero(ctx, 1, topic)
		if err == nil && l < 0 {
			err = fmt.Errorf("no leader")
		}
		if err == nil {
			err = c.isrSize(ctx, 1, topic, 3)
		}
		leader = l
		return err
	})
	want := map[string]keyed{}
	produce := func(key, value string) {
		r := &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[key] = keyed{r.Offset, value}
	}
	round := func(tag string) {
		for i := range 10 {
			for k := range 5 {
				produce(fmt.Sprint("k", k), fmt.Sprint(tag, i))
			}
		}
		for i := range 20 {
			produce(fmt.Sprint(tag, "-filler", i), "................................")
		}
	}
	compacted := func(id int32) func() error {
		return func() error {
			got, n, err := localKeys(c.nodes[id].b, topic)
			if err != nil {
				return err
			}
			for k := range 5 {
				key := fmt.Sprint("k", k)
				if got[key] != want[key] {
					return fmt.Errorf("node %d: %s is %+v, want %+v", id, key, got[key], want[key])
				}
			}
			if n > len(got)+25 { // the active segment may still hold duplicates
				return fmt.Errorf("node %d: %d records for %d keys: not compacted", id, n, len(got))
			}
			return nil
		}
	}
	round("a")
	for id := int32(1); id <= 3; id++ {
		eventually(ctx, t, fmt.Sprint("node ", id, " compacted"), compacted(id))
	}
	follower := leader%3 + 1
	c.stopNode(follower)
	round("b")
	eventually(ctx, t, "the leader compacted the second round", compacted(leader))
	c.start(follower)
	eventually(ctx, t, "the restarted follower back in the ISR", func() error { return c.isrSize(ctx, leader, topic, 3) })
	eventually(ctx, t, "the restarted follower compacted too", compacted(follower))
}

// __transaction_state is compacted and the coordinator's state survives
// it: after many transactions, a cleaning and a restart, the
// transactional id keeps its producer id and the next InitProducerId
// bumps the epoch it had.
func TestCompactedTxnStateSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	kv := append([]string{"transaction.state.log.num.partitions", "1", "transaction.state.log.segment.bytes", "1024",
		"transaction.state.log.replication.factor", "1", "transaction.state.log.min.isr", "1"}, cleanerProps...)
	b, stop := startCleanerBroker(t, dir, kv...)
	initPID := func(addr string) (int64, int16) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var pid int64
		var epoch int16
		eventually(ctx, t, "InitProducerId", func() error {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("tx"), 60000
			resp, err := req.RequestWith(ctx, cl)
			if err == nil {
				err = kerr.ErrorForCode(resp.ErrorCode)
			}
			if err == nil {
				pid, epoch = resp.ProducerID, resp.ProducerEpoch
			}
			return err
		})
		return pid, epoch
	}
	pid, epoch := initPID(b.Addr().String())
	for range 60 {
		if _, epoch = initPID(b.Addr().String()); epoch < 0 {
			t.Fatal("no epoch")
		}
	}
	eventually(ctx, t, "__transaction_state compacted", func() error {
		tp, ok := b.catalog.Get(txnStateTopic)
		if !ok {
			return fmt.Errorf("no %s", txnStateTopic)
		}
		if tp.Configs()["cleanup.policy"] != "compact" {
			return fmt.Errorf("%s configs %v", txnStateTopic, tp.Configs())
		}
		kvs, err := replayPartition(tp.Partition(0))
		if err == nil && len(kvs) > 20 {
			err = fmt.Errorf("%d records readable, not compacted yet", len(kvs))
		}
		return err
	})
	stop()
	b, stop = startCleanerBroker(t, dir, kv...)
	defer stop()
	if p, e := initPID(b.Addr().String()); p != pid || e != epoch+1 {
		t.Fatalf("after restart: producer %d epoch %d, want %d epoch %d", p, e, pid, epoch+1)
	}
}

// testClock is a broker clock that moves only when told (Config.Now).
type testClock struct{ ms atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ms.Store(time.Now().UnixMilli())
	return c
}

func (c *testClock) now() time.Time    { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) set(ms int64)      { c.ms.Store(ms) }
func (c *testClock) nowMs() (ms int64) { return c.ms.Load() }

// localRecord is one data record of a replica's own log with its batch's
// delete horizon.
type localRecord struct {
	offset, timestampMs int64
	key                 string
	tombstone           bool
	horizonMs           int64 // -1: none
}

// localRecords reads the data records of partition 0 of topic in b's log.
func localRecords(b *Broker, topic string) (map[int64]localRecord, error) {
	tp, ok := b.catalog.Get(topic)
	if !ok || tp.Partition(0) == nil {
		return nil, fmt.Errorf("no %s-0", topic)
	}
	l := tp.Partition(0).Log
	out := map[int64]localRecord{}
	data, err := l.Read(l.StartOffset(), 1<<30, l.EndOffset())
	if err != nil {
		return nil, err
	}
	for len(data) > 0 {
		h, recs, err := records.Decode(data)
		if err != nil {
			return nil, err
		}
		horizon, ok := h.DeleteHorizonMs()
		if !ok {
			horizon = -1
		}
		for _, r := range recs {
			o := h.BaseOffset + int64(r.OffsetDelta)
			out[o] = localRecord{offset: o, timestampMs: h.FirstTimestamp + r.TimestampDelta, key: string(r.Key), tombstone: r.Value == nil, horizonMs: horizon}
		}
		data = data[h.Size():]
	}
	return out, nil
}

// KIP-534 on a running broker, driven by its clock: the first cleaning
// pass stamps the tombstone's batch with the delete horizon (pass time +
// delete.retention.ms) and keeps the record's own timestamp, on disk and
// as a consumer reads it; a pass a millisecond before the horizon keeps
// the tombstone, the first pass at the horizon removes it.
func TestCompactedTombstoneHorizon(t *testing.T) {
	const topic, retentionMs = "tombstones", 3_600_000
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	clk := newTestClock()
	cfg := DefaultConfig()
	cfg.Properties = props(t.TempDir(), cleanerProps...)
	cfg.Now = clk.now
	b, stop := startCleanerBrokerConfig(t, cfg)
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": ptr("compact"),
		"segment.bytes": ptr("1024"), "min.cleanable.dirty.ratio": ptr("0.01"), "delete.retention.ms": ptr(fmt.Sprint(retentionMs))}, topic)
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	produce := func(key string, value []byte) *kgo.Record {
		r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// fillers overwrites 30 keys: enough to seal segments, and to tell a
	// finished pass by the previous round's copies being gone.
	fillers := func(round int) (first int64) {
		for i := range 30 {
			r := produce(fmt.Sprint("filler", i), fmt.Appendf(nil, "round %d ....................", round))
			if i == 0 {
				first = r.Offset
			}
		}
		return first
	}
	produce("key", []byte("value"))
	tomb := produce("key", nil)
	round0 := fillers(0)

	passAt := clk.nowMs()
	var horizonMs int64
	eventually(ctx, t, "the tombstone's batch stamped with its delete horizon", func() error {
		recs, err := localRecords(b, topic)
		if err != nil {
			return err
		}
		r, ok := recs[tomb.Offset]
		if !ok || !r.tombstone {
			return fmt.Errorf("tombstone at %d missing: %+v", tomb.Offset, r)
		}
		if r.horizonMs < 0 {
			return fmt.Errorf("no horizon yet")
		}
		if r.horizonMs != passAt+retentionMs || r.timestampMs != tomb.Timestamp.UnixMilli() {
			t.Fatalf("tombstone %+v: want horizon %d and its produced timestamp %d", r, passAt+retentionMs, tomb.Timestamp.UnixMilli())
		}
		horizonMs = r.horizonMs
		return nil
	})
	for _, r := range consumeCompacted(ctx, t, b.Addr().String(), topic) {
		if r.Offset == tomb.Offset && (r.Value != nil || !r.Timestamp.Equal(tomb.Timestamp)) {
			t.Fatalf("consumed tombstone %+v at %v, want a nil value at %v", r, r.Timestamp, tomb.Timestamp)
		}
	}

	// passDone waits for a pass over the next round of fillers: the
	// previous round's first copy gone.
	passDone := func(what string, previous int64) map[int64]localRecord {
		var recs map[int64]localRecord
		eventually(ctx, t, what, func() error {
			var err error
			if recs, err = localRecords(b, topic); err != nil {
				return err
			}
			if _, ok := recs[previous]; ok {
				return fmt.Errorf("filler at %d still there", previous)
			}
			return nil
		})
		return recs
	}
	clk.set(horizonMs - 1)
	round1 := fillers(1)
	if recs := passDone("a pass a millisecond before the horizon", round0); !recs[tomb.Offset].tombstone {
		t.Fatalf("tombstone at %d gone before its horizon %d (clock %d)", tomb.Offset, horizonMs, clk.nowMs())
	}
	// From the horizon on, a pass removes the tombstone. A pass that read
	// the clock just before it moved may still take the next round, so
	// this allows a few rounds.
	clk.set(horizonMs)
	previous := round1
	for round := 2; ; round++ {
		first := fillers(round)
		if recs := passDone(fmt.Sprint("a pass at the horizon, round ", round), previous); !recs[tomb.Offset].tombstone {
			break
		}
		if round == 5 {
			t.Fatalf("tombstone at %d kept at its horizon %d after %d rounds of passes", tomb.Offset, horizonMs, round-1)
		}
		previous = first
	}
}

// log.cleaner.threads workers clean different logs at the same time and
// never one log twice at once (Kafka's in-progress set). The first passes
// wait, bounded, until every worker is inside one, so the test sees the
// workers overlap on a loaded machine too; while they wait, the logs they
// hold are still the dirtiest, so a pick that ignored the in-progress set
// would take one of them again. Run with -race.
func TestCleanerThreads(t *testing.T) {
	const topic, threads, partitions = "parallel", 3, 6
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The broker's own cleaner is off; the test runs one it can watch.
	b, stop := startCleanerBroker(t, t.TempDir(), append(slices.Clone(cleanerProps), "log.cleaner.enable", "false",
		"log.cleaner.threads", fmt.Sprint(threads))...)
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, map[string]*string{"cleanup.policy": ptr("compact"),
		"segment.bytes": ptr("1024"), "min.cleanable.dirty.ratio": ptr("0.01")}, topic)
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	for round := range 8 {
		var rs []*kgo.Record
		for p := range int32(partitions) {
			for k := range 6 {
				rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d", k),
					Value: fmt.Appendf(nil, "round %d ..............................", round)})
			}
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	c := b.newCleaner()
	if c.threads != threads {
		t.Fatalf("%d cleaner threads, want %d", c.threads, threads)
	}
	var (
		mu         sync.Mutex
		inside     = map[*partlog.Log]int{}
		concurrent int
		overlap    []string // a log cleaned by two workers at once
		cleaned    = map[int32]int{}
		allIn      = make(chan struct{})
		reached    bool
	)
	inner := c.clean
	c.clean = func(p *topics.Partition, upTo int64, now time.Time) (partlog.CleanStats, error) {
		mu.Lock()
		inside[p.Log]++
		if inside[p.Log] > 1 {
			overlap = append(overlap, fmt.Sprintf("%s-%d", p.Topic.Name, p.Index))
		}
		concurrent++
		if concurrent == threads && !reached {
			reached = true
			close(allIn)
		}
		wait := !reached
		mu.Unlock()
		if wait {
			select {
			case <-allIn:
			case <-time.After(30 * time.Second):
			}
		}
		st, err := inner(p, upTo, now)
		mu.Lock()
		inside[p.Log]--
		concurrent--
		if p.Topic.Name == topic {
			cleaned[p.Index]++
		}
		mu.Unlock()
		return st, err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.run(runCtx) }()
	eventually(ctx, t, "every partition compacted", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(cleaned) < partitions {
			return fmt.Errorf("cleaned partitions %v", cleaned)
		}
		return nil
	})
	stopRun()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !reached {
		t.Errorf("the %d workers never cleaned at the same time", threads)
	}
	if len(overlap) > 0 {
		t.Errorf("logs cleaned by two workers at once: %v", overlap)
	}
	for p := range int32(partitions) {
		tp, _ := b.catalog.Get(topic)
		keys, n, err := localKeysOf(tp.Partition(p).Log)
		if err != nil || len(keys) != 6 || n >= 8*6 {
			t.Errorf("partition %d: %d records for %d keys (%v), want the 6 keys in fewer than the 48 written", p, n, len(keys), err)
		}
	}
}

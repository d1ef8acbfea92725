package broker

// Cluster mode consumer groups, placed as Kafka places them: the
// coordinator of group g is the current leader of __consumer_offsets
// partition GroupPartition(g). Structure: one group.Service per
// __consumer_offsets partition this node leads, created (and loaded by
// replaying the partition's local log to its end) by the metadata driver
// when it sees this node become that partition's leader, and dropped when
// it stops leading it (or the leader epoch changes: the log may have been
// truncated, so the state is rebuilt). Requests for a group whose
// partition has no loaded Service here answer NOT_COORDINATOR. Each
// Service's Store appends through the replication driver with acks=all
// semantics: Append returns once the high watermark passed the records.
//
// Goroutines: apply runs on the driver goroutine; each Service's Run
// goroutine lives until its partition is dropped or stopAll.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// groupCommitTimeout bounds one replicated group write (Kafka's
// offsets.commit.timeout.ms default).
const groupCommitTimeout = 5 * time.Second

type ledPartition struct {
	svc    *group.Service
	epoch  int32
	cancel context.CancelFunc
	done   chan struct{}
}

// clusterGroups implements handler.Groups and handler.GroupCoordinators.
type clusterGroups struct {
	c *clusterNode

	mu  sync.Mutex
	led map[int32]*ledPartition // by __consumer_offsets partition
}

var (
	_ handler.Groups            = (*clusterGroups)(nil)
	_ handler.GroupCoordinators = (*clusterGroups)(nil)
)

func newClusterGroups(c *clusterNode) *clusterGroups {
	return &clusterGroups{c: c, led: map[int32]*ledPartition{}}
}

// apply loads the partitions this node newly leads and drops the ones it
// no longer leads. It runs on the driver goroutine after the replication
// driver applied img.
func (g *clusterGroups) apply(ctx context.Context, img metadata.Image) {
	t, ok := img.TopicByName(offsetsTopic)
	if !ok {
		g.dropExcept(nil)
		if g.c.srv.Leader() == g.c.nodeID && g.liveBrokers(img) >= int(g.c.b.s.props.Int64("offsets.topic.replication.factor")) {
			g.createTopic(ctx, img)
		}
		return
	}
	keep := map[int32]bool{}
	for i, ip := range t.Partitions {
		idx := int32(i)
		if ip.Leader != g.c.nodeID {
			continue
		}
		if _, err := g.c.repl.HighWatermark([16]byte(t.ID), idx); err != nil {
			continue // the replication driver does not lead it (yet)
		}
		keep[idx] = true
		g.mu.Lock()
		lp := g.led[idx]
		g.mu.Unlock()
		if lp != nil && lp.epoch == ip.LeaderEpoch {
			continue
		}
		if lp != nil {
			g.drop(idx)
		}
		if err := g.load(ctx, [16]byte(t.ID), idx, ip.LeaderEpoch); err != nil {
			g.c.b.log.Error("loading consumer groups", "partition", idx, "err", err)
			delete(keep, idx)
		}
	}
	g.dropExcept(keep)
}

func (g *clusterGroups) liveBrokers(img metadata.Image) int {
	n := 0
	for _, b := range img.Brokers() {
		if b.Active() {
			n++
		}
	}
	return n
}

// createTopic asks the in-process controller (this node must be it) for
// __consumer_offsets, the replication factor capped at the live brokers.
func (g *clusterGroups) createTopic(ctx context.Context, img metadata.Image) {
	props := g.c.b.s.props
	rf := min(int(props.Int64("offsets.topic.replication.factor")), g.liveBrokers(img))
	if rf < 1 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, groupCommitTimeout)
	defer cancel()
	res, err := g.c.srv.CreateTopics(ctx, []controller.CreateTopic{{
		Name: offsetsTopic, NumPartitions: int32(props.Int64("offsets.topic.num.partitions")), ReplicationFactor: int16(rf),
		Configs: map[string]string{
			"segment.bytes": strconv.FormatInt(props.Int64("offsets.topic.segment.bytes"), 10),
			// No compaction yet: nothing may expire.
			"retention.ms": "-1", "retention.bytes": "-1",
		}}})
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	if err != nil {
		g.c.b.log.Debug("creating "+offsetsTopic, "err", err)
	}
}

// load replays partition idx and starts serving its groups.
func (g *clusterGroups) load(ctx context.Context, topicID [16]byte, idx, epoch int32) error {
	ct, ok := g.c.catalog.Get(offsetsTopic)
	if !ok {
		return fmt.Errorf("%s not in the catalogue", offsetsTopic)
	}
	tp := ct.Partition(idx)
	if tp == nil {
		return fmt.Errorf("%s-%d not hosted", offsetsTopic, idx)
	}
	kvs, err := replayPartition(tp)
	if err != nil {
		return err
	}
	b := g.c.b
	store := &replicatedGroupStore{repl: g.c.repl, topicID: topicID, tp: tp, now: b.cfg.Now}
	svc, err := group.NewService(groupServiceConfig(b.s.props, b.cfg.Now, b.log, g.c.topicExists, g.c.topicName, g.c.topicID), store)
	if err != nil {
		return err
	}
	if err := svc.Load(kvs); err != nil {
		return fmt.Errorf("replaying %s-%d: %w", offsetsTopic, idx, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	lp := &ledPartition{svc: svc, epoch: epoch, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		svc.Run(rctx)
	}()
	g.mu.Lock()
	g.led[idx] = lp
	g.mu.Unlock()
	b.log.Info("coordinating groups", "partition", idx, "leader_epoch", epoch, "records", len(kvs))
	return nil
}

func (g *clusterGroups) drop(idx int32) {
	g.mu.Lock()
	lp := g.led[idx]
	delete(g.led, idx)
	g.mu.Unlock()
	if lp != nil {
		lp.cancel()
		<-lp.done
	}
}

func (g *clusterGroups) dropExcept(keep map[int32]bool) {
	g.mu.Lock()
	var gone []int32
	for idx := range g.led {
		if !keep[idx] {
			gone = append(gone, idx)
		}
	}
	g.mu.Unlock()
	for _, idx := range gone {
		g.drop(idx)
	}
}

// stopAll ends every Service (the driver is ending).
func (g *clusterGroups) stopAll() { g.dropExcept(nil) }

// serviceFor is the loaded Service coordinating groupID here, or nil.
func (g *clusterGroups) serviceFor(groupID string) *group.Service {
	t, ok := g.c.Image().TopicByName(offsetsTopic)
	if !ok || len(t.Partitions) == 0 {
		return nil
	}
	idx := GroupPartition(groupID, int32(len(t.Partitions)))
	g.mu.Lock()
	defer g.mu.Unlock()
	if lp := g.led[idx]; lp != nil {
		return lp.svc
	}
	return nil
}

// Coordinator implements handler.GroupCoordinators: the leader of the
// group's partition, creating __consumer_offsets first if this node is the
// active controller and the topic does not exist (Kafka does it on the
// first FindCoordinator).
func (g *clusterGroups) Coordinator(ctx context.Context, groupID string) (int32, string, int32, error) {
	img := g.c.Image()
	t, ok := img.TopicByName(offsetsTopic)
	if !ok {
		if g.c.srv.Leader() == g.c.nodeID {
			g.createTopic(ctx, img)
		}
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	if len(t.Partitions) == 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	ip := t.Partitions[GroupPartition(groupID, int32(len(t.Partitions)))]
	if ip.Leader < 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	if b, ok := img.Broker(ip.Leader); ok {
		for _, e := range b.Endpoints {
			if e.Name == "PLAINTEXT" {
				return ip.Leader, e.Host, e.Port, nil
			}
		}
	}
	return -1, "", -1, kerr.CoordinatorNotAvailable
}

// The data-topic lookups answer from the image: a node need not host a
// partition for a group to commit offsets on it.
func (c *clusterNode) topicExists(topic string, p int32) bool {
	t, ok := c.Image().TopicByName(topic)
	return ok && p >= 0 && int(p) < len(t.Partitions)
}

func (c *clusterNode) topicName(id [16]byte) (string, bool) {
	t, ok := c.Image().TopicByID(metadata.UUID(id))
	return t.Name, ok
}

func (c *clusterNode) topicID(name string) ([16]byte, bool) {
	t, ok := c.Image().TopicByName(name)
	return [16]byte(t.ID), ok
}

// replicatedGroupStore writes one __consumer_offsets partition's records
// through the replication driver and waits for the high watermark.
type replicatedGroupStore struct {
	repl    *replicator
	topicID [16]byte
	tp      *topics.Partition
	now     func() time.Time
}

// Append implements group.Store.
func (s *replicatedGroupStore) Append(kvs []group.KV) error {
	if len(kvs) == 0 {
		return nil
	}
	recs := make([]records.Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = records.Record{OffsetDelta: int32(i), Key: kv.Key, Value: kv.Value}
	}
	now := s.now().UnixMilli()
	batch, err := records.Build(records.BuildOptions{FirstTimestamp: now, MaxTimestamp: now, PartitionLeaderEpoch: -1,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records.CodecNone, recs)
	if err != nil {
		return err
	}
	ch, err := s.repl.Produce(s.topicID, s.tp.Index, -1, groupCommitTimeout, func(epoch int32) (int64, error) {
		records.SetPartitionLeaderEpoch(batch, epoch)
		res, err := s.tp.Log.Append(batch)
		return res.LastOffset, err
	})
	if err != nil {
		return fmt.Errorf("%s-%d: %w", offsetsTopic, s.tp.Index, err)
	}
	s.repl.c.catalog.Notify() // followers parked in a fetch copy it now, not at their max wait
	if ch == nil {
		return nil
	}
	timer := time.NewTimer(groupCommitTimeout + time.Second)
	defer timer.Stop()
	select {
	case err = <-ch:
	case <-timer.C:
		err = kerr.RequestTimedOut
	}
	if err != nil {
		return fmt.Errorf("%s-%d: %w", offsetsTopic, s.tp.Index, err)
	}
	return nil
}

package broker

// Cluster mode consumer groups, placed as Kafka places them: the
// coordinator of group g is the current leader of __consumer_offsets
// partition GroupPartition(g). Structure: one group.Service per
// __consumer_offsets partition this node leads, created (and loaded by
// replaying the partition's local log to its end) by the metadata driver
// when it sees this node become that partition's leader, and dropped when
// it stops leading it (or the leader epoch changes: the log may have been
// truncated, so the state is rebuilt); that lifecycle, shared with the
// transaction coordinators, is internalTopic (cluster_internal_topic.go).
// Requests for a group whose
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
	"time"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// groupCommitTimeout bounds one replicated group write (Kafka's
// offsets.commit.timeout.ms default).
const groupCommitTimeout = 5 * time.Second

// clusterGroups implements handler.Groups and handler.GroupCoordinators:
// one group.Service per __consumer_offsets partition led here.
type clusterGroups struct {
	*internalTopic[*group.Service]
}

var (
	_ handler.Groups            = (*clusterGroups)(nil)
	_ handler.GroupCoordinators = (*clusterGroups)(nil)
)

func newClusterGroups(c *clusterNode) *clusterGroups {
	g := &clusterGroups{}
	g.internalTopic = newInternalTopic(c, internalTopicSpec[*group.Service]{
		name:           offsetsTopic,
		partitionOf:    GroupPartition,
		partitionsKey:  "offsets.topic.num.partitions",
		replicationKey: "offsets.topic.replication.factor",
		configs: func(props *config.Broker, _ int) map[string]string {
			// Compacted as in Kafka: the newest commit per group and
			// partition stays. No flush per message as on one node: a
			// commit is acknowledged once the ISR holds it.
			return map[string]string{
				"cleanup.policy": "compact",
				"segment.bytes":  strconv.FormatInt(props.Int64("offsets.topic.segment.bytes"), 10),
			}
		},
		open:       g.open,
		loadingMsg: "loading consumer groups", servingMsg: "coordinating groups",
	})
	return g
}

// open builds partition tp's Service from its replayed records; its Store
// appends through the replication driver.
func (g *clusterGroups) open(_ context.Context, topicID [16]byte, tp *topics.Partition, kvs []group.KV, _ int32) (*group.Service, error) {
	b := g.c.b
	store := &replicatedGroupStore{repl: g.c.repl, topicID: topicID, tp: tp, now: b.cfg.Now}
	svc, err := group.NewService(groupServiceConfig(b.s.props, b.cfg.Now, b.log, g.c.topicExists, g.c.topicName, g.c.topicID), store)
	if err != nil {
		return nil, err
	}
	if err := svc.Load(kvs); err != nil {
		return nil, fmt.Errorf("replaying %s-%d: %w", offsetsTopic, tp.Index, err)
	}
	return svc, nil
}

// Coordinator implements handler.GroupCoordinators: the leader of the
// group's partition (internalTopic.coordinator).
func (g *clusterGroups) Coordinator(ctx context.Context, groupID string) (int32, string, int32, error) {
	return g.coordinator(ctx, groupID)
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
	batch, err := plainBatch(s.now().UnixMilli(), len(kvs), func(i int) ([]byte, []byte) { return kvs[i].Key, kvs[i].Value })
	if err != nil {
		return err
	}
	return replicateBatch(s.repl, s.topicID, s.tp, batch, offsetsTopic, nil)
}

package broker

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// offsetsTopic is Kafka's internal topic for group metadata and committed
// offsets; the records use Kafka's own key and value schemas.
const offsetsTopic = "__consumer_offsets"

// groupStore persists the group coordinator's records to __consumer_offsets
// and replays them at start-up.
type groupStore struct {
	catalog *topics.Catalog
	topic   *topics.Topic
	now     func() time.Time
	service *group.Service
}

// openGroups stores the group records in catalog; lookup answers which
// topics exist (the data catalogue: in cluster mode they differ).
func openGroups(catalog, lookup *topics.Catalog, props *config.Broker, now func() time.Time, log *slog.Logger) (*groupStore, error) {
	t, ok := catalog.Get(offsetsTopic)
	if !ok {
		var err error
		t, err = catalog.Create(offsetsTopic, int32(props.Int64("offsets.topic.num.partitions")), offsetsTopicConfigs(props), true, false)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", offsetsTopic, err)
		}
	} else if err := compactInternalTopic(catalog, t); err != nil {
		return nil, err
	}
	gs := &groupStore{catalog: catalog, topic: t, now: now}
	svc, err := group.NewService(groupServiceConfig(props, now, log, lookup.PartitionExists, lookup.TopicName, lookup.TopicID), gs)
	if err != nil {
		return nil, err
	}
	gs.service = svc
	kvs, err := gs.replay()
	if err != nil {
		return nil, err
	}
	if err := gs.service.Load(kvs); err != nil {
		return nil, fmt.Errorf("replaying %s: %w", offsetsTopic, err)
	}
	log.Info("loaded consumer groups", "records", len(kvs))
	return gs, nil
}

// offsetsTopicConfigs are the configs __consumer_offsets is created with:
// compacted, as in Kafka, so the newest record per key (an offset commit,
// a group's metadata, or the tombstone that deleted it) stays readable and
// everything it superseded is cleaned away.
func offsetsTopicConfigs(props *config.Broker) map[string]string {
	return map[string]string{
		"cleanup.policy": "compact",
		"segment.bytes":  strconv.FormatInt(props.Int64("offsets.topic.segment.bytes"), 10),
		// A commit is acknowledged only once it is on disk.
		"flush.messages": "1",
	}
}

// compactInternalTopic turns an internal topic created before compaction
// existed (__consumer_offsets, __transaction_state: retention.ms=-1,
// nothing ever removed) into a compacted one, as Kafka has them.
func compactInternalTopic(catalog *topics.Catalog, t *topics.Topic) error {
	cfg := maps.Clone(t.Configs())
	if _, compact := config.CleanupPolicy(cfg["cleanup.policy"]); compact {
		return nil
	}
	if cfg == nil {
		cfg = map[string]string{}
	}
	cfg["cleanup.policy"] = "compact"
	delete(cfg, "retention.ms")
	delete(cfg, "retention.bytes")
	if err := catalog.SetConfigs(t.Name, cfg, false); err != nil {
		return fmt.Errorf("making %s compacted: %w", t.Name, err)
	}
	return nil
}

// groupServiceConfig is the group.Config both modes use; the topic
// lookups say which data topics exist.
func groupServiceConfig(props *config.Broker, now func() time.Time, log *slog.Logger, exists func(string, int32) bool,
	nameByID func([16]byte) (string, bool), idByName func(string) ([16]byte, bool)) group.Config {
	return group.Config{
		TickInterval:          group.DefaultConfig().TickInterval,
		InitialRebalanceDelay: time.Duration(props.Int64("group.initial.rebalance.delay.ms")) * time.Millisecond,
		OffsetsRetention:      time.Duration(props.Int64("offsets.retention.minutes")) * time.Minute,
		MinSessionTimeout:     time.Duration(props.Int64("group.min.session.timeout.ms")) * time.Millisecond,
		MaxSessionTimeout:     time.Duration(props.Int64("group.max.session.timeout.ms")) * time.Millisecond,
		Now:                   now,
		Logger:                log,
		TopicExists:           exists,
		TopicNameByID:         nameByID,
		TopicIDByName:         idByName,
	}
}

// Append writes the records of one group to its __consumer_offsets
// partition (Kafka's choice: the group id's Java hash code modulo the
// partition count), durably before returning.
func (gs *groupStore) Append(kvs []group.KV) error {
	byPartition := map[int32][]records.Record{}
	var order []int32
	for _, kv := range kvs {
		p := gs.partitionFor(kv.Key)
		if _, seen := byPartition[p]; !seen {
			order = append(order, p)
		}
		byPartition[p] = append(byPartition[p], records.Record{
			OffsetDelta: int32(len(byPartition[p])),
			Key:         kv.Key,
			Value:       kv.Value, // nil: a tombstone, encoded as a null value
		})
	}
	now := gs.now().UnixMilli()
	for _, p := range order {
		batch, err := records.Build(records.BuildOptions{FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records.CodecNone, byPartition[p])
		if err != nil {
			return err
		}
		if _, err := gs.topic.Partition(p).Log.Append(batch); err != nil {
			return fmt.Errorf("%s-%d: %w", offsetsTopic, p, err)
		}
	}
	return nil
}

// partitionFor maps a record key to its partition by the group id inside
// it (every key schema starts with version int16, then the group string).
func (gs *groupStore) partitionFor(key []byte) int32 {
	n := int32(len(gs.topic.Partitions()))
	if len(key) < 4 {
		return 0
	}
	l := int(binary.BigEndian.Uint16(key[2:]))
	if 4+l > len(key) {
		return 0
	}
	return GroupPartition(string(key[4:4+l]), n)
}

// GroupPartition is Kafka's placement of a group on __consumer_offsets:
// abs(groupId.hashCode()) % partitions, with Java's String.hashCode.
func GroupPartition(groupID string, partitions int32) int32 {
	var h int32
	for _, c := range utf16Units(groupID) {
		h = 31*h + int32(c)
	}
	if h == -2147483648 { // Kafka's Utils.abs maps MIN_VALUE to 0
		h = 0
	}
	if h < 0 {
		h = -h
	}
	return h % partitions
}

func utf16Units(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// replay reads every __consumer_offsets partition from its start, in
// partition then offset order (a group's records all live in one partition,
// so their relative order is preserved).
func (gs *groupStore) replay() ([]group.KV, error) {
	var kvs []group.KV
	for _, p := range gs.topic.Partitions() {
		got, err := replayPartition(p)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, got...)
	}
	return kvs, nil
}

// replayPartition reads one __consumer_offsets partition from its start to
// its log end.
func replayPartition(p *topics.Partition) ([]group.KV, error) {
	var kvs []group.KV
	offset := p.Log.StartOffset()
	end := p.Log.EndOffset()
	for offset < end {
		data, err := p.Log.Read(offset, 1<<20, end)
		if err != nil {
			return nil, fmt.Errorf("%s-%d at %d: %w", offsetsTopic, p.Index, offset, err)
		}
		if len(data) == 0 {
			break
		}
		for len(data) > 0 {
			h, recs, err := records.Decode(data)
			if err != nil {
				return nil, fmt.Errorf("%s-%d at %d: %w", offsetsTopic, p.Index, offset, err)
			}
			kvs = append(kvs, groupKVs(data[:h.Size()], h, recs)...)
			offset = h.LastOffset() + 1
			data = data[h.Size():]
		}
	}
	return kvs, nil
}

package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionCount lists topic and returns its partition count, or the
// topic's error.
func partitionCount(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	td, ok := tds[topic]
	if !ok {
		return 0, kerr.UnknownTopicOrPartition
	}
	if td.Err != nil {
		return 0, td.Err
	}
	return len(td.Partitions), nil
}

// TestTopicLifecycle: create (with configs), list, describe, add partitions,
// delete, and Kafka's error codes for each step done wrong.
func TestTopicLifecycle(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 60*time.Second)
	adm := tg.admin()
	topic := uniqueName(t, "t")

	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{
		"retention.ms":   strp("123456789"),
		"cleanup.policy": strp("delete"),
	}, topic)
	if err != nil {
		t.Fatalf("create: %v (%s)", err, resp.ErrMessage)
	}
	if resp.NumPartitions != 3 || resp.ReplicationFactor != 1 {
		t.Errorf("create response: %d partitions, rf %d; want 3, 1", resp.NumPartitions, resp.ReplicationFactor)
	}
	if resp.ID == (kadm.TopicID{}) {
		t.Error("create response has a zero topic ID (Kafka assigns one since 2.8)")
	}

	// The new topic must be visible with its leaders in metadata.
	eventually(t, ctx, "topic visible with 3 partitions", func() error {
		n, err := partitionCount(ctx, adm, topic)
		if err == nil && n != 3 {
			err = fmt.Errorf("%d partitions", n)
		}
		return err
	})
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	td := tds[topic]
	if !tds.Has(topic) {
		t.Fatalf("ListTopics (all) lacks %s", topic)
	}
	for p, pd := range td.Partitions {
		if pd.Err != nil || pd.Leader < 0 || len(pd.Replicas) != 1 || len(pd.ISR) != 1 {
			t.Errorf("partition %d: err %v leader %d replicas %v isr %v", p, pd.Err, pd.Leader, pd.Replicas, pd.ISR)
		}
	}
	if td.ID == (kadm.TopicID{}) {
		t.Error("metadata has a zero topic ID")
	}

	waitConfigs(t, ctx, adm, topic,
		hasConfig("retention.ms", "123456789", kmsg.ConfigSourceDynamicTopicConfig),
		hasConfig("cleanup.policy", "delete", kmsg.ConfigSourceDynamicTopicConfig),
	)

	// Creating it again fails and leaves it as it was.
	if _, err := adm.CreateTopic(ctx, 5, 1, nil, topic); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("create existing topic: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	// Add partitions: 3 -> 5.
	cps, err := adm.CreatePartitions(ctx, 2, topic)
	if err != nil || cps[topic].Err != nil {
		t.Fatalf("create partitions: %v %v", err, cps[topic].Err)
	}
	eventually(t, ctx, "topic has 5 partitions", func() error {
		n, err := partitionCount(ctx, adm, topic)
		if err == nil && n != 5 {
			err = fmt.Errorf("%d partitions", n)
		}
		return err
	})
	// Shrinking or keeping the count is INVALID_PARTITIONS.
	for _, set := range []int{3, 5} {
		cps, err := adm.UpdatePartitions(ctx, set, topic)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(cps[topic].Err, kerr.InvalidPartitions) {
			t.Errorf("set partitions of a 5-partition topic to %d: %v, want INVALID_PARTITIONS", set, cps[topic].Err)
		}
	}
	// The new partitions take writes.
	prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 4, Value: []byte("p4")}).FirstErr(); err != nil {
		t.Errorf("produce to added partition 4: %v", err)
	}

	if _, err := adm.DeleteTopic(ctx, topic); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, ctx, "deleted topic gone from metadata", func() error {
		_, err := partitionCount(ctx, adm, topic)
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil
		}
		return fmt.Errorf("metadata still answers %v", err)
	})
	eventually(t, ctx, "second delete answers UNKNOWN_TOPIC_OR_PARTITION", func() error {
		_, err := adm.DeleteTopic(ctx, topic)
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil
		}
		return fmt.Errorf("delete deleted topic: %v", err)
	})
	cps, err = adm.UpdatePartitions(ctx, 10, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(cps[topic].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("create partitions on deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", cps[topic].Err)
	}
	// The name can be reused, starting from offset 0 again.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("re-create deleted topic: %v", err)
	}
	// A fresh client: this asserts the broker, not a client's cached topic ID.
	prod2 := tg.client()
	eventually(t, ctx, "re-created topic writable at offset 0", func() error {
		res := prod2.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("again")})
		r, err := res.First()
		if err == nil && r.Offset != 0 {
			t.Fatalf("first record of re-created topic at offset %d, want 0", r.Offset)
		}
		return err
	})
}

// TestCreateTopicErrors: Kafka's per-topic error codes for bad
// CreateTopics input. Each topic in one request gets its own verdict.
func TestCreateTopicErrors(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	adm := tg.admin()
	base := uniqueName(t, "t")
	tests := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       error
	}{
		{"zero partitions", base + "-p0", 0, 1, nil, kerr.InvalidPartitions},
		{"negative partitions", base + "-pneg", -5, 1, nil, kerr.InvalidPartitions},
		{"zero replication", base + "-rf0", 1, 0, nil, kerr.InvalidReplicationFactor},
		{"more replicas than brokers", base + "-rf", 1, 1000, nil, kerr.InvalidReplicationFactor},
		{"unknown config", base + "-cfg", 1, 1, map[string]*string{"no.such.config": strp("1")}, kerr.InvalidConfig},
		{"bad config value", base + "-val", 1, 1, map[string]*string{"retention.ms": strp("soon")}, kerr.InvalidConfig},
		{"name with slash", "bad/" + base, 1, 1, nil, kerr.InvalidTopicException},
		{"name dot", ".", 1, 1, nil, kerr.InvalidTopicException},
		{"name too long", strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"empty name", "", 1, 1, nil, kerr.InvalidTopicException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = 15000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic = tt.topic
			rt.NumPartitions = tt.partitions
			rt.ReplicationFactor = tt.rf
			for k, v := range tt.configs {
				c := kmsg.NewCreateTopicsRequestTopicConfig()
				c.Name, c.Value = k, v
				rt.Configs = append(rt.Configs, c)
			}
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, tg.client())
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Topics) != 1 {
				t.Fatalf("%d topics in response", len(resp.Topics))
			}
			if got := kerr.ErrorForCode(resp.Topics[0].ErrorCode); !errors.Is(got, tt.want) {
				t.Errorf("error %v, want %v", got, tt.want)
			}
		})
	}
	// None of the rejected topics exists afterwards.
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if tds.Has(tt.topic) {
			t.Errorf("rejected topic %q exists", tt.topic)
		}
	}
}

// TestMetadataUnknownTopic: asking for a topic that does not exist, without
// auto-creation, answers UNKNOWN_TOPIC_OR_PARTITION and creates nothing.
func TestMetadataUnknownTopic(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := uniqueName(t, "t")
	md := metadataRaw(t, ctx, tg.client(), topic, false)
	if got := kerr.ErrorForCode(md.ErrorCode); !errors.Is(got, kerr.UnknownTopicOrPartition) {
		t.Errorf("metadata for unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", got)
	}
	if _, err := partitionCount(ctx, tg.admin(), topic); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("topic exists after a non-creating metadata request: %v", err)
	}
}

// TestAutoCreateTopicOnMetadata: with auto.create.topics.enable=true a
// metadata request that allows auto-creation creates the topic with
// num.partitions partitions; one that does not allow it creates nothing.
func TestAutoCreateTopicOnMetadata(t *testing.T) {
	tg := newTarget(t, map[string]string{"auto.create.topics.enable": "true", "num.partitions": "4"})
	ctx := testCtx(t, 30*time.Second)
	cl := tg.client()

	denied := uniqueName(t, "denied")
	md := metadataRaw(t, ctx, cl, denied, false)
	if got := kerr.ErrorForCode(md.ErrorCode); !errors.Is(got, kerr.UnknownTopicOrPartition) {
		t.Errorf("metadata without allow_auto_topic_creation: %v, want UNKNOWN_TOPIC_OR_PARTITION", got)
	}

	topic := uniqueName(t, "auto")
	eventually(t, ctx, "auto-created topic has 4 partitions with leaders", func() error {
		md := metadataRaw(t, ctx, cl, topic, true)
		// The first answer may be LEADER_NOT_AVAILABLE while Kafka creates it.
		if err := kerr.ErrorForCode(md.ErrorCode); err != nil {
			return err
		}
		if len(md.Partitions) != 4 {
			return fmt.Errorf("%d partitions", len(md.Partitions))
		}
		for _, p := range md.Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return fmt.Errorf("partition %d: %v leader %d", p.Partition, kerr.ErrorForCode(p.ErrorCode), p.Leader)
			}
		}
		return nil
	})
	if _, err := partitionCount(ctx, tg.admin(), denied); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("topic %s was created although the request did not allow it: %v", denied, err)
	}

	// A producer that lets the broker auto-create does so too.
	prodTopic := uniqueName(t, "prod")
	prod := tg.client(kgo.AllowAutoTopicCreation())
	r, err := prod.ProduceSync(ctx, &kgo.Record{Topic: prodTopic, Value: []byte("v")}).First()
	if err != nil {
		t.Fatalf("produce with auto-create: %v", err)
	}
	if r.Offset != 0 {
		t.Errorf("first record in auto-created topic at offset %d", r.Offset)
	}
}

// metadataRaw sends one Metadata request for topic and returns its topic
// entry.
func metadataRaw(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, allowAuto bool) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = allowAuto
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	for _, tp := range resp.Topics {
		if tp.Topic != nil && *tp.Topic == topic {
			return tp
		}
	}
	t.Fatalf("metadata response lacks topic %s", topic)
	return kmsg.MetadataResponseTopic{}
}

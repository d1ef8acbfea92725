package conformance

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMessageTooLarge: a batch bigger than the topic's max.message.bytes
// is refused with MESSAGE_TOO_LARGE and not appended; smaller records
// still go through.
func TestMessageTooLarge(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, map[string]*string{"max.message.bytes": strp("1024")})
	prod := tg.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))

	big := &kgo.Record{Topic: topic, Value: bytes.Repeat([]byte("x"), 4096)}
	if err := prod.ProduceSync(ctx, big).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("produce 4 KiB record to a 1 KiB topic: %v, want MESSAGE_TOO_LARGE", err)
	}
	r, err := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner())).
		ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("small")}).First()
	if err != nil {
		t.Fatalf("produce small record: %v", err)
	}
	if r.Offset != 0 {
		t.Errorf("small record at offset %d, want 0 (the refused one must not take an offset)", r.Offset)
	}

	// The same through a raw Produce, so no client-side handling hides
	// the broker's answer.
	code, _ := produceRaw(t, tg.Bootstrap, topic, 0, buildBatch(time.Now().UnixMilli(), rawRecord{Value: bytes.Repeat([]byte("y"), 4096)}))
	if err := kerr.ErrorForCode(code); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("raw produce of a 4 KiB batch: %v, want MESSAGE_TOO_LARGE", err)
	}
}

// TestProduceUnknownTopic: with auto.create.topics.enable=false, producing
// to a topic that does not exist fails with UNKNOWN_TOPIC_OR_PARTITION and
// creates nothing.
func TestProduceUnknownTopic(t *testing.T) {
	tg := newTarget(t, map[string]string{"auto.create.topics.enable": "false"})
	ctx := testCtx(t, 60*time.Second)
	topic := uniqueName(t, "missing")

	code, _ := produceRaw(t, tg.Bootstrap, topic, 0, buildBatch(time.Now().UnixMilli(), rawRecord{Value: []byte("v")}))
	if err := kerr.ErrorForCode(code); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("raw produce to unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}

	// kgo gives up after its unknown-topic retries with the broker's error.
	prod := tg.client(kgo.UnknownTopicRetries(2), kgo.AllowAutoTopicCreation())
	err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("kgo produce to unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if _, err := partitionCount(ctx, tg.admin(), topic); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("topic exists after produce with auto-create disabled: %v", err)
	}

	// Partition out of range of an existing topic: same code.
	existing := tg.createTopic(ctx, 2, nil)
	code, _ = produceRaw(t, tg.Bootstrap, existing, 5, buildBatch(time.Now().UnixMilli(), rawRecord{Value: []byte("v")}))
	if err := kerr.ErrorForCode(code); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("raw produce to partition 5 of a 2-partition topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// TestFetchLongPoll: a consumer waiting on an empty partition gets a record
// produced while it waits, within the same long poll or the next.
func TestFetchLongPoll(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)
	cons := tg.client(
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(5*time.Second),
	)
	got := make(chan *kgo.Record, 1)
	go func() {
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			if recs := fs.Records(); len(recs) > 0 {
				got <- recs[0]
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // let the consumer's fetch start waiting
	prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("late")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	select {
	case r := <-got:
		if string(r.Value) != "late" || r.Offset != 0 {
			t.Errorf("got %q at offset %d, want \"late\" at 0", r.Value, r.Offset)
		}
	case <-ctx.Done():
		t.Fatal("record produced during a long poll never arrived")
	}

	// And on the wire: a Fetch with max wait 10 s at the end of the log is
	// answered early once a record arrives.
	c := dialRaw(t, tg.Bootstrap)
	req := fetchRequest(c.version(kmsg.Fetch, maxFetchVersion), topic, 0, 1, 10000)
	id := c.send(req)
	time.Sleep(500 * time.Millisecond)
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("second")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	resp := c.recv(req, id).(*kmsg.FetchResponse)
	if err := fetchPartitionErr(resp); err != nil {
		t.Fatalf("long-poll fetch: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	if len(p.RecordBatches) == 0 || p.HighWatermark != 2 {
		t.Errorf("long-poll fetch (min bytes 1, max wait 10 s) answered with %d bytes of batches, high watermark %d; want the new record and 2",
			len(p.RecordBatches), p.HighWatermark)
	}
}

package conformance

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashKeepsAcknowledgedRecords: with log.flush.interval.messages=1,
// every record acknowledged with acks=all before a SIGKILL reads back after
// restart at its acknowledged offset; the log is contiguous from 0 to the
// high watermark with no garbage (every record is one this producer sent,
// in send order, none twice); and the next produce appends at the high
// watermark.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	tg := newOwnTarget(t, map[string]string{"log.flush.interval.messages": "1"})
	ctx := testCtx(t, 120*time.Second)
	topic := tg.createTopic(ctx, 1, nil)

	prod := tg.client(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(5*time.Second),
		kgo.RecordRetries(3),
	)
	var (
		mu    sync.Mutex
		acked = map[int64]int{} // offset -> sequence number
	)
	produceCtx, stopProducing := context.WithCancel(ctx)
	producing := make(chan struct{})
	go func() {
		defer close(producing)
		for seq := 0; produceCtx.Err() == nil; seq++ {
			r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("seq-%08d", seq))}
			prod.Produce(produceCtx, r, func(r *kgo.Record, err error) {
				if err != nil {
					return
				}
				s, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "seq-"))
				mu.Lock()
				acked[r.Offset] = s
				mu.Unlock()
			})
			if seq%50 == 49 {
				time.Sleep(time.Millisecond) // keep the buffer from growing without bound
			}
		}
	}()
	eventually(t, ctx, "500 records acknowledged", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 500 {
			return fmt.Errorf("%d acknowledged", len(acked))
		}
		return nil
	})

	tg.Kill() // mid-stream
	stopProducing()
	<-producing
	closeStart := time.Now()
	prod.Close() // unacknowledged records fail; that is fine
	t.Logf("producer closed in %v", time.Since(closeStart))
	tg.Restart()

	mu.Lock()
	ackedCopy := make(map[int64]int, len(acked))
	var maxAcked int64 = -1
	for o, s := range acked {
		ackedCopy[o] = s
		maxAcked = max(maxAcked, o)
	}
	mu.Unlock()
	t.Logf("%d records acknowledged before the crash, highest offset %d", len(ackedCopy), maxAcked)

	adm := tg.admin()
	hw := partition0(t, topic)(adm.ListEndOffsets(ctx, topic)).Offset
	if start := partition0(t, topic)(adm.ListStartOffsets(ctx, topic)).Offset; start != 0 {
		t.Errorf("log start after crash %d, want 0", start)
	}
	if hw <= maxAcked {
		t.Fatalf("high watermark after crash %d, but offset %d was acknowledged", hw, maxAcked)
	}

	recs := consumeN(t, ctx, tg, topic, int(hw))[0]
	prevSeq := -1
	for i, r := range recs {
		if r.Offset != int64(i) {
			t.Fatalf("record %d at offset %d: the log has a gap or is out of order", i, r.Offset)
		}
		seq, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "seq-"))
		if err != nil || !strings.HasPrefix(string(r.Value), "seq-") {
			t.Fatalf("offset %d holds %q, which this producer never sent", r.Offset, r.Value)
		}
		if seq <= prevSeq {
			t.Errorf("offset %d holds seq %d after seq %d: duplicate or reordered", r.Offset, seq, prevSeq)
		}
		prevSeq = seq
		if want, ok := ackedCopy[r.Offset]; ok && want != seq {
			t.Errorf("offset %d holds seq %d, but seq %d was acknowledged there", r.Offset, seq, want)
		}
	}

	// Nothing after the high watermark: a consumer polling past it gets
	// nothing, and a new record lands exactly at the high watermark.
	r, err := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner())).
		ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after-crash")}).First()
	if err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if r.Offset != hw {
		t.Errorf("record after restart at offset %d, want the high watermark %d", r.Offset, hw)
	}
	last := consumeN(t, ctx, tg, topic, int(hw)+1)[0]
	if got := last[len(last)-1]; got.Offset != hw || string(got.Value) != "after-crash" || len(last) != int(hw)+1 {
		t.Errorf("log after the new record: %d records ending with %q at %d", len(last), got.Value, got.Offset)
	}
}

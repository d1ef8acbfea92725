package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIdempotentProduce: with a producer id from InitProducerId, a batch
// re-sent with the same sequence is acknowledged at its original offset and
// not appended again; a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER; the
// next in-order batch appends normally.
func TestIdempotentProduce(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)

	c := dialRaw(t, tg.Bootstrap)
	var iresp *kmsg.InitProducerIDResponse
	// Right after start-up Kafka may answer COORDINATOR_LOAD_IN_PROGRESS
	// or another retriable error; clients retry.
	eventually(t, ctx, "InitProducerId", func() error {
		init := kmsg.NewPtrInitProducerIDRequest()
		init.Version = c.version(kmsg.InitProducerID, 4)
		init.TransactionTimeoutMillis = 60000
		init.ProducerID, init.ProducerEpoch = -1, -1
		iresp = c.roundTrip(init).(*kmsg.InitProducerIDResponse)
		err := kerr.ErrorForCode(iresp.ErrorCode)
		if err != nil && !kerr.IsRetriable(err) {
			t.Fatalf("InitProducerId: %v", err)
		}
		return err
	})
	pid, epoch := iresp.ProducerID, iresp.ProducerEpoch
	if pid < 0 || epoch < 0 {
		t.Fatalf("InitProducerId gave producer id %d epoch %d", pid, epoch)
	}

	now := time.Now().UnixMilli()
	batch := func(seq int32, n int) []byte {
		var recs []rawRecord
		for i := range n {
			recs = append(recs, rawRecord{Value: fmt.Appendf(nil, "seq-%d", int(seq)+i)})
		}
		return buildIdempotentBatch(now, pid, epoch, seq, recs...)
	}
	produce := func(b []byte) (int64, error) {
		t.Helper()
		code, base := produceRaw(t, tg.Bootstrap, topic, 0, b)
		return base, kerr.ErrorForCode(code)
	}

	if base, err := produce(batch(0, 3)); err != nil || base != 0 {
		t.Fatalf("first batch (seq 0..2): %v at %d, want success at 0", err, base)
	}
	if base, err := produce(batch(0, 3)); err != nil || base != 0 {
		t.Errorf("re-sent batch (seq 0..2): %v at %d, want success at the original offset 0", err, base)
	}
	if _, err := produce(batch(5, 1)); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Errorf("batch with seq 5 after 2: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
	if base, err := produce(batch(3, 3)); err != nil || base != 3 {
		t.Errorf("in-order batch (seq 3..5): %v at %d, want success at 3", err, base)
	}

	recs := consumeN(t, ctx, tg, topic, 6)[0]
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Value) != fmt.Sprintf("seq-%d", i) {
			t.Errorf("offset %d holds %q, want seq-%d at %d", r.Offset, r.Value, i, i)
		}
	}
	if end := partition0(t, topic)(tg.admin().ListEndOffsets(ctx, topic)).Offset; end != 6 {
		t.Errorf("end offset %d, want 6: the duplicate or the gap was appended", end)
	}
}

package txn

import (
	"testing"
)

// FuzzDecodeRecord: no __transaction_state key/value, however damaged,
// makes the decoder panic, and whatever it accepts re-encodes to a record
// that decodes to the same state.
func FuzzDecodeRecord(f *testing.F) {
	m := Metadata{TransactionalID: "id", ProducerID: 5, PrevProducerID: -1, ProducerEpoch: 7, TimeoutMs: 1000,
		State: Ongoing, StartMs: 10, LastUpdateMs: 20, Partitions: map[TopicPartition]struct{}{{"a", 1}: {}}}
	r := m.Record()
	f.Add(r.Key, r.Value, false)
	f.Add(r.Key, []byte(nil), true)
	f.Add([]byte{0, 0}, []byte{0, 1, 2, 3}, false)
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		} else if value == nil {
			value = []byte{}
		}
		got, err := DecodeRecord(KV{Key: key, Value: value})
		if err != nil {
			return
		}
		again, err := DecodeRecord(got.Record())
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if fmtMeta(again) != fmtMeta(got) {
			t.Fatalf("round trip changed the state: %s -> %s", fmtMeta(got), fmtMeta(again))
		}
	})
}

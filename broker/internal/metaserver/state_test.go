package metaserver

import (
	"testing"

	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// TestApplyEntry pins the batch rules: a batch decided at another offset
// is skipped (stale controller), a batch with one bad record is skipped
// whole (a decision is atomic), and the offset moves either way.
func TestApplyEntry(t *testing.T) {
	reg := metadata.RegisterBrokerRecord{BrokerID: 1, BrokerEpoch: 1, Rack: "az-a", Fenced: true}
	st := newState(metadata.Image{}, 0, nil)
	st, ok, err := applyEntry(st, 3, encodeEntry(0, []metadata.Record{reg}))
	if !ok || err != nil || st.Offset != 3 {
		t.Fatalf("barrier-style batch: ok=%v err=%v offset=%d", ok, err, st.Offset)
	}
	if at, _ := st.RegistrationOffset(1); at != 3 {
		t.Fatalf("registration offset %d, want 3", at)
	}
	unfence := metadata.UnfenceBrokerRecord{BrokerID: 1, BrokerEpoch: 1}
	st2, ok, _ := applyEntry(st, 5, encodeEntry(2, []metadata.Record{unfence}))
	if ok || st2.Offset != 5 || !metadata.Equal(st2.Image, st.Image) {
		t.Fatalf("stale batch applied: ok=%v offset=%d", ok, st2.Offset)
	}
	bad := metadata.FenceBrokerRecord{BrokerID: 9, BrokerEpoch: 1}
	st3, ok, _ := applyEntry(st2, 6, encodeEntry(5, []metadata.Record{unfence, bad}))
	if ok || !metadata.Equal(st3.Image, st.Image) {
		t.Fatalf("half a batch applied: ok=%v", ok)
	}
	st4, ok, err := applyEntry(st3, 7, encodeEntry(6, []metadata.Record{unfence}))
	if b, _ := st4.Image.Broker(1); !ok || err != nil || b.Fenced {
		t.Fatalf("valid batch: ok=%v err=%v broker=%+v", ok, err, b)
	}
	if _, ok, err := applyEntry(st4, 8, []byte{9, 9}); ok || err == nil {
		t.Fatal("garbage entry applied")
	}
	b, err := encodeSnapshot(st4)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeSnapshot(b)
	if err != nil || back.Offset != 7 || !metadata.Equal(back.Image, st4.Image) {
		t.Fatalf("snapshot round trip: %v offset=%d", err, back.Offset)
	}
	if at, _ := back.RegistrationOffset(1); at != 3 {
		t.Fatalf("registration offset after snapshot %d", at)
	}
}

package records

import (
	"errors"
	"testing"
)

// A batch rebuilt around its delete horizon keeps every record's
// timestamp (deltas relative to the horizon may be negative), carries
// attribute bit 6, and still checks.
func TestDeleteHorizon(t *testing.T) {
	const horizonMs = 1_700_086_400_000
	recTs := []int64{1_700_000_000_000, 1_700_000_000_005}
	recs := []Record{
		{OffsetDelta: 0, TimestampDelta: recTs[0] - horizonMs, Key: []byte("k"), Value: nil},
		{OffsetDelta: 2, TimestampDelta: recTs[1] - horizonMs, Key: []byte("j"), Value: []byte("v")},
	}
	for _, codec := range []Codec{CodecNone, CodecGzip, CodecZstd} {
		opts := DefaultBuildOptions()
		opts.FirstTimestamp, opts.MaxTimestamp, opts.LastOffsetDelta = horizonMs, recTs[1], 3
		b, err := Build(opts, codec, recs)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := ReadHeader(b); h.HasDeleteHorizon() {
			t.Fatalf("%v: a fresh batch has the delete-horizon bit", codec)
		}
		if err := SetDeleteHorizon(b); err != nil {
			t.Fatal(err)
		}
		h, got, err := Decode(b)
		if err != nil {
			t.Fatalf("%v: %v", codec, err)
		}
		if ms, ok := h.DeleteHorizonMs(); !ok || ms != horizonMs || h.Codec() != codec || h.MaxTimestamp != recTs[1] {
			t.Fatalf("%v: header %+v: horizon %d %v, want %d", codec, h, ms, ok, horizonMs)
		}
		for i, r := range got {
			if ts := h.FirstTimestamp + r.TimestampDelta; ts != recTs[i] {
				t.Fatalf("%v: record %d timestamp %d, want %d", codec, i, ts, recTs[i])
			}
		}
	}
	if err := SetDeleteHorizon(make([]byte, 10)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short batch: %v, want ErrCorrupt", err)
	}
	b, _ := Build(DefaultBuildOptions(), CodecNone, recs[:1])
	if err := SetDeleteHorizon(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("cut batch: %v, want ErrCorrupt", err)
	}
}

package partlog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// A follower's append keeps the leader's offsets and leader epoch, refuses
// a batch that starts below its log end (a gap above it is fine: the
// leader compacted), and TruncateFullyAndStartAt
// restarts the log where the leader's starts.
func TestAppendReplicaKeepsOffsets(t *testing.T) {
	clk := newClock()
	l, err := Open(vfs.NewMem(), "/p", smallConfig(), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b := makeBatch(3, clk.ms(), 10, 'a')
	records.SetBaseOffset(b, 5)
	if err := l.TruncateFullyAndStartAt(5); err != nil {
		t.Fatal(err)
	}
	records.SetPartitionLeaderEpoch(b, 7)
	res, err := l.AppendReplica(b)
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 5 || res.LastOffset != 7 || l.EndOffset() != 8 || l.StartOffset() != 5 {
		t.Fatalf("append %+v, log [%d, %d), want [5, 8)", res, l.StartOffset(), l.EndOffset())
	}
	got, err := l.Read(5, 1<<20, l.EndOffset())
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back %d bytes (err %v), want the batch as appended", len(got), err)
	}
	if h := hdr(t, got); h.PartitionLeaderEpoch != 7 {
		t.Fatalf("leader epoch %d, want 7", h.PartitionLeaderEpoch)
	}
	if _, err := l.AppendReplica(b); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("the same batch again: %v, want ErrOffsetOutOfRange", err)
	}
}

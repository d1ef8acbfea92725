package topics

import (
	"path/filepath"
	"testing"

	"github.com/highwater-io/highwater/broker/internal/producers"
	"github.com/highwater-io/highwater/internal/vfs"
)

// A follower truncating a diverged tail rolls the producer state back:
// the removed batches' sequences are neither duplicates nor the base the
// next sequence must follow; a snapshot describing removed records is
// dropped, one below the cut is reused.
func TestTruncationRollsBackProducerState(t *testing.T) {
	for _, tc := range []struct {
		name       string
		snapshotAt bool // clean close and reopen after the first batch, leaving a snapshot at offset 3
		fully      bool
	}{
		{"no snapshot", false, false},
		{"snapshot below the cut", true, false},
		{"truncate fully", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			c := openTestCatalog(t, fs)
			top, err := c.Create("t", 1, nil, false, false)
			if err != nil {
				t.Fatal(err)
			}
			appendWant(t, top.Partition(0), idemBatch(t, 7, 0, 0, 3), 0, false, nil) // offsets 0-2, seq 0-2
			if tc.snapshotAt {
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				c = openTestCatalog(t, fs)
				top, _ = c.Get("t")
			}
			defer c.Close()
			p := top.Partition(0)
			diverged := idemBatch(t, 7, 0, 3, 2) // offsets 3-4, seq 3-4: the tail the new leader lacks
			appendWant(t, p, diverged, 3, false, nil)
			if tc.fully {
				if err := c.TruncateFullyAndStartAt(p, 10); err != nil {
					t.Fatal(err)
				}
				// Nothing known: any sequence starts the producer afresh.
				appendWant(t, p, idemBatch(t, 7, 0, 42, 1), 10, false, nil)
				return
			}
			if err := c.TruncateTo(p, 3); err != nil {
				t.Fatal(err)
			}
			snap := filepath.Join(testDir, "t-0", producerSnapshotFile)
			if _, err := vfs.ReadFile(fs, snap); tc.snapshotAt && err != nil {
				t.Fatalf("snapshot at the cut was dropped: %v", err)
			}
			// Sequence 5 would follow the removed tail: out of order now.
			appendWant(t, p, idemBatch(t, 7, 0, 5, 1), 0, false, producers.ErrOutOfOrderSequence)
			// The removed batch is not a duplicate: it is appended again.
			appendWant(t, p, diverged, 3, false, nil)
			appendWant(t, p, idemBatch(t, 7, 0, 0, 3), 0, true, nil)
			if err := c.TruncateTo(p, 1); err != nil { // below the snapshot's offset 3
				t.Fatal(err)
			}
			if _, err := vfs.ReadFile(fs, snap); !vfs.IsNotExist(err) {
				t.Fatalf("snapshot describing removed records kept: %v", err)
			}
			// Cutting inside batch 0-2 removes the whole batch (a batch
			// boundary, as Kafka cuts): its sequences are gone with it.
			appendWant(t, p, idemBatch(t, 7, 0, 0, 3), 0, false, nil)
		})
	}
}

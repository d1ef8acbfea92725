package topics

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/producers"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

const testDir = "/data"

var testNow = time.Unix(1_700_000_000, 0)

func openTestCatalog(t *testing.T, fsys vfs.FS) *Catalog {
	t.Helper()
	b, _, err := config.NewBroker(map[string]string{"log.flush.interval.messages": "1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(Options{FS: fsys, Dir: testDir, Broker: b, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func idemBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = pid, epoch, seq
	opts.FirstTimestamp = testNow.UnixMilli()
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	b, err := records.Build(opts, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendWant appends a copy of batch and checks the outcome: a base offset
// (and whether it was a duplicate), or an error.
func appendWant(t *testing.T, p *Partition, batch []byte, wantBase int64, wantDup bool, wantErr error) {
	t.Helper()
	res, err := p.Append(append([]byte(nil), batch...))
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("append: got %v, want %v", err, wantErr)
		}
		return
	}
	if err != nil || res.BaseOffset != wantBase || res.Duplicate != wantDup {
		t.Fatalf("append: got base %d dup %v err %v; want base %d dup %v", res.BaseOffset, res.Duplicate, err, wantBase, wantDup)
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart func(t *testing.T, fs *vfs.MemFS, c *Catalog) *vfs.MemFS
		snap    bool // a snapshot file is expected afterwards
	}{
		{"clean close writes a snapshot", func(t *testing.T, fs *vfs.MemFS, c *Catalog) *vfs.MemFS {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			return fs
		}, true},
		{"crash rebuilds from the log", func(t *testing.T, fs *vfs.MemFS, c *Catalog) *vfs.MemFS {
			return fs.Crash()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			c := openTestCatalog(t, fs)
			top, err := c.Create("t", 1, nil, false, false)
			if err != nil {
				t.Fatal(err)
			}
			p := top.Partition(0)
			first, second := idemBatch(t, 7, 0, 0, 3), idemBatch(t, 7, 0, 3, 2)
			appendWant(t, p, first, 0, false, nil)
			appendWant(t, p, idemBatch(t, 8, 0, 0, 1), 3, false, nil)
			appendWant(t, p, second, 4, false, nil)
			appendWant(t, p, second, 4, true, nil)

			fs = tc.restart(t, fs, c)
			c = openTestCatalog(t, fs)
			defer c.Close()
			top, _ = c.Get("t")
			p = top.Partition(0)
			_, err = vfs.ReadFile(fs, filepath.Join(testDir, "t-0", producerSnapshotFile))
			if gotSnap := err == nil; gotSnap != tc.snap {
				t.Fatalf("snapshot present %v, want %v (%v)", gotSnap, tc.snap, err)
			}
			appendWant(t, p, second, 4, true, nil)
			appendWant(t, p, first, 0, true, nil)
			appendWant(t, p, idemBatch(t, 7, 0, 9, 1), 0, false, producers.ErrOutOfOrderSequence)
			appendWant(t, p, idemBatch(t, 7, 0, 5, 1), 6, false, nil)
		})
	}
}

// After DeleteRecords removes every batch of a producer, a clean restart
// still knows it (from the snapshot), as Kafka does: a gap stays a gap.
func TestSnapshotKeepsProducersBelowLogStart(t *testing.T) {
	fs := vfs.NewMem()
	c := openTestCatalog(t, fs)
	top, err := c.Create("t", 1, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	p := top.Partition(0)
	appendWant(t, p, idemBatch(t, 1, 0, 0, 2), 0, false, nil)
	appendWant(t, p, idemBatch(t, 2, 0, 0, 2), 2, false, nil)
	if err := p.Log.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openTestCatalog(t, fs)
	defer c.Close()
	top, _ = c.Get("t")
	p = top.Partition(0)
	appendWant(t, p, idemBatch(t, 1, 0, 5, 1), 0, false, producers.ErrOutOfOrderSequence)
	appendWant(t, p, idemBatch(t, 1, 0, 2, 1), 4, false, nil)
}

// A snapshot that does not fit the log (corrupt, or beyond its end) is
// ignored and removed; the state comes from the log.
func TestUnusableSnapshotIsDiscarded(t *testing.T) {
	for name, data := range map[string][]byte{
		"corrupt":          []byte("garbage"),
		"beyond log end":   producers.New(producers.DefaultConfig()).Snapshot(1000),
		"claims producers": snapshotWith(t, 9, 100),
	} {
		t.Run(name, func(t *testing.T) {
			fs := vfs.NewMem()
			c := openTestCatalog(t, fs)
			top, err := c.Create("t", 1, nil, false, false)
			if err != nil {
				t.Fatal(err)
			}
			appendWant(t, top.Partition(0), idemBatch(t, 1, 0, 0, 1), 0, false, nil)
			// Crash rather than close, so the planted snapshot is not overwritten.
			fs = fs.Crash()
			snap := filepath.Join(testDir, "t-0", producerSnapshotFile)
			if err := vfs.WriteFileAtomic(fs, snap, data, 0o644); err != nil {
				t.Fatal(err)
			}
			c = openTestCatalog(t, fs)
			defer c.Close()
			if _, err := vfs.ReadFile(fs, snap); !vfs.IsNotExist(err) {
				t.Fatalf("unusable snapshot kept: %v", err)
			}
			top, _ = c.Get("t")
			appendWant(t, top.Partition(0), idemBatch(t, 1, 0, 0, 1), 0, true, nil)
			appendWant(t, top.Partition(0), idemBatch(t, 9, 0, 5, 1), 1, false, nil) // unknown to the log: accepted
		})
	}
}

func snapshotWith(t *testing.T, pid int64, offset int64) []byte {
	t.Helper()
	s := producers.New(producers.DefaultConfig())
	s.Update(producers.Batch{ProducerID: pid, BaseSequence: 0, MaxTimestampMs: testNow.UnixMilli(), BaseOffset: offset - 1}, testNow.UnixMilli())
	return s.Snapshot(offset)
}

func TestProducerIDsPersist(t *testing.T) {
	fs := vfs.NewMem()
	if err := fs.MkdirAll(testDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ids, err := OpenProducerIDs(fs, testDir)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := 0; i < 3; i++ {
		if last, err = ids.NextProducerID(); err != nil {
			t.Fatal(err)
		}
	}
	// Only what was synced survives: the reservation must have been.
	fs = fs.Crash()
	ids, err = OpenProducerIDs(fs, testDir)
	if err != nil {
		t.Fatal(err)
	}
	next, err := ids.NextProducerID()
	if err != nil || next <= last {
		t.Fatalf("after a crash got id %d (%v); %d was already handed out", next, err, last)
	}
	if err := vfs.WriteFileAtomic(fs, filepath.Join(testDir, producerIDsFile), []byte("1\n5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenProducerIDs(fs, testDir); err == nil {
		t.Fatal("unknown format accepted")
	}
}

package partlog

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

func TestAppendReadAcrossRollsAndReopen(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	l := openLog(t, fsys, smallConfig(), c.now)
	var m model
	r := rand.New(rand.NewSource(1))
	appendRandom(t, l, &m, r, 60, func(int) int64 { return c.ms() })
	if n := countSegments(t, fsys); n < 5 {
		t.Fatalf("only %d segments; want several rolls", n)
	}
	checkContent(t, l, &m)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, fsys, smallConfig(), c.now)
	defer l.Close()
	checkContent(t, l, &m)
	// Appending after reopen continues the offsets.
	appendRandom(t, l, &m, r, 10, func(int) int64 { return c.ms() })
	checkContent(t, l, &m)
}

func TestAppendResultAndOffsets(t *testing.T) {
	l := openLog(t, vfs.NewMem(), smallConfig(), newClock().now)
	defer l.Close()
	b := makeBatch(3, 5, 10, 1)
	records.SetBaseOffset(b, 999) // the producer's base offset is ignored
	res := mustAppend(t, l, b)
	if res != (AppendResult{BaseOffset: 0, LastOffset: 2, LogStartOffset: 0}) {
		t.Fatalf("first append %+v", res)
	}
	if hdr(t, b).BaseOffset != 0 {
		t.Fatal("Append did not rewrite the base offset in place")
	}
	res = mustAppend(t, l, makeBatch(2, 5, 10, 1))
	if res.BaseOffset != 3 || res.LastOffset != 4 || l.EndOffset() != 5 {
		t.Fatalf("second append %+v, end %d", res, l.EndOffset())
	}
	if _, err := l.Append(b[:len(b)-1]); err == nil {
		t.Fatal("appended a batch whose length disagrees with its header")
	}
	if _, err := l.Append([]byte{1, 2, 3}); err == nil {
		t.Fatal("appended garbage")
	}
}

func TestReadBounds(t *testing.T) {
	l := openLog(t, vfs.NewMem(), smallConfig(), newClock().now)
	defer l.Close()
	var m model
	big := makeBatch(4, 1, 1000, 7) // bigger than SegmentBytes and any maxBytes below
	for _, b := range [][]byte{makeBatch(2, 1, 10, 1), big, makeBatch(1, 1, 10, 2), makeBatch(3, 1, 10, 3)} {
		mustAppend(t, l, b)
		m.add(b)
	}
	// Offsets: [0,1] [2..5] [6] [7..9]; end 10.
	for _, tc := range []struct {
		name           string
		offset         int64
		maxBytes       int
		upTo           int64
		wantFirst      int64 // base offset of the first batch; -1 for none
		wantBatchCount int
	}{
		{"kip74 oversize first batch", 2, 10, 10, 2, 1},
		{"kip74 from inside oversize batch", 4, 0, 10, 2, 1},
		{"maxBytes stops before the big batch", 0, 200, 10, 0, 1},
		{"everything", 0, 1 << 20, 10, 0, 4},
		{"upTo excludes batches at or above", 0, 1 << 20, 6, 0, 2},
		{"upTo inside a batch keeps it", 0, 1 << 20, 7, 0, 3},
		{"upTo at the offset gives nothing", 6, 1 << 20, 6, -1, 0},
		{"offset inside last batch", 8, 1 << 20, 10, 7, 1},
		{"end offset gives nothing", 10, 1 << 20, 10, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Read(tc.offset, tc.maxBytes, tc.upTo)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantBatchCount == 0 {
				if got != nil {
					t.Fatalf("got %d bytes, want nil", len(got))
				}
				return
			}
			n := 0
			for rest := got; len(rest) > 0; n++ {
				h, err := records.CheckBatch(rest)
				if err != nil {
					t.Fatalf("batch %d: %v", n, err)
				}
				if n == 0 && h.BaseOffset != tc.wantFirst {
					t.Fatalf("first batch base %d, want %d", h.BaseOffset, tc.wantFirst)
				}
				rest = rest[h.Size():]
			}
			if n != tc.wantBatchCount {
				t.Fatalf("%d batches, want %d", n, tc.wantBatchCount)
			}
		})
	}
	for _, off := range []int64{-1, 11} {
		_, err := l.Read(off, 100, 100)
		wantErr(t, err, ErrOffsetOutOfRange)
	}
}

func TestEmptyLog(t *testing.T) {
	l := openLog(t, vfs.NewMem(), smallConfig(), newClock().now)
	defer l.Close()
	if got, err := l.Read(0, 100, 100); got != nil || err != nil {
		t.Fatalf("Read on empty log = %v, %v", got, err)
	}
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("MaxTimestamp = %d, %d", ts, off)
	}
	if _, ok, err := l.FindTimestamp(0); ok || err != nil {
		t.Fatalf("FindTimestamp on empty log: %v %v", ok, err)
	}
	if n, err := l.EnforceRetention(); n != 0 || err != nil {
		t.Fatalf("EnforceRetention = %d, %v", n, err)
	}
}

func TestRetentionByTime(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	cfg := smallConfig()
	cfg.RetentionTime = time.Hour
	l := openLog(t, fsys, cfg, c.now)
	defer l.Close()
	var m model
	r := rand.New(rand.NewSource(2))
	appendRandom(t, l, &m, r, 20, func(int) int64 { return c.ms() }) // old data
	oldEnd := l.EndOffset()
	c.advance(30 * time.Minute)
	appendRandom(t, l, &m, r, 20, func(int) int64 { return c.ms() }) // newer data, rolls first
	if n, err := l.EnforceRetention(); n != 0 || err != nil {
		t.Fatalf("deleted %d segments (%v) before anything expired", n, err)
	}
	c.advance(31 * time.Minute)
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("EnforceRetention = %d, %v; want the old segments gone", n, err)
	}
	// Exactly the old segments went: the start is the first new segment,
	// which began at or before the first new batch.
	if start := l.StartOffset(); start > oldEnd || start == 0 {
		t.Fatalf("start offset %d, want in (0, %d]", start, oldEnd)
	}
	_, err = l.Read(0, 100, l.EndOffset())
	wantErr(t, err, ErrOffsetOutOfRange)
	checkContent(t, l, &m)

	// Everything expired: Kafka rolls a fresh segment and deletes the rest.
	c.advance(2 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != l.EndOffset() || l.Size() != 0 || countSegments(t, fsys) != 1 {
		t.Fatalf("after full expiry start %d end %d size %d segments %d", l.StartOffset(), l.EndOffset(), l.Size(), countSegments(t, fsys))
	}
	end := l.EndOffset()
	if res := mustAppend(t, l, makeBatch(1, c.ms(), 5, 0)); res.BaseOffset != end || res.LogStartOffset != end {
		t.Fatalf("append after expiry %+v, want offset %d", res, end)
	}
}

func TestRetentionBySize(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	cfg := smallConfig()
	cfg.RetentionBytes = 1000
	l := openLog(t, fsys, cfg, c.now)
	defer l.Close()
	var m model
	appendRandom(t, l, &m, rand.New(rand.NewSource(3)), 60, func(int) int64 { return c.ms() })
	before := l.Size()
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("EnforceRetention = %d, %v", n, err)
	}
	after := l.Size()
	if after < cfg.RetentionBytes || after > cfg.RetentionBytes+cfg.SegmentBytes {
		t.Fatalf("size %d -> %d; want within one segment above %d", before, after, cfg.RetentionBytes)
	}
	checkContent(t, l, &m)
	if n, _ := l.EnforceRetention(); n != 0 {
		t.Fatalf("second pass deleted %d more", n)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	l := openLog(t, fsys, smallConfig(), c.now)
	var m model
	appendRandom(t, l, &m, rand.New(rand.NewSource(4)), 40, func(int) int64 { return c.ms() })
	segsBefore := countSegments(t, fsys)
	mid := l.EndOffset() / 2
	if err := l.DeleteRecordsBefore(mid); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != mid {
		t.Fatalf("start offset %d, want %d", l.StartOffset(), mid)
	}
	if countSegments(t, fsys) >= segsBefore {
		t.Fatal("no segment below the new start offset was deleted")
	}
	_, err := l.Read(mid-1, 100, l.EndOffset())
	wantErr(t, err, ErrOffsetOutOfRange)
	checkContent(t, l, &m)
	if err := l.DeleteRecordsBefore(mid - 1); err != nil || l.StartOffset() != mid {
		t.Fatalf("lowering: %v, start %d", err, l.StartOffset())
	}
	wantErr(t, l.DeleteRecordsBefore(l.EndOffset()+1), ErrOffsetOutOfRange)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The start offset is durable, even through a power loss.
	l = openLog(t, fsys.Crash(), smallConfig(), c.now)
	if l.StartOffset() != mid {
		t.Fatalf("start offset after reopen %d, want %d", l.StartOffset(), mid)
	}
	checkContent(t, l, &m)
	// Deleting up to the end keeps the active segment but hides everything.
	end := l.EndOffset()
	if err := l.DeleteRecordsBefore(end); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(end, 100, end); got != nil || err != nil {
		t.Fatalf("Read at end after delete-all: %v %v", got, err)
	}
	l.Close()
}

func TestTimestamps(t *testing.T) {
	l := openLog(t, vfs.NewMem(), smallConfig(), newClock().now)
	defer l.Close()
	// Timestamps 10, 20, ... with one out of order batch (15 after 40).
	tss := []int64{10, 20, 30, 40, 15, 50, 60, 70, 80, 90, 100, 110, 120}
	var bases []int64
	for _, ts := range tss {
		bases = append(bases, mustAppend(t, l, makeBatch(2, ts, 60, 0)).BaseOffset)
	}
	for _, tc := range []struct {
		ts       int64
		wantBase int64 // -1: none
	}{
		{0, bases[0]}, {10, bases[0]}, {11, bases[1]}, {15, bases[1]}, {41, bases[5]},
		{100, bases[10]}, {120, bases[12]}, {121, -1},
	} {
		b, ok, err := l.FindTimestamp(tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		if tc.wantBase < 0 {
			if ok {
				t.Fatalf("FindTimestamp(%d) found base %d, want none", tc.ts, hdr(t, b).BaseOffset)
			}
			continue
		}
		if !ok || hdr(t, b).BaseOffset != tc.wantBase {
			t.Fatalf("FindTimestamp(%d) = %v ok=%v, want base %d", tc.ts, b != nil, ok, tc.wantBase)
		}
		if _, err := records.CheckBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	if ts, off := l.MaxTimestamp(); ts != 120 || off != bases[12]+1 {
		t.Fatalf("MaxTimestamp = %d, %d", ts, off)
	}
	// After the start offset moves past a batch it is no longer found.
	if err := l.DeleteRecordsBefore(bases[2]); err != nil {
		t.Fatal(err)
	}
	if b, ok, _ := l.FindTimestamp(0); !ok || hdr(t, b).BaseOffset != bases[2] {
		t.Fatalf("FindTimestamp after DeleteRecords found %v", ok)
	}
}

func TestTruncateTo(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	l := openLog(t, fsys, smallConfig(), c.now)
	var m model
	r := rand.New(rand.NewSource(5))
	appendRandom(t, l, &m, r, 50, func(i int) int64 { return int64(i) })
	// Truncate to a batch boundary in an earlier segment.
	target := hdr(t, m.batches[20]).BaseOffset
	if err := l.TruncateTo(target); err != nil {
		t.Fatal(err)
	}
	m.truncate(t, target)
	checkContent(t, l, &m)
	if ts, _ := l.MaxTimestamp(); ts != 19 {
		t.Fatalf("MaxTimestamp after truncation %d, want 19", ts)
	}
	// Inside a batch: that batch goes too.
	h := hdr(t, m.batches[len(m.batches)-1])
	if h.LastOffset() > h.BaseOffset {
		if err := l.TruncateTo(h.BaseOffset + 1); err != nil {
			t.Fatal(err)
		}
		m.truncate(t, h.BaseOffset)
		checkContent(t, l, &m)
	}
	appendRandom(t, l, &m, r, 10, func(i int) int64 { return 1000 + int64(i) })
	checkContent(t, l, &m)
	// The truncation is durable.
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	c2 := fsys.Crash()
	l.Close()
	l = openLog(t, c2, smallConfig(), c.now)
	checkContent(t, l, &m)
	// Truncating below everything empties the log and starts it there.
	if err := l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 0 || l.EndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("after TruncateTo(0): start %d end %d size %d", l.StartOffset(), l.EndOffset(), l.Size())
	}
	l.Close()
}

func TestTimeRoll(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	cfg := DefaultConfig()
	cfg.SegmentRoll = time.Hour
	l := openLog(t, fsys, cfg, c.now)
	defer l.Close()
	mustAppend(t, l, makeBatch(1, c.ms(), 10, 0))
	mustAppend(t, l, makeBatch(1, c.ms()+int64(time.Hour/time.Millisecond), 10, 0)) // exactly an hour: no roll
	if n := countSegments(t, fsys); n != 1 {
		t.Fatalf("%d segments, want 1", n)
	}
	mustAppend(t, l, makeBatch(1, c.ms()+int64(time.Hour/time.Millisecond)+1, 10, 0))
	if n := countSegments(t, fsys); n != 2 {
		t.Fatalf("%d segments, want 2 after the batch timestamp passed segment.ms", n)
	}
	// Without timestamps the clock decides.
	mustAppend(t, l, makeBatch(1, -1, 10, 0))
	l2 := openLog(t, vfs.NewMem(), cfg, c.now)
	defer l2.Close()
	mustAppend(t, l2, makeBatch(1, -1, 10, 0))
	c.advance(time.Hour + time.Millisecond)
	mustAppend(t, l2, makeBatch(1, -1, 10, 0))
	if got, _ := l2.fs.ReadDir(testDir); len(got) != 7 { // the roll wrote the transaction checkpoint
		t.Fatalf("files %v, want two segments and %s", got, txnCheckpointName)
	}
}

func TestDeleteAndClose(t *testing.T) {
	fsys := vfs.NewMem()
	l := openLog(t, fsys, smallConfig(), newClock().now)
	mustAppend(t, l, makeBatch(1, 1, 10, 0))
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(testDir); !vfs.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
	_, err := l.Append(makeBatch(1, 1, 10, 0))
	wantErr(t, err, ErrClosed)
	_, err = l.Read(0, 1, 1)
	wantErr(t, err, ErrClosed)
}

func TestStorageFailureIsSticky(t *testing.T) {
	fsys := vfs.NewMem()
	cfg := smallConfig()
	cfg.FlushIntervalMessages = 1
	l := openLog(t, fsys, cfg, newClock().now)
	defer l.Close()
	mustAppend(t, l, makeBatch(1, 1, 10, 0))
	fsys.FailSync(os.ErrInvalid)
	_, err := l.Append(makeBatch(1, 1, 10, 0))
	wantErr(t, err, ErrStorage)
	fsys.FailSync(nil)
	_, err = l.Append(makeBatch(1, 1, 10, 0))
	wantErr(t, err, ErrStorage)
	wantErr(t, l.Flush(), ErrStorage)
	// Reads still work for what is there.
	if got, err := l.Read(0, 1, 1); err != nil || len(got) == 0 {
		t.Fatalf("Read after failure: %v", err)
	}
}

func TestStrayFilesCleanedUp(t *testing.T) {
	fsys := vfs.NewMem()
	l := openLog(t, fsys, smallConfig(), newClock().now)
	mustAppend(t, l, makeBatch(1, 1, 10, 0))
	l.Close()
	for _, name := range []string{segPath(500, indexSuffix), segPath(500, timeIndexSuffix), testDir + "/" + checkpointName + ".tmp", testDir + "/notes.txt"} {
		if err := vfs.WriteFileAtomic(fsys, name, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l = openLog(t, fsys, smallConfig(), newClock().now)
	defer l.Close()
	names, _ := fsys.ReadDir(testDir)
	want := []string{segmentName(0, indexSuffix), segmentName(0, logSuffix), segmentName(0, timeIndexSuffix), "notes.txt", txnCheckpointName}
	if len(names) != len(want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("files %v, want %v", names, want)
		}
	}
}

func TestDamagedIndexOfSealedSegmentIsRebuilt(t *testing.T) {
	fsys := vfs.NewMem()
	l := openLog(t, fsys, smallConfig(), newClock().now)
	var m model
	appendRandom(t, l, &m, rand.New(rand.NewSource(6)), 30, func(i int) int64 { return int64(i) })
	l.Close()
	for _, tc := range []struct{ suffix, content string }{
		{indexSuffix, "short"},
		{timeIndexSuffix, ""},
		{indexSuffix, string(bytes.Repeat([]byte{0xff}, 8))},
	} {
		if err := vfs.WriteFileAtomic(fsys, segPath(0, tc.suffix), []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, fsys, smallConfig(), newClock().now)
		checkContent(t, l, &m)
		l.Close()
	}
}

// TestConcurrentReadsDuringAppends is for the race detector, and checks
// that a reader never sees a partial batch.
func TestConcurrentReadsDuringAppends(t *testing.T) {
	c := newClock()
	cfg := smallConfig()
	cfg.RetentionBytes = 2000
	l := openLog(t, vfs.NewMem(), cfg, c.now)
	defer l.Close()
	done := make(chan struct{})
	errs := make(chan error, 3)
	for g := 0; g < 3; g++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				start, end := l.StartOffset(), l.EndOffset()
				b, err := l.Read(start, 500, end)
				if err != nil && !errors.Is(err, ErrOffsetOutOfRange) { // retention may race ahead
					errs <- err
					return
				}
				for len(b) > 0 {
					h, err := records.CheckBatch(b)
					if err != nil {
						errs <- err
						return
					}
					b = b[h.Size():]
				}
				_, _, _ = l.FindTimestamp(0)
				_, _ = l.MaxTimestamp()
			}
		}()
	}
	for i := 0; i < 300; i++ {
		mustAppend(t, l, makeBatch(2, int64(i), 50, byte(i)))
		if i%50 == 0 {
			if _, err := l.EnforceRetention(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	for g := 0; g < 3; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

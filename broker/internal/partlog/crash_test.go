package partlog

import (
	"bytes"
	"math/rand"
	"os"
	"testing"

	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// splitBatches splits concatenated batches, failing on anything invalid.
func splitBatches(t tb, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		h, err := records.CheckBatch(b)
		if err != nil {
			t.Fatalf("log returned an invalid batch: %v", err)
		}
		out = append(out, b[:h.Size()])
		b = b[h.Size():]
	}
	return out
}

// readAll returns every batch from the log start offset on.
func readAll(t tb, l *Log) [][]byte {
	t.Helper()
	b, err := l.Read(l.StartOffset(), 1<<30, l.EndOffset())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return splitBatches(t, b)
}

// checkPrefix checks the property crash recovery protects: the recovered
// log is a prefix of what was appended (from the start offset on) and keeps
// at least the first `durable` batches. It returns the recovered length.
func checkPrefix(t tb, l *Log, appended [][]byte, durable int) int {
	t.Helper()
	got := readAll(t, l)
	skip := 0 // batches wholly below the start offset
	for skip < len(appended) && hdr(t, appended[skip]).LastOffset() < l.StartOffset() {
		skip++
	}
	if len(got) > len(appended)-skip {
		t.Fatalf("recovered %d batches, more than the %d appended", len(got), len(appended)-skip)
	}
	for i, b := range got {
		if !bytes.Equal(b, appended[skip+i]) {
			t.Fatalf("recovered batch %d differs from what was appended: not a prefix", skip+i)
		}
	}
	n := skip + len(got)
	if n < durable {
		t.Fatalf("recovered %d batches, but %d were durable (flushed or fsynced appends)", n, durable)
	}
	wantEnd := l.StartOffset()
	if n > 0 {
		wantEnd = max(wantEnd, hdr(t, appended[n-1]).LastOffset()+1)
	}
	if l.EndOffset() != wantEnd {
		t.Fatalf("EndOffset %d after recovery, want %d", l.EndOffset(), wantEnd)
	}
	return n
}

func TestCrashWithFsyncPerAppendLosesNothing(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	cfg := smallConfig()
	cfg.FlushIntervalMessages = 1
	l := openLog(t, fsys, cfg, c.now)
	var m model
	appendRandom(t, l, &m, rand.New(rand.NewSource(10)), 50, func(int) int64 { return c.ms() })
	crashed := fsys.Crash() // no Close: the process dies with the power
	l2 := openLog(t, crashed, cfg, c.now)
	defer l2.Close()
	checkContent(t, l2, &m)
	_ = l.Close()
}

func TestCrashDropsUnsyncedTail(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	cfg := smallConfig()
	cfg.FlushIntervalMessages = 1 << 40
	l := openLog(t, fsys, cfg, c.now)
	var m model
	r := rand.New(rand.NewSource(11))
	appendRandom(t, l, &m, r, 30, func(int) int64 { return c.ms() })
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	durable := len(m.batches)
	appendRandom(t, l, &m, r, 30, func(int) int64 { return c.ms() })
	l2 := openLog(t, fsys.Crash(), cfg, c.now)
	defer l2.Close()
	n := checkPrefix(t, l2, m.batches, durable)
	if n == len(m.batches) {
		t.Fatal("nothing was lost; the test did not exercise unsynced data")
	}
	// Rolled segments were sealed with an fsync, so only the tail after the
	// last roll is lost.
	t.Logf("recovered %d of %d batches (%d flushed)", n, len(m.batches), durable)
	_ = l.Close()
}

// tamper edits the file at path with f.
func tamper(t *testing.T, fsys vfs.FS, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := vfs.ReadFile(fsys, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFileAtomic(fsys, path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTornOrCorruptTailIsTruncated(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(b []byte, lastBatchPos int) []byte
	}{
		{"cut mid-batch", func(b []byte, p int) []byte { return b[:p+(len(b)-p)/2] }},
		{"cut mid-header", func(b []byte, p int) []byte { return b[:p+10] }},
		{"flipped byte in last batch", func(b []byte, p int) []byte { b[len(b)-3] ^= 0x40; return b }},
		{"garbage appended", func(b []byte, p int) []byte { return append(b, bytes.Repeat([]byte{0xAB}, 100)...) }},
		{"zeros appended (preallocated)", func(b []byte, p int) []byte { return append(b, make([]byte, 4096)...) }},
		{"wrong base offset", func(b []byte, p int) []byte { b[p+7] ^= 1; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, c := vfs.NewMem(), newClock()
			cfg := DefaultConfig() // one segment
			l := openLog(t, fsys, cfg, c.now)
			var m model
			appendRandom(t, l, &m, rand.New(rand.NewSource(12)), 10, func(int) int64 { return c.ms() })
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			lastPos := 0
			for _, b := range m.batches[:len(m.batches)-1] {
				lastPos += len(b)
			}
			tamper(t, fsys, segPath(0, logSuffix), func(b []byte) []byte { return tc.edit(b, lastPos) })
			l = openLog(t, fsys, cfg, c.now)
			defer l.Close()
			n := checkPrefix(t, l, m.batches, 0)
			want := len(m.batches) - 1
			if tc.name[:7] == "garbage" || tc.name[:5] == "zeros" {
				want = len(m.batches)
			}
			if n != want {
				t.Fatalf("recovered %d batches, want %d", n, want)
			}
			if fi, _ := fsys.Stat(segPath(0, logSuffix)); fi.Size() != l.Size() {
				t.Fatalf(".log is %d bytes after recovery, want it truncated to %d", fi.Size(), l.Size())
			}
			// The log keeps working.
			m.truncate(t, l.EndOffset())
			appendRandom(t, l, &m, rand.New(rand.NewSource(13)), 3, func(int) int64 { return c.ms() })
			checkContent(t, l, &m)
		})
	}
}

// A damaged batch in a sealed segment cuts the log there: everything after
// it, later segments included, is dropped so the log stays a prefix.
func TestCorruptSealedSegmentDropsLaterSegments(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	cfg := smallConfig()
	l := openLog(t, fsys, cfg, c.now)
	var m model
	appendRandom(t, l, &m, rand.New(rand.NewSource(14)), 40, func(int) int64 { return c.ms() })
	l.Close()
	names, _ := fsys.ReadDir(testDir)
	var second int64 = -1
	for _, n := range names {
		if b, ok := parseSegmentName(n, logSuffix); ok && b > 0 {
			second = b
			break
		}
	}
	// Damage the last byte of the second segment's last batch.
	tamper(t, fsys, segPath(second, logSuffix), func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	l = openLog(t, fsys, cfg, c.now)
	defer l.Close()
	n := checkPrefix(t, l, m.batches, 0)
	if n >= len(m.batches) || l.EndOffset() <= second {
		t.Fatalf("recovered %d of %d batches, end %d; want a cut inside segment %d", n, len(m.batches), l.EndOffset(), second)
	}
	if got := countSegments(t, fsys); got != 2 {
		t.Fatalf("%d segments remain, want 2", got)
	}
}

// TestCrashRecoveryProperty drives random appends, flushes, DeleteRecords
// calls, clean reopens and power losses (whole or torn), and checks after
// every reopen that the log is a prefix of what was appended that keeps
// everything made durable.
func TestCrashRecoveryProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fsys, c := vfs.NewMem(), newClock()
		cfg := smallConfig()
		cfg.SegmentBytes = int64(rapid.IntRange(200, 2000).Draw(rt, "segmentBytes"))
		cfg.IndexIntervalBytes = rapid.IntRange(0, 300).Draw(rt, "indexIntervalBytes")
		cfg.FlushIntervalMessages = rapid.SampledFrom([]int64{0, 1, 3}).Draw(rt, "flushInterval")
		cfg.RetentionBytes = rapid.Int64Range(-1, 3000).Draw(rt, "retentionBytes")
		l := openLog(rt, fsys, cfg, c.now)
		defer func() { _ = l.Close() }()
		var appended [][]byte
		durable, start := 0, int64(0)
		reopen := func(next *vfs.MemFS) {
			fsys = next
			l = openLog(rt, fsys, cfg, c.now)
			if l.StartOffset() != start {
				rt.Fatalf("start offset %d after reopen, want %d", l.StartOffset(), start)
			}
			n := checkPrefix(rt, l, appended, durable)
			appended = appended[:n]
			durable = n
		}
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch op := rapid.IntRange(0, 11).Draw(rt, "op"); {
			case op <= 5:
				n := int32(rapid.IntRange(1, 4).Draw(rt, "records"))
				b := makeBatch(n, c.ms(), rapid.IntRange(0, 300).Draw(rt, "payload"), byte(i))
				mustAppend(rt, l, b)
				appended = append(appended, b)
				if cfg.FlushIntervalMessages == 1 {
					durable = len(appended)
				}
			case op == 6:
				if err := l.Flush(); err != nil {
					rt.Fatal(err)
				}
				durable = len(appended)
			case op == 7:
				to := rapid.Int64Range(start, l.EndOffset()).Draw(rt, "deleteBefore")
				if err := l.DeleteRecordsBefore(to); err != nil {
					rt.Fatal(err)
				}
				if to > start {
					// Raising the start offset flushes first.
					start = to
					durable = len(appended)
				}
			case op == 10:
				before := l.EndOffset()
				to := rapid.Int64Range(start, before).Draw(rt, "truncateTo")
				if err := l.TruncateTo(to); err != nil {
					rt.Fatal(err)
				}
				end := l.EndOffset()
				if end > to {
					rt.Fatalf("end offset %d after TruncateTo(%d)", end, to)
				}
				kept := 0
				for kept < len(appended) && hdr(rt, appended[kept]).LastOffset() < end {
					kept++
				}
				appended = appended[:kept]
				if to < before {
					durable = kept // truncation fsyncs what remains
				}
				start = l.StartOffset()
				if start > end {
					rt.Fatalf("start offset %d above end offset %d", start, end)
				}
			case op == 11:
				if _, err := l.EnforceRetention(); err != nil {
					rt.Fatal(err)
				}
				start = l.StartOffset()
			case op == 8:
				if err := l.Close(); err != nil {
					rt.Fatal(err)
				}
				durable = len(appended)
				reopen(fsys)
			default:
				var crashed *vfs.MemFS
				if rapid.Bool().Draw(rt, "torn") {
					crashed = fsys.CrashPartial(rand.New(rand.NewSource(rapid.Int64().Draw(rt, "tornSeed"))))
				} else {
					crashed = fsys.Crash()
				}
				_ = l.Close() // closes handles on the old fs; the crashed clone is unaffected
				reopen(crashed)
			}
		}
	})
}

func TestOpenOnOS(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(vfs.OS, dir, smallConfig(), newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	var m model
	appendRandom(t, l, &m, rand.New(rand.NewSource(15)), 30, func(i int) int64 { return int64(i) })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(vfs.OS, dir, smallConfig(), newClock().now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkContent(t, l, &m)
	if _, err := os.Stat(dir + "/" + segmentName(0, logSuffix)); err != nil {
		t.Fatal(err)
	}
}

package partlog

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// rec is one record as a reader sees it.
type rec struct {
	offset int64
	key    string
	value  []byte // nil: tombstone
	ts     int64  // record timestamp, unix ms (0: not checked)
}

func (r rec) String() string {
	if r.value == nil {
		return fmt.Sprintf("%d:%s=<nil>", r.offset, r.key)
	}
	return fmt.Sprintf("%d:%s=%s", r.offset, r.key, r.value)
}

type kvIn struct {
	key   string
	value *string // nil: tombstone
}

func val(s string) *string { return &s }

// keyedBatch builds a batch of keyed records (nil value: tombstone).
func keyedBatch(t tb, tsMs int64, kvs ...kvIn) []byte {
	t.Helper()
	recs := make([]records.Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = records.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte(kv.key)}
		if kv.value != nil {
			recs[i].Value = []byte(*kv.value)
		}
	}
	opts := records.DefaultBuildOptions()
	opts.FirstTimestamp = tsMs
	b, err := records.Build(opts, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readRecs decodes everything readable from offset on.
func readRecs(t tb, l *Log, from int64) []rec {
	t.Helper()
	var out []rec
	for off := from; off < l.EndOffset(); {
		data, err := l.Read(off, 1<<20, l.EndOffset())
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(data) == 0 {
			break
		}
		for len(data) > 0 {
			h, recs, err := records.Decode(data[:hdr(t, data).Size()])
			if err != nil {
				t.Fatalf("decode at %d: %v", off, err)
			}
			for _, r := range recs {
				if o := h.BaseOffset + int64(r.OffsetDelta); o >= from && !h.Control() {
					out = append(out, rec{offset: o, key: string(r.Key), value: bytes.Clone(r.Value), ts: recordTimestamp(h, r)})
				}
			}
			off = h.LastOffset() + 1
			data = data[h.Size():]
		}
	}
	return out
}

// batchAt is the header of the batch holding offset.
func batchAt(t tb, l *Log, offset int64) records.Header {
	t.Helper()
	data, err := l.Read(offset, 1<<20, l.EndOffset())
	if err != nil || len(data) == 0 {
		t.Fatalf("read at %d: %v (%d bytes)", offset, err, len(data))
	}
	h := hdr(t, data)
	if offset < h.BaseOffset || offset > h.LastOffset() {
		t.Fatalf("batch %+v does not hold offset %d", h, offset)
	}
	return h
}

// padBatch is a keyed record big enough to fill a segment of
// smallConfig, so that the next append rolls.
func padBatch(t tb, tsMs int64) []byte {
	return keyedBatch(t, tsMs, kvIn{"pad", val(string(bytes.Repeat([]byte{'x'}, 380)))})
}

func compactConfig() Config {
	cfg := smallConfig()
	cfg.Compact, cfg.Delete = true, false
	cfg.DeleteRetention = time.Hour
	cfg.MinCleanableDirtyRatio = 0
	return cfg
}

// Overwrites leave the newest record per key at its original offset;
// tombstones survive the first clean and go after delete.retention.ms.
func TestCleanKeepsNewestPerKey(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	l := openLog(t, fsys, compactConfig(), c.now)
	defer func() { l.Close() }()
	steps := [][]kvIn{
		{{"a", val("1")}, {"b", val("1")}},
		{{"c", val("1")}, {"a", val("2")}},
		{{"b", nil}, {"d", val("1")}},
		{{"a", val("3")}, {"c", val("2")}},
		{{"e", val("1")}},
		{{"e", val("2")}},
	}
	for _, kvs := range steps {
		mustAppend(t, l, keyedBatch(t, c.ms(), kvs...))
	}
	// Roll so that all of the above is sealed.
	mustAppend(t, l, padBatch(t, c.ms()))
	if cl := l.Cleanable(l.EndOffset(), c.now()); !cl.Due(0.5) || cl.FirstDirtyOffset != 0 {
		t.Fatalf("cleanable %+v, want due from 0", cl)
	}
	st, err := l.Clean(l.EndOffset(), c.now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.RecordsRemoved != 5 || st.SegmentsRewritten == 0 || st.BytesRetained <= 0 || st.BytesRetained > st.BytesRead {
		t.Fatalf("stats %+v, want 5 records removed and some bytes retained", st)
	}
	got := fmt.Sprint(readRecs(t, l, 0)[:5])
	want := "[4:b=<nil> 5:d=1 6:a=3 7:c=2 9:e=2]"
	if got != want {
		t.Fatalf("after clean: %s, want %s", got, want)
	}
	// Nothing dirty: a second pass now is a no-op.
	if cl := l.Cleanable(l.EndOffset(), c.now()); cl.Due(0) {
		t.Fatalf("cleanable %+v after cleaning, want not due", cl)
	}
	// The tombstone's batch now carries its delete horizon (KIP-534), the
	// tombstone its own timestamp.
	tomb := batchAt(t, l, 4)
	if ms, ok := tomb.DeleteHorizonMs(); !ok || ms != c.ms()+time.Hour.Milliseconds() {
		t.Fatalf("tombstone batch %+v: horizon %d %v, want %d", tomb, ms, ok, c.ms()+time.Hour.Milliseconds())
	}
	// A pass just before the horizon keeps it; the horizon passing does not
	// by itself make the log due (as in Kafka): new dirty data does.
	c.advance(time.Hour - time.Millisecond)
	if cl := l.Cleanable(l.EndOffset(), c.now()); cl.Due(0) {
		t.Fatalf("cleanable %+v with nothing dirty, want not due", cl)
	}
	dirtyRoll := func(v string) {
		mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"e", val(v)}))
		mustAppend(t, l, padBatch(t, c.ms()))
		if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
			t.Fatal(err)
		}
	}
	dirtyRoll("3")
	if got := fmt.Sprint(readRecs(t, l, 0)[:4]); got != "[4:b=<nil> 5:d=1 6:a=3 7:c=2]" {
		t.Fatalf("a millisecond before the horizon: %s, want the tombstone kept", got)
	}
	c.advance(time.Millisecond)
	dirtyRoll("4")
	got = fmt.Sprint(readRecs(t, l, 0)[:3])
	want = "[5:d=1 6:a=3 7:c=2]"
	if got != want {
		t.Fatalf("at the horizon: %s, want %s", got, want)
	}
	// Reading from inside a gap starts at the next surviving record.
	if got := readRecs(t, l, 1); len(got) == 0 || got[0].offset != 5 {
		t.Fatalf("read from 1: %v, want first offset 5", got)
	}
	// Reopen: the cleaned log and its end offset survive.
	end := l.EndOffset()
	before := fmt.Sprint(readRecs(t, l, 0))
	l.Close()
	l = openLog(t, fsys, compactConfig(), c.now)
	if l.EndOffset() != end || fmt.Sprint(readRecs(t, l, 0)) != before {
		t.Fatalf("after reopen: end %d %v, want end %d %s", l.EndOffset(), readRecs(t, l, 0), end, before)
	}
	// And takes appends after the gap.
	res := mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"z", val("1")}))
	if res.BaseOffset != end {
		t.Fatalf("append at %d, want %d", res.BaseOffset, end)
	}
}

// The active segment, segments reaching upTo and segments younger than
// min.compaction.lag.ms are never cleaned.
func TestCleanBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lag     time.Duration
		upTo    func(end int64) int64
		cleaned bool
	}{
		{"all sealed", 0, func(end int64) int64 { return end }, true},
		{"upTo inside the sealed segment", 0, func(int64) int64 { return 3 }, false},
		{"compaction lag", time.Hour, func(end int64) int64 { return end }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			cfg := compactConfig()
			cfg.MinCompactionLag = tc.lag
			l := openLog(t, vfs.NewMem(), cfg, c.now)
			defer l.Close()
			for range 3 {
				mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"k", val("v")}, kvIn{"k", val("w")}))
			}
			mustAppend(t, l, padBatch(t, c.ms())) // rolls
			mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"k", val("active")}))
			before := len(readRecs(t, l, 0))
			if _, err := l.Clean(tc.upTo(l.EndOffset()), c.now(), 0); err != nil {
				t.Fatal(err)
			}
			after := readRecs(t, l, 0)
			if cleaned := len(after) < before; cleaned != tc.cleaned {
				t.Fatalf("cleaned %v (%d -> %d records: %v), want %v", cleaned, before, len(after), after, tc.cleaned)
			}
			if last := after[len(after)-1]; string(last.value) != "active" {
				t.Fatalf("active segment record %v changed", last)
			}
		})
	}
}

// Aborted transactional data goes; committed data is compacted like any
// other. A marker keeps no horizon while its pass read data of its
// transaction; the first pass that reads none (the data went in an earlier
// pass) gives it one, and the first pass at or after that removes it
// (Kafka's CleanedTransactionMetadata with KIP-534).
func TestCleanTransactions(t *testing.T) {
	c := newClock()
	l := openLog(t, vfs.NewMem(), compactConfig(), c.now)
	defer l.Close()
	txnBatch := func(pid int64, kvs ...kvIn) []byte {
		recs := make([]records.Record, len(kvs))
		for i, kv := range kvs {
			recs[i] = records.Record{OffsetDelta: int32(i), Key: []byte(kv.key), Value: []byte(*kv.value)}
		}
		opts := records.DefaultBuildOptions()
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = pid, 0, 0, true
		opts.FirstTimestamp = c.ms()
		b, err := records.Build(opts, records.CodecNone, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	marker := func(pid int64, commit bool) []byte {
		b, err := BuildMarker(pid, 0, 0, commit, c.ms())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// pass cleans after making the log dirty (a key of its own, then a roll).
	pass := func() {
		t.Helper()
		mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"filler", val("f")}))
		mustAppend(t, l, padBatch(t, c.ms()))
		if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
			t.Fatal(err)
		}
	}
	// markerAt describes the batch at offset: "none" if it is gone, else
	// "kept" or "horizon <ms from the test start>".
	start := c.ms()
	markerAt := func(offset int64) string {
		t.Helper()
		data, err := l.Read(offset, 1<<20, l.EndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if h := hdr(t, data); h.BaseOffset != offset || !h.Control() {
			return "none"
		} else if ms, ok := h.DeleteHorizonMs(); ok {
			if m, err := ParseMarker(data[:h.Size()]); err != nil || m.TimestampMs != start {
				t.Fatalf("marker at %d after its horizon was set: %+v, %v (timestamp want %d)", offset, m, err, start)
			}
			return fmt.Sprint("horizon ", ms-start)
		}
		return "kept"
	}
	mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"a", val("plain")}))
	mustAppend(t, l, txnBatch(7, kvIn{"a", val("aborted")}, kvIn{"x", val("aborted")}))
	mustAppend(t, l, marker(7, false)) // 3
	mustAppend(t, l, txnBatch(7, kvIn{"c", val("committed")}))
	mustAppend(t, l, marker(7, true)) // 5
	mustAppend(t, l, txnBatch(8, kvIn{"b", val("committed")}))
	mustAppend(t, l, marker(8, true))     // 7
	mustAppend(t, l, padBatch(t, c.ms())) // rolls
	if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(readRecs(t, l, 0))
	if want := "[0:a=plain 4:c=committed 6:b=committed"; got[:len(want)] != want {
		t.Fatalf("after clean: %s, want prefix %s", got, want)
	}
	if ab := l.AbortedTxns(0, l.EndOffset()); len(ab) != 1 {
		t.Fatalf("aborted index %v, want the entry kept with its marker", ab)
	}
	if l.FirstUnstableOffset() != l.EndOffset() {
		t.Fatalf("first unstable offset %d, want none open", l.FirstUnstableOffset())
	}
	// The pass read the aborted data it removed: the ABORT marker has no
	// horizon yet.
	if m := [3]string{markerAt(3), markerAt(5), markerAt(7)}; m != [3]string{"kept", "kept", "kept"} {
		t.Fatalf("markers after the first pass %v, want all kept without a horizon", m)
	}
	c.advance(time.Minute)
	pass()
	const hourMs = int64(time.Hour / time.Millisecond)
	wantHorizon := fmt.Sprint("horizon ", time.Minute.Milliseconds()+hourMs)
	if m := [3]string{markerAt(3), markerAt(5), markerAt(7)}; m != [3]string{wantHorizon, "kept", "kept"} {
		t.Fatalf("markers after the second pass %v, want the ABORT's %s", m, wantHorizon)
	}
	c.advance(time.Hour - time.Millisecond)
	pass()
	if m := markerAt(3); m != wantHorizon {
		t.Fatalf("ABORT marker a millisecond before its horizon: %s", m)
	}
	c.advance(time.Millisecond)
	pass()
	if m := [3]string{markerAt(3), markerAt(5), markerAt(7)}; m != [3]string{"none", "kept", "kept"} {
		t.Fatalf("markers at the ABORT's horizon %v, want it gone, the COMMITs kept", m)
	}
	if ab := l.AbortedTxns(0, l.EndOffset()); len(ab) != 0 {
		t.Fatalf("aborted index %v, want empty once the marker went", ab)
	}
	// Producer 7 overwrites c in a new transaction: its old batch (no
	// longer its last) goes; its COMMIT gets a horizon a pass later and
	// goes at it. Producer 8's COMMIT stays while its data does.
	mustAppend(t, l, txnBatch(7, kvIn{"c", val("again")}))
	mustAppend(t, l, marker(7, true))
	pass()
	if m := markerAt(5); m != "kept" || fmt.Sprint(readRecs(t, l, 0)[:2]) != "[0:a=plain 6:b=committed]" {
		t.Fatalf("COMMIT marker at 5 %s, log %v: want the marker kept, its data gone", m, readRecs(t, l, 0))
	}
	pass()
	if m := markerAt(5); m == "kept" || m == "none" {
		t.Fatalf("COMMIT marker at 5 %s, want a horizon", m)
	}
	c.advance(time.Hour)
	pass()
	if m := [2]string{markerAt(5), markerAt(7)}; m != [2]string{"none", "kept"} {
		t.Fatalf("COMMIT markers %v, want 7's gone and 8's kept", m)
	}
	// A full rebuild of the transaction state finds nothing open.
	if err := l.rebuildFromScratch(); err != nil {
		t.Fatal(err)
	}
	if l.FirstUnstableOffset() != l.EndOffset() {
		t.Fatalf("after rebuild first unstable %d, want none open", l.FirstUnstableOffset())
	}
}

func (l *Log) rebuildFromScratch() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.replayTxnsLocked(l.segs[0].base, map[int64]int64{})
}

// How a pass rewrites batches (Kafka's MemoryRecords.filterTo with
// KIP-534), per codec and timestamp type: a batch keeping a tombstone gets
// the horizon as its first timestamp and bit 6; one that only lost records
// starts at its first kept record's timestamp; codec, offsets, producer
// fields and every record timestamp stay; the max timestamp is the largest
// kept one (CreateTime) or the append time (LogAppendTime).
func TestCleanRewritesBatches(t *testing.T) {
	for _, codec := range []records.Codec{records.CodecNone, records.CodecZstd} {
		for _, appendTime := range []bool{false, true} {
			t.Run(fmt.Sprint(codec, "/logAppendTime=", appendTime), func(t *testing.T) {
				c := newClock()
				l := openLog(t, vfs.NewMem(), compactConfig(), c.now)
				defer l.Close()
				build := func(tsMs int64, kvs ...kvIn) []byte {
					t.Helper()
					recs := make([]records.Record, len(kvs))
					for i, kv := range kvs {
						recs[i] = records.Record{OffsetDelta: int32(i), TimestampDelta: int64(10 * i), Key: []byte(kv.key)}
						if kv.value != nil {
							recs[i].Value = []byte(*kv.value)
						}
					}
					opts := records.DefaultBuildOptions()
					opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = 5, 1, 0
					opts.FirstTimestamp = tsMs
					b, err := records.Build(opts, codec, recs)
					if err != nil {
						t.Fatal(err)
					}
					if appendTime {
						records.SetLogAppendTime(b, tsMs+1000)
					}
					return b
				}
				t0 := c.ms()
				mustAppend(t, l, build(t0, kvIn{"a", val("old")}, kvIn{"t", nil}, kvIn{"b", val("old")})) // 0-2
				mustAppend(t, l, build(t0+100, kvIn{"c", val("1")}, kvIn{"d", val("1")}))                 // 3-4
				mustAppend(t, l, build(t0+200, kvIn{"a", val("new")}, kvIn{"d", val("2")}))               // 5-6
				mustAppend(t, l, padBatch(t, c.ms()))
				c.advance(time.Minute)
				if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
					t.Fatal(err)
				}
				horizon := c.ms() + time.Hour.Milliseconds()
				for _, tc := range []struct {
					offset     int64
					first, max int64 // want, CreateTime
					hasHorizon bool
					records    int32
					lastOffset int64
				}{
					{1, horizon, t0 + 20, true, 2, 2},    // lost a, kept tombstone t and b
					{3, t0 + 100, t0 + 100, false, 1, 4}, // lost d
				} {
					data, err := l.Read(tc.offset, 1<<20, l.EndOffset())
					if err != nil {
						t.Fatal(err)
					}
					h, recs, err := records.Decode(data[:hdr(t, data).Size()])
					if err != nil {
						t.Fatal(err)
					}
					wantFirst, wantMax := tc.first, tc.max
					if appendTime {
						// Records carry the append time; a batch without a
						// horizon starts at its first record's.
						wantMax = t0 + tc.offset/3*100 + 1000
						if !tc.hasHorizon {
							wantFirst = wantMax
						}
					}
					ms, ok := h.DeleteHorizonMs()
					if ok != tc.hasHorizon || h.FirstTimestamp != wantFirst || h.MaxTimestamp != wantMax || h.Codec() != codec ||
						h.NumRecords != tc.records || h.LastOffset() != tc.lastOffset || h.ProducerID != 5 || h.ProducerEpoch != 1 ||
						h.BaseSequence != 0 || h.LogAppendTime() != appendTime {
						t.Errorf("batch at %d: %+v (horizon %d %v), want first timestamp %d, max %d, horizon %v, %d records to %d",
							tc.offset, h, ms, ok, wantFirst, wantMax, tc.hasHorizon, tc.records, tc.lastOffset)
					}
					for _, r := range recs {
						want := t0 + 100*(tc.offset/3) + 10*int64(r.OffsetDelta)
						if appendTime {
							want = h.MaxTimestamp
						}
						if got := recordTimestamp(h, r); got != want {
							t.Errorf("record at %d: timestamp %d, want %d", h.BaseOffset+int64(r.OffsetDelta), got, want)
						}
					}
				}
			})
		}
	}
}

// The batch ending just below a pass's first uncleanable offset stays,
// emptied, even when all its records go (Kafka 4.1 keeps the cleaned
// range's last offset so); a later pass whose range ends elsewhere drops
// it.
func TestCleanKeepsLastBatchOfRange(t *testing.T) {
	c := newClock()
	l := openLog(t, vfs.NewMem(), compactConfig(), c.now)
	defer l.Close()
	marker := func(commit bool) []byte {
		b, err := BuildMarker(9, 0, 0, commit, c.ms())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	big := string(bytes.Repeat([]byte{'x'}, 300))
	mustAppend(t, l, padBatch(t, c.ms()))                                               // 0, segment 0
	mustAppend(t, l, txnKeyedBatch(t, 9, c.ms(), kvIn{"x", &big}, kvIn{"y", val("1")})) // 1-2, segment 1
	mustAppend(t, l, marker(false))                                                     // 3 ABORT, segment 2
	mustAppend(t, l, txnKeyedBatch(t, 9, c.ms(), kvIn{"z", val("1")}))                  // 4
	mustAppend(t, l, marker(true))                                                      // 5
	mustAppend(t, l, padBatch(t, c.ms()))                                               // 6, active
	var bases []int64
	for _, s := range l.segs {
		bases = append(bases, s.base)
	}
	if fmt.Sprint(bases) != "[0 1 3 6]" {
		t.Fatalf("segment bases %v, want [0 1 3 6]", bases)
	}
	if _, err := l.Clean(3, c.now(), 0); err != nil {
		t.Fatal(err)
	}
	if h := batchAt(t, l, 1); h.BaseOffset != 1 || h.LastOffset() != 2 || h.NumRecords != 0 || !h.Transactional() ||
		h.ProducerID != 9 || h.FirstTimestamp != -1 || h.Codec() != records.CodecNone {
		t.Fatalf("aborted batch ending at the first uncleanable offset: %+v, want kept as a bare header", h)
	}
	if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
		t.Fatal(err)
	}
	data, err := l.Read(1, 1<<20, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if h := hdr(t, data); h.BaseOffset != 3 || !h.Control() || h.HasDeleteHorizon() {
		t.Fatalf("first batch from 1 after a pass over the whole log: %+v, want the ABORT marker at 3 without a horizon (the pass read its emptied data)", h)
	}
}

// A producer's last batch stays, emptied, so its sequence survives.
func TestCleanKeepsProducersLastBatch(t *testing.T) {
	c := newClock()
	l := openLog(t, vfs.NewMem(), compactConfig(), c.now)
	defer l.Close()
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = 3, 0, 0
	opts.FirstTimestamp = c.ms()
	b, _ := records.Build(opts, records.CodecGzip, []records.Record{{Key: []byte("k"), Value: []byte("1")}, {OffsetDelta: 1, TimestampDelta: 7, Key: []byte("k"), Value: []byte("2")}})
	mustAppend(t, l, b)
	mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"k", val("3")}))
	mustAppend(t, l, padBatch(t, c.ms()))
	if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
		t.Fatal(err)
	}
	data, _ := l.Read(0, 1<<20, l.EndOffset())
	h := hdr(t, data)
	if h.ProducerID != 3 || h.NumRecords != 0 || h.BaseOffset != 0 || h.LastOffset() != 1 || h.BaseSequence != 0 {
		t.Fatalf("first batch %+v, want producer 3's batch kept empty at [0, 1]", h)
	}
	// Kafka's empty batch header: no compression, no first timestamp, the
	// original max timestamp.
	if h.Codec() != records.CodecNone || h.FirstTimestamp != -1 || h.MaxTimestamp != c.ms()+7 || h.HasDeleteHorizon() {
		t.Fatalf("first batch %+v, want uncompressed, first timestamp -1, max %d, no horizon", h, c.ms()+7)
	}
	if _, err := records.CheckBatch(data[:h.Size()]); err != nil {
		t.Fatal(err)
	}
}

// A follower accepts a batch above its log end (the leader compacted).
func TestAppendReplicaAcceptsGap(t *testing.T) {
	c := newClock()
	l := openLog(t, vfs.NewMem(), compactConfig(), c.now)
	defer l.Close()
	b := keyedBatch(t, c.ms(), kvIn{"k", val("v")})
	records.SetBaseOffset(b, 10)
	if _, err := l.AppendReplica(b); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 11 {
		t.Fatalf("end %d, want 11", l.EndOffset())
	}
	if got := readRecs(t, l, 0); len(got) != 1 || got[0].offset != 10 {
		t.Fatalf("read %v, want the record at 10", got)
	}
}

// A crash after the .swap rename is finished by Open.
func TestCleanSwapRecovery(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	l := openLog(t, fsys, compactConfig(), c.now)
	for i := range 6 {
		mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{fmt.Sprint("k", i%2), val(fmt.Sprint(i))}))
	}
	mustAppend(t, l, padBatch(t, c.ms()))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	before := fsys.Crash() // the log as it was, all synced
	merging := compactConfig()
	merging.SegmentBytes = 4000 // the sealed segments fit one cleaned segment
	l = openLog(t, fsys, merging, c.now)
	if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(readRecs(t, l, 0))
	cleaned, err := vfs.ReadFile(fsys, segPath(0, logSuffix))
	if err != nil {
		t.Fatal(err)
	}
	// The cleaned copy replaced the old segments below the next one left.
	next := l.segs[1].base
	l.Close()
	last := int64(0)
	oldNames, _ := before.ReadDir(testDir)
	for _, n := range oldNames {
		if b, ok := parseSegmentName(n, logSuffix); ok && b < next {
			last = max(last, b)
		}
	}
	if last == 0 {
		t.Fatal("want a merge of several segments for this test")
	}
	// The crash: the cleaned copy is committed as the swap file, nothing
	// else done; a stale .cleaned of another pass lies around too.
	for name, data := range map[string][]byte{swapName(testDir, 0, last): cleaned, segPath(0, logSuffix) + cleanedSuffix: []byte("junk")} {
		f, _ := before.OpenFile(name, 0o102, 0o644) // O_RDWR|O_CREATE
		f.Write(data)
		f.Sync()
		f.Close()
	}
	l = openLog(t, before, compactConfig(), c.now)
	defer l.Close()
	if got := fmt.Sprint(readRecs(t, l, 0)); got != want {
		t.Fatalf("after swap recovery %s, want %s", got, want)
	}
	names, _ := before.ReadDir(testDir)
	for _, n := range names {
		if _, ok := cutSuffix(n, swapSuffix); ok {
			t.Fatalf("%s left behind", n)
		}
		if _, ok := cutSuffix(n, cleanedSuffix); ok {
			t.Fatalf("%s left behind", n)
		}
	}
}

// A segment deleted under a pass aborts it cleanly.
func TestCleanAbortsOnConcurrentDelete(t *testing.T) {
	c := newClock()
	cfg := compactConfig()
	l := openLog(t, vfs.NewMem(), cfg, c.now)
	defer l.Close()
	for i := range 6 {
		mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"k", val(fmt.Sprint(i))}))
	}
	mustAppend(t, l, padBatch(t, c.ms()))
	p, err := l.planClean(l.EndOffset(), c.now(), 0)
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	if err := l.DeleteRecordsBefore(l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.cleanGroup(p, []int{0}, c.now()); !errors.Is(err, ErrCleaningAborted) {
		t.Fatalf("clean of a deleted segment: %v, want ErrCleaningAborted", err)
	}
}

// Random appends (plain and transactional, overwrites and tombstones),
// transaction ends, cleaning passes at random bounds and key-map sizes,
// clock steps and reopens. Whatever the sequence, every record read back is
// one that was written, at its offset, with its timestamp; every key's
// newest committed record survives unless it is a tombstone; nothing at
// or above a pass's bound goes; a reopen changes nothing; and each pass
// follows KIP-534: a tombstone or marker goes only once its batch's delete
// horizon passed (a tombstone also when a newer record has its key), every
// tombstone a pass keeps carries a horizon, a horizon never moves and lies
// at most delete.retention.ms after the pass that set it, and the
// transactions a rebuild from the log finds open are exactly those open.
func TestCleanProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fsys, c := vfs.NewMem(), newClock()
		cfg := compactConfig()
		cfg.SegmentBytes = int64(rapid.IntRange(150, 600).Draw(rt, "segmentBytes"))
		cfg.DeleteRetention = time.Duration(rapid.IntRange(0, 3).Draw(rt, "retentionHours")) * time.Hour
		l := openLog(rt, fsys, cfg, c.now)
		defer func() { l.Close() }()
		var orig []rec              // everything appended
		aborted := map[int64]bool{} // offsets of aborted records
		open := map[int64][]int64{} // producer id -> offsets of its open transaction
		maxBound := int64(0)        // nothing at or above any pass's bound is touched
		drawKVs := func(i int) []kvIn {
			kvs := make([]kvIn, rapid.IntRange(1, 4).Draw(rt, "n"))
			for j := range kvs {
				kvs[j].key = fmt.Sprint("k", rapid.IntRange(0, 5).Draw(rt, "key"))
				if rapid.IntRange(0, 4).Draw(rt, "tomb") > 0 {
					kvs[j].value = val(fmt.Sprint(i, "-", j))
				}
			}
			return kvs
		}
		record := func(res AppendResult, tsMs int64, kvs []kvIn) []int64 {
			var offs []int64
			for j, kv := range kvs {
				r := rec{offset: res.BaseOffset + int64(j), key: kv.key, ts: tsMs + int64(j)}
				if kv.value != nil {
					r.value = []byte(*kv.value)
				}
				orig = append(orig, r)
				offs = append(offs, r.offset)
			}
			return offs
		}
		steps := rapid.IntRange(1, 50).Draw(rt, "steps")
		for i := range steps {
			switch op := rapid.IntRange(0, 12).Draw(rt, fmt.Sprint("op", i)); {
			case op < 5:
				kvs := drawKVs(i)
				record(mustAppend(rt, l, keyedBatch(rt, c.ms(), kvs...)), c.ms(), kvs)
			case op < 7:
				pid := int64(rapid.IntRange(1, 2).Draw(rt, "pid"))
				kvs := drawKVs(i)
				offs := record(mustAppend(rt, l, txnKeyedBatch(rt, pid, c.ms(), kvs...)), c.ms(), kvs)
				open[pid] = append(open[pid], offs...)
			case op < 8:
				pid := int64(rapid.IntRange(1, 2).Draw(rt, "pid"))
				if _, ok := open[pid]; !ok {
					continue
				}
				commit := rapid.Bool().Draw(rt, "commit")
				m, err := BuildMarker(pid, 0, 0, commit, c.ms())
				if err != nil {
					rt.Fatal(err)
				}
				mustAppend(rt, l, m)
				for _, o := range open[pid] {
					aborted[o] = !commit
				}
				delete(open, pid)
			case op < 10:
				if lso := l.FirstUnstableOffset(); lso != firstOpen(open, l.EndOffset()) {
					rt.Fatalf("first unstable offset %d, want %d", lso, firstOpen(open, l.EndOffset()))
				}
				upTo := min(rapid.Int64Range(0, l.EndOffset()).Draw(rt, "upTo"), l.FirstUnstableOffset())
				maxBound = max(maxBound, upTo)
				before := scanLog(rt, l)
				st, err := l.Clean(upTo, c.now(), rapid.IntRange(0, 4).Draw(rt, "mapEntries"))
				if err != nil {
					rt.Fatal(err)
				}
				checkHorizons(rt, before, scanLog(rt, l), orig, aborted, st.EndOffset, c.ms(), cfg.DeleteRetention)
				if err := l.rebuildFromScratch(); err != nil {
					rt.Fatal(err)
				}
				if lso := l.FirstUnstableOffset(); lso != firstOpen(open, l.EndOffset()) {
					rt.Fatalf("after a pass and a rebuild from the log: first unstable offset %d, want %d", lso, firstOpen(open, l.EndOffset()))
				}
			case op < 12:
				c.advance(time.Duration(rapid.IntRange(0, 120).Draw(rt, "minutes")) * time.Minute)
			default:
				l.Close()
				l = openLog(rt, fsys, cfg, c.now)
			}
		}
		maxBound = max(maxBound, settle(rt, l, c, cfg, open, &orig, aborted))
		checkCompacted(rt, l, orig, maxBound, aborted)
		l.Close()
		l = openLog(rt, fsys, cfg, c.now)
		checkCompacted(rt, l, orig, maxBound, aborted)
	})
}

// settle ends every open transaction, then runs passes over the whole log
// with every horizon set so far expiring in between, so that markers and
// tombstones do go, checking each pass as TestCleanProperty does. It
// returns the largest pass bound.
func settle(rt *rapid.T, l *Log, c *clock, cfg Config, open map[int64][]int64, orig *[]rec, aborted map[int64]bool) int64 {
	for pid := range open {
		m, err := BuildMarker(pid, 0, 0, true, c.ms())
		if err != nil {
			rt.Fatal(err)
		}
		mustAppend(rt, l, m)
		delete(open, pid)
	}
	bound := int64(0)
	for range 3 {
		for range 2 { // the last may stay in the active segment
			value := bytes.Repeat([]byte{'s'}, int(cfg.SegmentBytes))
			res := mustAppend(rt, l, keyedBatch(rt, c.ms(), kvIn{"settle", val(string(value))}))
			*orig = append(*orig, rec{offset: res.BaseOffset, key: "settle", value: value, ts: c.ms()})
		}
		before := scanLog(rt, l)
		st, err := l.Clean(l.EndOffset(), c.now(), 0)
		if err != nil {
			rt.Fatal(err)
		}
		bound = max(bound, st.EndOffset)
		checkHorizons(rt, before, scanLog(rt, l), *orig, aborted, st.EndOffset, c.ms(), cfg.DeleteRetention)
		if err := l.rebuildFromScratch(); err != nil {
			rt.Fatal(err)
		}
		if lso := l.FirstUnstableOffset(); lso != l.EndOffset() {
			rt.Fatalf("settling: a rebuild from the log finds a transaction open at %d", lso)
		}
		c.advance(cfg.DeleteRetention + time.Millisecond)
	}
	return bound
}

// txnKeyedBatch is keyedBatch in a transaction of producer pid.
func txnKeyedBatch(t tb, pid, tsMs int64, kvs ...kvIn) []byte {
	t.Helper()
	h, recs, err := records.Decode(keyedBatch(t, tsMs, kvs...))
	if err != nil {
		t.Fatal(err)
	}
	opts := records.DefaultBuildOptions()
	opts.FirstTimestamp, opts.MaxTimestamp = h.FirstTimestamp, h.MaxTimestamp
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = pid, 0, 0, true
	b, err := records.Build(opts, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstOpen is the first offset of the oldest open transaction, or end.
func firstOpen(open map[int64][]int64, end int64) int64 {
	first := end
	for _, offs := range open {
		first = min(first, offs[0])
	}
	return first
}

// logEntry is one readable record or marker with its batch's horizon.
type logEntry struct {
	key               string
	tombstone, marker bool
	horizonMs         int64
	hasHorizon        bool
}

// scanLog reads every record and marker of l by offset.
func scanLog(t tb, l *Log) map[int64]logEntry {
	t.Helper()
	out := map[int64]logEntry{}
	data, err := l.Read(l.StartOffset(), 1<<30, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		h, recs, err := records.Decode(data[:hdr(t, data).Size()])
		if err != nil {
			t.Fatal(err)
		}
		ms, ok := h.DeleteHorizonMs()
		for _, r := range recs {
			e := logEntry{key: string(r.Key), tombstone: r.Value == nil && !h.Control(), marker: h.Control(), horizonMs: ms, hasHorizon: ok}
			out[h.BaseOffset+int64(r.OffsetDelta)] = e
		}
		data = data[h.Size():]
	}
	return out
}

// checkHorizons holds one pass (at nowMs, covering offsets below end) to
// KIP-534's rules; see TestCleanProperty.
func checkHorizons(t tb, before, after map[int64]logEntry, orig []rec, aborted map[int64]bool, end, nowMs int64, retention time.Duration) {
	t.Helper()
	newest := map[string]int64{}
	for _, r := range orig {
		if !aborted[r.offset] {
			newest[r.key] = max(newest[r.key], r.offset)
		}
	}
	for off, b := range before {
		a, kept := after[off]
		expired := b.hasHorizon && b.horizonMs <= nowMs
		switch {
		case !kept && b.marker && !expired:
			t.Fatalf("marker at %d removed before its horizon (%+v, now %d)", off, b, nowMs)
		case !kept && b.tombstone && !expired && !aborted[off] && newest[b.key] <= off:
			t.Fatalf("tombstone at %d removed before its horizon (%+v, now %d)", off, b, nowMs)
		case kept && b.hasHorizon && (a.horizonMs != b.horizonMs || !a.hasHorizon):
			t.Fatalf("horizon at %d moved: %+v -> %+v", off, b, a)
		}
	}
	for off, a := range after {
		if a.hasHorizon && a.horizonMs > nowMs+retention.Milliseconds() {
			t.Fatalf("horizon at %d is %d, more than delete.retention.ms after now %d", off, a.horizonMs, nowMs)
		}
		if a.tombstone && off < end && !a.hasHorizon {
			t.Fatalf("tombstone at %d below the pass's end %d kept without a horizon", off, end)
		}
	}
}

// checkCompacted: everything read is in orig, in order; every key's
// newest record that is not aborted survives unless a tombstone; nothing at
// or above bound went.
func checkCompacted(t tb, l *Log, orig []rec, bound int64, aborted map[int64]bool) {
	t.Helper()
	byOffset := map[int64]rec{}
	newest := map[string]rec{}
	for _, r := range orig {
		byOffset[r.offset] = r
		if !aborted[r.offset] {
			newest[r.key] = r
		}
	}
	for from := int64(0); from <= l.EndOffset(); from++ {
		got := readRecs(t, l, from)
		last := from - 1
		for _, r := range got {
			o, ok := byOffset[r.offset]
			if !ok || r.offset <= last || o.key != r.key || !bytes.Equal(o.value, r.value) || (o.value == nil) != (r.value == nil) || (o.ts != 0 && o.ts != r.ts) {
				t.Fatalf("read from %d: %v is not in the original log in order (original %v)", from, r, o)
			}
			last = r.offset
		}
	}
	all := readRecs(t, l, 0)
	have := map[int64]bool{}
	for _, r := range all {
		have[r.offset] = true
	}
	for k, r := range newest {
		if r.value != nil && !have[r.offset] {
			t.Fatalf("newest record of %s (%v) lost; log %v", k, r, all)
		}
	}
	for _, r := range orig {
		if r.offset >= bound && !have[r.offset] {
			t.Fatalf("%v at or above the cleaning bound %d was removed", r, bound)
		}
	}
}

// cleanup.policy: compact alone never deletes by retention; compact,delete
// does both.
func TestCleanupPolicyRetention(t *testing.T) {
	for _, tc := range []struct {
		name          string
		deleteEnabled bool
		wantDeleted   bool
	}{{"compact", false, false}, {"compact,delete", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			cfg := compactConfig()
			cfg.Delete = tc.deleteEnabled
			cfg.RetentionTime = time.Hour
			l := openLog(t, vfs.NewMem(), cfg, c.now)
			defer l.Close()
			for i := range 5 {
				mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{fmt.Sprint("k", i), val("v")}))
			}
			mustAppend(t, l, padBatch(t, c.ms()))
			c.advance(2 * time.Hour)
			mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"new", val("v")}))
			n, err := l.EnforceRetention()
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != tc.wantDeleted {
				t.Fatalf("retention deleted %d segments, want deletion %v", n, tc.wantDeleted)
			}
		})
	}
}

// max.compaction.lag.ms makes a log due whatever its dirty ratio.
func TestCleanMaxCompactionLag(t *testing.T) {
	c := newClock()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 1 // due by ratio only when everything is dirty
	cfg.MaxCompactionLag = time.Hour
	l := openLog(t, vfs.NewMem(), cfg, c.now)
	defer l.Close()
	mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"a", val("1")}, kvIn{"a", val("2")}))
	mustAppend(t, l, padBatch(t, c.ms()))
	mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"b", val("1")}))
	if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil { // everything clean now
		t.Fatal(err)
	}
	mustAppend(t, l, padBatch(t, c.ms())) // a small dirty segment
	mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"c", val("1")}))
	cl, due := l.CleanDue(l.EndOffset(), c.now())
	if due || cl.DirtyBytes == 0 || cl.DirtyRatio >= 1 {
		t.Fatalf("cleanable %+v due %v: want dirty bytes, not due by ratio", cl, due)
	}
	c.advance(2 * time.Hour)
	if cl, due := l.CleanDue(l.EndOffset(), c.now()); !due || !cl.MaxLagExceeded {
		t.Fatalf("cleanable %+v due %v: want due by max.compaction.lag.ms", cl, due)
	}
}

// A crash at any fsync of a cleaning pass (the failed fsync and everything
// after it lost) leaves a log that opens, holds a subsequence of what was
// appended with every key's newest record, and cleans to the same result
// as an uninterrupted pass.
func TestCleanCrashAtEverySync(t *testing.T) {
	base, c := vfs.NewMem(), newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 300
	l := openLog(t, base, cfg, c.now)
	var orig []rec
	for i := range 40 {
		kv := kvIn{key: fmt.Sprint("k", i%7), value: val(fmt.Sprint(i))}
		if i%9 == 4 {
			kv.value = nil
		}
		res := mustAppend(t, l, keyedBatch(t, c.ms(), kv))
		r := rec{offset: res.BaseOffset, key: kv.key}
		if kv.value != nil {
			r.value = []byte(*kv.value)
		}
		orig = append(orig, r)
	}
	res := mustAppend(t, l, padBatch(t, c.ms()))
	orig = append(orig, readRecs(t, l, res.BaseOffset)...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.SegmentBytes = 700 // merge on cleaning
	clean := func(fsys *vfs.MemFS) string {
		l := openLog(t, fsys, cfg, c.now)
		defer l.Close()
		if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(readRecs(t, l, 0))
	}
	want := clean(base.Crash())
	for k := 1; ; k++ {
		fsys := base.Crash()
		l := openLog(t, fsys, cfg, c.now)
		syncs := 0
		fsys.SetSyncHook(func(string) error {
			syncs++
			if syncs == k {
				return errors.New("injected fsync failure")
			}
			return nil
		})
		_, err := l.Clean(l.EndOffset(), c.now(), 0)
		fsys.SetSyncHook(nil)
		if syncs < k {
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			t.Logf("covered %d fsyncs", k-1)
			if k < 5 {
				t.Fatalf("only %d fsyncs in a pass: the test covers nothing", k-1)
			}
			break
		}
		crashed := fsys.Crash()
		l2 := openLog(t, crashed, cfg, c.now)
		checkCompacted(t, l2, orig, l2.EndOffset(), nil)
		l2.Close()
		if got := clean(crashed); got != want {
			t.Fatalf("crash at fsync %d: cleaning afterwards gives %s, want %s", k, got, want)
		}
		l.Close()
	}
}

// Truncation below the first dirty offset makes what is appended there
// again dirty.
func TestCleanAfterTruncation(t *testing.T) {
	c := newClock()
	l := openLog(t, vfs.NewMem(), compactConfig(), c.now)
	defer l.Close()
	for i := range 8 {
		mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{fmt.Sprint("k", i), val("v")}))
	}
	mustAppend(t, l, padBatch(t, c.ms()))
	if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if cl := l.Cleanable(l.EndOffset(), c.now()); cl.FirstDirtyOffset != 2 {
		t.Fatalf("first dirty %d after truncating to 2, want 2", cl.FirstDirtyOffset)
	}
	for range 4 {
		mustAppend(t, l, keyedBatch(t, c.ms(), kvIn{"k0", val("again")}))
	}
	mustAppend(t, l, padBatch(t, c.ms()))
	if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
		t.Fatal(err)
	}
	got := readRecs(t, l, 0)
	if fmt.Sprint(got[:2]) != "[1:k1=v 5:k0=again]" {
		t.Fatalf("after truncation and cleaning: %v", got)
	}
}

// Cleaning passes run while appends and reads go on (run with -race):
// readers only ever see offsets rising, and the end result keeps every
// key's newest record.
func TestCleanConcurrentWithAppendsAndReads(t *testing.T) {
	c := newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 500
	l := openLog(t, vfs.NewMem(), cfg, time.Now)
	defer l.Close()
	var mu sync.Mutex
	var orig []rec
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range 400 {
			kv := kvIn{key: fmt.Sprint("k", i%13), value: val(fmt.Sprint(i))}
			res, err := l.Append(keyedBatch(t, c.ms(), kv))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			orig = append(orig, rec{offset: res.BaseOffset, key: kv.key, value: []byte(*kv.value)})
			mu.Unlock()
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			data, err := l.Read(l.StartOffset(), 1<<20, l.EndOffset())
			if err != nil {
				t.Error(err)
				return
			}
			last := int64(-1)
			for len(data) > 0 {
				h, err := records.ReadHeader(data)
				if err != nil || h.BaseOffset <= last {
					t.Errorf("read batch at %d after %d (%v)", h.BaseOffset, last, err)
					return
				}
				last = h.LastOffset()
				data = data[h.Size():]
			}
		}
	})
	for {
		select {
		case <-done:
		default:
			if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil && !errors.Is(err, ErrCleaningAborted) {
				t.Fatal(err)
			}
			continue
		}
		break
	}
	wg.Wait()
	if _, err := l.Clean(l.EndOffset(), c.now(), 0); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, l, orig, l.EndOffset(), nil)
}

// cleaner-checkpoint: the current format and the one written before the
// per-batch horizon (per-segment cleaning times, now ignored) give the
// first dirty offset; anything malformed means all is dirty.
func TestCleanerCheckpointFormats(t *testing.T) {
	fsys := vfs.NewMem()
	l := openLog(t, fsys, compactConfig(), newClock().now)
	defer l.Close()
	for _, tc := range []struct {
		content string
		want    int64
	}{
		{"0\n5\n0\n", 5},
		{"0\n5\n2\n0 1700000000000 0\n3 1700000000000 1\n", 5},
		{"0\n5\n2\n0 1700000000000 0\n", 0}, // a line short
		{"1\n5\n0\n", 0},                    // unknown version
		{"0\n-1\n0\n", 0},
		{"garbage", 0},
	} {
		if err := vfs.WriteFileAtomic(fsys, testDir+"/"+cleanerCheckpointName, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := l.readCleanerState().firstDirty; got != tc.want {
			t.Errorf("%q: first dirty %d, want %d", tc.content, got, tc.want)
		}
	}
	if err := l.writeCleanerState(cleanerState{firstDirty: 7}); err != nil {
		t.Fatal(err)
	}
	if data, _ := vfs.ReadFile(fsys, testDir+"/"+cleanerCheckpointName); string(data) != "0\n7\n0\n" {
		t.Fatalf("written %q, want %q", data, "0\n7\n0\n")
	}
}

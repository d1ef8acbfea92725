package partlog

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// txnBatch builds a transactional data batch of n records for pid.
func txnBatch(t tb, pid int64, n int, ts int64) []byte {
	t.Helper()
	opts := records.DefaultBuildOptions()
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = pid, 0, 0, true
	opts.FirstTimestamp = ts
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{OffsetDelta: int32(i), Value: []byte(fmt.Sprintf("p%d-%d", pid, i))}
	}
	b, err := records.Build(opts, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marker(t tb, pid int64, commit bool, ts int64) []byte {
	t.Helper()
	b, err := BuildMarker(pid, 0, 7, commit, ts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// naiveTxns recomputes, from the batches alone and without the tracker,
// what the log must report: the first unstable offset and the aborted
// transactions in marker order.
func naiveTxns(t tb, batches [][]byte, end int64) (int64, []AbortedTxn) {
	t.Helper()
	type txn struct{ pid, first, marker int64 }
	var txns []*txn
	openOf := func(pid int64) *txn {
		for _, x := range txns {
			if x.pid == pid && x.marker < 0 {
				return x
			}
		}
		return nil
	}
	var aborted []AbortedTxn
	for _, b := range batches {
		h := hdr(t, b)
		if !h.Transactional() {
			continue
		}
		if !h.Control() {
			if openOf(h.ProducerID) == nil {
				txns = append(txns, &txn{pid: h.ProducerID, first: h.BaseOffset, marker: -1})
			}
			continue
		}
		m, err := ParseMarker(b)
		if err != nil {
			t.Fatal(err)
		}
		x := openOf(m.ProducerID)
		if x == nil {
			continue
		}
		x.marker = m.Offset
		if m.Commit {
			continue
		}
		lso := m.Offset + 1
		for _, o := range txns {
			if o.marker < 0 {
				lso = min(lso, o.first)
			}
		}
		aborted = append(aborted, AbortedTxn{ProducerID: x.pid, FirstOffset: x.first, LastOffset: m.Offset, LastStableOffset: lso})
	}
	first := end
	for _, x := range txns {
		if x.marker < 0 {
			first = min(first, x.first)
		}
	}
	return first, aborted
}

func checkTxns(t tb, l *Log, batches [][]byte, probes [][2]int64) {
	t.Helper()
	first, aborted := naiveTxns(t, batches, l.EndOffset())
	if got := l.FirstUnstableOffset(); got != max(first, l.StartOffset()) {
		t.Fatalf("FirstUnstableOffset = %d, want %d", got, first)
	}
	for _, pr := range append(probes, [2]int64{l.StartOffset(), l.EndOffset()}) {
		from, upTo := pr[0], pr[1]
		var want []AbortedTxn
		for _, a := range aborted {
			if a.LastOffset >= from && a.FirstOffset < upTo && a.LastOffset >= l.StartOffset() {
				want = append(want, a)
			}
		}
		if got := l.AbortedTxns(from, upTo); !reflect.DeepEqual(got, want) {
			t.Fatalf("AbortedTxns(%d, %d) = %+v, want %+v", from, upTo, got, want)
		}
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b, err := BuildMarker(42, 3, 9, commit, 1234)
		if err != nil {
			t.Fatal(err)
		}
		records.SetBaseOffset(b, 17)
		m, err := ParseMarker(b)
		want := Marker{ProducerID: 42, ProducerEpoch: 3, CoordinatorEpoch: 9, Commit: commit, Offset: 17, TimestampMs: 1234}
		if err != nil || m != want {
			t.Fatalf("ParseMarker = %+v, %v; want %+v", m, err, want)
		}
	}
	if _, err := ParseMarker(txnBatch(t, 1, 1, 1)); !errors.Is(err, ErrNotMarker) {
		t.Fatalf("data batch parsed as a marker: %v", err)
	}
}

// A hand-worked example: two producers interleave; the abort of the first
// is indexed with the second's first offset as its last stable offset.
func TestTxnIndexExample(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	l := openLog(t, fsys, smallConfig(), c.now)
	defer l.Close()
	mustAppend(t, l, txnBatch(t, 1, 2, c.ms()))   // 0-1
	mustAppend(t, l, makeBatch(1, c.ms(), 10, 0)) // 2
	mustAppend(t, l, txnBatch(t, 2, 1, c.ms()))   // 3
	if got := l.FirstUnstableOffset(); got != 0 {
		t.Fatalf("first unstable %d, want 0", got)
	}
	mustAppend(t, l, marker(t, 1, false, c.ms())) // 4: abort of producer 1
	if got := l.FirstUnstableOffset(); got != 3 {
		t.Fatalf("first unstable %d, want 3", got)
	}
	want := []AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 4, LastStableOffset: 3}}
	if got := l.AbortedTxns(0, 5); !reflect.DeepEqual(got, want) {
		t.Fatalf("aborted %+v, want %+v", got, want)
	}
	if got := l.AbortedTxns(5, 6); got != nil {
		t.Fatalf("aborted after the marker: %+v", got)
	}
	mustAppend(t, l, marker(t, 2, true, c.ms())) // 5: commit of producer 2
	if got := l.FirstUnstableOffset(); got != 6 {
		t.Fatalf("first unstable %d, want the log end 6", got)
	}
	mustAppend(t, l, marker(t, 3, false, c.ms())) // 6: abort with no data here: not indexed
	if got := l.AbortedTxns(0, 7); !reflect.DeepEqual(got, want) {
		t.Fatalf("aborted %+v, want %+v", got, want)
	}
}

// Property: through appends, segment rolls, clean reopens, crashes that
// drop unsynced data and follower truncations, the first unstable offset
// and the aborted transactions are what the surviving batches imply.
func TestTxnStateSurvivesRecovery(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fsys, c := vfs.NewMem(), newClock()
		cfg := smallConfig()
		l := openLog(t, fsys, cfg, c.now)
		defer func() { l.Close() }()
		var batches [][]byte
		n := rapid.IntRange(1, 60).Draw(t, "ops")
		for i := 0; i < n; i++ {
			pid := rapid.Int64Range(0, 3).Draw(t, "pid")
			switch op := rapid.IntRange(0, 12).Draw(t, "op"); {
			case op < 5:
				b := txnBatch(t, pid, rapid.IntRange(1, 3).Draw(t, "n"), c.ms())
				mustAppend(t, l, b)
				batches = append(batches, b)
			case op < 7:
				b := makeBatch(1, c.ms(), rapid.IntRange(0, 60).Draw(t, "bytes"), 1)
				mustAppend(t, l, b)
				batches = append(batches, b)
			case op < 10:
				b := marker(t, pid, rapid.Bool().Draw(t, "commit"), c.ms())
				mustAppend(t, l, b)
				batches = append(batches, b)
			case op == 10:
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = openLog(t, fsys, cfg, c.now)
			case op == 11:
				crashed := fsys.Crash()
				if rapid.Bool().Draw(t, "partial") {
					crashed = fsys.CrashPartial(rand.New(rand.NewSource(rapid.Int64().Draw(t, "seed"))))
				}
				l.Close()
				fsys = crashed
				l = openLog(t, fsys, cfg, c.now)
				batches = readAll(t, l)
			default:
				to := rapid.Int64Range(0, l.EndOffset()).Draw(t, "truncate")
				if err := l.TruncateTo(to); err != nil {
					t.Fatal(err)
				}
				batches = readAll(t, l)
			}
			end := l.EndOffset()
			from := rapid.Int64Range(l.StartOffset(), end).Draw(t, "from")
			upTo := rapid.Int64Range(from, end).Draw(t, "upTo")
			checkTxns(t, l, batches, [][2]int64{{from, upTo}})
		}
	})
}

// The .txnindex files are Kafka's layout and Open rewrites a damaged one.
func TestTxnIndexFileRebuilt(t *testing.T) {
	fsys, c := vfs.NewMem(), newClock()
	l := openLog(t, fsys, smallConfig(), c.now)
	mustAppend(t, l, txnBatch(t, 5, 1, c.ms()))
	mustAppend(t, l, marker(t, 5, false, c.ms()))
	l.Close()
	data, err := vfs.ReadFile(fsys, segPath(0, txnIndexSuffix))
	if err != nil || len(data) != txnIndexEntryBytes {
		t.Fatalf(".txnindex: %d bytes, %v", len(data), err)
	}
	es, ok := decodeAborted(data)
	if want := []AbortedTxn{{ProducerID: 5, FirstOffset: 0, LastOffset: 1, LastStableOffset: 2}}; !ok || !reflect.DeepEqual(es, want) {
		t.Fatalf("decoded %+v %v, want %+v", es, ok, want)
	}
	tamper(t, fsys, segPath(0, txnIndexSuffix), func(b []byte) []byte { return b[:7] })
	l = openLog(t, fsys, smallConfig(), c.now)
	defer l.Close()
	if got, _ := vfs.ReadFile(fsys, segPath(0, txnIndexSuffix)); string(got) != string(data) {
		t.Fatalf(".txnindex not rebuilt")
	}
	checkTxns(t, l, readAll(t, l), nil)
}

// FuzzTxnDecoders: the .txnindex decoder, the marker parser and the
// transaction checkpoint parser never panic on arbitrary bytes, and what
// they accept re-encodes to the same bytes (index) or round-trips
// (marker, checkpoint).
func FuzzTxnDecoders(f *testing.F) {
	f.Add(encodeAborted([]AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 3, LastStableOffset: 4}}))
	if m, err := BuildMarker(7, 1, 2, true, 99); err == nil {
		f.Add(m)
	}
	f.Add([]byte("0\n10\n2\n1 3\n5 9\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if es, ok := decodeAborted(data); ok {
			if got := encodeAborted(es); string(got) != string(data) {
				t.Fatalf("index re-encodes differently")
			}
		}
		if m, err := ParseMarker(data); err == nil {
			b, err := BuildMarker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Commit, m.TimestampMs)
			if err != nil {
				t.Fatal(err)
			}
			records.SetBaseOffset(b, m.Offset)
			if again, err := ParseMarker(b); err != nil || again != m {
				t.Fatalf("marker %+v round-trips to %+v, %v", m, again, err)
			}
		}
		if offset, open, ok := parseTxnCheckpoint(data); ok {
			for id, first := range open {
				if id < 0 || first < 0 || first >= offset {
					t.Fatalf("accepted checkpoint entry %d %d at offset %d", id, first, offset)
				}
			}
		}
	})
}

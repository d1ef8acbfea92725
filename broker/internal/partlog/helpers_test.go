package partlog

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// makeBatch builds a valid v2 batch of n records whose timestamps end at
// maxTs. The record bytes are opaque filler: partlog never decodes records.
func makeBatch(n int32, maxTs int64, payloadBytes int, fill byte) []byte {
	rb := kmsg.RecordBatch{
		Magic:           2,
		LastOffsetDelta: n - 1,
		FirstTimestamp:  maxTs,
		MaxTimestamp:    maxTs,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      n,
		Records:         bytes.Repeat([]byte{fill}, payloadBytes),
	}
	rb.Length = int32(records.HeaderSize - 12 + payloadBytes)
	b := rb.AppendTo(nil)
	records.UpdateCRC(b)
	return b
}

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.UnixMilli(1_700_000_000_000)} }
func (c *clock) ms() int64               { return c.t.UnixMilli() }

const testDir = "/logs/topic-0"

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 400
	cfg.IndexIntervalBytes = 100
	cfg.FlushIntervalMessages = 0
	return cfg
}

// model is what the test appended, with the offsets the log assigned.
type model struct {
	batches [][]byte // as written (base offset rewritten)
}

func (m *model) add(b []byte) { m.batches = append(m.batches, b) }

func hdr(t tb, b []byte) records.Header {
	t.Helper()
	h, err := records.ReadHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// from returns the concatenation of the batches from the one holding offset
// to the last one whose base offset is below upTo.
func (m *model) from(t tb, offset, upTo int64) []byte {
	var out []byte
	for _, b := range m.batches {
		h := hdr(t, b)
		if h.LastOffset() < offset || h.BaseOffset >= upTo {
			continue
		}
		out = append(out, b...)
	}
	return out
}

func (m *model) endOffset(t tb) int64 {
	if len(m.batches) == 0 {
		return 0
	}
	return hdr(t, m.batches[len(m.batches)-1]).LastOffset() + 1
}

// truncate keeps only batches wholly below end.
func (m *model) truncate(t tb, end int64) {
	var keep [][]byte
	for _, b := range m.batches {
		if hdr(t, b).LastOffset() < end {
			keep = append(keep, b)
		}
	}
	m.batches = keep
}

func openLog(t tb, fsys vfs.FS, cfg Config, now func() time.Time) *Log {
	t.Helper()
	l, err := Open(fsys, testDir, cfg, now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustAppend(t tb, l *Log, b []byte) AppendResult {
	t.Helper()
	r, err := l.Append(b)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return r
}

// appendRandom appends count batches of 1-5 records and 0-150 payload bytes.
func appendRandom(t tb, l *Log, m *model, r *rand.Rand, count int, ts func(i int) int64) {
	t.Helper()
	for i := 0; i < count; i++ {
		b := makeBatch(int32(1+r.Intn(5)), ts(i), r.Intn(150), byte(r.Intn(256)))
		mustAppend(t, l, b)
		m.add(b)
	}
}

// checkContent verifies the log holds exactly the model's batches from the
// log start offset on, and that every offset reads back its own batch.
func checkContent(t tb, l *Log, m *model) {
	t.Helper()
	start, end := l.StartOffset(), l.EndOffset()
	if want := m.endOffset(t); end != want {
		t.Fatalf("EndOffset = %d, want %d", end, want)
	}
	for off := start; off < end; off++ {
		got, err := l.Read(off, 1<<30, end)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if want := m.from(t, off, end); !bytes.Equal(got, want) {
			t.Fatalf("Read(%d) returned %d bytes, want %d (equal prefix: %v)", off, len(got), len(want), bytes.HasPrefix(want, got))
		}
		one, err := l.Read(off, 0, end)
		if err != nil {
			t.Fatalf("Read(%d, 0): %v", off, err)
		}
		h := hdr(t, one)
		if h.Size() != len(one) || h.BaseOffset > off || h.LastOffset() < off {
			t.Fatalf("Read(%d, maxBytes 0) = batch [%d,%d] of %d/%d bytes, want the one batch holding the offset",
				off, h.BaseOffset, h.LastOffset(), h.Size(), len(one))
		}
	}
	if got, err := l.Read(end, 1<<30, end); err != nil || got != nil {
		t.Fatalf("Read(end) = %d bytes, %v; want nil, nil", len(got), err)
	}
}

func countSegments(t tb, fsys vfs.FS) int {
	t.Helper()
	names, err := fsys.ReadDir(testDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, logSuffix) {
			n++
		}
	}
	return n
}

func wantErr(t tb, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func segPath(base int64, suffix string) string {
	return fmt.Sprintf("%s/%020d%s", testDir, base, suffix)
}

// tb is the part of testing.TB that helpers need; *rapid.T has it too.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

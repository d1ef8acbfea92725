package partlog

import (
	"math/rand"
	"testing"

	"github.com/highwater-io/highwater/internal/vfs"
)

// validSegment returns a well-formed .log of n batches from base offset 0.
func validSegment(n int) []byte {
	var out []byte
	r := rand.New(rand.NewSource(int64(n)))
	next := int64(0)
	for i := 0; i < n; i++ {
		records := int32(1 + r.Intn(3))
		b := makeBatch(records, int64(1000+i), r.Intn(40), byte(i))
		putBase(b, next)
		next += int64(records)
		out = append(out, b...)
	}
	return out
}

func putBase(b []byte, base int64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(base)
		base >>= 8
	}
}

// FuzzRecover feeds arbitrary bytes to Open as the only segment file. Open
// must not panic, and the recovered log must read back only CRC-valid
// batches with contiguous offsets from 0, and keep accepting appends.
func FuzzRecover(f *testing.F) {
	good := validSegment(5)
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Add([]byte{})
	f.Add(make([]byte, 200))
	flipped := append([]byte(nil), good...)
	flipped[100] ^= 0xff
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := vfs.NewMem()
		if err := fsys.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := vfs.WriteFileAtomic(fsys, segPath(0, logSuffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := smallConfig()
		cfg.SegmentBytes = 1 << 20
		l, err := Open(fsys, testDir, cfg, newClock().now)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		batches := readAll(t, l) // fails on any invalid batch
		next := int64(0)
		for i, b := range batches {
			h := hdr(t, b)
			if h.BaseOffset != next {
				t.Fatalf("batch %d starts at %d, want %d", i, h.BaseOffset, next)
			}
			next = h.LastOffset() + 1
		}
		if l.EndOffset() != next {
			t.Fatalf("EndOffset %d, want %d", l.EndOffset(), next)
		}
		if l.Size() > int64(len(data)) {
			t.Fatalf("recovered %d bytes from %d", l.Size(), len(data))
		}
		res := mustAppend(t, l, makeBatch(1, 1, 3, 0))
		if res.BaseOffset != next {
			t.Fatalf("append after recovery got offset %d, want %d", res.BaseOffset, next)
		}
		for off := int64(0); off <= next; off++ {
			if _, err := l.Read(off, 1, next+1); err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
		}
	})
}

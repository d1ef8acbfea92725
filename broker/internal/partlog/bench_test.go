package partlog

import (
	"testing"
	"time"

	"github.com/highwater-io/highwater/internal/vfs"
)

// benchBatch is ~16 KiB: 16 records of 1 KiB each (opaque filler).
func benchBatch() []byte { return makeBatch(16, time.Now().UnixMilli(), 16*1024, 'x') }

func benchConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	cfg.FlushIntervalMessages = 0 // no fsync: measure the write path
	return cfg
}

func BenchmarkAppend(b *testing.B) {
	l, err := Open(vfs.OS, b.TempDir(), benchConfig(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch()
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	l, err := Open(vfs.OS, b.TempDir(), benchConfig(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch()
	for i := 0; i < 2048; i++ { // 32 MiB over one segment boundary
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	end := l.EndOffset()
	const maxBytes = 1 << 20
	b.SetBytes(maxBytes)
	b.ResetTimer()
	off := int64(0)
	for i := 0; i < b.N; i++ {
		got, err := l.Read(off, maxBytes, end)
		if err != nil || len(got) == 0 {
			b.Fatalf("Read(%d): %d bytes, %v", off, len(got), err)
		}
		off += int64(len(got)/len(batch)) * 16
		if off >= end {
			off = 0
		}
	}
}

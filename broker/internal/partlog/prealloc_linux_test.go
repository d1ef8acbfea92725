//go:build linux

package partlog

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/highwater-io/highwater/internal/vfs"
)

// TestPreallocateHotSegment: a segment that holds more than
// preallocHotBytes has disk blocks reserved ahead of its end while its
// size stays what was written (so recovery reads exactly the batches);
// rolling it releases them; a quiet segment reserves nothing.
func TestPreallocateHotSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 32 << 20
	cfg.FlushIntervalMessages = 0
	c := newClock()
	l, err := Open(vfs.OS, dir, cfg, c.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batch := makeBatch(1, c.ms(), 256<<10, 'x')
	first := filepath.Join(dir, fmt.Sprintf("%020d.log", 0))
	if _, err := l.Append(batch); err != nil {
		t.Fatal(err)
	}
	if size, reserved := allocation(t, first); reserved > size+(1<<20) {
		t.Fatalf("a quiet segment of %d bytes holds %d bytes of blocks", size, reserved)
	}
	for written := int64(len(batch)); written < preallocHotBytes+(2<<20); written += int64(len(batch)) {
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	size, reserved := allocation(t, first)
	if size%int64(len(batch)) != 0 {
		t.Fatalf("size %d is not a whole number of %d-byte batches", size, len(batch))
	}
	if reserved < size+preallocChunkBytes/2 {
		t.Fatalf("a hot segment of %d bytes holds only %d bytes of blocks", size, reserved)
	}
	// Fill the first segment until the log rolls (bounded: 32 MiB).
	for range cfg.SegmentBytes / int64(len(batch)) {
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	if logs, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(logs) < 2 {
		t.Fatalf("no roll after %d bytes: %v", cfg.SegmentBytes, logs)
	}
	if size, reserved := allocation(t, first); reserved > size+(1<<20) {
		t.Fatalf("a sealed segment of %d bytes still holds %d bytes of blocks", size, reserved)
	}
}

// allocation is path's size and the bytes of disk blocks it holds.
func allocation(t *testing.T, path string) (size, blocks int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no block counts on this filesystem")
	}
	return fi.Size(), st.Blocks * 512
}

package run

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// batch encodes a v2 record batch at base holding values (control: one
// commit marker instead), as a broker writes it to a segment.
func batch(base int64, control bool, values ...string) []byte {
	var recs []byte
	n := len(values)
	if control {
		n = 1
	}
	for i := range n {
		var body []byte
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		if control {
			body = binary.AppendVarint(body, 4)
			body = append(body, 0, 0, 0, 1) // version 0, commit
			body = binary.AppendVarint(body, 6)
			body = append(body, 0, 0, 0, 0, 0, 0)
		} else {
			body = binary.AppendVarint(body, -1) // no key
			body = binary.AppendVarint(body, int64(len(values[i])))
			body = append(body, values[i]...)
		}
		body = binary.AppendVarint(body, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	attrs := int16(0)
	if control {
		attrs = 0x30 // transactional control batch
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(base))
	b = binary.BigEndian.AppendUint32(b, uint32(49+len(recs)))
	b = binary.BigEndian.AppendUint32(b, 0) // partition leader epoch
	b = append(b, 2)                        // magic
	b = binary.BigEndian.AppendUint32(b, 0) // crc, below
	b = binary.BigEndian.AppendUint16(b, uint16(attrs))
	b = binary.BigEndian.AppendUint32(b, uint32(n-1))
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint64(b, ^uint64(0)) // producer id -1
	b = binary.BigEndian.AppendUint16(b, 0xffff)
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func writeSegment(t *testing.T, dir string, base int64, batches ...[]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, b := range batches {
		data = append(data, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.log", base)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// index files sit next to segments and must be ignored
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.index", base)), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadReplicaLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	writeSegment(t, dir, 5, batch(5, false, "a", "b"), batch(7, true))
	writeSegment(t, dir, 8, batch(8, false, "c"))
	rl, err := readReplicaLog(dir, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if rl.StartOffset != 5 || rl.EndOffset != 9 {
		t.Errorf("offsets %d..%d, want 5..9", rl.StartOffset, rl.EndOffset)
	}
	if !slices.Equal(rl.Offsets, []int64{5, 6, 8}) || !slices.Equal(rl.Values, []string{"a", "b", "c"}) {
		t.Errorf("records %v %v", rl.Offsets, rl.Values)
	}
}

func TestReadReplicaLogDamage(t *testing.T) {
	root := t.TempDir()
	if _, err := readReplicaLog(filepath.Join(root, "absent-0"), "absent", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v, want fs.ErrNotExist", err)
	}
	dir := filepath.Join(root, "t-0")
	bad := batch(1, false, "b")
	bad[len(bad)-1] ^= 0xff // the crc no longer matches
	writeSegment(t, dir, 0, batch(0, false, "a"), bad)
	rl, err := readReplicaLog(dir, "t", 0)
	if err == nil {
		t.Error("corrupt batch read without an error")
	}
	if !slices.Equal(rl.Values, []string{"a"}) || rl.EndOffset != 1 {
		t.Errorf("kept %v up to %d, want [a] up to 1", rl.Values, rl.EndOffset)
	}
	empty := filepath.Join(root, "e-0")
	writeSegment(t, empty, 0)
	if rl, err := readReplicaLog(empty, "e", 0); err != nil || rl.StartOffset != 0 || rl.EndOffset != 0 || len(rl.Offsets) != 0 {
		t.Errorf("empty log: %+v, %v", rl, err)
	}
}

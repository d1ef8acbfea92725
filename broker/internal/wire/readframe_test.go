package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"
)

// TestReadFrame: frames of every size class arrive intact through readers
// that return few bytes at a time, and a short input is an error.
func TestReadFrame(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 3, eagerFrameBytes - 1, eagerFrameBytes, eagerFrameBytes + 1, 3*eagerFrameBytes + 17, 1 << 20} {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(rng.Uint32())
		}
		for name, r := range map[string]io.Reader{
			"whole":    bytes.NewReader(want),
			"one byte": iotest.OneByteReader(bytes.NewReader(want)),
			"half":     iotest.HalfReader(bytes.NewReader(want)),
			"data+EOF": iotest.DataErrReader(bytes.NewReader(want)),
		} {
			if size > eagerFrameBytes+1 && name == "one byte" {
				continue // slow and no different from "half"
			}
			got, err := readFrame(r, size, nil)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("size %d, %s reader: %d bytes, err %v", size, name, len(got), err)
			}
		}
		if size > 0 {
			if _, err := readFrame(bytes.NewReader(want[:size-1]), size, nil); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				t.Fatalf("size %d, one byte short: err %v, want (unexpected) EOF", size, err)
			}
		}
	}
}

// TestReadFrameAllocatesWhatArrives: a frame announced at 64 MiB whose
// sender stops after a few bytes allocates about what arrived, not the
// announced size (socket.request.max.bytes is 100 MiB by default, per
// connection).
func TestReadFrameAllocatesWhatArrives(t *testing.T) {
	const announced = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := readFrame(bytes.NewReader(make([]byte, 100)), announced, nil); err == nil {
			t.Fatal("short frame read without error")
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 10*4*eagerFrameBytes {
		t.Fatalf("10 short reads of a %d-byte frame allocated %d bytes", announced, grew)
	}
}

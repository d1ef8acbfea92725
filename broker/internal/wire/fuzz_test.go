package wire

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/handler"
)

// fuzzRequestTimeout bounds one request: long-poll Fetch and JoinGroup park
// until their context ends, which closes the connection (an allowed outcome).
const fuzzRequestTimeout = 20 * time.Millisecond

// maxFuzzPartitions keeps CreateTopics/CreatePartitions inputs cheap. A
// request for millions of partitions is legal Kafka and would be honoured,
// taking the fuzzer minutes per input; it is not what this target hunts.
const maxFuzzPartitions = 64

// FuzzRequest feeds arbitrary bytes as one request frame (header and body,
// without the size prefix) to handleFrame with a real handler over an
// in-memory broker state. Property: no handler panics, and the server either
// closes the connection (an error) or answers with one well-formed response
// frame whose correlation id is the request's; only acks=0 Produce may
// answer nothing.
func FuzzRequest(f *testing.F) {
	for i, req := range seedRequests(f) {
		frame := encodeFrame(req, int32(i))
		f.Add(frame)
		f.Add(frame[:len(frame)/2]) // truncated
		flipped := append([]byte(nil), frame...)
		flipped[len(flipped)-1-i%len(flipped)] ^= 0x41
		f.Add(flipped)
	}
	env := newTestEnv(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if tooExpensive(frame) {
			t.Skip("asks for more partitions than one fuzz iteration can afford to create")
		}
		ctx, cancel := context.WithTimeout(context.Background(), fuzzRequestTimeout)
		defer cancel()
		var out []byte
		var err error
		watchdog(t, func() { out, err = env.srv.handleFrame(ctx, &handler.Conn{RemoteAddr: "fuzz"}, frame, nil) })
		env.checkNoPanic(t)
		if err != nil {
			return // the connection closes: allowed for any bad input
		}
		h, ok := parseHeader(frame)
		if !ok {
			t.Fatalf("truncated header answered instead of closing")
		}
		if out == nil {
			if !silent(frame) {
				t.Fatalf("%s v%d answered with nothing; only acks=0 Produce may", kmsg.NameForKey(h.key), h.version)
			}
			return
		}
		if err := checkResponse(h, out); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRequestStream feeds arbitrary bytes as a connection's whole input
// (size-prefixed frames) to serveConn. Property: no handler panics, and the
// output is a sequence of well-formed response frames answering, in order,
// a subsequence of the complete request frames the input held.
func FuzzRequestStream(f *testing.F) {
	var stream []byte
	for i, req := range seedRequests(f) {
		frame := sizePrefixed(encodeFrame(req, int32(i)))
		stream = append(stream, frame...)
		f.Add(frame)
		f.Add(append(append([]byte(nil), frame...), frame...))
		f.Add(frame[:len(frame)-1])
	}
	f.Add(stream)
	for _, size := range []int32{-1, 0, 3, maxTestRequestBytes + 1} {
		f.Add(binary.BigEndian.AppendUint32(nil, uint32(size)))
	}
	env := newTestEnv(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		reqs := inputFrames(input)
		for _, r := range reqs {
			if tooExpensive(r) {
				t.Skip("asks for more partitions than one fuzz iteration can afford to create")
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), fuzzRequestTimeout)
		defer cancel()
		conn := &memConn{in: bytesReader(input)}
		watchdog(t, func() { env.srv.serveConn(ctx, conn) })
		env.checkNoPanic(t)
		outs, rest := readAllFrames(conn.out.Bytes())
		if len(rest) != 0 {
			t.Fatalf("%d bytes of output are not a whole response frame", len(rest))
		}
		// Every request gets one response, in order, until the connection
		// closes; only acks=0 Produce requests get none.
		next := 0
		for _, out := range outs {
			for next < len(reqs) && silent(reqs[next]) {
				next++
			}
			if next == len(reqs) {
				t.Fatalf("response with correlation id %d answers no request", int32(binary.BigEndian.Uint32(out)))
			}
			h, _ := parseHeader(reqs[next])
			if err := checkResponse(h, sizePrefixed(out)); err != nil {
				t.Fatalf("response to request %d: %v", next, err)
			}
			next++
		}
	})
}

// hangAfter is how long past its context's end a request may run before
// the fuzz target calls it hung: every handler must give up once its
// connection's context is done.
const hangAfter = 5 * time.Second

// watchdog runs fn and fails with every goroutine's stack if it has not
// returned within hangAfter.
func watchdog(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(fuzzRequestTimeout + hangAfter):
		buf := make([]byte, 1<<20)
		t.Fatalf("request still running %v after its context ended:\n%s", hangAfter, buf[:runtime.Stack(buf, true)])
	}
}

// inputFrames splits a connection's input the way serveConn reads it,
// stopping where serveConn would close.
func inputFrames(b []byte) [][]byte {
	var frames [][]byte
	for len(b) >= 4 {
		size := int32(binary.BigEndian.Uint32(b))
		if size < 0 || size > maxTestRequestBytes || int(size) > len(b)-4 {
			break
		}
		frames = append(frames, b[4:4+size])
		b = b[4+size:]
	}
	return frames
}

// decodeRequest decodes a frame as handleFrame does (false: it would not).
func decodeRequest(frame []byte) (kmsg.Request, bool) {
	rd := kbin.Reader{Src: frame}
	key, version := rd.Int16(), rd.Int16()
	rd.Int32()
	rd.NullableString()
	if !rd.Ok() {
		return nil, false
	}
	if minV, maxV, ok := handler.Supported(key); !ok || version < minV || version > maxV {
		return nil, false
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		skipTags(&rd)
	}
	if !rd.Ok() || req.ReadFrom(rd.Src) != nil {
		return nil, false
	}
	return req, true
}

// silent reports an acks=0 Produce, the one request answered with nothing.
func silent(frame []byte) bool {
	req, ok := decodeRequest(frame)
	if !ok {
		return false
	}
	p, isProduce := req.(*kmsg.ProduceRequest)
	return isProduce && p.Acks == 0
}

// tooExpensive reports a CreateTopics or CreatePartitions frame asking for
// more than maxFuzzPartitions partitions.
func tooExpensive(frame []byte) bool {
	req, ok := decodeRequest(frame)
	if !ok {
		return false
	}
	total := 0
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		for _, t := range r.Topics {
			total += int(max(t.NumPartitions, 0)) + len(t.ReplicaAssignment)
		}
	case *kmsg.CreatePartitionsRequest:
		for _, t := range r.Topics {
			total += int(max(t.Count, 0))
		}
	}
	return total > maxFuzzPartitions
}

package brokerproc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// probeInterval is the pause between readiness attempts.
const probeInterval = 50 * time.Millisecond

// probeResponseBytesMax bounds what a probe will read; an ApiVersions v0
// response is a few hundred bytes.
const probeResponseBytesMax = 1 << 20

// errBadProbeResponse means the listener answered with something that is
// not an ApiVersions v0 response to our request.
var errBadProbeResponse = errors.New("brokerproc: bad ApiVersions response")

// Probe sends one ApiVersions v0 request to addr over a fresh connection and
// returns nil if a well-formed response with no error code comes back.
// Version 0 is the one every Kafka broker answers without negotiation.
func Probe(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	// Unblock I/O if ctx is cancelled without a deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	const correlationID = 0x68770001
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("brokerproc-probe")).
		AppendRequest(nil, req, correlationID)
	if _, err := conn.Write(frame); err != nil {
		return err
	}
	var sizeBuf [4]byte
	if _, err := io.ReadFull(conn, sizeBuf[:]); err != nil {
		return err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 4 || size > probeResponseBytesMax {
		return fmt.Errorf("%w: frame size %d", errBadProbeResponse, size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(conn, body); err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != correlationID {
		return fmt.Errorf("%w: correlation id %#x", errBadProbeResponse, got)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body[4:]); err != nil {
		return fmt.Errorf("%w: %w", errBadProbeResponse, err)
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("%w: error code %d", errBadProbeResponse, resp.ErrorCode)
	}
	return nil
}

// waitReady probes addr until it answers, the process exits (done closes),
// or ctx ends.
func waitReady(ctx context.Context, addr string, done <-chan struct{}) error {
	var lastErr error
	for {
		select {
		case <-done:
			return ErrExited
		default:
		}
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = Probe(attemptCtx, addr)
		cancel()
		if lastErr == nil {
			return nil
		}
		t := time.NewTimer(probeInterval)
		select {
		case <-done:
			t.Stop()
			return ErrExited
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), lastErr)
		case <-t.C:
		}
	}
}

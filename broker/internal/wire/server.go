package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/handler"
)

// Config configures a Server.
type Config struct {
	Handler *handler.Server
	// MaxRequestBytes is socket.request.max.bytes: larger frames close the
	// connection before their body is read.
	MaxRequestBytes int32
	Logger          *slog.Logger
}

// Server accepts connections on a listener and serves them.
type Server struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, log: cfg.Logger, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections until ctx is done or the listener fails, then
// closes every connection and waits for their goroutines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	defer s.closeAll()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serveConn runs one connection's request loop.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer c.Close()
	remote := c.RemoteAddr().String()
	conn := &handler.Conn{RemoteAddr: remote}
	var sizeBuf [4]byte
	// Buffers reused across this connection's requests, so large produce
	// frames and fetch responses do not cost an allocation (and the
	// garbage collector's time) each: spare holds the last Produce frame,
	// whose bytes nothing keeps once it is answered; out holds the last
	// response, whose bytes nothing keeps once they are written.
	var spare, out []byte
	for {
		if _, err := io.ReadFull(c, sizeBuf[:]); err != nil {
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 0 || size > s.cfg.MaxRequestBytes {
			s.log.Warn("closing connection: request size out of bounds", "remote", remote, "size", size, "socket.request.max.bytes", s.cfg.MaxRequestBytes)
			return
		}
		frame, err := readFrame(c, int(size), spare)
		if err != nil {
			return
		}
		spare = nil
		resp, err := s.handleFrame(ctx, conn, frame, out[:0])
		if err != nil {
			s.log.Info("closing connection", "remote", remote, "client", conn.ClientID, "err", err)
			return
		}
		if len(frame) >= 2 && binary.BigEndian.Uint16(frame) == uint16(kmsg.Produce) && cap(frame) <= maxRetainedBufferBytes {
			spare = frame
		}
		if resp == nil {
			continue
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
		if cap(resp) <= maxRetainedBufferBytes {
			out = resp
		}
	}
}

// maxRetainedBufferBytes bounds what an idle connection keeps for reuse.
const maxRetainedBufferBytes = 16 << 20

// eagerFrameBytes is the largest frame buffer allocated before its bytes
// arrive. Larger frames grow as data comes in, so a client announcing a
// frame of socket.request.max.bytes and sending little costs what it sent,
// not the announced size (many such connections would otherwise exhaust
// memory).
const eagerFrameBytes = 64 << 10

// readFrame reads a frame body of size bytes, into spare when it is big
// enough (its memory is already spent, so using it costs nothing).
func readFrame(r io.Reader, size int, spare []byte) ([]byte, error) {
	if size <= cap(spare) {
		frame := spare[:size]
		if _, err := io.ReadFull(r, frame); err != nil {
			return nil, err
		}
		return frame, nil
	}
	if size <= eagerFrameBytes {
		frame := make([]byte, size)
		if _, err := io.ReadFull(r, frame); err != nil {
			return nil, err
		}
		return frame, nil
	}
	frame := make([]byte, 0, eagerFrameBytes)
	for len(frame) < size {
		if len(frame) == cap(frame) {
			frame = slices.Grow(frame, min(len(frame), size-len(frame))) // doubling, capped at size
		}
		n, err := r.Read(frame[len(frame):min(cap(frame), size)])
		frame = frame[:len(frame)+n]
		if err != nil && len(frame) < size {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return frame, nil
}

// handleFrame decodes one request frame and returns the response frame to
// write (nil for none). An error closes the connection.
func (s *Server) handleFrame(ctx context.Context, conn *handler.Conn, frame, dst []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", "remote", conn.RemoteAddr, "panic", r, "stack", string(debug.Stack()))
			out, err = nil, fmt.Errorf("internal error: %v", r)
		}
	}()
	rd := kbin.Reader{Src: frame}
	key, version, correlationID := rd.Int16(), rd.Int16(), rd.Int32()
	clientID := rd.NullableString()
	if !rd.Ok() {
		return nil, errors.New("truncated request header")
	}
	if clientID != nil {
		conn.ClientID = *clientID
	}
	minV, maxV, ok := handler.Supported(key)
	if !ok {
		return nil, fmt.Errorf("unknown or unsupported API key %d", key)
	}
	if version < minV || version > maxV {
		if key == int16(kmsg.ApiVersions) && version > maxV {
			return unsupportedAPIVersions(correlationID), nil
		}
		return nil, fmt.Errorf("unsupported version %d of API key %d (supported %d-%d)", version, key, minV, maxV)
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		skipTags(&rd)
		if !rd.Ok() {
			return nil, errors.New("truncated request header tags")
		}
	}
	if err := req.ReadFrom(rd.Src); err != nil {
		return nil, fmt.Errorf("decoding %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	resp, err := s.cfg.Handler.Dispatch(ctx, conn, req)
	if err != nil || resp == nil {
		return nil, err
	}
	return appendResponse(dst, correlationID, key, resp), nil
}

func skipTags(rd *kbin.Reader) {
	for n := rd.Uvarint(); n > 0 && rd.Ok(); n-- {
		rd.Uvarint() // tag
		rd.Span(int(rd.Uvarint()))
	}
}

// appendResponse frames a response: size, correlation id, the header's
// tagged fields for flexible versions (never for ApiVersions, whose
// response header stays v0 so any client can read it), then the body.
func appendResponse(dst []byte, correlationID int32, key int16, resp kmsg.Response) []byte {
	start := len(dst)
	dst = slices.Grow(dst, responseSizeHint(resp))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && key != int16(kmsg.ApiVersions) {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// unsupportedAPIVersions is the KIP-511 answer to an ApiVersions request
// newer than this broker: a v0 response with UNSUPPORTED_VERSION listing
// only the ApiVersions versions served, as Kafka answers, so the client
// retries at one it shares and takes every other range (and the finalized
// features, which a v0 answer cannot carry) from that full answer. Listing
// everything here made franz-go negotiate from this list: it missed
// transaction.version on its first connection.
func unsupportedAPIVersions(correlationID int32) []byte {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	for _, k := range handler.APIVersionsList() {
		if k.ApiKey == int16(kmsg.ApiVersions) {
			resp.ApiKeys = append(resp.ApiKeys, k)
		}
	}
	return appendResponse(nil, correlationID, int16(kmsg.ApiVersions), resp)
}

// responseSizeHint estimates an encoded response's size, so the frame is
// allocated once instead of doubling (and copying) its way up: what matters
// is Fetch, whose record bytes dominate.
func responseSizeHint(resp kmsg.Response) int {
	const overhead = 4 << 10
	fetch, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return overhead
	}
	n := overhead
	for _, t := range fetch.Topics {
		n += len(t.Topic) + 64*len(t.Partitions)
		for _, p := range t.Partitions {
			n += len(p.RecordBatches) + 24*len(p.AbortedTransactions)
		}
	}
	return n
}

package quorum

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TCP framing: each raft message is a u32 big-endian length followed by the
// protobuf raftpb.Message. Connections are one-way: a node dials each peer
// and only writes; it reads only on connections peers dialled to it. So
// neither side needs a handshake, and every message names its sender.

// TCPConfig configures a TCPTransport.
type TCPConfig struct {
	// NodeID is this node; frames addressed elsewhere are dropped.
	NodeID uint64
	// Peers are the voters to dial (this node may be among them).
	Peers []Peer
	// Dial opens connections to peers; the chaos harness routes it through
	// a proxy. Defaults to net.Dialer.DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// QueueLen bounds the messages waiting per peer; more are dropped
	// (raft retransmits).
	QueueLen int
	// MaxFrameBytes bounds one inbound frame (snapshots travel whole).
	MaxFrameBytes int
	// DialTimeout bounds one connection attempt.
	DialTimeout time.Duration
	// RedialBackoff is the pause after a failed dial or write.
	RedialBackoff time.Duration
	// WriteTimeout bounds one batched write to a peer.
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

func (c *TCPConfig) setDefaults() {
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 4096
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 512 << 20
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = time.Second
	}
	if c.RedialBackoff <= 0 {
		c.RedialBackoff = 100 * time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// TCPTransport sends raft messages to peers over TCP and feeds inbound ones
// to a StepFunc.
type TCPTransport struct {
	cfg    TCPConfig
	ctx    context.Context
	cancel context.CancelFunc
	peers  map[uint64]*tcpPeer
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open connections, both directions
	lns    []net.Listener
	closed bool
}

type tcpPeer struct {
	id   uint64
	addr string
	q    chan []byte // marshalled messages
}

// NewTCPTransport starts one writer goroutine per peer other than NodeID.
func NewTCPTransport(cfg TCPConfig) *TCPTransport {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	t := &TCPTransport{
		cfg: cfg, ctx: ctx, cancel: cancel,
		peers: make(map[uint64]*tcpPeer),
		conns: make(map[net.Conn]struct{}),
	}
	for _, p := range cfg.Peers {
		if p.ID == cfg.NodeID {
			continue
		}
		tp := &tcpPeer{id: p.ID, addr: p.Addr, q: make(chan []byte, cfg.QueueLen)}
		t.peers[p.ID] = tp
		t.wg.Go(func() { t.writeLoop(tp) })
	}
	return t
}

// Send marshals msgs on the caller's goroutine (the node's, so the entries
// cannot change underneath) and queues them; a full queue drops.
func (t *TCPTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		if p == nil {
			continue
		}
		b, err := proto.Marshal(m)
		if err != nil {
			t.cfg.Logger.Warn("raft message not marshalled", "to", m.GetTo(), "err", err)
			continue
		}
		select {
		case p.q <- b:
		default:
		}
	}
}

// Serve accepts peer connections on ln and hands their messages to step,
// until Close. It returns at once; Close closes ln.
func (t *TCPTransport) Serve(ln net.Listener, step StepFunc) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = ln.Close()
		return
	}
	t.lns = append(t.lns, ln)
	t.mu.Unlock()
	t.wg.Go(func() { t.acceptLoop(ln, step) })
}

// Close stops every goroutine and closes every connection and listener.
func (t *TCPTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	for _, ln := range t.lns {
		_ = ln.Close()
	}
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	return nil
}

func (t *TCPTransport) acceptLoop(ln net.Listener, step StepFunc) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if t.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				t.cfg.Logger.Warn("raft listener failed", "err", err)
			}
			return
		}
		if !t.track(conn) {
			return
		}
		t.wg.Go(func() {
			t.readLoop(conn, step)
			t.untrack(conn)
		})
	}
}

// track registers conn so that Close closes it; false (and conn closed) if
// the transport is already closed.
func (t *TCPTransport) track(conn net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = conn.Close()
		return false
	}
	t.conns[conn] = struct{}{}
	return true
}

func (t *TCPTransport) untrack(conn net.Conn) {
	t.mu.Lock()
	delete(t.conns, conn)
	t.mu.Unlock()
	_ = conn.Close()
}

func (t *TCPTransport) readLoop(conn net.Conn, step StepFunc) {
	r := bufio.NewReaderSize(conn, 64<<10)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || uint64(n) > uint64(t.cfg.MaxFrameBytes) {
			t.cfg.Logger.Warn("raft frame refused", "bytes", n, "remote", conn.RemoteAddr().String())
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(buf, m); err != nil {
			t.cfg.Logger.Warn("raft frame not decoded", "err", err, "remote", conn.RemoteAddr().String())
			return
		}
		if m.GetTo() != t.cfg.NodeID {
			continue
		}
		if err := step(t.ctx, m); err != nil && t.ctx.Err() != nil {
			return
		}
	}
}

// writeLoop keeps one connection to p, redialling after failures. Messages
// queued while it cannot connect are dropped rather than replayed stale.
func (t *TCPTransport) writeLoop(p *tcpPeer) {
	var conn net.Conn
	var w *bufio.Writer
	defer func() {
		if conn != nil {
			t.untrack(conn)
		}
	}()
	for {
		var b []byte
		select {
		case <-t.ctx.Done():
			return
		case b = <-p.q:
		}
		if conn == nil {
			c, err := t.dial(p)
			if err != nil {
				t.cfg.Logger.Debug("raft peer unreachable", "peer", p.id, "addr", p.addr, "err", err)
				t.drain(p)
				if !t.pause() {
					return
				}
				continue
			}
			if !t.track(c) {
				return
			}
			conn, w = c, bufio.NewWriterSize(c, 64<<10)
		}
		// A peer that stops reading (paused, blackholed) must not wedge
		// this writer forever.
		_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
		err := writeFrame(w, b)
		// Batch whatever else is queued into the same flush.
		for err == nil && len(p.q) > 0 {
			err = writeFrame(w, <-p.q)
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			t.cfg.Logger.Debug("raft peer connection lost", "peer", p.id, "err", err)
			t.untrack(conn)
			conn, w = nil, nil
			if !t.pause() {
				return
			}
		}
	}
}

func (t *TCPTransport) dial(p *tcpPeer) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.DialTimeout)
	defer cancel()
	c, err := t.cfg.Dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", p.addr, err)
	}
	return c, nil
}

func (t *TCPTransport) drain(p *tcpPeer) {
	for len(p.q) > 0 {
		<-p.q
	}
}

// pause waits RedialBackoff; false if the transport closed meanwhile.
func (t *TCPTransport) pause() bool {
	timer := time.NewTimer(t.cfg.RedialBackoff)
	defer timer.Stop()
	select {
	case <-t.ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func writeFrame(w *bufio.Writer, b []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

package metaserver

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// raftPreamble opens every raft connection a node dials. A Kafka request
// starts with its int32 size, which is never negative, so a first byte of
// 0xff tells the two protocols apart on one listener.
var raftPreamble = []byte{0xff, 'h', 'w', 'r'}

// preambleTimeout bounds how long an accepted connection may take to send
// its first four bytes.
const preambleTimeout = 10 * time.Second

// raftDialer wraps dial so that every raft connection opens with the
// preamble.
func raftDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetWriteDeadline(dl)
		}
		if _, err := c.Write(raftPreamble); err != nil {
			_ = c.Close()
			return nil, err
		}
		_ = c.SetWriteDeadline(time.Time{})
		return c, nil
	}
}

// muxListener splits one listener into raft connections (those opening
// with raftPreamble) and Kafka ones. run owns the accept loop and one
// short-lived goroutine per connection reading its first bytes.
type muxListener struct {
	ln          net.Listener
	raft, kafka *chanListener
	wg          sync.WaitGroup
}

func newMuxListener(ln net.Listener) *muxListener {
	done := make(chan struct{})
	var once sync.Once
	closeAll := func() { once.Do(func() { close(done) }) }
	return &muxListener{ln: ln,
		raft:  &chanListener{c: make(chan net.Conn), done: done, closeFn: closeAll, addr: ln.Addr()},
		kafka: &chanListener{c: make(chan net.Conn), done: done, closeFn: closeAll, addr: ln.Addr()}}
}

func (m *muxListener) run() {
	defer m.wg.Wait()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.raft.closeFn()
			return
		}
		m.wg.Go(func() { m.route(c) })
	}
}

func (m *muxListener) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(preambleTimeout))
	head := make([]byte, len(raftPreamble))
	n, err := io.ReadFull(c, head)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil && n == 0 {
		_ = c.Close()
		return
	}
	var to *chanListener
	if n == len(head) && bytes.Equal(head, raftPreamble) {
		to = m.raft
	} else {
		to = m.kafka
		c = &prefixConn{Conn: c, prefix: head[:n]}
	}
	select {
	case to.c <- c:
	case <-to.done:
		_ = c.Close()
	}
}

func (m *muxListener) close() {
	_ = m.ln.Close()
	m.raft.closeFn()
}

// chanListener is a net.Listener fed by muxListener.
type chanListener struct {
	c       chan net.Conn
	done    chan struct{}
	closeFn func()
	addr    net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { l.closeFn(); return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }

// prefixConn gives back the bytes read to tell the protocol.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

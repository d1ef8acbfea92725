package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// ErrClosed means the proxy was closed.
var ErrClosed = errors.New("proxy: closed")

// Faults degrade a proxy's connections.
type Faults struct {
	// Delay and Jitter: each chunk is delivered Delay ± Jitter after it
	// was read (never before the previous chunk).
	Delay, Jitter time.Duration
	// RateBytesPerSecond paces each direction of each connection (0: no
	// cap).
	RateBytesPerSecond int64
	// DropPercent (0..100) is the chance, per chunk, that the connection
	// is closed or stalled for StallFor (half the time each).
	DropPercent int
	// StallFor is how long a stall lasts; DefaultStall when zero.
	StallFor time.Duration
	// Refuse closes every connection and accepts none.
	Refuse bool
	// Blackhole forwards nothing and closes nothing, as a silent network
	// partition: new connections are accepted but not dialled through,
	// open ones hold their bytes; all resume when it is lifted.
	Blackhole bool
}

// DefaultStall is a stall's length when Faults.StallFor is zero: longer
// than a typical request timeout's share, shorter than a session timeout.
const DefaultStall = time.Second

// chunkBytes is the largest chunk one read forwards.
const chunkBytes = 32 << 10

// queueChunks bounds the chunks in flight per direction, so a slow link
// pushes back on the sender instead of buffering without bound.
const queueChunks = 64

// Valid reports whether f's fields are in range.
func (f Faults) Valid() error {
	if f.Delay < 0 || f.Jitter < 0 || f.RateBytesPerSecond < 0 || f.StallFor < 0 || f.DropPercent < 0 || f.DropPercent > 100 {
		return fmt.Errorf("proxy: bad faults %+v (durations and rate >= 0, drop 0..100 %%)", f)
	}
	return nil
}

// Config describes a proxy for Start.
type Config struct {
	// Listen is the address to listen on ("host:0" picks a port).
	Listen string
	// Target is where connections are forwarded.
	Target string
	// Seed drives the delays and drops.
	Seed int64
	// Identify, when set, names a connection from the first bytes its
	// client sends (at most one read); SetFaultsFor then applies faults to
	// connections of one name only. It must not block or keep the slice.
	Identify func(first []byte) string
}

// Proxy forwards connections from its listener to one target.
type Proxy struct {
	ln       net.Listener
	target   string
	seed     int64
	identify func([]byte) string
	dialer   net.Dialer

	mu      sync.Mutex
	faults  Faults
	named   map[string]Faults // by identity, overriding faults
	changed chan struct{}     // closed and replaced by every change
	conns   map[*conn]struct{}
	accept  uint64 // connections accepted so far
	closed  bool
	wg      sync.WaitGroup
}

// Listen starts a proxy on listen ("host:0" picks a port) that forwards
// to target.
func Listen(listen, target string, seed int64) (*Proxy, error) {
	return Start(Config{Listen: listen, Target: target, Seed: seed})
}

// Start starts a proxy as cfg describes.
func Start(cfg Config) (*Proxy, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen %s: %w", cfg.Listen, err)
	}
	p := &Proxy{ln: ln, target: cfg.Target, seed: cfg.Seed, identify: cfg.Identify,
		conns: map[*conn]struct{}{}, named: map[string]Faults{}, changed: make(chan struct{}),
		dialer: net.Dialer{Timeout: 5 * time.Second}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address connections are forwarded to.
func (p *Proxy) Target() string { return p.target }

// Faults returns the faults in effect for connections without a named
// override.
func (p *Proxy) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// faultsFor is what applies to a connection named id, and a channel
// closed at the next change.
func (p *Proxy) faultsFor(id string) (Faults, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.named[id]; ok && id != "" {
		return f, p.changed
	}
	return p.faults, p.changed
}

// SetFaults replaces the faults in effect for connections without a
// named override; Refuse also closes those connections.
func (p *Proxy) SetFaults(f Faults) error { return p.set(nil, f) }

// SetFaultsFor replaces the faults of connections Config.Identify names
// id, overriding SetFaults's; ClearFaultsFor removes the override.
func (p *Proxy) SetFaultsFor(id string, f Faults) error { return p.set(&id, f) }

// ClearFaultsFor removes every named override.
func (p *Proxy) ClearFaultsFor() error { return p.ReplaceFaultsFor(nil) }

// ReplaceFaultsFor replaces every named override with m at once (no
// connection sees a moment without them); Refuse closes the connections
// of its names.
func (p *Proxy) ReplaceFaultsFor(m map[string]Faults) error {
	for _, f := range m {
		if err := f.Valid(); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	clear(p.named)
	for id, f := range m {
		p.named[id] = f
	}
	for c := range p.conns {
		if f, ok := m[c.identity()]; ok && f.Refuse {
			c.close()
		}
	}
	p.notifyLocked()
	return nil
}

func (p *Proxy) set(id *string, f Faults) error {
	if err := f.Valid(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if id == nil {
		p.faults = f
	} else {
		p.named[*id] = f
	}
	if f.Refuse {
		for c := range p.conns {
			if cid := c.identity(); id == nil || cid == *id {
				c.close()
			}
		}
	}
	p.notifyLocked()
	return nil
}

// notifyLocked wakes every connection waiting for a change.
func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Close stops accepting, closes every connection and waits for every
// goroutine. Safe to call twice.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.closed || p.faults.Refuse {
			p.mu.Unlock()
			client.Close()
			continue
		}
		idx := p.accept
		p.accept++
		c := &conn{p: p, client: client, rnd: rand.New(rand.NewPCG(uint64(p.seed), idx)), done: make(chan struct{})}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

// conn is one proxied connection.
type conn struct {
	p      *Proxy
	client net.Conn

	mu       sync.Mutex // guards rnd, server, closed, id
	rnd      *rand.Rand
	server   net.Conn
	done     chan struct{}
	isClosed bool
	id       string // Config.Identify's name for it, once known
	named    bool   // id was set (after the client's first read)
}

func (c *conn) identity() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// faults is what applies to c now.
func (c *conn) faults() (Faults, <-chan struct{}) { return c.p.faultsFor(c.identity()) }

// waitOpen waits while c's faults blackhole it; false when c closed.
func (c *conn) waitOpen() (Faults, bool) {
	for {
		f, changed := c.faults()
		if !f.Blackhole {
			return f, true
		}
		select {
		case <-changed:
		case <-c.done:
			return f, false
		}
	}
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		return
	}
	c.isClosed = true
	close(c.done)
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
}

func (c *conn) run() {
	defer c.p.wg.Done()
	defer func() {
		c.close()
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	}()
	// A blackholed proxy accepts but does not dial: the peer sees a
	// connection that never answers, as behind a silent partition.
	if _, ok := c.waitOpen(); !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	server, err := c.p.dialer.DialContext(ctx, "tcp", c.p.target)
	cancel()
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		server.Close()
		return
	}
	c.server = server
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pipe(server, c.client, true) }()
	go func() { defer wg.Done(); c.pipe(c.client, server, false) }()
	wg.Wait()
}

// chunk is bytes read and the earliest time they may be written.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe forwards src to dst through a bounded queue; a reader goroutine
// (this one) stamps each chunk's due time, a writer delivers it. Either
// side ending closes the whole connection: Kafka connections are
// request/response, a half-open one is of no use.
func (c *conn) pipe(dst, src net.Conn, fromClient bool) {
	q := make(chan chunk, queueChunks)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		c.writer(dst, q)
	}()
	defer func() {
		close(q)
		<-wdone
		c.close()
	}()
	var last time.Time
	buf := make([]byte, chunkBytes)
	for {
		n, err := src.Read(buf)
		if fromClient {
			c.name(buf[:n])
		}
		if n > 0 {
			f, _ := c.faults()
			due := time.Now().Add(c.delay(f))
			if due.Before(last) {
				due = last
			}
			last = due
			select {
			case q <- chunk{b: bytes.Clone(buf[:n]), due: due}:
			case <-c.done:
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: the writer flushes what is queued
		}
	}
}

// writer delivers chunks at their due time, paced by the rate cap, and
// applies drops.
func (c *conn) writer(dst net.Conn, q <-chan chunk) {
	var free time.Time // when the rate cap lets the next byte go
	delivered := false // a drop before the first chunk stalls, never closes
	for ch := range q {
		f, ok := c.waitOpen()
		if !ok {
			return
		}
		if f.Refuse {
			c.close()
			return
		}
		if c.drop(f) {
			// Clients read an EOF right after their first request as a
			// refused handshake (SASL) and give up instead of retrying,
			// which real packet loss never causes; so a connection's
			// first chunk is only ever stalled.
			if c.coin() && delivered {
				c.close()
				return
			}
			stall := f.StallFor
			if stall == 0 {
				stall = DefaultStall
			}
			if !c.sleep(stall) {
				return
			}
		}
		wait := time.Until(ch.due)
		if f.RateBytesPerSecond > 0 {
			now := time.Now()
			if free.Before(now) {
				free = now
			}
			wait = max(wait, time.Until(free))
			free = free.Add(time.Duration(float64(len(ch.b)) / float64(f.RateBytesPerSecond) * float64(time.Second)))
		}
		if !c.sleep(wait) {
			return
		}
		if _, err := dst.Write(ch.b); err != nil {
			c.close()
			return
		}
		delivered = true
	}
}

// sleep waits d unless the connection closes first (false then).
func (c *conn) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-c.done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// name sets c's identity from the client's first read (once; an empty
// read or no Identify leaves it unnamed).
func (c *conn) name(first []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.named {
		return
	}
	c.named = true
	if c.p.identify != nil && len(first) > 0 {
		c.id = c.p.identify(first)
	}
}

func (c *conn) delay(f Faults) time.Duration {
	if f.Delay == 0 && f.Jitter == 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := f.Delay
	if f.Jitter > 0 {
		d += time.Duration(c.rnd.Int64N(int64(2*f.Jitter)+1)) - f.Jitter
	}
	return max(d, 0)
}

func (c *conn) drop(f Faults) bool {
	if f.DropPercent == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rnd.IntN(100) < f.DropPercent
}

func (c *conn) coin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rnd.IntN(2) == 0
}

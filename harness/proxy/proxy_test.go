package proxy

import (
	"bytes"
	"crypto/rand"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes every connection until closed.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func startProxy(t *testing.T, f Faults) *Proxy {
	t.Helper()
	p, err := Listen("127.0.0.1:0", echoServer(t), 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := p.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back, returning how long it took.
func roundTrip(c net.Conn, msg []byte, within time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetDeadline(start.Add(within))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return 0, err
	}
	if err := <-errc; err != nil {
		return 0, err
	}
	if !bytes.Equal(got, msg) {
		return 0, io.ErrUnexpectedEOF
	}
	return time.Since(start), nil
}

func TestForwardsUnchanged(t *testing.T) {
	p := startProxy(t, Faults{})
	c := dial(t, p)
	msg := make([]byte, 1<<20)
	_, _ = rand.Read(msg)
	if _, err := roundTrip(c, msg, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestDelayAndRate(t *testing.T) {
	tests := []struct {
		name     string
		f        Faults
		size     int
		min, max time.Duration
	}{
		// The delay applies in both directions.
		{"delay", Faults{Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond}, 10, 160 * time.Millisecond, 2 * time.Second},
		// 192 KiB at 256 KiB/s each way, pipelined: at least ~0.6 s.
		{"rate", Faults{RateBytesPerSecond: 256 << 10}, 192 << 10, 500 * time.Millisecond, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, tt.f)
			c := dial(t, p)
			took, err := roundTrip(c, bytes.Repeat([]byte("x"), tt.size), tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if took < tt.min || took > tt.max {
				t.Errorf("round trip took %v, want %v..%v", took, tt.min, tt.max)
			}
			// Back to normal at once: the fastest of five round trips is
			// under 100 ms (a delayed link takes at least 160 ms every
			// time). One round trip alone could be slowed past 100 ms by
			// the scheduler of a loaded machine.
			if err := p.SetFaults(Faults{}); err != nil {
				t.Fatal(err)
			}
			fastest := time.Duration(math.MaxInt64)
			for range 5 {
				took, err := roundTrip(c, []byte("y"), 10*time.Second)
				if err != nil {
					t.Fatalf("after reset: %v", err)
				}
				fastest = min(fastest, took)
			}
			if fastest > 100*time.Millisecond {
				t.Errorf("after reset: the fastest of 5 round trips took %v", fastest)
			}
		})
	}
}

// TestDropClosesOrStalls: with every chunk dropped, a connection's first
// exchange is only stalled (never closed: clients read that as a refused
// handshake), and later ones soon end the connection.
func TestDropClosesOrStalls(t *testing.T) {
	p := startProxy(t, Faults{DropPercent: 100, StallFor: 20 * time.Millisecond})
	ended := 0
	for range 8 {
		c := dial(t, p)
		if _, err := roundTrip(c, []byte("hello"), 3*time.Second); err != nil {
			t.Fatalf("first exchange on a connection: %v (want a stall, not a close)", err)
		}
		for range 8 {
			if _, err := roundTrip(c, []byte("again"), 3*time.Second); err != nil {
				ended++
				break
			}
		}
	}
	if ended == 0 {
		t.Error("no connection was closed with DropPercent 100")
	}
}

func TestRefuse(t *testing.T) {
	p := startProxy(t, Faults{})
	c := dial(t, p)
	if _, err := roundTrip(c, []byte("a"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.SetFaults(Faults{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(c, []byte("b"), time.Second); err == nil {
		t.Error("an open connection survived Refuse")
	}
	if _, err := roundTrip(dial(t, p), []byte("c"), time.Second); err == nil {
		t.Error("a new connection was served under Refuse")
	}
	if err := p.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(dial(t, p), []byte("d"), time.Second); err != nil {
		t.Errorf("after lifting Refuse: %v", err)
	}
	if err := p.SetFaults(Faults{DropPercent: 101}); err == nil {
		t.Error("DropPercent 101 accepted")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.SetFaults(Faults{}); err != ErrClosed {
		t.Errorf("SetFaults after Close = %v", err)
	}
}

// TestSeededDelays: connections with the same seed and accept index draw
// the same delays.
func TestSeededDelays(t *testing.T) {
	f := Faults{Delay: 100 * time.Millisecond, Jitter: 50 * time.Millisecond, DropPercent: 30}
	draw := func() []time.Duration {
		c := &conn{rnd: mrand.New(mrand.NewPCG(7, 3))}
		var out []time.Duration
		for range 20 {
			d := c.delay(f)
			if d < 50*time.Millisecond || d > 150*time.Millisecond {
				t.Fatalf("delay %v outside 100ms ± 50ms", d)
			}
			if c.drop(f) {
				d = -d
			}
			out = append(out, d)
		}
		return out
	}
	a, b := draw(), draw()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d differs: %v vs %v", i, a[i], b[i])
		}
	}
}

// TestBlackholeByIdentity: a named blackhole holds only that client's
// connection, silently, and its bytes arrive once lifted; a proxy-wide
// blackhole holds new connections too.
func TestBlackholeByIdentity(t *testing.T) {
	p, err := Start(Config{Listen: "127.0.0.1:0", Target: echoServer(t), Seed: 1,
		Identify: func(b []byte) string { return string(b[:min(3, len(b))]) }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, b := dial(t, p), dial(t, p)
	for _, c := range []struct {
		conn net.Conn
		msg  string
	}{{a, "aaa1"}, {b, "bbb1"}} {
		if _, err := roundTrip(c.conn, []byte(c.msg), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SetFaultsFor("aaa", Faults{Blackhole: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(a, []byte("aaa2"), 300*time.Millisecond); err == nil {
		t.Error("a blackholed connection answered")
	}
	if _, err := roundTrip(b, []byte("bbb2"), time.Second); err != nil {
		t.Errorf("another client's connection: %v", err)
	}
	if err := p.ClearFaultsFor(); err != nil {
		t.Fatal(err)
	}
	// The held bytes arrive once lifted: the connection was not closed.
	_ = a.SetDeadline(time.Now().Add(2 * time.Second))
	got := make([]byte, 4)
	if _, err := io.ReadFull(a, got); err != nil || string(got) != "aaa2" {
		t.Errorf("after lifting: %q, %v", got, err)
	}
	if err := p.SetFaults(Faults{Blackhole: true}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	if _, err := roundTrip(c, []byte("ccc"), 300*time.Millisecond); err == nil {
		t.Error("a new connection was served through a blackhole")
	}
	if err := p.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c, got[:3]); err != nil || string(got[:3]) != "ccc" {
		t.Errorf("new connection after lifting: %q, %v", got[:3], err)
	}
}

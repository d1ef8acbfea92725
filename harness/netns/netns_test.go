package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// inNS runs f on a thread switched into namespace name; sockets f makes
// belong to that namespace. The thread is never unlocked, so it dies with
// the goroutine instead of returning to the scheduler in the wrong
// namespace.
func inNS(t *testing.T, name string, f func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("enter %s: %v", name, err)
	}
}

// reach dials addr (from the current goroutine's namespace) and expects
// the echo server's greeting.
func reach(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 700*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(700 * time.Millisecond))
	buf := make([]byte, 2)
	_, err = c.Read(buf)
	return err
}

// TestCutDegradeClose: node-to-node cuts leave the harness's traffic
// alone, a 100 % loss degradation drops the harness's traffic too, and
// Close leaves nothing behind.
func TestCutDegradeClose(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := New(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	var ln net.Listener
	inNS(t, n.NSName(1), func() { ln, err = net.Listen("tcp", n.NodeIP(1)+":0") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	fromNode2 := func() (err error) {
		inNS(t, n.NSName(2), func() { err = reach(addr) })
		return err
	}
	steps := []struct {
		name            string
		act             func() error
		rootOK, node2OK bool
	}{
		{"initially", func() error { return nil }, true, true},
		{"cut 1-2", func() error { return n.Cut(ctx, 1, 2) }, true, false},
		{"heal 1-2", func() error { return n.Heal(ctx, 2, 1) }, true, true},
		{"loss 100% on 1", func() error { return n.Degrade(ctx, 1, Degradation{LossPercent: 100}) }, false, false},
		{"restore 1", func() error { return n.Restore(ctx, 1) }, true, true},
		{"rate cap on 1", func() error { return n.Degrade(ctx, 1, Degradation{RateBytesPerSecond: 1 << 20}) }, true, true},
		{"cut and loss, then heal all", func() error {
			_ = n.Cut(ctx, 1, 2)
			_ = n.Degrade(ctx, 2, Degradation{LossPercent: 100})
			return n.HealAll(ctx)
		}, true, true},
	}
	for _, s := range steps {
		if err := s.act(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := reach(addr); (err == nil) != s.rootOK {
			t.Errorf("%s: harness -> node 1: %v, want reachable=%v", s.name, err, s.rootOK)
		}
		if err := fromNode2(); (err == nil) != s.node2OK {
			t.Errorf("%s: node 2 -> node 1: %v, want reachable=%v", s.name, err, s.node2OK)
		}
	}
	if err := n.Cut(ctx, 1, 3); err == nil {
		t.Error("Cut to node 3 of 2 succeeded")
	}
	if err := n.Degrade(ctx, 1, Degradation{LossPercent: 101}); err == nil {
		t.Error("loss 101% accepted")
	}
	ln.Close()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left := Leftovers(ctx, n.Tag()); len(left) > 0 {
		t.Errorf("left after Close: %v", left)
	}
}

// TestSweepStale: resources named after a dead owner are removed by the
// next sweep; a live owner's are kept.
func TestSweepStale(t *testing.T) {
	requireRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadTag := fmt.Sprintf("%06x%02x", dead.Process.Pid, 0xfe)
	liveTag := fmt.Sprintf("%06x%02x", os.Getpid(), 0xfe)
	ctx := context.Background()
	for _, tag := range []string{deadTag, liveTag} {
		if err := RunIP(ctx, "ip", "netns", "add", NSPrefix+tag+"-1"); err != nil {
			t.Fatal(err)
		}
		if err := RunIP(ctx, "ip", "link", "add", BridgePrefix+tag, "type", "bridge"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = RunIP(ctx, "ip", "netns", "del", NSPrefix+liveTag+"-1")
		_ = RunIP(ctx, "ip", "link", "del", BridgePrefix+liveTag)
	})
	SweepStale(ctx, "ip")
	if left := Leftovers(ctx, deadTag); len(left) > 0 {
		t.Errorf("left after sweep: %v", left)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if !strings.Contains(string(out), liveTag) {
		t.Errorf("sweep removed a live owner's namespace")
	}
}

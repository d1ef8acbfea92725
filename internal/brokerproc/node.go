package brokerproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Defaults applied by Start to zero-valued Options fields.
const (
	DefaultHost         = "127.0.0.1"
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 10 * time.Second
	// startAttempts bounds retries when a freshly picked free port was taken
	// by someone else between our probe and the broker's bind.
	startAttempts = 3
	// tailBytesMax bounds the stderr kept for error messages.
	tailBytesMax = 64 << 10
	// tailLines is how many stderr lines a start failure quotes.
	tailLines = 40
)

// Sentinel errors; the concrete errors wrap them with context.
var (
	ErrBadOptions     = errors.New("brokerproc: bad options")
	ErrExited         = errors.New("brokerproc: broker exited")
	ErrNotReady       = errors.New("brokerproc: broker not ready")
	ErrNotRunning     = errors.New("brokerproc: broker not running")
	ErrStopTimeout    = errors.New("brokerproc: broker ignored SIGTERM; killed")
	ErrAlreadyRunning = errors.New("brokerproc: broker already running")
)

// Options describe one broker identity. Only Binary and DataDir are required.
type Options struct {
	// Binary is the highwater executable (see Build).
	Binary string
	// DataDir holds server.properties and, unless Properties sets log.dirs,
	// the log under DataDir/data. It survives Stop/Kill/Restart.
	DataDir string
	// Host is the listener address; DefaultHost when empty.
	Host string
	// Port is the listener port; 0 picks a free one once, at Start, and
	// keeps it for every restart.
	Port int
	// Properties are written to server.properties as given; node.id,
	// listeners, advertised.listeners and log.dirs are filled in when absent.
	Properties map[string]string
	// Stderr receives the process's stdout and stderr (log capture). May be
	// nil. The last lines are also kept for error messages.
	Stderr io.Writer
	// ReadyTimeout bounds each start's wait for the listener to answer
	// ApiVersions; DefaultReadyTimeout when zero.
	ReadyTimeout time.Duration
	// StopTimeout bounds how long Stop waits after SIGTERM before SIGKILL;
	// DefaultStopTimeout when zero.
	StopTimeout time.Duration
	// ExtraArgs follow `broker --config FILE` on the command line (for
	// instance --log-level debug).
	ExtraArgs []string
}

// Node is one broker identity: a data dir and a port, and at most one
// running process at a time.
type Node struct {
	opts     Options
	propPath string
	tail     *tailBuffer
	out      io.Writer

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd exits
	exitErr error         // cmd.Wait's result, valid once done is closed
	paused  bool
}

// Start writes DataDir/server.properties, starts the broker and waits until
// it answers ApiVersions. ctx bounds only that wait (with ReadyTimeout): the
// process then lives until Stop or Kill. On failure no process is left
// running.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if opts.Binary == "" || opts.DataDir == "" {
		return nil, fmt.Errorf("%w: Binary and DataDir are required", ErrBadOptions)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d", ErrBadOptions, opts.Port)
	}
	if opts.Host == "" {
		opts.Host = DefaultHost
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%w: data dir: %w", ErrBadOptions, err)
	}
	opts.DataDir = dataDir
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("brokerproc: data dir: %w", err)
	}
	pickPort := opts.Port == 0
	attempts := 1
	if pickPort {
		attempts = startAttempts
	}
	var lastErr error
	for range attempts {
		if pickPort {
			if opts.Port, err = FreePort(opts.Host); err != nil {
				return nil, err
			}
		}
		n := newNode(opts)
		if err := n.writeProperties(); err != nil {
			return nil, err
		}
		lastErr = n.start(ctx)
		if lastErr == nil {
			return n, nil
		}
		// Only an early exit can be a lost port race; a timeout or a
		// cancelled context will not get better by retrying.
		if !errors.Is(lastErr, ErrExited) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func newNode(opts Options) *Node {
	tail := newTailBuffer(tailBytesMax)
	var out io.Writer = tail
	if opts.Stderr != nil {
		out = io.MultiWriter(tail, opts.Stderr)
	}
	// Copy the map so later changes by the caller do not leak into restarts.
	props := make(map[string]string, len(opts.Properties)+4)
	for k, v := range opts.Properties {
		props[k] = v
	}
	opts.Properties = props
	return &Node{
		opts:     opts,
		propPath: filepath.Join(opts.DataDir, "server.properties"),
		tail:     tail,
		out:      &lockedWriter{w: out},
	}
}

// FreePort asks the kernel for a currently unused TCP port on host. The port
// may be taken by someone else before it is used; Start retries for that.
func FreePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("brokerproc: pick free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the broker's host:port (stable across restarts).
func (n *Node) Addr() string {
	return net.JoinHostPort(n.opts.Host, strconv.Itoa(n.opts.Port))
}

// DataDir is the node's absolute data directory.
func (n *Node) DataDir() string { return n.opts.DataDir }

// Properties returns a copy of the properties the broker was started with.
func (n *Node) Properties() map[string]string {
	out := make(map[string]string, len(n.opts.Properties))
	for k, v := range n.opts.Properties {
		out[k] = v
	}
	return out
}

// StderrTail returns up to the last lines lines the process printed
// (across restarts).
func (n *Node) StderrTail(lines int) string { return n.tail.LastLines(lines) }

// PID is the running process's id, or 0 when none runs.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether a process is alive (possibly paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runningLocked()
}

func (n *Node) runningLocked() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Done returns a channel closed when the current process exits (already
// closed when none runs), and ExitErr then tells how it exited.
func (n *Node) Done() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return n.done
}

// ExitErr is the last process's exit error (nil for exit status 0 or while
// running).
func (n *Node) ExitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.runningLocked() {
		return nil
	}
	return n.exitErr
}

// start launches the process and waits for readiness. On failure the
// process is killed.
func (n *Node) start(ctx context.Context) error {
	n.mu.Lock()
	if n.runningLocked() {
		n.mu.Unlock()
		return ErrAlreadyRunning
	}
	args := append([]string{"broker", "--config", n.propPath}, n.opts.ExtraArgs...)
	cmd := exec.Command(n.opts.Binary, args...)
	cmd.Dir = n.opts.DataDir
	cmd.Stdout = n.out
	cmd.Stderr = n.out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("brokerproc: start %s: %w", n.opts.Binary, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.exitErr, n.paused = cmd, done, nil, false
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.exitErr = err
		n.mu.Unlock()
		close(done)
	}()
	n.mu.Unlock()

	readyCtx, cancel := context.WithTimeout(ctx, n.opts.ReadyTimeout)
	defer cancel()
	err := waitReady(readyCtx, n.Addr(), done)
	if err == nil {
		return nil
	}
	_ = n.Kill()
	if errors.Is(err, ErrExited) {
		return fmt.Errorf("%w (%v) before answering on %s; last output:\n%s",
			err, n.ExitErr(), n.Addr(), n.tail.LastLines(tailLines))
	}
	return fmt.Errorf("%w: %s: %w; last output:\n%s", ErrNotReady, n.Addr(), err, n.tail.LastLines(tailLines))
}

// Restart starts the broker again with the same data dir, port and
// properties, stopping it gracefully first if it still runs.
func (n *Node) Restart(ctx context.Context) error {
	if n.Running() {
		// A bad exit on SIGTERM is for Stop's callers to judge; the caller
		// here asked for a restart, and Stop always leaves nothing running.
		_ = n.Stop()
	}
	if err := n.writeProperties(); err != nil {
		return err
	}
	return n.start(ctx)
}

// Stop sends SIGTERM to the process group, waits up to StopTimeout, then
// SIGKILLs it. It returns ErrStopTimeout if SIGKILL was needed, an
// ErrExited-wrapped error if the process exited with a non-zero status, and
// nil if none runs.
func (n *Node) Stop() error {
	n.mu.Lock()
	if !n.runningLocked() {
		n.mu.Unlock()
		return nil
	}
	pid, done, paused := n.cmd.Process.Pid, n.done, n.paused
	n.mu.Unlock()

	_ = signalGroup(pid, syscall.SIGTERM)
	if paused {
		// A stopped process cannot act on SIGTERM until it is continued.
		_ = signalGroup(pid, syscall.SIGCONT)
	}
	select {
	case <-done:
	case <-time.After(n.opts.StopTimeout):
		if err := n.Kill(); err != nil {
			return err
		}
		return fmt.Errorf("%w after %v", ErrStopTimeout, n.opts.StopTimeout)
	}
	_ = signalGroup(pid, syscall.SIGKILL) // reap anything the broker forked
	if err := n.ExitErr(); err != nil {
		return fmt.Errorf("%w after SIGTERM: %w; last output:\n%s", ErrExited, err, n.tail.LastLines(tailLines))
	}
	return nil
}

// killWait bounds the wait for a SIGKILLed process; only a process stuck in
// uninterruptible I/O takes longer.
const killWait = 30 * time.Second

// Kill sends SIGKILL to the process group and waits for the exit. It is a
// no-op when none runs.
func (n *Node) Kill() error {
	n.mu.Lock()
	if !n.runningLocked() {
		n.mu.Unlock()
		return nil
	}
	pid, done := n.cmd.Process.Pid, n.done
	n.mu.Unlock()
	if err := signalGroup(pid, syscall.SIGKILL); err != nil {
		_ = n.cmd.Process.Kill()
	}
	select {
	case <-done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("brokerproc: pid %d did not exit %v after SIGKILL", pid, killWait)
	}
}

// Pause stops the process group with SIGSTOP: connections stay open but
// nothing is answered, as on a hung machine.
func (n *Node) Pause() error { return n.pauseResume(true) }

// Resume continues a paused process group with SIGCONT.
func (n *Node) Resume() error { return n.pauseResume(false) }

func (n *Node) pauseResume(pause bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return ErrNotRunning
	}
	sig := syscall.SIGCONT
	if pause {
		sig = syscall.SIGSTOP
	}
	if err := signalGroup(n.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("brokerproc: signal %v: %w", sig, err)
	}
	n.paused = pause
	// Return only once the fault is in force (or lifted).
	return WaitStopped(n.cmd.Process.Pid, pause, 5*time.Second)
}

package kafka

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

// killWait bounds the wait for a SIGKILLed process group; only a process
// stuck in uninterruptible I/O takes longer.
const killWait = 30 * time.Second

var errStopTimeout = errors.New("kafka: node ignored SIGTERM; killed")

// proc is at most one running process of one node, in its own process
// group, with stdout and stderr appended to a log file.
type proc struct {
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd exits
	exitErr error         // valid once done is closed
	paused  bool
}

// start launches argv with output appended to logPath.
func (p *proc) start(argv []string, dir, logPath string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return nil
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("kafka: open log: %w", err)
	}
	// The child writes to the file directly; our copy of the descriptor is
	// not needed once it has started.
	defer logf.Close()
	fmt.Fprintf(logf, "==== highwater: starting at %s: %v\n", time.Now().UTC().Format(time.RFC3339Nano), argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kafka: start %s: %w", argv[0], err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr, p.paused = cmd, done, nil, false
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

func (p *proc) runningLocked() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// doneChan is closed when the current process exits (already closed when
// none runs).
func (p *proc) doneChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

func (p *proc) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// kill SIGKILLs the group and waits for the exit; no-op when none runs.
func (p *proc) kill() error {
	p.mu.Lock()
	if !p.runningLocked() {
		p.mu.Unlock()
		return nil
	}
	pid, done := p.cmd.Process.Pid, p.done
	p.mu.Unlock()
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("kafka: pid %d did not exit %v after SIGKILL", pid, killWait)
	}
}

// stop SIGTERMs the group, waits up to timeout, then kills it (returning
// errStopTimeout). A non-zero exit after SIGTERM is not an error here:
// the JVM exits 143 when a signal ends it before shutdown completes.
func (p *proc) stop(timeout time.Duration) error {
	p.mu.Lock()
	if !p.runningLocked() {
		p.mu.Unlock()
		return nil
	}
	pid, done, paused := p.cmd.Process.Pid, p.done, p.paused
	p.mu.Unlock()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	if paused {
		// A stopped process acts on SIGTERM only once continued.
		_ = syscall.Kill(-pid, syscall.SIGCONT)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		_ = syscall.Kill(-pid, syscall.SIGKILL) // anything the JVM forked
		return nil
	case <-t.C:
		if err := p.kill(); err != nil {
			return err
		}
		return fmt.Errorf("%w after %v", errStopTimeout, timeout)
	}
}

// pause sends SIGSTOP (pause) or SIGCONT to the group.
func (p *proc) pause(stop bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return cluster.ErrNotRunning
	}
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("kafka: signal %v: %w", sig, err)
	}
	p.paused = stop
	// Signals land asynchronously: return only once the JVM is frozen (or
	// running again), so the fault is in force when the caller goes on.
	return brokerproc.WaitStopped(p.cmd.Process.Pid, stop, 5*time.Second)
}

//go:build linux

package brokerproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// WaitStopped waits until process pid is stopped (SIGSTOP has taken effect
// on it) or, with stopped false, running again. A signal is delivered
// asynchronously: without this, a "paused" process can still answer a
// request that was already on its way, and a fault would not yet be in
// force when the caller goes on.
func WaitStopped(pid int, stopped bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		state, err := processState(pid)
		if err != nil {
			return err
		}
		if (state == 'T' || state == 't') == stopped {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("brokerproc: process %d still in state %q after %v", pid, state, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// processState is the state letter of /proc/PID/stat (R, S, D, T, Z, ...).
func processState(pid int) (byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may contain spaces: the state
	// follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("brokerproc: unreadable /proc/%d/stat", pid)
	}
	return b[i+2], nil
}

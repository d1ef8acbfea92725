//go:build !linux

package brokerproc

import "time"

// WaitStopped cannot observe process states off Linux; it returns at once.
func WaitStopped(pid int, stopped bool, timeout time.Duration) error { return nil }

//go:build unix && !linux

package brokerproc

import "syscall"

// sysProcAttr puts the broker in its own process group. Without Pdeathsig
// outside Linux, a crashed parent can leave the broker running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

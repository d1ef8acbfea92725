//go:build unix && !linux

package kafka

import "syscall"

// sysProcAttr puts the JVM in its own process group; without Pdeathsig only
// Close stops it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

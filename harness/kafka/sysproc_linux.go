//go:build linux

package kafka

import "syscall"

// sysProcAttr puts the JVM in its own process group and asks the kernel to
// SIGKILL it when the thread that started it dies, so a crashed harness
// leaves no JVM behind. (The Go runtime retires only threads whose
// goroutine locked them and exited; this package never locks threads.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

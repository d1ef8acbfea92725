//go:build linux

package brokerproc

import "syscall"

// sysProcAttr puts the broker in its own process group and asks the kernel
// to SIGKILL it if the thread that started it dies, so a crashed or killed
// test binary leaves no broker behind. (The Go runtime only retires threads
// whose goroutine locked them and exited, which this package never does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

//go:build unix

package brokerproc

import "syscall"

// signalGroup signals every process in the group led by pid (Setpgid makes
// the broker a group leader), so helpers it may fork die with it.
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}

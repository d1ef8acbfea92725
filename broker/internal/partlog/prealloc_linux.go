//go:build linux

package partlog

import "golang.org/x/sys/unix"

// fallocateKeepSize reserves n bytes of blocks at off without changing the
// file's size.
func fallocateKeepSize(fd uintptr, off, n int64) error {
	return unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
}

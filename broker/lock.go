package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/highwater-io/highwater/internal/vfs"
)

// lockDir takes an exclusive lock on the data directory so two brokers can
// never write the same logs (Kafka's .lock file). Only the OS filesystem
// needs it; an in-memory filesystem belongs to one process anyway.
func lockDir(fsys vfs.FS, dir string) (unlock func(), err error) {
	if u, ok := fsys.(interface{ Unwrap() vfs.FS }); ok { // the page-cache fault seam
		fsys = u.Unwrap()
	}
	if fsys != vfs.OS {
		return func() {}, nil
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("log.dirs %s is in use by another broker (lock held): %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// Package vfs is the filesystem seam of the broker's storage code.
//
// Storage packages take an FS instead of calling package os directly so that
// tests can run them against MemFS, an in-memory filesystem that models what
// survives a power loss: Crash returns a clone in which every file holds only
// the bytes it had at its last successful Sync. This is how the crash tests
// check that a log recovers to a clean prefix of what it acknowledged.
//
// Contract:
//
//   - OS is the real filesystem; it adds nothing to package os.
//
//   - MemFS is safe for concurrent use by any number of goroutines. Errors for
//     missing names match fs.ErrNotExist via errors.Is, like package os.
//
//   - Directory operations on MemFS (create, remove, rename) are durable the
//     moment they return; only file contents are subject to Sync. Real
//     filesystems need an fsync of the parent directory for that; callers
//     should still call SyncDir so the OS code path is right.
//
//   - PageCache wraps any FS (the broker's OS filesystem under
//     highwater.fault.page.cache) so that file contents live in process
//     memory until Sync: reads see the cache, only Sync and WriteBack reach
//     the underlying FS, and kill -9 loses every unsynced write (power-loss
//     semantics for a real process). Directory operations pass through at
//     once; truncations wait for Sync like writes. SetLoseSync makes chosen
//     files' Syncs lie (the lose-fsync planted bug). The property test holds
//     it to MemFS: same answers, and after a kill the disk holds what
//     MemFS.Crash keeps.
//
// Goroutines: this package starts none.
package vfs

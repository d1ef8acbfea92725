package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS that remembers, per file, the content it had at
// its last successful Sync, so that Crash can model a power loss.
//
// Simplification: directory operations (creating, removing and renaming
// entries) are durable immediately, as if every one were followed by a
// directory fsync. Only file contents can be lost.
type MemFS struct {
	mu       sync.Mutex
	files    map[string]*memNode
	dirs     map[string]struct{}
	syncHook func(name string) error
	now      func() time.Time
}

type memNode struct {
	data    []byte
	synced  []byte // content at the last successful Sync; nil if never synced
	modTime time.Time
}

// NewMem returns an empty in-memory filesystem. It has the directories "/"
// and "." already.
func NewMem() *MemFS {
	return &MemFS{
		files: make(map[string]*memNode),
		dirs:  map[string]struct{}{"/": {}, ".": {}},
	}
}

var _ FS = (*MemFS)(nil)

// SetClock sets the source of file modification times. Without one, files
// report the zero time.
func (m *MemFS) SetClock(now func() time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = now
}

// FailSync makes every later Sync (of files and directories) return err
// without making anything durable; FailSync(nil) heals the disk.
func (m *MemFS) FailSync(err error) {
	if err == nil {
		m.SetSyncHook(nil)
		return
	}
	m.SetSyncHook(func(string) error { return err })
}

// SetSyncHook installs a function consulted by every Sync with the file's
// name; a non-nil result fails that Sync and nothing becomes durable. Use it
// to fail the fsync of one particular file or the Nth fsync.
func (m *MemFS) SetSyncHook(hook func(name string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncHook = hook
}

// Crash returns a clone of m as it would be found after a power loss: each
// file holds exactly what it held at its last successful Sync (a file never
// synced is empty). The clone shares nothing with m; handles open on m keep
// writing to m.
func (m *MemFS) Crash() *MemFS {
	return m.crash(func(string, *memNode) int { return 0 })
}

// CrashPartial is like Crash except that, as a disk writing back pages in
// order might, each file with unsynced changes keeps a random-length prefix
// of its current content (chosen with r) laid over its synced content. It
// produces torn tails.
func (m *MemFS) CrashPartial(r *rand.Rand) *MemFS {
	return m.crash(func(_ string, n *memNode) int { return r.Intn(len(n.data) + 1) })
}

// crash clones m; keep says how many leading bytes of each file's current
// content reached the disk in addition to its synced content.
func (m *MemFS) crash(keep func(name string, n *memNode) int) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMem()
	c.now = m.now
	for d := range m.dirs {
		c.dirs[d] = struct{}{}
	}
	names := make([]string, 0, len(m.files))
	for name := range m.files {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic use of keep's randomness
	for _, name := range names {
		n := m.files[name]
		var data []byte
		if string(n.data) == string(n.synced) {
			data = append([]byte(nil), n.synced...)
		} else {
			k := keep(name, n)
			data = append([]byte(nil), n.data[:k]...)
			if len(n.synced) > k {
				data = append(data, n.synced[k:]...)
			}
		}
		c.files[name] = &memNode{data: data, synced: append([]byte{}, data...), modTime: n.modTime}
	}
	return c
}

func clean(name string) string { return filepath.Clean(name) }

func parentDir(name string) string { return filepath.Dir(clean(name)) }

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

func (m *MemFS) modTime() time.Time {
	if m.now == nil {
		return time.Time{}
	}
	return m.now()
}

func (m *MemFS) isDir(p string) bool {
	_, ok := m.dirs[p]
	return ok
}

// OpenFile opens name. Directories may be opened read-only (for SyncDir).
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	f := &memFile{fs: m, name: name,
		readable: acc == os.O_RDONLY || acc == os.O_RDWR,
		writable: acc == os.O_WRONLY || acc == os.O_RDWR,
		append:   flag&os.O_APPEND != 0,
	}
	if m.isDir(p) {
		if f.writable || flag&(os.O_CREATE|os.O_TRUNC) != 0 {
			return nil, pathErr("open", name, syscall.EISDIR)
		}
		f.dir = true
		return f, nil
	}
	n, ok := m.files[p]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathErr("open", name, fs.ErrExist)
	case !ok && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case !ok:
		if !m.isDir(parentDir(p)) {
			return nil, pathErr("open", name, fs.ErrNotExist)
		}
		n = &memNode{modTime: m.modTime()}
		m.files[p] = n
	}
	if flag&os.O_TRUNC != 0 {
		if !f.writable {
			return nil, pathErr("open", name, fs.ErrPermission)
		}
		n.data = n.data[:0:0]
		n.modTime = m.modTime()
	}
	f.node = n
	return f, nil
}

// Remove removes a file or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	if _, ok := m.files[p]; ok {
		delete(m.files, p)
		return nil
	}
	if !m.isDir(p) {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if p == "/" || p == "." || len(m.childrenLocked(p)) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(m.dirs, p)
	return nil
}

// RemoveAll removes name and everything under it; a missing name is fine.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	if p == "/" || p == "." {
		return pathErr("removeall", name, syscall.EINVAL)
	}
	delete(m.files, p)
	delete(m.dirs, p)
	prefix := p + string(filepath.Separator)
	for f := range m.files {
		if strings.HasPrefix(f, prefix) {
			delete(m.files, f)
		}
	}
	for d := range m.dirs {
		if strings.HasPrefix(d, prefix) {
			delete(m.dirs, d)
		}
	}
	return nil
}

// Rename moves a file over newpath (replacing a file there) or moves a
// directory with its contents to a newpath that does not exist.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	op, np := clean(oldpath), clean(newpath)
	if !m.isDir(parentDir(np)) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if n, ok := m.files[op]; ok {
		if m.isDir(np) {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EISDIR}
		}
		delete(m.files, op)
		m.files[np] = n
		return nil
	}
	if !m.isDir(op) || op == "/" || op == "." {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if _, ok := m.files[np]; ok || m.isDir(np) || strings.HasPrefix(np, op+string(filepath.Separator)) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	prefix := op + string(filepath.Separator)
	for f, n := range m.files {
		if strings.HasPrefix(f, prefix) {
			delete(m.files, f)
			m.files[np+f[len(op):]] = n
		}
	}
	for d := range m.dirs {
		if d == op || strings.HasPrefix(d, prefix) {
			delete(m.dirs, d)
			m.dirs[np+d[len(op):]] = struct{}{}
		}
	}
	return nil
}

// MkdirAll creates path and any missing parents.
func (m *MemFS) MkdirAll(path string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(path)
	var todo []string
	for !m.isDir(p) {
		if _, ok := m.files[p]; ok {
			return pathErr("mkdir", path, syscall.ENOTDIR)
		}
		todo = append(todo, p)
		p = parentDir(p)
	}
	for _, d := range todo {
		m.dirs[d] = struct{}{}
	}
	return nil
}

// childrenLocked returns the sorted base names of the entries of dir p.
func (m *MemFS) childrenLocked(p string) []string {
	var names []string
	for f := range m.files {
		if parentDir(f) == p && f != p {
			names = append(names, filepath.Base(f))
		}
	}
	for d := range m.dirs {
		if parentDir(d) == p && d != p {
			names = append(names, filepath.Base(d))
		}
	}
	sort.Strings(names)
	return names
}

// ReadDir returns the sorted names of the entries of directory name.
func (m *MemFS) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	if !m.isDir(p) {
		if _, ok := m.files[p]; ok {
			return nil, pathErr("readdir", name, syscall.ENOTDIR)
		}
		return nil, pathErr("readdir", name, fs.ErrNotExist)
	}
	return m.childrenLocked(p), nil
}

// Stat describes a file or directory.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	if n, ok := m.files[p]; ok {
		return memInfo{name: filepath.Base(p), size: int64(len(n.data)), mod: n.modTime}, nil
	}
	if m.isDir(p) {
		return memInfo{name: filepath.Base(p), dir: true}, nil
	}
	return nil, pathErr("stat", name, fs.ErrNotExist)
}

type memInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() os.FileMode {
	if i.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}

// memFile is an open handle. Its node stays valid after the name is removed
// or renamed, as with POSIX file descriptors.
type memFile struct {
	fs                 *MemFS
	name               string
	node               *memNode // nil for a directory
	dir                bool
	pos                int64
	readable, writable bool
	append             bool
	closed             bool
}

var errBadFD = syscall.EBADF

func (f *memFile) check(op string, write bool) error {
	switch {
	case f.closed:
		return pathErr(op, f.name, os.ErrClosed)
	case f.dir:
		return pathErr(op, f.name, syscall.EISDIR)
	case write && !f.writable, !write && !f.readable:
		return pathErr(op, f.name, errBadFD)
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if f.pos >= int64(len(f.node.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.node.data[f.pos:])
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, syscall.EINVAL)
	}
	if off >= int64(len(f.node.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	n := f.node
	if f.append {
		f.pos = int64(len(n.data))
	}
	if f.pos < int64(len(n.synced)) {
		// Sync shares the backing array with synced; overwriting bytes the
		// snapshot can see needs a private copy first.
		n.data = append([]byte(nil), n.data...)
	}
	end := f.pos + int64(len(p))
	if end > int64(len(n.data)) {
		if end > int64(cap(n.data)) {
			grown := make([]byte, len(n.data), max(end, 2*int64(cap(n.data))))
			copy(grown, n.data)
			n.data = grown
		}
		// Bytes between the old end and pos (a seek past the end) read as zeros.
		clear(n.data[len(n.data):end])
		n.data = n.data[:end]
	}
	copy(n.data[f.pos:], p)
	f.pos = end
	n.modTime = f.fs.modTime()
	return len(p), nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("seek", f.name, os.ErrClosed)
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.pos
	case io.SeekEnd:
		if f.node != nil {
			base = int64(len(f.node.data))
		}
	default:
		return 0, pathErr("seek", f.name, syscall.EINVAL)
	}
	if base+offset < 0 {
		return 0, pathErr("seek", f.name, syscall.EINVAL)
	}
	f.pos = base + offset
	return f.pos, nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	n := f.node
	if size <= int64(len(n.data)) {
		// Copy so that a later append does not scribble on bytes that a
		// synced snapshot might share.
		n.data = append([]byte(nil), n.data[:size]...)
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	n.modTime = f.fs.modTime()
	return nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("sync", f.name, os.ErrClosed)
	}
	if f.fs.syncHook != nil {
		if err := f.fs.syncHook(f.name); err != nil {
			return pathErr("sync", f.name, err)
		}
	}
	if f.node != nil {
		// Share the bytes instead of copying: Write copies before it
		// overwrites anything below len(synced), Truncate always copies,
		// and appends past len(synced) cannot be seen through it.
		f.node.synced = f.node.data[:len(f.node.data):len(f.node.data)]
	}
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return nil, pathErr("stat", f.name, os.ErrClosed)
	}
	base := filepath.Base(clean(f.name))
	if f.dir {
		return memInfo{name: base, dir: true}, nil
	}
	return memInfo{name: base, size: int64(len(f.node.data)), mod: f.node.modTime}, nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}

// IsNotExist reports whether err says a name does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

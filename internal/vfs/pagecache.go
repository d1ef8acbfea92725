package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// pageBytes is the granularity of the page cache: a write dirties whole
// pages, read-modify-write from the underlying file as a kernel would.
const pageBytes = 4096

// PageCache wraps an FS so that file contents written through it stay in
// this process's memory until the file is synced: reads see the cached
// bytes, and only Sync (or WriteBack) reaches the underlying filesystem.
// Killing the process (kill -9) therefore loses every unsynced write, which
// is what a power loss does to a machine whose kernel had not written its
// page cache back. The broker runs on it under highwater.fault.page.cache.
//
// Like MemFS, directory operations (create, remove, rename) go to the
// underlying filesystem at once and are treated as durable; only file
// contents wait for Sync. A truncation (Truncate or O_TRUNC) is a content
// change and waits for Sync too.
//
// PageCache is safe for concurrent use. Handles of one path share one
// cached file (an inode), which survives Close while it has dirty pages,
// as the kernel's page cache does.
type PageCache struct {
	under FS
	mu    sync.Mutex
	files map[string]*pcFile // by clean path; files with handles or dirty pages
	// loseSync, when it returns true for a name, makes Sync of that file
	// report success without writing anything (the lose-fsync planted bug).
	loseSync func(name string) bool
}

var _ FS = (*PageCache)(nil)

// NewPageCache returns a page cache over under.
func NewPageCache(under FS) *PageCache {
	return &PageCache{under: under, files: map[string]*pcFile{}}
}

// Unwrap returns the underlying filesystem (for the data directory lock,
// which must be taken on the real files).
func (c *PageCache) Unwrap() FS { return c.under }

// SetLoseSync installs a predicate over file names: Sync of a file it
// accepts claims success but keeps the dirty pages in memory, so a kill
// loses them. nil restores honest Syncs. WriteBack still writes every file.
func (c *PageCache) SetLoseSync(lose func(name string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loseSync = lose
}

// Dirty reports the number of files holding unsynced changes.
func (c *PageCache) Dirty() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.files {
		if f.dirty() {
			n++
		}
	}
	return n
}

// WriteBack writes every dirty file to the underlying filesystem and
// fsyncs it, ignoring SetLoseSync: what a clean shutdown leaves on disk.
func (c *PageCache) WriteBack() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, f := range c.files {
		if err := f.flushLocked(); err != nil {
			errs = append(errs, err)
		}
		c.releaseLocked(f)
	}
	return errors.Join(errs...)
}

// pcFile is one cached file: its logical size, the dirty pages, and how
// much of the underlying file's content is still valid underneath them.
type pcFile struct {
	path string
	// under is an O_RDWR handle on the underlying file (the inode: it
	// follows renames and outlives removal).
	under FS
	disk  File
	size  int64
	// validDisk is the length of the underlying file's prefix that still
	// holds this file's content where no page is dirty; bytes past it and
	// below size read as zeros (a truncation followed by growth).
	validDisk int64
	pages     map[int64][]byte // dirty pages by index, each pageBytes long
	// diskSize is the underlying file's size, as of open or the last flush.
	diskSize int64
	refs     int
	removed  bool
}

func (f *pcFile) dirty() bool {
	return len(f.pages) > 0 || f.size != f.diskSize || f.validDisk != f.diskSize
}

// readAtLocked copies the file's logical content at off into p.
func (f *pcFile) readAtLocked(p []byte, off int64) (int, error) {
	if off >= f.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.size-off))
	for done := 0; done < n; {
		pos := off + int64(done)
		idx, in := pos/pageBytes, int(pos%pageBytes)
		chunk := min(n-done, pageBytes-in)
		dst := p[done : done+chunk]
		if pg, ok := f.pages[idx]; ok {
			copy(dst, pg[in:])
		} else if err := f.readDisk(dst, pos); err != nil {
			return done, err
		}
		done += chunk
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readDisk fills dst with the underlying bytes at pos, zeros past validDisk.
func (f *pcFile) readDisk(dst []byte, pos int64) error {
	clear(dst)
	if pos >= f.validDisk {
		return nil
	}
	want := dst[:min(int64(len(dst)), f.validDisk-pos)]
	n, err := f.disk.ReadAt(want, pos)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	clear(want[n:])
	return nil
}

// writeAtLocked puts p at off in the cache, growing the file.
func (f *pcFile) writeAtLocked(p []byte, off int64) error {
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, in := pos/pageBytes, int(pos%pageBytes)
		chunk := min(len(p)-done, pageBytes-in)
		pg, ok := f.pages[idx]
		if !ok {
			pg = make([]byte, pageBytes)
			base := idx * pageBytes
			if base < f.size {
				if err := f.readDisk(pg[:min(pageBytes, f.size-base)], base); err != nil {
					return err
				}
				// Dirty pages below size are already in f.pages; a page not
				// there reads from disk (or zeros), which readDisk did.
			}
			f.pages[idx] = pg
		}
		copy(pg[in:], p[done:done+chunk])
		done += chunk
	}
	f.size = max(f.size, off+int64(len(p)))
	return nil
}

// truncateLocked sets the logical size.
func (f *pcFile) truncateLocked(size int64) {
	if size < f.size {
		last := size / pageBytes
		for idx, pg := range f.pages {
			switch {
			case idx > last || (idx == last && size%pageBytes == 0):
				delete(f.pages, idx)
			case idx == last:
				clear(pg[size%pageBytes:])
			}
		}
		f.validDisk = min(f.validDisk, size)
	}
	f.size = size
}

// flushLocked writes the dirty pages and the size to disk and fsyncs.
func (f *pcFile) flushLocked() error {
	if !f.dirty() {
		return nil
	}
	if f.validDisk < f.diskSize {
		// Drop the invalid tail on disk, then lay the pages over it.
		if err := f.disk.Truncate(f.validDisk); err != nil {
			return err
		}
	}
	for idx, pg := range f.pages {
		base := idx * pageBytes
		n := min(pageBytes, f.size-base)
		if n <= 0 {
			continue
		}
		if _, err := f.disk.Seek(base, io.SeekStart); err != nil {
			return err
		}
		if _, err := f.disk.Write(pg[:n]); err != nil {
			return err
		}
	}
	if err := f.disk.Truncate(f.size); err != nil {
		return err
	}
	if err := f.disk.Sync(); err != nil {
		return err
	}
	clear(f.pages)
	f.validDisk, f.diskSize = f.size, f.size
	return nil
}

// releaseLocked forgets a file nobody holds and that has nothing dirty.
func (c *PageCache) releaseLocked(f *pcFile) {
	if f.refs > 0 || f.dirty() {
		return
	}
	_ = f.disk.Close()
	if !f.removed && c.files[f.path] == f {
		delete(c.files, f.path)
	}
}

// OpenFile opens name; regular files are served from the cache.
func (c *PageCache) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	p := clean(name)
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.files[p]
	if f == nil {
		// Directory and creation semantics come from the underlying FS
		// (O_CREATE and O_EXCL are directory operations, durable at once).
		uflag := flag &^ (os.O_TRUNC | os.O_APPEND | os.O_WRONLY | os.O_RDWR)
		if st, err := c.under.Stat(p); err == nil && st.IsDir() {
			return c.under.OpenFile(name, flag, perm)
		}
		disk, err := c.under.OpenFile(name, uflag|os.O_RDWR, perm)
		if err != nil {
			return nil, err
		}
		st, err := disk.Stat()
		if err != nil {
			_ = disk.Close()
			return nil, err
		}
		f = &pcFile{path: p, under: c.under, disk: disk, size: st.Size(), validDisk: st.Size(), diskSize: st.Size(), pages: map[int64][]byte{}}
		c.files[p] = f
	} else if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
		return nil, pathErr("open", name, fs.ErrExist)
	}
	h := &pcHandle{c: c, f: f, name: name,
		readable: acc == os.O_RDONLY || acc == os.O_RDWR,
		writable: acc == os.O_WRONLY || acc == os.O_RDWR,
		append:   flag&os.O_APPEND != 0}
	if flag&os.O_TRUNC != 0 {
		if !h.writable {
			c.releaseLocked(f)
			return nil, pathErr("open", name, fs.ErrPermission)
		}
		f.truncateLocked(0)
	}
	f.refs++
	return h, nil
}

// Remove removes a file (its cached pages go with it) or an empty
// directory.
func (c *PageCache) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.under.Remove(name); err != nil {
		return err
	}
	c.forgetLocked(clean(name), false)
	return nil
}

// RemoveAll removes name and everything under it.
func (c *PageCache) RemoveAll(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.under.RemoveAll(name); err != nil {
		return err
	}
	c.forgetLocked(clean(name), true)
	return nil
}

// forgetLocked drops the cached files at p (and under it with tree):
// their open handles keep working on memory that no name reaches.
func (c *PageCache) forgetLocked(p string, tree bool) {
	prefix := p + string(filepath.Separator)
	for name, f := range c.files {
		if name == p || (tree && strings.HasPrefix(name, prefix)) {
			// Open handles keep reading and writing the unlinked file,
			// as POSIX descriptors do; nothing of it reaches a name again.
			f.removed = true
			delete(c.files, name)
			if f.refs == 0 {
				_ = f.disk.Close()
			}
		}
	}
}

// Rename moves a file or a directory; cached pages move with it.
func (c *PageCache) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.under.Rename(oldpath, newpath); err != nil {
		return err
	}
	op, np := clean(oldpath), clean(newpath)
	if op == np {
		return nil
	}
	if st, err := c.under.Stat(np); err == nil && !st.IsDir() {
		c.forgetLocked(np, false) // the file replaced, if any
	}
	if f, ok := c.files[op]; ok {
		delete(c.files, op)
		f.path = np
		c.files[np] = f
		return nil
	}
	prefix := op + string(filepath.Separator)
	var moved []*pcFile
	for name, f := range c.files {
		if strings.HasPrefix(name, prefix) {
			delete(c.files, name)
			f.path = np + name[len(op):]
			moved = append(moved, f)
		}
	}
	for _, f := range moved {
		c.files[f.path] = f
	}
	return nil
}

// MkdirAll creates path and any missing parents.
func (c *PageCache) MkdirAll(path string, perm os.FileMode) error {
	return c.under.MkdirAll(path, perm)
}

// ReadDir lists a directory (entries are never cached).
func (c *PageCache) ReadDir(name string) ([]string, error) { return c.under.ReadDir(name) }

// Stat describes name with its cached size.
func (c *PageCache) Stat(name string) (os.FileInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.under.Stat(name)
	if err != nil {
		return nil, err
	}
	if f, ok := c.files[clean(name)]; ok {
		return sizedInfo{st, f.size}, nil
	}
	return st, nil
}

// sizedInfo is a FileInfo with the cached size.
type sizedInfo struct {
	os.FileInfo
	size int64
}

func (i sizedInfo) Size() int64 { return i.size }

// pcHandle is an open handle on a cached file.
type pcHandle struct {
	c                  *PageCache
	f                  *pcFile
	name               string
	pos                int64
	readable, writable bool
	append             bool
	closed             bool
}

func (h *pcHandle) check(op string, write bool) error {
	switch {
	case h.closed:
		return pathErr(op, h.name, os.ErrClosed)
	case write && !h.writable, !write && !h.readable:
		return pathErr(op, h.name, errBadFD)
	}
	return nil
}

func (h *pcHandle) Name() string { return h.name }

func (h *pcHandle) Read(p []byte) (int, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.check("read", false); err != nil {
		return 0, err
	}
	n, err := h.f.readAtLocked(p, h.pos)
	h.pos += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

func (h *pcHandle) ReadAt(p []byte, off int64) (int, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", h.name, syscall.EINVAL)
	}
	return h.f.readAtLocked(p, off)
}

func (h *pcHandle) Write(p []byte) (int, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.check("write", true); err != nil {
		return 0, err
	}
	if h.append {
		h.pos = h.f.size
	}
	if err := h.f.writeAtLocked(p, h.pos); err != nil {
		return 0, pathErr("write", h.name, err)
	}
	h.pos += int64(len(p))
	return len(p), nil
}

func (h *pcHandle) Seek(offset int64, whence int) (int64, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.closed {
		return 0, pathErr("seek", h.name, os.ErrClosed)
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = h.pos
	case io.SeekEnd:
		base = h.f.size
	default:
		return 0, pathErr("seek", h.name, syscall.EINVAL)
	}
	if base+offset < 0 {
		return 0, pathErr("seek", h.name, syscall.EINVAL)
	}
	h.pos = base + offset
	return h.pos, nil
}

func (h *pcHandle) Truncate(size int64) error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", h.name, syscall.EINVAL)
	}
	h.f.truncateLocked(size)
	return nil
}

// Sync writes the file's dirty pages to the underlying filesystem and
// fsyncs it, unless SetLoseSync says to pretend.
func (h *pcHandle) Sync() error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.closed {
		return pathErr("sync", h.name, os.ErrClosed)
	}
	if h.f.removed {
		return nil // no name reaches these bytes any more
	}
	if h.c.loseSync != nil && h.c.loseSync(h.f.path) {
		return nil
	}
	if err := h.f.flushLocked(); err != nil {
		return pathErr("sync", h.name, err)
	}
	return nil
}

func (h *pcHandle) Stat() (os.FileInfo, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.closed {
		return nil, pathErr("stat", h.name, os.ErrClosed)
	}
	st, err := h.f.disk.Stat()
	if err != nil {
		return nil, err
	}
	return sizedInfo{st, h.f.size}, nil
}

// Close releases the handle; dirty pages stay cached until synced.
func (h *pcHandle) Close() error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.closed {
		return pathErr("close", h.name, os.ErrClosed)
	}
	h.closed = true
	h.f.refs--
	if h.f.removed {
		if h.f.refs == 0 {
			_ = h.f.disk.Close()
		}
		return nil
	}
	h.c.releaseLocked(h.f)
	return nil
}

package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func mustWrite(t *testing.T, f File, s string) {
	t.Helper()
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, fsys FS, name string) string {
	t.Helper()
	b, err := ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSemanticsMatchOS runs one script against the real filesystem and MemFS
// and checks that both answer the same: MemFS is only useful if code tested
// on it behaves the same on disk.
func TestSemanticsMatchOS(t *testing.T) {
	for _, tc := range []struct {
		name string
		fsys FS
		root string
	}{{"os", OS, t.TempDir()}, {"mem", NewMem(), "/data"}} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, root := tc.fsys, tc.root
			p := func(s string) string { return filepath.Join(root, s) }
			if err := fsys.MkdirAll(p("a/b"), 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.OpenFile(p("missing"), os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("open missing: %v", err)
			}
			if _, err := fsys.OpenFile(p("nodir/x"), os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("create in missing dir: %v", err)
			}
			if _, err := fsys.Stat(p("missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("stat missing: %v", err)
			}
			if err := fsys.Remove(p("missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("remove missing: %v", err)
			}
			f, err := fsys.OpenFile(p("a/f"), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, f, "hello world")
			if _, err := f.Seek(6, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, f, "WORLD!")
			buf := make([]byte, 5)
			if n, err := f.ReadAt(buf, 0); n != 5 || err != nil || string(buf) != "hello" {
				t.Fatalf("ReadAt = %d %v %q", n, err, buf)
			}
			if n, err := f.ReadAt(buf, 10); n != 2 || err != io.EOF {
				t.Fatalf("ReadAt past end = %d %v", n, err)
			}
			if err := f.Truncate(5); err != nil {
				t.Fatal(err)
			}
			if fi, err := f.Stat(); err != nil || fi.Size() != 5 || fi.Name() != "f" {
				t.Fatalf("stat = %v %v", fi, err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("x")); err == nil {
				t.Fatal("write after close succeeded")
			}
			if got := readAll(t, fsys, p("a/f")); got != "hello" {
				t.Fatalf("content %q", got)
			}
			if _, err := fsys.OpenFile(p("a/f"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("O_EXCL: %v", err)
			}
			if err := WriteFileAtomic(fsys, p("a/g"), []byte("atomic"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Rename(p("a/g"), p("a/f")); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, fsys, p("a/f")); got != "atomic" {
				t.Fatalf("after rename %q", got)
			}
			names, err := fsys.ReadDir(p("a"))
			if err != nil || !slices.Equal(names, []string{"b", "f"}) {
				t.Fatalf("ReadDir = %v %v", names, err)
			}
			if err := fsys.Remove(p("a")); err == nil {
				t.Fatal("removed a non-empty directory")
			}
			if err := SyncDir(fsys, p("a")); err != nil {
				t.Fatal(err)
			}
			a, _ := fsys.OpenFile(p("a/app"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			mustWrite(t, a, "1")
			_, _ = a.Seek(0, io.SeekStart)
			mustWrite(t, a, "2")
			_ = a.Close()
			if got := readAll(t, fsys, p("a/app")); got != "12" {
				t.Fatalf("append %q", got)
			}
			if err := fsys.RemoveAll(p("a")); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Stat(p("a/b")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("after RemoveAll: %v", err)
			}
			if err := fsys.RemoveAll(p("a")); err != nil {
				t.Fatalf("RemoveAll of missing: %v", err)
			}
		})
	}
}

func TestCrashKeepsOnlySyncedContent(t *testing.T) {
	m := NewMem()
	_ = m.MkdirAll("/d", 0o755)
	never, _ := m.OpenFile("/d/never", os.O_RDWR|os.O_CREATE, 0o644)
	mustWrite(t, never, "lost")
	f, _ := m.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o644)
	mustWrite(t, f, "durable")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "-volatile")
	_, _ = f.Seek(0, io.SeekStart)
	mustWrite(t, f, "D") // overwrite inside the synced range
	c := m.Crash()
	if got := readAll(t, c, "/d/f"); got != "durable" {
		t.Fatalf("crashed content %q, want the synced %q", got, "durable")
	}
	if got := readAll(t, c, "/d/never"); got != "" {
		t.Fatalf("never-synced file holds %q", got)
	}
	if got := readAll(t, m, "/d/f"); got != "Durable-volatile" {
		t.Fatalf("original changed: %q", got)
	}
	// The clone is independent: writing to it does not touch m.
	g, _ := c.OpenFile("/d/f", os.O_WRONLY|os.O_APPEND, 0)
	mustWrite(t, g, "!")
	if got := readAll(t, m, "/d/f"); got != "Durable-volatile" {
		t.Fatalf("clone write leaked: %q", got)
	}
	// Truncation is not durable until synced either.
	_ = f.Truncate(3)
	if got := readAll(t, m.Crash(), "/d/f"); got != "durable" {
		t.Fatalf("unsynced truncate survived crash: %q", got)
	}
}

func TestCrashPartialKeepsPrefixOverSynced(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		m := NewMem()
		f, _ := m.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
		mustWrite(t, f, "abc")
		_ = f.Sync()
		mustWrite(t, f, "defgh")
		got := readAll(t, m.CrashPartial(r), "/f")
		if len(got) < 3 || got != "abcdefgh"[:len(got)] {
			t.Fatalf("partial crash gave %q, want a prefix of abcdefgh at least abc", got)
		}
	}
}

func TestFailSync(t *testing.T) {
	m := NewMem()
	f, _ := m.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	mustWrite(t, f, "x")
	boom := errors.New("boom")
	m.FailSync(boom)
	if err := f.Sync(); !errors.Is(err, boom) {
		t.Fatalf("Sync = %v", err)
	}
	if err := SyncDir(m, "/"); !errors.Is(err, boom) {
		t.Fatalf("SyncDir = %v", err)
	}
	if got := readAll(t, m.Crash(), "/f"); got != "" {
		t.Fatalf("failed sync made %q durable", got)
	}
	m.FailSync(nil)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, m.Crash(), "/f"); got != "x" {
		t.Fatalf("healed sync: %q", got)
	}
}

func TestRenameDirectory(t *testing.T) {
	m := NewMem()
	_ = m.MkdirAll("/a/sub", 0o755)
	_ = WriteFileAtomic(m, "/a/sub/f", []byte("v"), 0o644)
	if err := m.Rename("/a", "/b"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, m, "/b/sub/f"); got != "v" {
		t.Fatalf("moved file %q", got)
	}
	if _, err := m.Stat("/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old dir: %v", err)
	}
}

// TestConcurrentUse is for the race detector.
func TestConcurrentUse(t *testing.T) {
	m := NewMem()
	f, _ := m.OpenFile("/f", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 8)
			for j := 0; j < 200; j++ {
				_, _ = f.Write([]byte("12345678"))
				_, _ = f.ReadAt(buf, 0)
				_ = f.Sync()
				_ = m.Crash()
				_, _ = m.ReadDir("/")
			}
		}()
	}
	wg.Wait()
	if fi, _ := m.Stat("/f"); fi.Size() != 4*200*8 {
		t.Fatalf("size %d", fi.Size())
	}
}

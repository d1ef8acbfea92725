package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestPageCacheKillKeepsOnlySynced: writes are visible through the cache
// at once, reach the disk only on Sync, and a kill (dropping the cache)
// leaves exactly what was synced.
func TestPageCacheKillKeepsOnlySynced(t *testing.T) {
	for _, tc := range []struct {
		name string
		disk func(t *testing.T) (FS, string)
	}{
		{"mem", func(*testing.T) (FS, string) { return NewMem(), "/d" }},
		{"os", func(t *testing.T) (FS, string) { return OS, t.TempDir() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk, root := tc.disk(t)
			name := filepath.Join(root, "00.log")
			if err := disk.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			pc := NewPageCache(disk)
			f, err := pc.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, f, "synced|")
			if got := readAll(t, disk, name); got != "" {
				t.Fatalf("disk before sync holds %q, want nothing (the write is cached)", got)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, f, strings.Repeat("x", 3*pageBytes)) // spans pages
			if got := readAll(t, pc, name); got != "synced|"+strings.Repeat("x", 3*pageBytes) {
				t.Fatalf("cache reads %d bytes, want the unsynced write too", len(got))
			}
			if st, err := pc.Stat(name); err != nil || st.Size() != int64(7+3*pageBytes) {
				t.Fatalf("cached stat: %v %v", st, err)
			}
			if pc.Dirty() != 1 {
				t.Fatalf("dirty files %d, want 1", pc.Dirty())
			}
			// kill -9: the process's memory is gone; a new cache sees the disk.
			after := NewPageCache(disk)
			if got := readAll(t, after, name); got != "synced|" {
				t.Fatalf("after kill: %q, want only the synced bytes", got)
			}
			if err := f.Truncate(3); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, pc, name); got != "syn" {
				t.Fatalf("closed dirty file reads %q from the cache, want syn", got)
			}
			if err := pc.WriteBack(); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, disk, name); got != "syn" || pc.Dirty() != 0 {
				t.Fatalf("after write-back the disk holds %q (dirty %d)", got, pc.Dirty())
			}
		})
	}
}

// TestPageCacheLoseSync: with SetLoseSync a Sync claims success and keeps
// the pages cached; WriteBack (a clean shutdown) still writes them.
func TestPageCacheLoseSync(t *testing.T) {
	disk := NewMem()
	if err := disk.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	pc := NewPageCache(disk)
	pc.SetLoseSync(func(name string) bool { return strings.HasSuffix(name, ".log") })
	seg, _ := pc.OpenFile("/d/0.log", os.O_RDWR|os.O_CREATE, 0o644)
	meta, _ := pc.OpenFile("/d/meta", os.O_RDWR|os.O_CREATE, 0o644)
	for _, f := range []File{seg, meta} {
		mustWrite(t, f, "data")
		if err := f.Sync(); err != nil {
			t.Fatalf("sync %s: %v", f.Name(), err)
		}
	}
	if got := readAll(t, disk, "/d/0.log"); got != "" {
		t.Fatalf("a lost sync reached the disk: %q", got)
	}
	if got := readAll(t, disk, "/d/meta"); got != "data" {
		t.Fatalf("an honest sync did not reach the disk: %q", got)
	}
	if err := pc.WriteBack(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, disk, "/d/0.log"); got != "data" {
		t.Fatalf("write-back: %q", got)
	}
}

// TestPageCacheRenameAndRemove: cached pages follow renames; a removed
// file's pages never reach a later file of the same name.
func TestPageCacheRenameAndRemove(t *testing.T) {
	disk := NewMem()
	_ = disk.MkdirAll("/d/sub", 0o755)
	pc := NewPageCache(disk)
	f, _ := pc.OpenFile("/d/sub/a", os.O_RDWR|os.O_CREATE, 0o644)
	mustWrite(t, f, "hello")
	if err := pc.Rename("/d/sub", "/d/moved"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, pc, "/d/moved/a"); got != "hello" {
		t.Fatalf("renamed dir: %q", got)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, disk, "/d/moved/a"); got != "hello" {
		t.Fatalf("sync after rename: disk %q", got)
	}
	mustWrite(t, f, " again")
	if err := pc.Remove("/d/moved/a"); err != nil {
		t.Fatal(err)
	}
	g, err := pc.OpenFile("/d/moved/a", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, pc, "/d/moved/a"); got != "" {
		t.Fatalf("recreated file reads %q", got)
	}
	_ = f.Sync()
	_ = f.Close()
	_ = g.Close()
	if _, err := pc.Stat("/d/sub/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old name: %v", err)
	}
}

// TestPropertyPageCacheMatchesMemFS: any sequence of file operations
// answers the same through a page cache as on MemFS, and a kill leaves on
// disk exactly what MemFS.Crash keeps (the content at each file's last
// Sync).
func TestPropertyPageCacheMatchesMemFS(t *testing.T) {
	names := []string{"/d/a", "/d/b", "/d/s/c"}
	rapid.Check(t, func(rt *rapid.T) {
		model := NewMem()
		disk := NewMem()
		for _, fsys := range []FS{model, disk} {
			if err := fsys.MkdirAll("/d/s", 0o755); err != nil {
				rt.Fatal(err)
			}
		}
		pc := NewPageCache(disk)
		type pair struct{ m, p File }
		var hs []pair
		handle := func(rt *rapid.T) (int, bool) {
			if len(hs) == 0 {
				return 0, false
			}
			return rapid.IntRange(0, len(hs)-1).Draw(rt, "h"), true
		}
		same := func(op string, e1, e2 error) {
			if (e1 == nil) != (e2 == nil) {
				rt.Fatalf("%s: memfs %v, page cache %v", op, e1, e2)
			}
		}
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for range steps {
			switch op := rapid.IntRange(0, 10).Draw(rt, "op"); op {
			case 0: // open
				name := rapid.SampledFrom(names).Draw(rt, "name")
				flag := os.O_RDWR | os.O_CREATE
				if rapid.Bool().Draw(rt, "trunc") {
					flag |= os.O_TRUNC
				}
				if rapid.Bool().Draw(rt, "append") {
					flag |= os.O_APPEND
				}
				m, e1 := model.OpenFile(name, flag, 0o644)
				p, e2 := pc.OpenFile(name, flag, 0o644)
				same("open", e1, e2)
				if e1 == nil {
					hs = append(hs, pair{m, p})
				}
			case 1, 2: // write
				if i, ok := handle(rt); ok {
					b := bytes.Repeat([]byte{byte('a' + op)}, rapid.IntRange(0, 2*pageBytes+10).Draw(rt, "n"))
					_, e1 := hs[i].m.Write(b)
					_, e2 := hs[i].p.Write(b)
					same("write", e1, e2)
				}
			case 3: // seek
				if i, ok := handle(rt); ok {
					off := rapid.Int64Range(0, 3*pageBytes).Draw(rt, "off")
					_, e1 := hs[i].m.Seek(off, io.SeekStart)
					_, e2 := hs[i].p.Seek(off, io.SeekStart)
					same("seek", e1, e2)
				}
			case 4: // read
				if i, ok := handle(rt); ok {
					off := rapid.Int64Range(0, 3*pageBytes).Draw(rt, "off")
					n := rapid.IntRange(0, pageBytes+20).Draw(rt, "n")
					b1, b2 := make([]byte, n), make([]byte, n)
					n1, e1 := hs[i].m.ReadAt(b1, off)
					n2, e2 := hs[i].p.ReadAt(b2, off)
					if n1 != n2 || !bytes.Equal(b1[:n1], b2[:n2]) || !errors.Is(e1, e2) && !errors.Is(e2, e1) {
						rt.Fatalf("readAt %d: memfs %d %v, page cache %d %v", off, n1, e1, n2, e2)
					}
				}
			case 5: // truncate
				if i, ok := handle(rt); ok {
					size := rapid.Int64Range(0, 3*pageBytes).Draw(rt, "size")
					same("truncate", hs[i].m.Truncate(size), hs[i].p.Truncate(size))
				}
			case 6, 7: // sync
				if i, ok := handle(rt); ok {
					same("sync", hs[i].m.Sync(), hs[i].p.Sync())
				}
			case 8: // close
				if i, ok := handle(rt); ok {
					same("close", hs[i].m.Close(), hs[i].p.Close())
					hs = slices.Delete(hs, i, i+1)
				}
			case 9: // rename or remove
				a := rapid.SampledFrom(names).Draw(rt, "from")
				if rapid.Bool().Draw(rt, "remove") {
					same("remove", model.Remove(a), pc.Remove(a))
				} else {
					b := rapid.SampledFrom(names).Draw(rt, "to")
					same("rename", model.Rename(a, b), pc.Rename(a, b))
				}
			case 10: // kill -9: the cache is gone, the disk stays
				model = model.Crash()
				pc = NewPageCache(disk)
				hs = nil
			}
			for _, name := range names {
				m, e1 := ReadFile(model, name)
				p, e2 := ReadFile(pc, name)
				same("read "+name, e1, e2)
				if !bytes.Equal(m, p) {
					rt.Fatalf("%s: memfs %d bytes, page cache %d bytes", name, len(m), len(p))
				}
				s1, e1 := model.Stat(name)
				s2, e2 := pc.Stat(name)
				same("stat "+name, e1, e2)
				if e1 == nil && s1.Size() != s2.Size() {
					rt.Fatalf("stat %s: %d vs %d", name, s1.Size(), s2.Size())
				}
			}
		}
		// Final kill: the disk holds what MemFS.Crash keeps.
		crashed := model.Crash()
		for _, name := range names {
			m, e1 := ReadFile(crashed, name)
			p, e2 := ReadFile(disk, name)
			same("crash read "+name, e1, e2)
			if !bytes.Equal(m, p) {
				rt.Fatalf("after kill %s: memfs.Crash %d bytes, disk %d bytes", name, len(m), len(p))
			}
		}
	})
}

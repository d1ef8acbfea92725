package partlog

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/highwater-io/highwater/internal/vfs"
)

// Swapping cleaned segments in. Consecutive segments whose sizes add up to
// at most segment.bytes are cleaned into one (Kafka's groupSegmentsBySize),
// named by the first one's base offset. The cleaned copy is written to
// <first>.log.cleaned and fsynced, then renamed to the swap name, the
// commit point: <first>.log.swap when it replaces one segment,
// <first>.log.<last>.swap when it replaces the segments whose bases lie in
// [first, last]. Then the old files go and the swap file becomes
// <first>.log. Open finishes any swap it finds the same way.

// groups splits the plan's segments into runs to clean together: each
// run's sizes add up to at most segmentBytes (a segment bigger than that
// runs alone), and its offsets fit the indexes' 4-byte relative offsets.
func (p *cleanPlan) groups(segmentBytes int64) [][]int {
	var out [][]int
	for i := 0; i < len(p.segs); {
		g := []int{i}
		total := p.sizes[i]
		for j := i + 1; j < len(p.segs); j++ {
			if total+p.sizes[j] > min(segmentBytes, math.MaxInt32) || p.segs[j].next-p.segs[i].base > math.MaxInt32 {
				break
			}
			total += p.sizes[j]
			g = append(g, j)
		}
		out = append(out, g)
		i += len(g)
	}
	return out
}

// countingWriter counts what goes through it.
type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// cleanGroup cleans the plan's segments g into one and swaps it in,
// unless nothing would change. retained counts the bytes of the cleaned
// content either way; they are written only when changed.
func (l *Log) cleanGroup(p *cleanPlan, g []int, now time.Time) (retained int64, changed bool, err error) {
	first := p.segs[g[0]]
	cleanedPath := first.paths[0] + cleanedSuffix
	f, err := l.fs.OpenFile(cleanedPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, false, l.failUnlocked(err)
	}
	cw := &countingWriter{w: bufio.NewWriterSize(f, 1<<16)}
	var kept []AbortedTxn
	changed = len(g) > 1
	for _, i := range g {
		k, ch, err := l.filterSegment(p, p.segs[i], now, cw)
		if err != nil {
			f.Close()
			_ = l.fs.Remove(cleanedPath)
			return 0, false, err
		}
		kept, changed = append(kept, k...), changed || ch
	}
	werr := cw.w.Flush()
	if werr == nil && changed {
		werr = f.Sync()
	}
	werr = errors.Join(werr, f.Close())
	if werr != nil || !changed {
		_ = l.fs.Remove(cleanedPath)
		if werr != nil {
			return 0, false, l.failUnlocked(werr)
		}
		return cw.n, false, nil
	}
	if err := l.swapGroup(p, g, cleanedPath, kept); err != nil {
		return 0, false, err
	}
	return cw.n, true, nil
}

// swapGroup replaces the plan's segments g by the cleaned .log at
// cleanedPath, unless the log changed meanwhile (ErrCleaningAborted).
func (l *Log) swapGroup(p *cleanPlan, g []int, cleanedPath string, aborted []AbortedTxn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	first, last := p.segs[g[0]], p.segs[g[len(g)-1]]
	idx := slices.Index(l.segs, first)
	ok := idx >= 0 && idx+len(g) < len(l.segs) && l.failed == nil && !l.closed // never the active segment
	for k, i := range g {
		ok = ok && l.segs[idx+k] == p.segs[i] && p.segs[i].size == p.sizes[i]
	}
	if !ok {
		_ = l.fs.Remove(cleanedPath)
		return fmt.Errorf("%w: segments %d to %d", ErrCleaningAborted, first.base, last.base)
	}
	swapPath := swapName(l.dir, first.base, last.base)
	if err := l.fs.Rename(cleanedPath, swapPath); err != nil {
		return l.fail(err)
	}
	if err := vfs.SyncDir(l.fs, l.dir); err != nil {
		return l.fail(err)
	}
	// Committed: from here a crash is finished by Open.
	for k := range g {
		s := l.segs[idx+k]
		if err := s.remove(l.fs); err != nil {
			return l.fail(err)
		}
	}
	if err := l.fs.Rename(swapPath, first.paths[0]); err != nil {
		return l.fail(err)
	}
	if err := vfs.SyncDir(l.fs, l.dir); err != nil {
		return l.fail(err)
	}
	ns, err := openSegment(l.fs, l.dir, first.base, false, l.now())
	if err != nil {
		return l.fail(err)
	}
	if err := ns.recover(l.cfg.IndexIntervalBytes); err != nil {
		ns.close()
		return l.fail(err)
	}
	if err := ns.setAborted(l.fs, aborted); err != nil {
		ns.close()
		return l.fail(err)
	}
	l.segs = slices.Replace(l.segs, idx, idx+len(g), ns)
	l.recomputeMaxTimestamp()
	return nil
}

// swapName is the commit name of a cleaned copy of the segments whose
// bases lie in [first, last].
func swapName(dir string, first, last int64) string {
	name := segmentName(first, logSuffix)
	if last != first {
		name += "." + fmt.Sprintf("%0*d", baseDigits, last)
	}
	return filepath.Join(dir, name+swapSuffix)
}

// parseSwapName reverses swapName (the file name only).
func parseSwapName(name string) (first, last int64, ok bool) {
	stem, ok := cutSuffix(name, swapSuffix)
	if !ok {
		return 0, 0, false
	}
	logName, lastText, merged := strings.Cut(stem, logSuffix+".")
	if !merged {
		first, ok = parseSegmentName(stem, logSuffix)
		return first, first, ok
	}
	first, ok1 := parseSegmentName(logName+logSuffix, logSuffix)
	last, ok2 := parseSegmentName(lastText+logSuffix, logSuffix)
	return first, last, ok1 && ok2 && last >= first
}

// completeSwaps finishes cleaner swaps interrupted by a crash: a swap file
// is a complete, synced cleaned copy that replaces the segments whose
// bases lie in its range. Those go, indexes included (the caller rebuilds
// the swapped-in segment's: the returned bases), and so does the
// transaction checkpoint, since the aborted transaction indexes must be
// rebuilt from the log.
func (l *Log) completeSwaps() (map[int64]bool, error) {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	swapped := map[int64]bool{}
	for _, n := range names {
		first, last, ok := parseSwapName(n)
		if !ok {
			continue
		}
		for _, other := range names {
			if b, ok := parseSegmentName(other, logSuffix); ok && b >= first && b <= last {
				if err := removeSegmentFiles(l.fs, l.dir, b); err != nil {
					return nil, err
				}
			}
		}
		if err := removeSegmentFiles(l.fs, l.dir, first); err != nil {
			return nil, err
		}
		if err := l.fs.Rename(filepath.Join(l.dir, n), filepath.Join(l.dir, segmentName(first, logSuffix))); err != nil {
			return nil, err
		}
		swapped[first] = true
	}
	if len(swapped) > 0 {
		if err := l.removeTxnCheckpoint(); err != nil {
			return nil, err
		}
		if err := vfs.SyncDir(l.fs, l.dir); err != nil {
			return nil, err
		}
	}
	return swapped, nil
}

func (l *Log) failUnlocked(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fail(err)
}

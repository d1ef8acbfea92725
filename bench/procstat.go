package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicksPerSec is Linux's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat; it is 100 on every architecture Go supports.
const clockTicksPerSec = 100

// ErrNoProc means /proc could not tell about a process (not Linux, or the
// process is gone).
var ErrNoProc = errors.New("bench: no /proc data")

// ProcStats is what /proc tells about a process tree at one moment.
type ProcStats struct {
	// PeakRSSBytes sums VmHWM (each process's peak resident set) over the
	// tree: an upper bound on the tree's peak, exact for one process.
	PeakRSSBytes int64 `json:"peakRssBytes"`
	// CPUSeconds is user+system time consumed so far (children that were
	// waited for included through cutime/cstime).
	CPUSeconds float64 `json:"cpuSeconds"`
	// WriteBytes is what the tree caused to be written to storage
	// (/proc/<pid>/io write_bytes); -1 when unreadable.
	WriteBytes int64 `json:"writeBytes"`
	// Processes is the tree's size.
	Processes int `json:"processes"`
}

// ReadProcStats reads pid and all its descendants from procRoot (normally
// "/proc").
func ReadProcStats(procRoot string, pid int) (ProcStats, error) {
	if pid <= 0 {
		return ProcStats{}, fmt.Errorf("%w: pid %d", ErrNoProc, pid)
	}
	tree, err := descendants(procRoot, pid)
	if err != nil {
		return ProcStats{}, err
	}
	st := ProcStats{Processes: len(tree)}
	for i, p := range tree {
		dir := filepath.Join(procRoot, strconv.Itoa(p))
		cpu, err := readCPUSeconds(filepath.Join(dir, "stat"), true)
		if err != nil {
			if i == 0 {
				return ProcStats{}, err
			}
			continue // a child that exited meanwhile
		}
		st.CPUSeconds += cpu
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err == nil {
			if kb, ok := statusKB(status, "VmHWM:"); ok {
				st.PeakRSSBytes += kb * 1024
			}
		}
		io, err := os.ReadFile(filepath.Join(dir, "io"))
		if wb, ok := ioField(io, "write_bytes:"); err == nil && ok && st.WriteBytes >= 0 {
			st.WriteBytes += wb
		} else {
			st.WriteBytes = -1
		}
	}
	return st, nil
}

// Sub is the change from before to s: CPU and writes as deltas, the peak RSS
// as s's (VmHWM never goes down).
func (s ProcStats) Sub(before ProcStats) ProcStats {
	out := s
	out.CPUSeconds = s.CPUSeconds - before.CPUSeconds
	if s.WriteBytes >= 0 && before.WriteBytes >= 0 {
		out.WriteBytes = s.WriteBytes - before.WriteBytes
	} else {
		out.WriteBytes = -1
	}
	return out
}

// descendants returns pid followed by every process whose parent chain
// leads to it.
func descendants(procRoot string, pid int) ([]int, error) {
	if _, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid), "stat")); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoProc, err)
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoProc, err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if f := statFields(b); len(f) > 1 {
			if ppid, err := strconv.Atoi(f[1]); err == nil {
				children[ppid] = append(children[ppid], p)
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// statFields returns the fields of /proc/<pid>/stat after the command name
// (which may hold spaces and parentheses): index 0 is state, 1 ppid, 11
// utime, 12 stime, 13 cutime, 14 cstime.
func statFields(b []byte) []string {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// ProcessCPUSeconds is pid's own user+system time, without its children:
// the benchmark client's share when the brokers are its children.
func ProcessCPUSeconds(procRoot string, pid int) (float64, error) {
	return readCPUSeconds(filepath.Join(procRoot, strconv.Itoa(pid), "stat"), false)
}

// readCPUSeconds sums utime and stime, plus cutime and cstime (children
// waited for) when withChildren.
func readCPUSeconds(path string, withChildren bool) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoProc, err)
	}
	f := statFields(b)
	if len(f) < 15 {
		return 0, fmt.Errorf("%w: short %s", ErrNoProc, path)
	}
	var ticks int64
	idxs := []int{11, 12}
	if withChildren {
		idxs = append(idxs, 13, 14)
	}
	for _, idx := range idxs {
		v, err := strconv.ParseInt(f[idx], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s field %d: %w", ErrNoProc, path, idx, err)
		}
		ticks += v
	}
	return float64(ticks) / clockTicksPerSec, nil
}

// statusKB reads a "Key:   123 kB" line of /proc/<pid>/status.
func statusKB(status []byte, key string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// ioField reads a "key: 123" line of /proc/<pid>/io.
func ioField(io []byte, key string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(io))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			v, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// loadAvg1 reads the one-minute load average from procRoot/loadavg, -1
// when it cannot.
func loadAvg1(procRoot string) float64 {
	b, err := os.ReadFile(filepath.Join(procRoot, "loadavg"))
	if err != nil {
		return -1
	}
	return parseLoadAvg1(string(b))
}

// parseLoadAvg1 is the first field of /proc/loadavg's text, -1 when it is
// not a number.
func parseLoadAvg1(text string) float64 {
	f := strings.Fields(text)
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 {
		return -1
	}
	return v
}

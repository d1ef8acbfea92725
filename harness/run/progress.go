package run

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/history"
)

// statusRedrawInterval is how often the live status line is redrawn (and
// the history file read for new events).
const statusRedrawInterval = 250 * time.Millisecond

// statusMaxFaults is how many open faults the line names.
const statusMaxFaults = 2

// status is the live one-line progress display of Options.Status: phase,
// elapsed/duration, operations, acknowledged sends and the open faults.
// It learns all but the harness's own phases by tailing history.jsonl, so
// the workload and the nemesis need no hook. One goroutine (started by
// startStatus, ended by stop) reads and redraws; say lines go through
// print so they never interleave with a half-drawn status. A nil *status
// does nothing, which is what a run without Options.Status gets.
type status struct {
	out   io.Writer
	mu    sync.Mutex // guards everything below, and writes to out
	state statusState
	path  string // history.jsonl once the run has one
	file  *os.File
	tail  statusTail
	drawn bool // a status line is on the screen
	stopc chan struct{}
	done  chan struct{}
}

// statusState is what the line shows.
type statusState struct {
	// Phase is the harness's own phase (checking); empty shows the
	// history's, or "starting" before there is one.
	Phase string
	// PhaseStart is when the phase shown began.
	PhaseStart time.Time
	// Duration is the workload's planned length, shown while it runs.
	Duration time.Duration
	Start    time.Time
}

// startStatus starts drawing on out; nil out means no status (nil).
func startStatus(out io.Writer, now time.Time) *status {
	if out == nil {
		return nil
	}
	s := &status{out: out, stopc: make(chan struct{}), done: make(chan struct{}),
		state: statusState{PhaseStart: now, Start: now}}
	go s.loop()
	return s
}

func (s *status) loop() {
	defer close(s.done)
	t := time.NewTicker(statusRedrawInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopc:
			return
		case now := <-t.C:
			s.mu.Lock()
			s.readLocked(now)
			s.drawLocked(now)
			s.mu.Unlock()
		}
	}
}

// watch makes the status tail the history at path; duration is the
// workload's.
func (s *status) watch(path string, duration time.Duration) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.path, s.state.Duration = path, duration
}

// phase names the harness's own phases (checking) the history cannot show.
func (s *status) phase(name string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Phase, s.state.PhaseStart = name, time.Now()
}

// print runs write (a say line) with the status line cleared, and redraws
// it after.
func (s *status) print(write func()) {
	if s == nil {
		write()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clearLocked()
	write()
}

// stop ends the display and erases the line; it is idempotent.
func (s *status) stop() {
	if s == nil {
		return
	}
	select {
	case <-s.stopc:
		return
	default:
	}
	close(s.stopc)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clearLocked()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

func (s *status) clearLocked() {
	if s.drawn {
		fmt.Fprint(s.out, "\r\033[K")
		s.drawn = false
	}
}

func (s *status) drawLocked(now time.Time) {
	fmt.Fprint(s.out, "\r\033[K"+statusText(s.state, s.tail, now))
	s.drawn = true
}

// readLocked feeds the history's new bytes to the tail; errors only mean
// the line shows less.
func (s *status) readLocked(now time.Time) {
	if s.path == "" {
		return
	}
	if s.file == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return
		}
		s.file = f
	}
	before := s.tail.Phase
	defer func() {
		if s.tail.Phase != before && s.state.Phase == "" {
			s.state.PhaseStart = now
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.file.Read(buf)
		s.tail.feed(buf[:n])
		if err != nil || n < len(buf) {
			return
		}
	}
}

// statusTail counts a history as its bytes arrive.
type statusTail struct {
	partial []byte
	Phase   string // the history's latest phase event
	Ops     int64  // completed client operations
	Acked   int64  // acknowledged sends (committed transactions for txn/eos)
	Faults  map[int64]string
}

// tailEvent is the part of an event line the status needs.
type tailEvent struct {
	Type  history.Type    `json:"type"`
	F     history.F       `json:"f"`
	Value json.RawMessage `json:"value"`
}

// feed consumes data, a continuation of the history file; a line cut at
// the end waits for the rest.
func (t *statusTail) feed(data []byte) {
	t.partial = append(t.partial, data...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			return
		}
		t.line(t.partial[:i])
		t.partial = t.partial[i+1:]
	}
}

func (t *statusTail) line(l []byte) {
	var e tailEvent
	if json.Unmarshal(l, &e) != nil || e.Type == "" {
		return // the header, or something the status need not understand
	}
	switch {
	case e.Type == history.TypePhase:
		t.Phase = string(e.F)
	case e.Type == history.TypeNemesis:
		var f history.Fault
		if json.Unmarshal(e.Value, &f) != nil {
			return
		}
		if t.Faults == nil {
			t.Faults = map[int64]string{}
		}
		if e.F == history.FStart {
			name := f.Fault
			if len(f.Targets) > 0 {
				name += "(" + strings.Join(f.Targets, ",") + ")"
			}
			t.Faults[f.Window] = name
		} else {
			delete(t.Faults, f.Window)
		}
	case e.Type.IsCompletion():
		t.Ops++
		if e.Type == history.TypeOK && (e.F == history.FSend || e.F == history.FTxn) {
			t.Acked++
		}
	}
}

// statusText renders the line: the harness's phase if it named one, else
// the history's latest, else "starting".
func statusText(st statusState, t statusTail, now time.Time) string {
	phase := cmp.Or(st.Phase, t.Phase, "starting")
	var b strings.Builder
	b.WriteString(phase)
	inPhase := roundSec(now.Sub(st.PhaseStart))
	if phase == history.PhaseWorkload && st.Duration > 0 {
		fmt.Fprintf(&b, " %s/%s", inPhase, st.Duration)
	} else {
		fmt.Fprintf(&b, " %s", inPhase)
	}
	fmt.Fprintf(&b, " · elapsed %s · ops %d · acked %d", roundSec(now.Sub(st.Start)), t.Ops, t.Acked)
	if len(t.Faults) > 0 {
		var names []string
		for _, w := range slices.Sorted(maps.Keys(t.Faults)) {
			names = append(names, t.Faults[w])
		}
		// A line wider than the terminal wraps, and \r redraws only its
		// last row: name two faults at most.
		if len(names) > statusMaxFaults {
			names = append(names[:statusMaxFaults], fmt.Sprintf("+%d", len(names)-statusMaxFaults))
		}
		fmt.Fprintf(&b, " · fault %s", strings.Join(names, " "))
	}
	return b.String()
}

func roundSec(d time.Duration) time.Duration { return d.Round(time.Second) }

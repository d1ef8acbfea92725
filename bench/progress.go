package bench

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// RunOptions are a run's outputs besides its result.
type RunOptions struct {
	// Log gets round headers, probe verdicts and stop errors, and the
	// periodic progress lines when Progress is nil.
	Log io.Writer
	// Progress shows running phases (a terminal bar); nil means a plain
	// progress line on Log every few seconds.
	Progress Progress
}

// begin starts showing one run; nil (valid for Produce and consume) when
// there is nowhere to show it. The caller ends what it gets.
func (o RunOptions) begin(label string) RunProgress {
	switch {
	case o.Progress != nil:
		return o.Progress.Begin(label)
	case o.Log != nil:
		return LineProgress{Out: o.Log, Interval: progressInterval}.Begin(label)
	}
	return nil
}

// Progress shows how far runs have come. A run's phases (produce, consume;
// both at once for an end-to-end run) report through the RunProgress that
// Begin returns, and the run's driver calls End before printing anything
// else, so a terminal bar never fights other output.
type Progress interface {
	Begin(label string) RunProgress
}

// RunProgress is one run being shown.
type RunProgress interface {
	// Phase starts one phase ("produce", "consume").
	Phase(name string) PhaseProgress
	// End finishes every phase and returns once nothing more is drawn.
	End()
}

// PhaseProgress receives a phase's state from its driver goroutine.
type PhaseProgress interface {
	Update(PhaseState)
	Done()
}

// PhaseState is a phase's progress so far.
type PhaseState struct {
	Records int64
	Bytes   int64
	// Total is the records the phase expects, 0 while not known.
	Total   int64
	Elapsed time.Duration
	// Duration is the phase's planned length when it runs for a time.
	Duration time.Duration
}

func (s PhaseState) ratePerSec() (records, mb float64) {
	if secs := s.Elapsed.Seconds(); secs > 0 {
		return float64(s.Records) / secs, float64(s.Bytes) / bytesPerMB / secs
	}
	return 0, 0
}

// phaseOf starts a phase on rp, or returns a no-op when rp is nil.
func phaseOf(rp RunProgress, name string) PhaseProgress {
	if rp == nil {
		return nopPhase{}
	}
	return rp.Phase(name)
}

type nopPhase struct{}

func (nopPhase) Update(PhaseState) {}
func (nopPhase) Done()             {}

// LineProgress prints a line every Interval per running phase, in
// kafka-producer-perf-test's words: for logs and pipes.
type LineProgress struct {
	Out      io.Writer
	Interval time.Duration
}

// Begin implements Progress.
func (l LineProgress) Begin(string) RunProgress { return lineRun(l) }

type lineRun LineProgress

func (l lineRun) Phase(name string) PhaseProgress {
	verb := "sent"
	if name != "produce" {
		verb = "consumed"
	}
	return &linePhase{out: l.Out, interval: l.Interval, verb: verb}
}

func (lineRun) End() {}

type linePhase struct {
	out      io.Writer
	interval time.Duration
	verb     string
	last     PhaseState
}

func (p *linePhase) Update(s PhaseState) {
	if s.Elapsed-p.last.Elapsed < p.interval {
		return
	}
	secs := (s.Elapsed - p.last.Elapsed).Seconds()
	n := s.Records - p.last.Records
	fmt.Fprintf(p.out, "%d records %s, %.1f records/sec in the last %.1f s.\n", n, p.verb, float64(n)/secs, secs)
	p.last = s
}

func (*linePhase) Done() {}

// BarProgress draws a bar per running phase with mpb; use it only when Out
// is a terminal.
type BarProgress struct {
	Out io.Writer
	// Width is the bar's width in columns when Out's size cannot be read
	// (80 when 0).
	Width int
}

// Begin implements Progress.
func (b BarProgress) Begin(label string) RunProgress {
	opts := []mpb.ContainerOption{mpb.WithOutput(b.Out), mpb.WithRefreshRate(200 * time.Millisecond)}
	if b.Width > 0 {
		opts = append(opts, mpb.WithWidth(b.Width))
	}
	return &barRun{p: mpb.New(opts...), label: label}
}

type barRun struct {
	p     *mpb.Progress
	label string

	mu     sync.Mutex
	phases []*barPhase
}

func (r *barRun) Phase(name string) PhaseProgress {
	ph := &barPhase{}
	ph.state.Store(&PhaseState{})
	ph.bar = r.p.New(0, mpb.BarStyle().Lbound("[").Rbound("]"),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(r.label+" "+name, decor.WC{C: decor.DindentRight | decor.DextraSpace})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return ph.state.Load().text() })),
	)
	r.mu.Lock()
	r.phases = append(r.phases, ph)
	r.mu.Unlock()
	return ph
}

func (r *barRun) End() {
	r.mu.Lock()
	for _, ph := range r.phases {
		ph.Done()
	}
	r.mu.Unlock()
	r.p.Wait()
}

type barPhase struct {
	bar   *mpb.Bar
	state atomic.Pointer[PhaseState]
	done  atomic.Bool
}

func (p *barPhase) Update(s PhaseState) {
	if p.done.Load() {
		return
	}
	p.state.Store(&s)
	switch {
	case s.Duration > 0:
		p.bar.SetTotal(s.Duration.Milliseconds(), false)
		p.bar.SetCurrent(min(s.Elapsed, s.Duration).Milliseconds())
	case s.Total > 0:
		p.bar.SetTotal(s.Total, false)
		p.bar.SetCurrent(min(s.Records, s.Total))
	}
}

func (p *barPhase) Done() {
	if p.done.Swap(true) {
		return
	}
	p.bar.SetTotal(-1, true)
}

// text is the figures beside the bar.
func (s *PhaseState) text() string {
	recs, mb := s.ratePerSec()
	of := ""
	if s.Total > 0 {
		of = fmt.Sprintf("/%d", s.Total)
	}
	t := fmt.Sprintf("%d%s records  %.0f rec/s  %.1f MB/s  %.0fs", s.Records, of, recs, mb, s.Elapsed.Seconds())
	if s.Duration > 0 {
		t += fmt.Sprintf("/%.0fs", s.Duration.Seconds())
	}
	return t
}

package history

import (
	"fmt"
	"sort"
)

// Op is one operation: an invoke paired with its completion.
type Op struct {
	Process  int
	F        F
	Invoke   Event
	Complete Event // Type is ok, fail or info
	// Incomplete is set when the history ended before the operation
	// completed; Complete is then a synthesized info with Index -1 and the
	// time of the last event in the history.
	Incomplete bool
}

// Type returns how the operation ended.
func (o Op) Type() Type { return o.Complete.Type }

// Value returns the most informative value of the operation: the
// completion's when it has one, the invoke's otherwise (fail and info
// completions usually repeat nothing).
func (o Op) Value() any {
	if o.Complete.Value != nil {
		return o.Complete.Value
	}
	return o.Invoke.Value
}

// Window is a nemesis fault window. StopIndex and StopTime are -1 when the
// history ended with the fault still active.
type Window struct {
	ID          int64
	Fault       string
	Description string
	Targets     []string
	StartIndex  int64
	StartTime   int64
	StopIndex   int64
	StopTime    int64
}

// History is a validated history: its header, every event in file order,
// operations paired in invoke order, fault windows in start order and phase
// markers.
type History struct {
	Header Header
	Events []Event
	Ops    []Op
	Faults []Window
	Phases []Event
	// Truncated is set when the file ended in a partial line (the writer
	// died mid-write); that line was dropped.
	Truncated bool
}

// Phase returns the first phase marker with the given name.
func (h *History) Phase(name string) (Event, bool) {
	for _, e := range h.Phases {
		if string(e.F) == name {
			return e, true
		}
	}
	return Event{}, false
}

// EndTime returns the time of the last event (0 for an empty history).
func (h *History) EndTime() int64 {
	if len(h.Events) == 0 {
		return 0
	}
	return h.Events[len(h.Events)-1].Time
}

// validator is the state machine both Writer and Reader drive, so a history
// the Writer accepted always reads back.
type validator struct {
	next        int64
	lastTime    int64
	outstanding map[int]Event // process → its outstanding invoke
	windows     map[int64]struct{}
}

func newValidator() *validator {
	return &validator{outstanding: map[int]Event{}, windows: map[int64]struct{}{}}
}

// check validates e as the next event without changing state.
func (v *validator) check(e Event) error {
	if e.Index != v.next {
		return fmt.Errorf("%w: index %d, want %d", ErrOrder, e.Index, v.next)
	}
	if e.Time < v.lastTime || e.Time < 0 {
		return fmt.Errorf("%w: event %d time %dns before previous %dns", ErrOrder, e.Index, e.Time, v.lastTime)
	}
	switch {
	case e.Type == TypeInvoke:
		if e.Process < 0 {
			return fmt.Errorf("%w: event %d: invoke by reserved process %d", ErrMalformed, e.Index, e.Process)
		}
		if e.F == "" {
			return fmt.Errorf("%w: event %d: invoke without f", ErrMalformed, e.Index)
		}
		if inv, busy := v.outstanding[e.Process]; busy {
			return fmt.Errorf("%w: event %d: process %d invoked while event %d is outstanding", ErrOutstanding, e.Index, e.Process, inv.Index)
		}
	case e.Type.IsCompletion():
		inv, busy := v.outstanding[e.Process]
		if !busy {
			return fmt.Errorf("%w: event %d: %s by process %d", ErrNoInvoke, e.Index, e.Type, e.Process)
		}
		if e.F != "" && e.F != inv.F {
			return fmt.Errorf("%w: event %d: %s completes f %q but process %d invoked %q", ErrNoInvoke, e.Index, e.Type, e.F, e.Process, inv.F)
		}
	case e.Type == TypeNemesis:
		return v.checkFault(e)
	case e.Type == TypePhase:
		if e.F == "" {
			return fmt.Errorf("%w: event %d: phase without a name", ErrMalformed, e.Index)
		}
	default:
		return fmt.Errorf("%w: event %d: unknown type %q", ErrMalformed, e.Index, e.Type)
	}
	return nil
}

func (v *validator) checkFault(e Event) error {
	f, ok := e.Fault()
	if !ok {
		return fmt.Errorf("%w: event %d: nemesis event without a fault value", ErrFault, e.Index)
	}
	_, open := v.windows[f.Window]
	switch e.F {
	case FStart:
		if open {
			return fmt.Errorf("%w: event %d: window %d started twice", ErrFault, e.Index, f.Window)
		}
	case FStop:
		if !open {
			return fmt.Errorf("%w: event %d: window %d stopped but not open", ErrFault, e.Index, f.Window)
		}
	default:
		return fmt.Errorf("%w: event %d: nemesis f %q, want start or stop", ErrFault, e.Index, e.F)
	}
	return nil
}

// apply records e, which check accepted.
func (v *validator) apply(e Event) {
	v.next++
	v.lastTime = e.Time
	switch {
	case e.Type == TypeInvoke:
		v.outstanding[e.Process] = e
	case e.Type.IsCompletion():
		delete(v.outstanding, e.Process)
	case e.Type == TypeNemesis:
		f, _ := e.Fault()
		if e.F == FStart {
			v.windows[f.Window] = struct{}{}
		} else {
			delete(v.windows, f.Window)
		}
	}
}

// builder pairs already-validated events into a History.
type builder struct {
	h       *History
	pending map[int]int // process → index into h.Ops
	windows map[int64]int
}

func newBuilder(hdr Header) *builder {
	return &builder{h: &History{Header: hdr}, pending: map[int]int{}, windows: map[int64]int{}}
}

// add appends e, which a validator has accepted.
func (b *builder) add(e Event) {
	b.h.Events = append(b.h.Events, e)
	switch {
	case e.Type == TypeInvoke:
		b.pending[e.Process] = len(b.h.Ops)
		b.h.Ops = append(b.h.Ops, Op{Process: e.Process, F: e.F, Invoke: e})
	case e.Type.IsCompletion():
		i := b.pending[e.Process]
		delete(b.pending, e.Process)
		if e.F == "" {
			e.F = b.h.Ops[i].F
		}
		b.h.Ops[i].Complete = e
	case e.Type == TypeNemesis:
		b.addFault(e)
	case e.Type == TypePhase:
		b.h.Phases = append(b.h.Phases, e)
	}
}

func (b *builder) addFault(e Event) {
	f, _ := e.Fault()
	if e.F == FStart {
		b.windows[f.Window] = len(b.h.Faults)
		b.h.Faults = append(b.h.Faults, Window{
			ID: f.Window, Fault: f.Fault, Description: f.Description, Targets: f.Targets,
			StartIndex: e.Index, StartTime: e.Time, StopIndex: -1, StopTime: -1,
		})
		return
	}
	w := &b.h.Faults[b.windows[f.Window]]
	delete(b.windows, f.Window)
	w.StopIndex, w.StopTime = e.Index, e.Time
}

// finish closes operations the history never completed as info.
func (b *builder) finish() *History {
	end := b.h.EndTime()
	procs := make([]int, 0, len(b.pending))
	for p := range b.pending {
		procs = append(procs, p)
	}
	sort.Ints(procs)
	for _, p := range procs {
		op := &b.h.Ops[b.pending[p]]
		op.Incomplete = true
		op.Complete = Event{Index: -1, Time: end, Process: p, Type: TypeInfo, F: op.F, Error: "history ended before completion"}
	}
	b.pending = map[int]int{}
	return b.h
}

package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Reader streams a history, validating each event as it goes.
type Reader struct {
	br        *bufio.Reader
	hdr       Header
	v         *validator
	line      int
	truncated bool
}

// NewReader reads and validates the header line.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 1<<20), v: newValidator()}
	line, _, err := rd.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty history", ErrFormat)
		}
		return nil, err
	}
	if err := json.Unmarshal(line, &rd.hdr); err != nil {
		return nil, fmt.Errorf("%w: line 1: %v", ErrFormat, err)
	}
	if err := rd.hdr.validate(); err != nil {
		return nil, err
	}
	return rd, nil
}

// Header returns the history's header.
func (r *Reader) Header() Header { return r.hdr }

// Truncated reports whether the history ended in a partial last line (the
// writer died mid-line); that line is ignored.
func (r *Reader) Truncated() bool { return r.truncated }

// readLine returns the next non-blank line and whether it ended in a newline.
func (r *Reader) readLine() ([]byte, bool, error) {
	for {
		line, err := r.br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("history: read: %w", err)
		}
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return nil, false, io.EOF
		}
		r.line++
		complete := err == nil
		if t := bytes.TrimSpace(line); len(t) > 0 {
			return t, complete, nil
		}
		if !complete {
			return nil, false, io.EOF
		}
	}
}

// Next returns the next event, or io.EOF after the last one.
func (r *Reader) Next() (Event, error) {
	line, complete, err := r.readLine()
	if err != nil {
		return Event{}, err
	}
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		if !complete {
			// A crash while writing the last line: everything before it
			// is intact, so keep it rather than reject the run.
			r.truncated = true
			return Event{}, io.EOF
		}
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return Event{}, fmt.Errorf("line %d: %w", r.line, err)
	}
	if err := r.v.check(e); err != nil {
		return Event{}, fmt.Errorf("line %d: %w", r.line, err)
	}
	r.v.apply(e)
	return e, nil
}

// Read reads and validates a whole history and pairs its operations.
func Read(r io.Reader) (*History, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	b := newBuilder(rd.hdr) // Next validates every event it returns
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		b.add(e)
	}
	h := b.finish()
	h.Truncated = rd.truncated
	return h, nil
}

// Load reads the history file at path.
func Load(path string) (*History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	return Read(f)
}

// Writer appends events to a history as they happen. It is safe for
// concurrent use; see the package documentation.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	v      *validator
	clock  func() time.Duration
	buf    bytes.Buffer
	err    error // sticky: after a failed write the file may hold a partial line
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// WithClock sets the source of event times: elapsed time since the
// header's start on a monotonic clock. Tests and simulations pass their own.
func WithClock(elapsed func() time.Duration) WriterOption {
	return func(w *Writer) { w.clock = elapsed }
}

// NewWriter writes the header to w and returns a Writer appending to it.
// Format and Version are filled in. Start is the wall clock at time 0: on
// the writer's own clock, time 0 is this call, and Start is set to it
// whatever the caller passed (a caller's earlier timestamp, such as when
// its run began, would put every event's wall time off by the gap); with
// WithClock the caller owns time 0, so its Start is kept (now when zero).
func NewWriter(w io.Writer, hdr Header, opts ...WriterOption) (*Writer, error) {
	start := time.Now()
	hw := &Writer{w: w, v: newValidator()}
	for _, o := range opts {
		o(hw)
	}
	if hw.clock == nil {
		hw.clock = func() time.Duration { return time.Since(start) }
		hdr.Start = start.UTC()
	} else if hdr.Start.IsZero() {
		hdr.Start = start.UTC()
	}
	hdr.Format, hdr.Version = FormatName, FormatVersion
	line, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("history: write header: %w", err)
	}
	return hw, nil
}

// Create creates (or truncates) the file at path and writes the header.
// Close closes the file.
func Create(path string, hdr Header, opts ...WriterOption) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	w, err := NewWriter(f, hdr, opts...)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.closer = f
	return w, nil
}

// Append stamps e with the next index and the current time, validates it
// against what was written before, and writes it as one line. Completions
// may leave F empty: it is taken from the outstanding invoke.
func (w *Writer) Append(e Event) (Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return Event{}, w.err
	}
	e.Index = w.v.next
	e.Time = max(int64(w.clock()), w.v.lastTime)
	if e.Type.IsCompletion() && e.F == "" {
		if inv, ok := w.v.outstanding[e.Process]; ok {
			e.F = inv.F
		}
	}
	if err := w.v.check(e); err != nil {
		return Event{}, err
	}
	w.buf.Reset()
	if err := json.NewEncoder(&w.buf).Encode(e); err != nil {
		return Event{}, fmt.Errorf("%w: encode: %v", ErrMalformed, err)
	}
	// One Write per event: the line reaches the kernel before Append
	// returns, so a harness crash cannot lose it.
	if _, err := w.w.Write(w.buf.Bytes()); err != nil {
		w.err = fmt.Errorf("history: write: %w", err)
		return Event{}, w.err
	}
	w.v.apply(e)
	return e, nil
}

// Invoke records that process starts an operation.
func (w *Writer) Invoke(process int, f F, value any) (Event, error) {
	return w.Append(Event{Process: process, Type: TypeInvoke, F: f, Value: value})
}

// Ok records that process's outstanding operation succeeded with value.
func (w *Writer) Ok(process int, value any) (Event, error) {
	return w.Append(Event{Process: process, Type: TypeOK, Value: value})
}

// Fail records that process's outstanding operation certainly had no
// effect. Use Info whenever that is not certain.
func (w *Writer) Fail(process int, value any, cause error) (Event, error) {
	return w.Append(Event{Process: process, Type: TypeFail, Value: value, Error: errString(cause)})
}

// Info records that process's outstanding operation may or may not have
// taken effect.
func (w *Writer) Info(process int, value any, cause error) (Event, error) {
	return w.Append(Event{Process: process, Type: TypeInfo, Value: value, Error: errString(cause)})
}

// FaultStart records that a fault window opens.
func (w *Writer) FaultStart(f Fault) (Event, error) {
	return w.Append(Event{Process: NemesisProcess, Type: TypeNemesis, F: FStart, Value: &f})
}

// FaultStop records that the fault window f.Window healed.
func (w *Writer) FaultStop(f Fault) (Event, error) {
	return w.Append(Event{Process: NemesisProcess, Type: TypeNemesis, F: FStop, Value: &f})
}

// Phase records that the run enters the named phase (PhaseDrain, …).
func (w *Writer) Phase(name, description string) (Event, error) {
	var v any
	if description != "" {
		v = &Phase{Description: description}
	}
	return w.Append(Event{Process: HarnessProcess, Type: TypePhase, F: F(name), Value: v})
}

// Elapsed is the writer's clock now: the time an event appended at this
// moment would get (never before the last event's). Clients stamp times
// inside a value with it (Txn.EndTime) so they compare with event times.
func (w *Writer) Elapsed() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(int64(w.clock()), w.v.lastTime)
}

// Close closes the file if the Writer created it. Operations still
// outstanding stay open: readers treat them as info.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = ErrClosed
	}
	if w.closer != nil {
		c := w.closer
		w.closer = nil
		if err := c.Close(); err != nil {
			return fmt.Errorf("history: close: %w", err)
		}
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

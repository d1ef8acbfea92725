package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FormatName and FormatVersion identify the file format in the header. A
// reader refuses a version it does not know rather than guess.
const (
	FormatName    = "highwater-history"
	FormatVersion = 1
)

// Process ids below zero are reserved for events that are not client
// operations.
const (
	NemesisProcess = -1 // fault windows
	HarnessProcess = -2 // phase markers (workload, recovery, drain, done)
)

// Sentinel errors; every error returned by this package wraps one of them.
var (
	ErrFormat      = errors.New("history: bad header")
	ErrMalformed   = errors.New("history: malformed event")
	ErrOrder       = errors.New("history: events out of order")
	ErrNoInvoke    = errors.New("history: completion without a matching invoke")
	ErrOutstanding = errors.New("history: process already has an outstanding operation")
	ErrFault       = errors.New("history: bad fault window")
	ErrClosed      = errors.New("history: writer closed")
)

// Header is the first line of a history: what is needed to know where the
// run came from and to replay it.
type Header struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	// Start is the wall clock when time 0 was taken (NewWriter). Histories
	// the harness wrote before this was enforced carry the run's start
	// instead, taken before the cluster started: there time 0 came later
	// than Start by the cluster's start-up (about 1.5 s for the reference
	// cluster), so an event happened that much after Start+time (as the
	// node logs show). Only people read Start; old files load as before.
	Start  time.Time `json:"start"`
	Commit string    `json:"commit,omitempty"`
	// Params holds the scenario knobs (cluster, workload, nemesis) as
	// strings so the header stays a flat, stable object.
	Params map[string]string `json:"params,omitempty"`
}

// ParamHWCheckpoint is the Header.Params key for the cluster's
// high-watermark checkpoint interval, a Go duration ("100ms", "5s"): how
// old the high watermark a replica killed with -9 restarts from may be.
// The checker's stale-high-watermark excuse for a restarted replica reads
// it (checker.Linearizability.StaleHWCheckpoint); histories without it are
// judged with the reference broker's.
const ParamHWCheckpoint = "hw_checkpoint"

func (h Header) validate() error {
	if h.Format != FormatName {
		return fmt.Errorf("%w: format %q, want %q", ErrFormat, h.Format, FormatName)
	}
	if h.Version != FormatVersion {
		return fmt.Errorf("%w: unsupported version %d (this reader knows %d)", ErrFormat, h.Version, FormatVersion)
	}
	return nil
}

// Type is an event's kind.
type Type string

// Operation types (invoke and its three completions) and the two
// non-operation event types.
const (
	TypeInvoke  Type = "invoke"
	TypeOK      Type = "ok"
	TypeFail    Type = "fail" // certainly had no effect
	TypeInfo    Type = "info" // may or may not have had an effect
	TypeNemesis Type = "nemesis"
	TypePhase   Type = "phase"
)

// IsCompletion reports whether t ends an operation.
func (t Type) IsCompletion() bool { return t == TypeOK || t == TypeFail || t == TypeInfo }

// F names what an operation (or a nemesis/phase event) does.
type F string

// Operation functions of the queue workload, and nemesis event functions.
const (
	FSend        F = "send"
	FPoll        F = "poll"
	FFetch       F = "fetch" // a read at an explicit offset
	FListOffsets F = "list-offsets"
	FCommit      F = "commit"
	FAssign      F = "assign"
	FSubscribe   F = "subscribe"

	// Transactional workloads (txn, eos).
	FTxn          F = "txn"           // one producer transaction; value [Txn]
	FGroupOffsets F = "group-offsets" // a group's committed offsets as read back; value [Commit]

	FStart F = "start" // nemesis: a fault window opens
	FStop  F = "stop"  // nemesis: a fault window closes (healed)
)

// Phase names the harness records; checkers rely on PhaseDrain.
const (
	PhaseWorkload = "workload"
	PhaseRecovery = "recovery"
	PhaseDrain    = "drain" // the final read-everything-back phase begins
	PhaseDone     = "done"  // the run ended normally (drain completed)
)

// Event is one line of a history after the header.
//
// Value holds a pointer to the typed value for F ([*Send], [*Poll], …), a
// [json.RawMessage] for an F this version does not know, or nil.
type Event struct {
	Index   int64  `json:"index"`
	Time    int64  `json:"time"` // nanoseconds since Header.Start, monotonic
	Process int    `json:"process"`
	Type    Type   `json:"type"`
	F       F      `json:"f"`
	Value   any    `json:"value,omitempty"`
	Error   string `json:"error,omitempty"`
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// SendRecord is one record of a send. Offset is set on ok completions only.
type SendRecord struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Value     string `json:"value"` // unique over the whole run
	Key       string `json:"key,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
}

// TopicPartition returns where the record is sent.
func (r SendRecord) TopicPartition() TopicPartition {
	return TopicPartition{Topic: r.Topic, Partition: r.Partition}
}

// Send is the value of a send: usually one record, several when the
// producer batched them in one operation (order matters: it is the order the
// client handed them to the producer).
type Send struct {
	Records []SendRecord `json:"records"`
}

// Record is a record as read back.
type Record struct {
	Offset int64  `json:"offset"`
	Value  string `json:"value"`
	Key    string `json:"key,omitempty"`
}

// PartitionRecords are the records one poll returned for one partition, in
// the order the client received them.
type PartitionRecords struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Records   []Record `json:"records"`
}

// TopicPartition returns which partition the records came from.
func (p PartitionRecords) TopicPartition() TopicPartition {
	return TopicPartition{Topic: p.Topic, Partition: p.Partition}
}

// Poll is the value of a consumer poll. Rebalanced lists partitions whose
// assignment changed while the poll ran: position continuity is not expected
// across them.
type Poll struct {
	Group string `json:"group,omitempty"`
	// Isolation is the consumer's isolation level: read_uncommitted (the
	// default, also when empty) or read_committed.
	Isolation  string             `json:"isolation,omitempty"`
	Partitions []PartitionRecords `json:"partitions,omitempty"`
	Rebalanced []TopicPartition   `json:"rebalanced,omitempty"`
	// Membership lists, in order, the group membership changes the
	// consumer's client reported while the poll ran (group consumers
	// only; see [GroupEvent]). Records in Partitions were taken after
	// the last of them.
	Membership []GroupEvent `json:"membership,omitempty"`
}

// Isolation levels as recorded in Poll and Fetch.
const (
	ReadUncommitted = "read_uncommitted"
	ReadCommitted   = "read_committed"
)

// ReadCommitted reports whether the poll read with read_committed.
func (p Poll) ReadCommitted() bool { return p.Isolation == ReadCommitted }

// Fetch is a read at an explicit offset of one partition, outside any
// consumer position. The invoke carries Topic, Partition and Offset; the ok
// completion adds the records returned (possibly none) and the partition
// state the response reported.
type Fetch struct {
	Topic            string   `json:"topic"`
	Partition        int32    `json:"partition"`
	Offset           int64    `json:"offset"`
	Isolation        string   `json:"isolation,omitempty"` // read_uncommitted (default) | read_committed
	Records          []Record `json:"records,omitempty"`
	HighWatermark    *int64   `json:"high_watermark,omitempty"`
	LastStableOffset *int64   `json:"last_stable_offset,omitempty"`
	LogStartOffset   *int64   `json:"log_start_offset,omitempty"`
}

// TopicPartition returns the partition read.
func (f Fetch) TopicPartition() TopicPartition {
	return TopicPartition{Topic: f.Topic, Partition: f.Partition}
}

// ListOffsets asks a partition's leader for its offsets; the ok completion
// carries what it answered.
type ListOffsets struct {
	Topic            string `json:"topic"`
	Partition        int32  `json:"partition"`
	Isolation        string `json:"isolation,omitempty"`
	HighWatermark    *int64 `json:"high_watermark,omitempty"`
	LastStableOffset *int64 `json:"last_stable_offset,omitempty"`
	LogStartOffset   *int64 `json:"log_start_offset,omitempty"`
}

// TopicPartition returns the partition asked about.
func (l ListOffsets) TopicPartition() TopicPartition {
	return TopicPartition{Topic: l.Topic, Partition: l.Partition}
}

// PartitionOffset is a committed offset (the next offset to consume).
//
// Result and Error are set on a group consumer's commit completion only:
// how the commit of this one partition ended (ok, fail: certainly not
// committed, info: unknown) and the broker's error for it. An empty Result
// means the operation's completion type applies.
type PartitionOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Result    Type   `json:"result,omitempty"`
	Error     string `json:"error,omitempty"`
}

// TopicPartition returns the partition the offset is for.
func (p PartitionOffset) TopicPartition() TopicPartition {
	return TopicPartition{Topic: p.Topic, Partition: p.Partition}
}

// Commit is a consumer-group offset commit. MemberID and Generation, when
// set, are those the commit request carried (a group consumer's
// synchronous commit); the broker must refuse a commit from a generation
// that is no longer current.
type Commit struct {
	Group      string            `json:"group,omitempty"`
	Offsets    []PartitionOffset `json:"offsets"`
	MemberID   string            `json:"member_id,omitempty"`
	Generation *int32            `json:"generation,omitempty"`
}

// Assign replaces a consumer's partitions by manual assignment.
type Assign struct {
	Partitions      []TopicPartition `json:"partitions"`
	SeekToBeginning bool             `json:"seek_to_beginning,omitempty"`
}

// Subscribe replaces a consumer's group subscription.
type Subscribe struct {
	Group  string   `json:"group"`
	Topics []string `json:"topics"`
}

// Fault is the value of a nemesis start/stop event. Window pairs a stop with
// its start; the stop may repeat the fault's name and description.
type Fault struct {
	Window      int64    `json:"window"`
	Fault       string   `json:"fault"`
	Description string   `json:"description,omitempty"`
	Targets     []string `json:"targets,omitempty"`
}

// Phase is the optional value of a phase event.
type Phase struct {
	Description string `json:"description,omitempty"`
}

// rawEvent is Event as it sits on disk, with Value undecoded.
type rawEvent struct {
	Index   int64           `json:"index"`
	Time    int64           `json:"time"`
	Process int             `json:"process"`
	Type    Type            `json:"type"`
	F       F               `json:"f"`
	Value   json.RawMessage `json:"value,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// UnmarshalJSON decodes an event and its value by type and f.
func (e *Event) UnmarshalJSON(data []byte) error {
	var r rawEvent
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	v, err := decodeValue(r.Type, r.F, r.Value)
	if err != nil {
		return err
	}
	*e = Event{Index: r.Index, Time: r.Time, Process: r.Process, Type: r.Type, F: r.F, Value: v, Error: r.Error}
	return nil
}

func newValue(t Type, f F) any {
	switch t {
	case TypeNemesis:
		return new(Fault)
	case TypePhase:
		if f == PhaseReplicas {
			return new(Replicas)
		}
		return new(Phase)
	}
	switch f {
	case FSend:
		return new(Send)
	case FPoll:
		return new(Poll)
	case FFetch:
		return new(Fetch)
	case FListOffsets:
		return new(ListOffsets)
	case FCommit:
		return new(Commit)
	case FAssign:
		return new(Assign)
	case FSubscribe:
		return new(Subscribe)
	case FTxn:
		return new(Txn)
	case FGroupOffsets:
		return new(Commit)
	}
	return nil
}

func decodeValue(t Type, f F, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	v := newValue(t, f)
	if v == nil {
		// Unknown f: keep the bytes so a newer writer's operations survive.
		return append(json.RawMessage(nil), raw...), nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("%w: %s %s value: %v", ErrMalformed, t, f, err)
	}
	return v, nil
}

// Send returns the event's send value, if it has one.
func (e Event) Send() (*Send, bool) { v, ok := e.Value.(*Send); return v, ok && v != nil }

// Poll returns the event's poll value, if it has one.
func (e Event) Poll() (*Poll, bool) { v, ok := e.Value.(*Poll); return v, ok && v != nil }

// Fetch returns the event's fetch value, if it has one.
func (e Event) Fetch() (*Fetch, bool) { v, ok := e.Value.(*Fetch); return v, ok && v != nil }

// ListOffsets returns the event's list-offsets value, if it has one.
func (e Event) ListOffsets() (*ListOffsets, bool) {
	v, ok := e.Value.(*ListOffsets)
	return v, ok && v != nil
}

// Assign returns the event's assign value, if it has one.
func (e Event) Assign() (*Assign, bool) { v, ok := e.Value.(*Assign); return v, ok && v != nil }

// Subscribe returns the event's subscribe value, if it has one.
func (e Event) Subscribe() (*Subscribe, bool) {
	v, ok := e.Value.(*Subscribe)
	return v, ok && v != nil
}

// Commit returns the event's commit value, if it has one.
func (e Event) Commit() (*Commit, bool) { v, ok := e.Value.(*Commit); return v, ok && v != nil }

// Txn returns the event's transaction value, if it has one.
func (e Event) Txn() (*Txn, bool) { v, ok := e.Value.(*Txn); return v, ok && v != nil }

// Fault returns the event's fault value, if it has one.
func (e Event) Fault() (*Fault, bool) { v, ok := e.Value.(*Fault); return v, ok && v != nil }

// Int64 returns a pointer to v, for the optional offset fields.
func Int64(v int64) *int64 { return &v }

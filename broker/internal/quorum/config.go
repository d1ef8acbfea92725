package quorum

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/highwater-io/highwater/internal/vfs"
)

// Sentinel errors. Every error a Node returns wraps one of these, so callers
// test with errors.Is.
var (
	// ErrInvalidConfig: Config.Validate refused the configuration.
	ErrInvalidConfig = errors.New("quorum: invalid config")
	// ErrStopped: the node has stopped. A proposal that fails with it has an
	// unknown outcome: it may still be committed by the other voters.
	ErrStopped = errors.New("quorum: node stopped")
	// ErrNotLeader: this node is not the leader, so the proposal was not
	// appended to the log. The concrete error is a *NotLeaderError naming the
	// leader this node knows of (0 when none). Safe to retry elsewhere.
	ErrNotLeader = errors.New("quorum: not the leader")
	// ErrDropped: the proposal is definitely not in the committed log (raft
	// refused it, or a different entry was committed at its index after a
	// leader change). Safe to retry.
	ErrDropped = errors.New("quorum: proposal dropped")
	// ErrOutcomeUnknown: a snapshot from the leader replaced this node's log
	// before the proposal's entry was applied here, so whether it committed
	// cannot be told from this node.
	ErrOutcomeUnknown = errors.New("quorum: proposal outcome unknown")
	// ErrCorrupt: the durable state cannot be recovered (a damaged record
	// before the tail, a missing snapshot for a compacted log, ...).
	ErrCorrupt = errors.New("quorum: corrupt storage")
)

// NotLeaderError is the concrete error behind ErrNotLeader.
type NotLeaderError struct {
	// Leader is the node id of the leader as this node knows it; 0 if it
	// knows none (an election is under way or it is partitioned).
	Leader uint64
	// Term is this node's current term.
	Term uint64
}

func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("quorum: not the leader (leader %d, term %d)", e.Leader, e.Term)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Peer is one voter of the static membership (controller.quorum.voters).
type Peer struct {
	ID   uint64
	Addr string // host:port of its controller listener; unused by MemNet
}

// Config configures a Node. Durations carry their unit in the type; tick
// counts are in units of Tick.
type Config struct {
	// NodeID is this voter's id (node.id); must be one of Peers.
	NodeID uint64
	// Peers is the full static voter set, this node included.
	Peers []Peer
	// Dir holds the raft WAL (Dir/wal) and snapshots (Dir/snap) on FS.
	Dir string
	FS  vfs.FS
	// Transport carries outbound raft messages. Inbound ones arrive through
	// Node.Step.
	Transport Transport

	// Tick is the period of the logical raft clock.
	Tick time.Duration
	// ElectionTicks is the election timeout in ticks (raft randomises it in
	// [ElectionTicks, 2*ElectionTicks)). Must be > HeartbeatTicks.
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat period in ticks.
	HeartbeatTicks int
	// SnapshotEvery takes a state-machine snapshot and compacts the log once
	// this many entries were applied since the last snapshot. 0 disables
	// snapshots (the log then grows without bound).
	SnapshotEvery uint64
	// SnapshotCatchUpEntries is how many applied entries stay in the
	// in-memory log after compaction so that a slightly lagging follower is
	// sent entries rather than a whole snapshot.
	SnapshotCatchUpEntries uint64
	// MaxSizePerMsgBytes bounds the entries bytes of one append message.
	MaxSizePerMsgBytes uint64
	// MaxInflightMsgs bounds the append messages in flight per follower.
	MaxInflightMsgs int

	// Apply receives every committed, non-empty entry in log order, exactly
	// once per process lifetime (after a restart: those after the snapshot
	// given to Restore). Called on the node goroutine; it must not call back
	// into the Node's blocking methods.
	Apply func(index uint64, data []byte)
	// Snapshot returns the state machine's state after the last applied
	// entry. Called on the node goroutine. Nil disables snapshots.
	Snapshot func() ([]byte, error)
	// Restore replaces the state machine's state with a snapshot taken at
	// index. Called by New for the snapshot on disk and on the node
	// goroutine when the leader sends one. Required when Snapshot is set or
	// a snapshot may exist on disk.
	Restore func(index uint64, data []byte) error

	Logger *slog.Logger
	// Now stamps leader changes in Status. Defaults to time.Now.
	Now func() time.Time
}

// DefaultConfig returns the timing defaults: 100 ms ticks, a 1 s election
// timeout, a 100 ms heartbeat, a snapshot every 10,000 entries.
func DefaultConfig() Config {
	return Config{
		FS:                     vfs.OS,
		Tick:                   100 * time.Millisecond,
		ElectionTicks:          10,
		HeartbeatTicks:         1,
		SnapshotEvery:          10_000,
		SnapshotCatchUpEntries: 1_000,
		MaxSizePerMsgBytes:     1 << 20,
		MaxInflightMsgs:        256,
	}
}

// Validate checks the config, filling zero optional fields with defaults.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if c.NodeID == 0 {
		return fmt.Errorf("%w: node id must be > 0", ErrInvalidConfig)
	}
	seen := make(map[uint64]bool, len(c.Peers))
	for _, p := range c.Peers {
		if p.ID == 0 {
			return fmt.Errorf("%w: peer id must be > 0", ErrInvalidConfig)
		}
		if seen[p.ID] {
			return fmt.Errorf("%w: duplicate peer id %d", ErrInvalidConfig, p.ID)
		}
		seen[p.ID] = true
	}
	if !seen[c.NodeID] {
		return fmt.Errorf("%w: node id %d is not among the peers", ErrInvalidConfig, c.NodeID)
	}
	if c.Dir == "" {
		return fmt.Errorf("%w: dir is required", ErrInvalidConfig)
	}
	if c.Transport == nil {
		return fmt.Errorf("%w: transport is required", ErrInvalidConfig)
	}
	if c.Snapshot != nil && c.Restore == nil {
		return fmt.Errorf("%w: Snapshot without Restore", ErrInvalidConfig)
	}
	if c.FS == nil {
		c.FS = d.FS
	}
	if c.Tick <= 0 {
		c.Tick = d.Tick
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = d.HeartbeatTicks
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = d.ElectionTicks
	}
	if c.ElectionTicks <= c.HeartbeatTicks {
		return fmt.Errorf("%w: election ticks %d must exceed heartbeat ticks %d",
			ErrInvalidConfig, c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.MaxSizePerMsgBytes == 0 {
		c.MaxSizePerMsgBytes = d.MaxSizePerMsgBytes
	}
	if c.MaxInflightMsgs <= 0 {
		c.MaxInflightMsgs = d.MaxInflightMsgs
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

package metaserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/quorum"
	"github.com/highwater-io/highwater/internal/vfs"
)

// Voter is one member of controller.quorum.voters: a node id and the
// address of its controller listener, which serves both the raft traffic
// and the Kafka controller APIs (see the package documentation).
type Voter struct {
	ID   int32
	Addr string
}

// Config configures one node's metadata service. Durations carry their
// unit in the type; nondeterminism (filesystem, network, clock, logger)
// comes in through it.
type Config struct {
	// NodeID is node.id; it must be one of Voters.
	NodeID int32
	// Voters is controller.quorum.voters, identical on every node.
	Voters []Voter
	// Dir holds the raft log and snapshots on FS.
	Dir string
	FS  vfs.FS

	// Listen opens the controller listener on this node's voter address.
	// Defaults to net.Listen. Ignored when Network is set.
	Listen func(network, addr string) (net.Listener, error)
	// Dial opens connections to other voters, both for raft and for the
	// Kafka controller APIs (the chaos harness routes it through proxies).
	// Defaults to net.Dialer.DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Network, when set, carries raft messages in memory instead of TCP
	// (tests; the controller listener is then not opened).
	Network *quorum.MemNet

	// Now is the clock of the controller decisions (session timeouts).
	Now    func() time.Time
	Logger *slog.Logger

	// ControllerConfig is the active controller's tunables; Seed is mixed
	// with the log offset at which each controller incarnation starts, so
	// every incarnation draws different topic ids.
	ControllerConfig controller.Config

	// Tick is the raft clock period; ElectionTicks and HeartbeatTicks are
	// in ticks (see quorum.Config).
	Tick           time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// SnapshotEvery snapshots the image every this many raft entries.
	SnapshotEvery uint64
	// ControllerTick is how often the active controller runs its clock
	// (session fencing, unclean elections, leader rebalance).
	ControllerTick time.Duration
	// MaxBatchRequests bounds how many queued requests the active
	// controller decides into one raft entry (group commit).
	MaxBatchRequests int
	// ProposeTimeout bounds waiting for one raft entry to commit.
	ProposeTimeout time.Duration
}

// DefaultConfig returns KRaft-like defaults: 100 ms raft ticks with a 1 s
// election timeout, the controller's Kafka defaults, a 500 ms controller
// tick.
func DefaultConfig() Config {
	return Config{
		FS:               vfs.OS,
		ControllerConfig: controller.DefaultConfig(),
		Tick:             100 * time.Millisecond,
		ElectionTicks:    10,
		HeartbeatTicks:   1,
		SnapshotEvery:    10_000,
		ControllerTick:   500 * time.Millisecond,
		MaxBatchRequests: 256,
		ProposeTimeout:   10 * time.Second,
	}
}

// Validate checks c and fills zero optional fields with defaults.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if c.NodeID <= 0 {
		return fmt.Errorf("%w: node id %d must be > 0", ErrInvalidConfig, c.NodeID)
	}
	found := false
	seen := map[int32]bool{}
	for _, v := range c.Voters {
		if v.ID <= 0 || seen[v.ID] {
			return fmt.Errorf("%w: voter id %d is not positive or repeated", ErrInvalidConfig, v.ID)
		}
		seen[v.ID] = true
		found = found || v.ID == c.NodeID
	}
	if !found {
		return fmt.Errorf("%w: node id %d is not a voter", ErrInvalidConfig, c.NodeID)
	}
	if c.Dir == "" {
		return fmt.Errorf("%w: dir is required", ErrInvalidConfig)
	}
	if err := c.ControllerConfig.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if c.FS == nil {
		c.FS = d.FS
	}
	if c.Listen == nil {
		c.Listen = net.Listen
	}
	if c.Dial == nil {
		var dialer net.Dialer
		c.Dial = dialer.DialContext
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tick <= 0 {
		c.Tick = d.Tick
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = d.ElectionTicks
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = d.HeartbeatTicks
	}
	if c.ControllerTick <= 0 {
		c.ControllerTick = d.ControllerTick
	}
	if c.MaxBatchRequests <= 0 {
		c.MaxBatchRequests = d.MaxBatchRequests
	}
	if c.ProposeTimeout <= 0 {
		c.ProposeTimeout = d.ProposeTimeout
	}
	return nil
}

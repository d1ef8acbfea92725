package cluster

import (
	"context"
	"time"
)

// Optional abilities beyond processes and partitions. Each has the same
// method set as its counterpart in package nemesis (Links, Clocks,
// UnsyncedLoss), so a driver implementing one here is usable by the
// nemesis as is; every method's availability check returns nil or an
// error wrapping ErrUnavailable that says why and the fix.

// Link degradation kinds for Links.LinksAvailable.
const (
	LinkSlow  = "slow"
	LinkLossy = "lossy"
)

// Links degrades every link of one node without cutting it. How is the
// driver's business and its doc says it: a TCP proxy delays and paces
// bytes but can only emulate loss by closing or stalling connections;
// nftables drops real packets and polices rates but cannot delay.
type Links interface {
	// LinksAvailable says whether the kind (LinkSlow, LinkLossy) can run.
	LinksAvailable(kind string) error
	// SlowLinks delays node id's traffic by delay ± jitter and caps its
	// rate at rateBytesPerSecond (0: no cap); it replaces an earlier slow
	// degradation of the node.
	SlowLinks(ctx context.Context, id int32, delay, jitter time.Duration, rateBytesPerSecond int64) error
	// LossyLinks loses lossPercent (1..100) of node id's traffic.
	LossyLinks(ctx context.Context, id int32, lossPercent int) error
	// RestoreLinks removes every degradation of node id.
	RestoreLinks(ctx context.Context, id int32) error
}

// Clocks offsets the clock a node's broker reads through its clock seam.
type Clocks interface {
	ClocksAvailable() error
	// SkewClock sets node id's clock offset from real time.
	SkewClock(ctx context.Context, id int32, offset time.Duration) error
	// ResetClock sets node id's offset back to zero (nil for a node that
	// is not running: a restarted broker starts with no offset).
	ResetClock(ctx context.Context, id int32) error
}

// UnsyncedLoss is implemented by drivers whose Kill can drop every write
// a node has not fsynced, as a power loss would.
type UnsyncedLoss interface {
	UnsyncedLossAvailable() error
}

package faults

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Bug names a planted bug.
type Bug string

// The planted bugs. Each breaks one guarantee of KAFKA.md on purpose.
const (
	// AckBeforeReplication answers acks=all produces as soon as the
	// leader appended, before the ISR has the records (and ignoring
	// min.insync.replicas).
	AckBeforeReplication Bug = "ack-before-replication"
	// HWBeyondISR advances a leader's published high watermark (what
	// consumer fetches and ListOffsets answer) to its log end, ignoring the
	// followers: consumers read records only the leader holds. acks=all
	// completions still wait for the real high watermark.
	HWBeyondISR Bug = "hw-beyond-isr"
	// SkipTruncation makes a follower ignore the truncations the
	// leader-epoch protocol asks for, keeping a diverged tail after a
	// leader change.
	SkipTruncation Bug = "skip-truncation"
	// UncleanElection makes the controller prefer a live replica outside
	// the ISR whenever a partition needs a new leader (counting it into the
	// ISR), and elect the preferred replica on rebalance even out of the
	// ISR.
	UncleanElection Bug = "unclean-election"
	// LoseFsync makes fsync of segment files claim success while the data
	// stays in the page cache (needs highwater.fault.page.cache), so kill
	// -9 loses it even with log.flush.interval.messages=1.
	LoseFsync Bug = "lose-fsync"
	// StaleRead answers consumer fetches and ListOffsets with the high
	// watermark of one second earlier, what a lagging follower serving
	// reads would know: a read that starts after an acknowledgement may
	// not see the record, and a drain trusting that end stops short.
	StaleRead Bug = "stale-read"
	// TxnMarkerPartial makes the transaction coordinator commit a
	// transaction in its first partition only: the others get an abort
	// marker, so their committed records are never readable.
	TxnMarkerPartial Bug = "txn-marker-partial"
	// TxnAbortedRead makes read_committed fetches omit the aborted
	// transactions list, so consumers return aborted records.
	TxnAbortedRead Bug = "txn-aborted-read"
	// TxnZombieWrite makes a partition accept a transactional batch from a
	// fenced producer (an epoch below the partition's).
	TxnZombieWrite Bug = "txn-zombie-write"
	// ForgetProducerState makes a starting broker drop its partitions'
	// idempotent-producer state (no snapshot, no rebuild from the log), so
	// a batch retried across a restart is appended a second time.
	ForgetProducerState Bug = "forget-producer-state"
)

// All lists every planted bug.
var All = []Bug{AckBeforeReplication, HWBeyondISR, SkipTruncation, UncleanElection, LoseFsync, StaleRead,
	TxnMarkerPartial, TxnAbortedRead, TxnZombieWrite, ForgetProducerState}

// ErrUnknownBug wraps a name that is not a planted bug.
var ErrUnknownBug = errors.New("faults: unknown planted bug")

// ParseBugs reads the highwater.planted.bug value: comma-separated names,
// blanks ignored, duplicates dropped.
func ParseBugs(s string) ([]Bug, error) {
	var out []Bug
	for _, part := range strings.Split(s, ",") {
		name := Bug(strings.TrimSpace(part))
		if name == "" {
			continue
		}
		if !slices.Contains(All, name) {
			return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownBug, name, names())
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func names() string {
	s := make([]string, len(All))
	for i, b := range All {
		s[i] = string(b)
	}
	return strings.Join(s, ", ")
}

// planted is the process-wide set, replaced whole (copy on write).
var planted atomic.Pointer[[]Bug]

// Plant adds bugs to the process-wide set.
func Plant(bugs ...Bug) {
	for {
		old := planted.Load()
		var next []Bug
		if old != nil {
			next = slices.Clone(*old)
		}
		for _, b := range bugs {
			if !slices.Contains(next, b) {
				next = append(next, b)
			}
		}
		if planted.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Reset removes every planted bug (tests).
func Reset() { planted.Store(nil) }

// Planted reports whether bug is planted in this process.
func Planted(bug Bug) bool {
	p := planted.Load()
	return p != nil && slices.Contains(*p, bug)
}

// replicaFetchDelayNs is the replica-fetch-delay fault seam: how long a
// follower's fetcher waits before each fetch from its leader.
var replicaFetchDelayNs atomic.Int64

// SetReplicaFetchDelay makes every follower fetcher of this process wait d
// before each fetch (highwater.fault.replica.fetch.delay.ms, PUT
// /fault/replication): a slow replication link, which widens the window
// in which a leader holds records no follower has. 0 turns it off.
func SetReplicaFetchDelay(d time.Duration) { replicaFetchDelayNs.Store(int64(max(d, 0))) }

// ReplicaFetchDelay is how long a follower fetcher waits before its next
// fetch: the replica fetch delay, or, while a restart hold lasts, the rest
// of the hold if that is longer.
func ReplicaFetchDelay() time.Duration {
	d := time.Duration(replicaFetchDelayNs.Load())
	if h := replicaFetchHold.Load(); h != nil {
		d = max(d, h.until.Sub(h.now()))
	}
	return d
}

// fetchHold is a restart hold: no follower fetch before until, as now reads.
type fetchHold struct {
	until time.Time
	now   func() time.Time
}

// replicaFetchHold is the replica-restart-delay fault seam (nil: none).
var replicaFetchHold atomic.Pointer[fetchHold]

// HoldReplicaFetches makes every follower fetcher of this process send no
// fetch before until, as read from now
// (highwater.fault.replica.restart.delay.ms, applied by a broker that
// restarts over existing logs): a restarted replica then stays outside
// every ISR for that long however fast it starts and however fast the
// link is, the window in which an election must pass it over. A zero
// until turns it off.
func HoldReplicaFetches(until time.Time, now func() time.Time) {
	if until.IsZero() || now == nil {
		replicaFetchHold.Store(nil)
		return
	}
	replicaFetchHold.Store(&fetchHold{until: until, now: now})
}

// produceAnswerDelayNs is the produce-answer-delay fault seam: how long a
// broker holds a Produce answer after the append has happened.
var produceAnswerDelayNs atomic.Int64

// SetProduceAnswerDelay makes every Produce answer of this process that
// appended something wait d before it is sent
// (highwater.fault.produce.answer.delay.ms): a slow answer path, which
// widens the window in which a batch is in the log but its producer has
// not heard so, and a crash makes the producer retry it. 0 turns it off.
func SetProduceAnswerDelay(d time.Duration) { produceAnswerDelayNs.Store(int64(max(d, 0))) }

// ProduceAnswerDelay is the current produce answer delay.
func ProduceAnswerDelay() time.Duration { return time.Duration(produceAnswerDelayNs.Load()) }

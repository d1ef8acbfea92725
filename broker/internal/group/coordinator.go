package group

import (
	"io"
	"log/slog"
	"slices"
	"time"
)

// KV is one __consumer_offsets record. A nil Value is a tombstone. Txn,
// when non-nil, puts the record in a transactional batch of that producer
// (a TxnOffsetCommit, pending until the producer's marker) or, with
// Txn.Marker set, makes it that producer's COMMIT/ABORT control record
// (Key and Value unused): Kafka's layout of __consumer_offsets.
type KV struct {
	Key, Value []byte
	Txn        *TxnRecord
}

// write is a batch of records whose durability some continuation waits on.
type write struct {
	records []KV
	then    func(err error) // nil: nothing waits on it
}

// Coordinator is the pure classic-group state machine; see the package doc.
type Coordinator struct {
	cfg    CoordinatorConfig
	log    *slog.Logger
	groups map[string]*group
	// pending holds TxnOffsetCommit offsets by producer id until the
	// producer's transaction ends (txn_offsets.go).
	pending map[int64]*pendingTxn

	queued   []write // not yet handed out by Ready
	inflight []write // handed out by Ready, awaiting Advance

	nextExpiryCheck time.Time
}

// NewCoordinator returns an empty coordinator, or an error wrapping
// ErrInvalidConfig.
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Coordinator{cfg: cfg, log: log, groups: map[string]*group{}, pending: map[int64]*pendingTxn{}}, nil
}

// persist queues records; then (if non-nil) runs from Advance once the
// records are durable or have failed.
func (c *Coordinator) persist(records []KV, then func(err error)) {
	if len(records) == 0 {
		if then != nil {
			then(nil)
		}
		return
	}
	c.queued = append(c.queued, write{records: records, then: then})
}

// Ready returns, in order, every record queued since the last Ready. The
// driver must make them durable (all or nothing) and then call Advance
// before calling Ready again.
func (c *Coordinator) Ready() []KV {
	if len(c.inflight) > 0 {
		return nil
	}
	var out []KV
	for _, w := range c.queued {
		out = append(out, w.records...)
	}
	c.inflight, c.queued = c.queued, nil
	return out
}

// Advance reports the fate of the records from the last Ready: err == nil
// means durable. It runs the continuations waiting on them, which may answer
// parked requests and queue more records.
func (c *Coordinator) Advance(err error) {
	ws := c.inflight
	c.inflight = nil
	for _, w := range ws {
		if w.then != nil {
			w.then(err)
		}
	}
}

// HasReady reports whether Ready would return records.
func (c *Coordinator) HasReady() bool { return len(c.inflight) == 0 && len(c.queued) > 0 }

// sortedGroups returns group ids in a stable order so timers fire
// deterministically.
func (c *Coordinator) sortedGroups() []string {
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Tick fires every timer that is due at now.
func (c *Coordinator) Tick(now time.Time) {
	for _, id := range c.sortedGroups() {
		g, ok := c.groups[id]
		if !ok {
			continue
		}
		c.tickGroup(g, now)
	}
	if c.nextExpiryCheck.IsZero() {
		c.nextExpiryCheck = now.Add(c.cfg.OffsetsRetentionCheckInterval)
	} else if !now.Before(c.nextExpiryCheck) {
		c.nextExpiryCheck = now.Add(c.cfg.OffsetsRetentionCheckInterval)
		c.expireOffsets(now)
	}
}

func due(deadline, now time.Time) bool { return !deadline.IsZero() && !now.Before(deadline) }

func (c *Coordinator) tickGroup(g *group, now time.Time) {
	for id, deadline := range g.pending {
		if due(deadline, now) {
			c.log.Info("pending member expired", "group", g.id, "member", id)
			c.removePending(g, id, now)
		}
	}
	for _, id := range slices.Clone(g.order) {
		m, ok := g.members[id]
		if !ok || !due(m.deadline, now) {
			continue
		}
		// Members parked in a join or sync are waiting on the group, not
		// dead; only brand-new members time out while parked.
		if !m.isNew && (m.awaitingJoin() || m.awaitingSync()) {
			continue
		}
		c.log.Info("member session expired", "group", g.id, "member", id, "generation", g.generation)
		c.removeMember(g, id, now)
	}
	if g.state == StatePreparingRebalance && due(g.joinDeadline, now) {
		c.onJoinTimer(g, now)
	}
	if due(g.syncDeadline, now) {
		c.onSyncTimer(g, now)
	}
}

// onJoinTimer is the expiry of the rebalance timer (or of one round of the
// initial rebalance delay).
func (c *Coordinator) onJoinTimer(g *group, now time.Time) {
	if g.initialDelay && g.newMemberAdded && g.initialRemaining > 0 {
		g.newMemberAdded = false
		delay := min(c.cfg.InitialRebalanceDelay, g.initialRemaining)
		g.initialRemaining = max(g.initialRemaining-c.cfg.InitialRebalanceDelay, 0)
		g.joinDeadline = now.Add(delay)
		return
	}
	c.completeJoin(g, now)
}

// onSyncTimer removes the members that never sent SyncGroup after the join
// phase, which sends the group back to PreparingRebalance.
func (c *Coordinator) onSyncTimer(g *group, now time.Time) {
	g.syncDeadline = time.Time{}
	if g.state != StateCompletingRebalance && g.state != StateStable {
		return
	}
	var late []string
	for _, id := range g.order {
		if g.pendingSync[id] {
			late = append(late, id)
		}
	}
	for _, id := range late {
		c.log.Info("member did not sync in time", "group", g.id, "member", id, "generation", g.generation)
		c.removeMember(g, id, now)
	}
}

func (c *Coordinator) logTransition(g *group, why string) {
	c.log.Info("group state", "group", g.id, "state", g.state.String(), "generation", g.generation, "reason", why)
}

// Groups returns the ids of the known groups, sorted (for tests and debugging).
func (c *Coordinator) Groups() []string { return c.sortedGroups() }

// GroupState returns a group's state and generation; ok is false for an
// unknown group.
func (c *Coordinator) GroupState(id string) (s State, generation int32, ok bool) {
	g, ok := c.groups[id]
	if !ok {
		return StateDead, 0, false
	}
	return g.state, g.generation, true
}

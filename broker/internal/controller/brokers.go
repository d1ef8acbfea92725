package controller

import (
	"fmt"
	"slices"

	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// Registration is a BrokerRegistration request.
type Registration struct {
	BrokerID      int32
	IncarnationID metadata.UUID // new on every process start
	Rack          string        // broker.rack
	Endpoints     []metadata.Endpoint
	// PreviousBrokerEpoch is the broker epoch its previous incarnation
	// recorded in its clean-shutdown marker, or -1 (KIP-966's
	// PreviousBrokerEpoch): any value other than the registered epoch
	// means the previous incarnation stopped uncleanly and may have lost
	// unflushed records.
	PreviousBrokerEpoch int64
}

// NoPreviousBrokerEpoch is Registration.PreviousBrokerEpoch of a broker
// without a clean-shutdown marker.
const NoPreviousBrokerEpoch = -1

// RegisterBroker registers a broker, fenced, with a new broker epoch, and
// starts its session. A different incarnation while the old one still has a
// live, unfenced session is DUPLICATE_BROKER_REGISTRATION (two processes
// with one node.id). A broker registering again while its old registration
// is unfenced restarted without being fenced: it is fenced first, so its
// old leaderships and ISR places go before its log (which may have lost
// unflushed records) can serve again. Kafka does this only with ELR
// (KIP-966); without it Kafka would let the restarted broker keep leading.
func (c *Controller) RegisterBroker(reg Registration, nowMs int64) (int64, []metadata.Record, error) {
	if reg.BrokerID < 0 {
		return 0, nil, fmt.Errorf("%w: broker id %d", ErrInvalidRequest, reg.BrokerID)
	}
	t := c.begin()
	unclean := false
	if old, ok := t.img.Broker(reg.BrokerID); ok {
		s := c.sessions[reg.BrokerID]
		// Only a session this controller saw renewed proves a live
		// process: the sessions a new active controller grants every
		// broker (New) do not, so after a full restart a broker's new
		// incarnation registers at once and fences the old one.
		// A clean-shutdown marker holding the registered epoch proves the
		// old process ended, too.
		live := s != nil && s.contacted && !old.Fenced && nowMs-s.lastContactMs <= c.cfg.SessionTimeoutMs
		if live && old.IncarnationID != reg.IncarnationID && reg.PreviousBrokerEpoch != old.Epoch {
			return 0, nil, fmt.Errorf("%w: broker %d is registered by another live incarnation", ErrDuplicateBrokerRegistration, reg.BrokerID)
		}
		if !old.Fenced {
			c.fence(t, old)
		}
		if unclean = old.IncarnationID != reg.IncarnationID && reg.PreviousBrokerEpoch != old.Epoch; unclean {
			c.removeUnclean(t, reg.BrokerID)
		}
	}
	epoch := t.img.MaxBrokerEpoch() + 1
	t.add(metadata.RegisterBrokerRecord{BrokerID: reg.BrokerID, BrokerEpoch: epoch, IncarnationID: reg.IncarnationID,
		Rack: reg.Rack, Endpoints: slices.Clone(reg.Endpoints), Fenced: true})
	recs, err := c.commit(t)
	if err != nil {
		return 0, nil, err
	}
	c.sessions[reg.BrokerID] = &session{lastContactMs: nowMs, contacted: true}
	c.uncleanIncarnation[reg.BrokerID] = unclean
	return epoch, recs, nil
}

// removeUnclean is KIP-966's handling of a broker registering after an
// unclean shutdown: its log may lack records it had acknowledged as a
// follower, so it leaves every ISR it shares with another member. Where it
// is the last member the ISR keeps it (an ISR is never empty here) and it
// leads again once unfenced, as in Kafka without ELR: marking such a
// partition leaderless until an unclean election (what Kafka's empty ISR
// amounts to without ELR recovery) left partitions offline for good after
// ordinary leader kills — a kill -9 keeps the OS page cache, so the last
// member's log is usually whole — and that trade is not worth it without
// ELR's recovery (Partition.UncleanISR stays in the metadata for it).
func (c *Controller) removeUnclean(t *txn, id int32) {
	c.updateLeadersAndISRs(t, change{remove: id}, func(p metadata.Partition) bool { return slices.Contains(p.ISR, id) })
}

// Heartbeat is a BrokerHeartbeat request.
type Heartbeat struct {
	BrokerID    int32
	BrokerEpoch int64
	// CaughtUp: the broker has applied the metadata log at least up to its
	// own registration. Kafka compares the broker's metadata offset with
	// the registration record's offset; the driver, which knows both,
	// answers that here so the decisions need no log offsets.
	CaughtUp     bool
	WantFence    bool
	WantShutDown bool
}

// HeartbeatReply is the controller's answer.
type HeartbeatReply struct {
	IsFenced             bool
	InControlledShutdown bool
	ShouldShutDown       bool
}

// Heartbeat renews the broker's session and moves it through KRaft's
// broker states: a fenced broker that has caught up (and wants neither
// fencing nor shutdown) is unfenced and takes back leaderless partitions
// whose ISR it is in; one that wants to shut down enters controlled
// shutdown, which moves its leaderships away and takes it out of ISRs
// (KIP-841); once it leads nothing, a later heartbeat is told to shut down
// and it is fenced. Errors: BROKER_ID_NOT_REGISTERED, STALE_BROKER_EPOCH.
func (c *Controller) Heartbeat(hb Heartbeat, nowMs int64) (HeartbeatReply, []metadata.Record, error) {
	if err := c.checkBrokerEpoch(hb.BrokerID, hb.BrokerEpoch); err != nil {
		return HeartbeatReply{}, nil, err
	}
	s := c.sessions[hb.BrokerID]
	if s == nil {
		s = &session{}
		c.sessions[hb.BrokerID] = s
	}
	s.lastContactMs = max(s.lastContactMs, nowMs)
	s.contacted = true
	t := c.begin()
	b, _ := t.img.Broker(hb.BrokerID)
	shouldShutDown := false
	switch {
	case hb.WantShutDown && b.Fenced:
		shouldShutDown = true
	case hb.WantShutDown:
		if !b.InControlledShutdown {
			t.add(metadata.BrokerRegistrationChangeRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch, EnterControlledShutdown: true})
			c.updateLeadersAndISRs(t, change{remove: b.ID}, func(p metadata.Partition) bool { return slices.Contains(p.ISR, b.ID) })
		} else if s.shutdownSeen && leads(t.img, b.ID) == 0 {
			b, _ = t.img.Broker(hb.BrokerID)
			c.fence(t, b)
			shouldShutDown = true
		}
		s.shutdownSeen = true
	case hb.WantFence && !b.Fenced:
		c.fence(t, b)
	case !hb.WantFence && b.Fenced && hb.CaughtUp && !b.InControlledShutdown:
		c.unfence(t, b)
	}
	recs, err := c.commit(t)
	if err != nil {
		return HeartbeatReply{}, nil, err
	}
	nb, _ := c.img.Broker(hb.BrokerID)
	return HeartbeatReply{IsFenced: nb.Fenced, InControlledShutdown: nb.InControlledShutdown, ShouldShutDown: shouldShutDown}, recs, nil
}

// Tick moves the clock: brokers silent for longer than
// broker.session.timeout.ms are fenced (one after the other, each seeing
// the effect of the previous), leaderless partitions of topics with unclean
// election enabled get a leader if any replica can take it, and, when due,
// the leader imbalance check runs.
func (c *Controller) Tick(nowMs int64) ([]metadata.Record, error) {
	t := c.begin()
	for _, b := range t.img.Brokers() {
		s := c.sessions[b.ID]
		if b.Fenced || (s != nil && nowMs-s.lastContactMs <= c.cfg.SessionTimeoutMs) {
			continue
		}
		b, _ = t.img.Broker(b.ID)
		c.fence(t, b)
	}
	c.electUncleanLeaderless(t, "")
	if c.cfg.AutoLeaderRebalanceEnable && nowMs >= c.nextRebalanceMs {
		c.nextRebalanceMs = nowMs + c.cfg.LeaderImbalanceCheckIntervalMs
		c.rebalance(t)
	}
	return c.commit(t)
}

// fence is KRaft's handleBrokerFenced: the broker leaves every ISR it is in
// (a last member stays, leaderless unless an unclean election is allowed),
// its leaderships move to other active ISR members, then it is fenced.
func (c *Controller) fence(t *txn, b metadata.Broker) {
	c.updateLeadersAndISRs(t, change{remove: b.ID}, func(p metadata.Partition) bool { return slices.Contains(p.ISR, b.ID) })
	t.add(metadata.FenceBrokerRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch})
}

// unfence is KRaft's handleBrokerUnfenced: the broker is unfenced, then
// leaderless partitions elect (it, if it is in their ISR).
func (c *Controller) unfence(t *txn, b metadata.Broker) {
	t.add(metadata.UnfenceBrokerRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch})
	c.updateLeadersAndISRs(t, change{remove: -1}, func(p metadata.Partition) bool { return p.Leader == metadata.NoLeader })
}

// electUncleanLeaderless elects leaders for leaderless partitions of topics
// with unclean election enabled (all such topics when topic is "").
func (c *Controller) electUncleanLeaderless(t *txn, topic string) {
	forEachPartition(t, func(tp metadata.Topic, pid int32, p metadata.Partition) {
		if p.Leader != metadata.NoLeader || (topic != "" && tp.Name != topic) || !c.uncleanEnabled(t.img, tp.Name) {
			return
		}
		if rec, ok := buildChange(t.img, tp.ID, pid, p, change{remove: -1, election: electUnclean}); ok {
			t.add(rec)
		}
	})
}

func leads(img metadata.Image, id int32) int {
	n := 0
	for _, tp := range img.Topics() {
		for _, p := range tp.Partitions {
			if p.Leader == id {
				n++
			}
		}
	}
	return n
}

func (c *Controller) checkBrokerEpoch(id int32, epoch int64) error {
	b, ok := c.img.Broker(id)
	if !ok {
		return fmt.Errorf("%w: broker %d", ErrBrokerIDNotRegistered, id)
	}
	if b.Epoch != epoch {
		return fmt.Errorf("%w: broker %d epoch %d, registered %d", ErrStaleBrokerEpoch, id, epoch, b.Epoch)
	}
	return nil
}

// AllocateProducerIDs hands broker id a block of producer ids
// [first, first+size) (AllocateProducerIds, KIP-730).
func (c *Controller) AllocateProducerIDs(brokerID int32, brokerEpoch int64) (first, size int64, recs []metadata.Record, err error) {
	if err := c.checkBrokerEpoch(brokerID, brokerEpoch); err != nil {
		return 0, 0, nil, err
	}
	t := c.begin()
	first = t.img.NextProducerID()
	t.add(metadata.ProducerIdsRecord{BrokerID: brokerID, BrokerEpoch: brokerEpoch, NextProducerID: first + c.cfg.ProducerIDBlockSize})
	recs, err = c.commit(t)
	if err != nil {
		return 0, 0, nil, err
	}
	return first, c.cfg.ProducerIDBlockSize, recs, nil
}

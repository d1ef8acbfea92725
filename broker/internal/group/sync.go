package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func syncError(version int16, code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.MemberAssignment = []byte{}
	return r
}

func (g *group) syncResponse(version int16, m *member) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ProtocolType = strPtr(g.protocolType)
	r.Protocol = strPtr(g.protocol)
	r.MemberAssignment = m.assignment
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	return r
}

// SyncGroup handles a SyncGroupRequest. In CompletingRebalance the request is
// parked until the leader's assignment is durable; done is called exactly once.
func (c *Coordinator) SyncGroup(now time.Time, req *kmsg.SyncGroupRequest, done func(*kmsg.SyncGroupResponse)) {
	v := req.Version
	fail := func(code int16) { done(syncError(v, code)) }
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	g, ok := c.groups[req.Group]
	if !ok {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		fail(code)
		return
	}
	if req.Generation != g.generation {
		fail(kerr.IllegalGeneration.Code)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) ||
		(req.Protocol != nil && *req.Protocol != g.protocol) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case StateEmpty:
		fail(kerr.UnknownMemberID.Code)
	case StatePreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case StateStable:
		c.removePendingSync(g, m.id)
		m.deadline = now.Add(m.sessionTO)
		done(g.syncResponse(v, m))
	case StateCompletingRebalance:
		if m.syncDone != nil { // a retry replaces the parked request
			old := m.syncDone
			m.syncDone = nil
			old(syncError(m.syncVersion, kerr.RebalanceInProgress.Code))
		}
		m.syncDone, m.syncVersion = done, v
		c.removePendingSync(g, m.id)
		if m.id == g.leader {
			c.leaderSync(now, g, req)
		}
	}
}

func (c *Coordinator) removePendingSync(g *group, id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 {
		g.syncDeadline = time.Time{}
	}
}

// leaderSync persists the leader's assignment and, once durable, hands every
// member its share and makes the group Stable.
func (c *Coordinator) leaderSync(now time.Time, g *group, req *kmsg.SyncGroupRequest) {
	assignment := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		if g.has(a.MemberID) {
			assignment[a.MemberID] = a.MemberAssignment
		}
	}
	for id := range g.members {
		if assignment[id] == nil {
			assignment[id] = []byte{}
		}
	}
	generation := g.generation
	c.persist(c.groupRecordWith(g, assignment), func(err error) {
		// The group may have moved on while the write was in flight.
		if c.groups[g.id] != g || g.state != StateCompletingRebalance || g.generation != generation {
			return
		}
		if err != nil {
			c.log.Warn("storing group assignment failed", "group", g.id, "generation", generation, "err", err)
			c.failParkedSyncs(g, kerr.CoordinatorNotAvailable.Code)
			c.maybePrepareRebalance(g, now, "storing assignment failed")
			return
		}
		for _, id := range g.order {
			g.members[id].assignment = assignment[id]
		}
		g.transition(StateStable, now)
		c.logTransition(g, "leader assignment stored")
		for _, id := range g.order {
			m := g.members[id]
			if f := m.syncDone; f != nil {
				m.syncDone = nil
				m.deadline = now.Add(m.sessionTO)
				f(g.syncResponse(m.syncVersion, m))
			}
		}
	})
}

// Heartbeat handles a HeartbeatRequest; it never parks.
func (c *Coordinator) Heartbeat(now time.Time, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	r := kmsg.NewPtrHeartbeatResponse()
	r.Version = req.Version
	r.ErrorCode = c.heartbeat(now, req)
	return r
}

func (c *Coordinator) heartbeat(now time.Time, req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g, ok := c.groups[req.Group]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case StateEmpty:
		return kerr.UnknownMemberID.Code
	case StatePreparingRebalance:
		m.deadline = now.Add(m.sessionTO)
		return kerr.RebalanceInProgress.Code
	default: // CompletingRebalance, Stable
		m.deadline = now.Add(m.sessionTO)
		return 0
	}
}

// LeaveGroup handles a LeaveGroupRequest (v0-2: one member id; v3+: a batch
// of members, each by member id and/or group.instance.id); it never parks.
func (c *Coordinator) LeaveGroup(now time.Time, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	r := kmsg.NewPtrLeaveGroupResponse()
	r.Version = req.Version
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if req.Group == "" {
		r.ErrorCode = kerr.InvalidGroupID.Code
		return r
	}
	g, ok := c.groups[req.Group]
	for _, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = l.MemberID, l.InstanceID
		if ok {
			rm.ErrorCode = c.leaveOne(now, g, l)
		} else {
			rm.ErrorCode = kerr.UnknownMemberID.Code
		}
		r.Members = append(r.Members, rm)
	}
	if req.Version < 3 {
		// Old versions carry the single member's outcome at the top level.
		r.ErrorCode = r.Members[0].ErrorCode
		r.Members = nil
	}
	return r
}

func (c *Coordinator) leaveOne(now time.Time, g *group, l kmsg.LeaveGroupRequestMember) int16 {
	switch {
	case l.MemberID == "" && l.InstanceID != nil:
		// Administrative removal by instance id alone (KIP-345).
		id, ok := g.static[*l.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		c.log.Info("static member removed", "group", g.id, "member", id)
		c.removeMember(g, id, now)
		return 0
	}
	if _, ok := g.pending[l.MemberID]; ok && l.InstanceID == nil {
		c.removePending(g, l.MemberID, now)
		return 0
	}
	if code := g.validateMember(l.MemberID, l.InstanceID); code != 0 {
		return code
	}
	c.log.Info("member left", "group", g.id, "member", l.MemberID, "generation", g.generation)
	c.removeMember(g, l.MemberID, now)
	return 0
}

package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client identifies the connection a request came from; it is only reported
// back by DescribeGroups and stored in group metadata.
type Client struct {
	ID   string // request header client id
	Host string // peer address, as Kafka's "/1.2.3.4"
}

func ms(d int32) time.Duration { return time.Duration(d) * time.Millisecond }

func joinError(version int16, code int16, memberID string) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.Generation = -1
	r.MemberID = memberID
	return r
}

// joinResponse describes the current generation to one member; the leader
// (withMembers) also gets every member's metadata for the chosen protocol.
func (g *group) joinResponse(version int16, memberID, leader string, withMembers bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation = g.generation
	r.ProtocolType = strPtr(g.protocolType)
	r.Protocol = strPtr(g.protocol)
	r.LeaderID = leader
	r.MemberID = memberID
	if withMembers {
		for _, id := range g.order {
			m := g.members[id]
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = id
			rm.InstanceID = m.instanceID
			rm.ProtocolMetadata = m.metadataFor(g.protocol)
			r.Members = append(r.Members, rm)
		}
	}
	return r
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func requestProtocols(req *kmsg.JoinGroupRequest) ([]protocol, []string) {
	ps := make([]protocol, 0, len(req.Protocols))
	names := make([]string, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		ps = append(ps, protocol{name: p.Name, metadata: p.Metadata})
		names = append(names, p.Name)
	}
	return ps, names
}

// JoinGroup handles a JoinGroupRequest. done is called exactly once, either
// before JoinGroup returns or later from the call that completes the
// rebalance (another JoinGroup, a LeaveGroup, Tick, ...).
func (c *Coordinator) JoinGroup(now time.Time, client Client, req *kmsg.JoinGroupRequest, done func(*kmsg.JoinGroupResponse)) {
	v := req.Version
	fail := func(code int16) { done(joinError(v, code, req.MemberID)) }
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	session := ms(req.SessionTimeoutMillis)
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	g, ok := c.groups[req.Group]
	if !ok {
		if req.MemberID != "" {
			fail(kerr.UnknownMemberID.Code)
			return
		}
		g = newGroup(req.Group, now)
		c.groups[req.Group] = g
	}
	if !c.acceptJoiningMember(g, req.MemberID) {
		fail(kerr.GroupMaxSizeReached.Code)
		return
	}
	_, names := requestProtocols(req)
	if !g.supportsProtocols(req.ProtocolType, names) {
		fail(kerr.InconsistentGroupProtocol.Code)
		if len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.generation == 0 {
			delete(c.groups, g.id) // do not leave a husk behind a rejected first join
		}
		return
	}
	if req.MemberID == "" {
		c.joinUnknownMember(now, g, client, req, done)
	} else {
		c.joinKnownMember(now, g, client, req, done)
	}
	c.tryCompleteJoin(g, now)
}

func (c *Coordinator) acceptJoiningMember(g *group, memberID string) bool {
	max := c.cfg.MaxGroupSize
	if max == 0 {
		return true
	}
	switch g.state {
	case StateEmpty, StateDead:
		return true
	case StatePreparingRebalance:
		m, ok := g.members[memberID]
		return (ok && m.awaitingJoin()) || g.numAwaitingJoin < max
	default:
		return g.has(memberID) || len(g.members) < max
	}
}

func newMember(id string, client Client, req *kmsg.JoinGroupRequest) *member {
	ps, _ := requestProtocols(req)
	m := &member{
		id:           id,
		instanceID:   req.InstanceID,
		clientID:     client.ID,
		clientHost:   client.Host,
		protocolType: req.ProtocolType,
		protocols:    ps,
	}
	setTimeouts(m, req)
	return m
}

func setTimeouts(m *member, req *kmsg.JoinGroupRequest) {
	m.sessionTO = ms(req.SessionTimeoutMillis)
	// v0 has no rebalance timeout: the session timeout doubled as one.
	m.rebalanceTO = ms(req.RebalanceTimeoutMillis)
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		m.rebalanceTO = m.sessionTO
	}
}

func (c *Coordinator) joinUnknownMember(now time.Time, g *group, client Client, req *kmsg.JoinGroupRequest, done func(*kmsg.JoinGroupResponse)) {
	newID := c.cfg.NewMemberID(client.ID)
	switch {
	case req.InstanceID != nil:
		if oldID, ok := g.static[*req.InstanceID]; ok {
			c.replaceStaticMember(now, g, oldID, newID, req, done)
			return
		}
		c.addMemberAndRebalance(now, g, newMember(newID, client, req), req.Version, done)
	case req.Version >= 4:
		// KIP-394: hand out the id first so a client that times out and
		// retries does not leave a trail of defunct members behind.
		g.pending[newID] = now.Add(ms(req.SessionTimeoutMillis))
		done(joinError(req.Version, kerr.MemberIDRequired.Code, newID))
	default:
		c.addMemberAndRebalance(now, g, newMember(newID, client, req), req.Version, done)
	}
}

// validateMember checks that memberID is in the group and, for a static
// member, that it is the current incarnation of its instance id.
func (g *group) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if cur != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if !g.has(memberID) {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func (c *Coordinator) joinKnownMember(now time.Time, g *group, client Client, req *kmsg.JoinGroupRequest, done func(*kmsg.JoinGroupResponse)) {
	v := req.Version
	if _, ok := g.pending[req.MemberID]; ok {
		if req.InstanceID != nil { // pending ids are only handed to dynamic members
			done(joinError(v, kerr.UnknownMemberID.Code, req.MemberID))
			return
		}
		c.addMemberAndRebalance(now, g, newMember(req.MemberID, client, req), v, done)
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		done(joinError(v, code, req.MemberID))
		return
	}
	m := g.members[req.MemberID]
	ps, _ := requestProtocols(req)
	switch g.state {
	case StatePreparingRebalance:
		c.updateMemberAndRebalance(now, g, m, req, done)
	case StateCompletingRebalance:
		if m.matches(ps) {
			// The member probably lost our JoinGroup response: resend it.
			done(g.joinResponse(v, m.id, g.leader, m.id == g.leader))
			return
		}
		c.updateMemberAndRebalance(now, g, m, req, done)
	case StateStable:
		// A leader rejoin forces a rebalance so it can react to metadata
		// changes (new partitions) that do not change member metadata.
		if m.id == g.leader || !m.matches(ps) {
			c.updateMemberAndRebalance(now, g, m, req, done)
			return
		}
		done(g.joinResponse(v, m.id, g.leader, false))
	default:
		done(joinError(v, kerr.UnknownMemberID.Code, req.MemberID))
	}
}

func (c *Coordinator) addMemberAndRebalance(now time.Time, g *group, m *member, version int16, done func(*kmsg.JoinGroupResponse)) {
	m.isNew = true
	m.joinDone, m.joinVersion = done, version
	// A client cannot heartbeat before it knows its id, and a socket parked
	// in a join is not watched for disconnects: bound the wait instead.
	m.deadline = now.Add(c.cfg.NewMemberJoinTimeout)
	if g.state == StatePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m)
	c.maybePrepareRebalance(g, now, "member "+m.id+" joined")
}

func (c *Coordinator) updateMemberAndRebalance(now time.Time, g *group, m *member, req *kmsg.JoinGroupRequest, done func(*kmsg.JoinGroupResponse)) {
	m.protocols, _ = requestProtocols(req)
	setTimeouts(m, req)
	c.parkJoin(g, m, req.Version, done)
	c.maybePrepareRebalance(g, now, "member "+m.id+" rejoined")
}

// parkJoin makes m wait for the end of the join phase. A join already parked
// for the same member (a client retry) is answered so it does not hang.
func (c *Coordinator) parkJoin(g *group, m *member, version int16, done func(*kmsg.JoinGroupResponse)) {
	if m.joinDone != nil {
		old := m.joinDone
		m.joinDone = nil
		old(joinError(m.joinVersion, kerr.RebalanceInProgress.Code, m.id))
	} else {
		g.numAwaitingJoin++
	}
	m.joinDone, m.joinVersion = done, version
}

// replaceStaticMember handles a known group.instance.id joining with an
// unknown member id (a restarted static member, KIP-345): the old
// incarnation is fenced and the member keeps its place and assignment.
func (c *Coordinator) replaceStaticMember(now time.Time, g *group, oldID, newID string, req *kmsg.JoinGroupRequest, done func(*kmsg.JoinGroupResponse)) {
	oldLeader := g.leader
	m := g.members[oldID]
	if m.joinDone != nil {
		f := m.joinDone
		m.joinDone = nil
		g.numAwaitingJoin--
		f(joinError(m.joinVersion, kerr.FencedInstanceID.Code, oldID))
	}
	if m.syncDone != nil {
		f := m.syncDone
		m.syncDone = nil
		f(syncError(m.syncVersion, kerr.FencedInstanceID.Code))
	}
	g.rename(oldID, newID)
	m.deadline = now.Add(ms(req.SessionTimeoutMillis))
	oldProtocols, oldSession, oldRebalance := m.protocols, m.sessionTO, m.rebalanceTO
	m.protocols, _ = requestProtocols(req)
	setTimeouts(m, req)
	v := req.Version

	switch g.state {
	case StateStable:
		if g.selectProtocol() != g.protocol {
			c.parkJoin(g, m, v, done)
			c.maybePrepareRebalance(g, now, "static member "+newID+" changed protocols")
			return
		}
		// No rebalance: persist the new member id, then answer with the
		// current generation. Before v9 the old leader id is returned so a
		// rejoining static leader does not run a pointless assignment; v9+
		// tells it it leads but must skip assigning (SkipAssignment).
		c.persist(c.groupRecord(g), func(err error) {
			if err != nil {
				if cur, ok := g.members[newID]; ok && cur == m {
					g.rename(newID, oldID)
					m.protocols, m.sessionTO, m.rebalanceTO = oldProtocols, oldSession, oldRebalance
				}
				done(joinError(v, kerr.CoordinatorNotAvailable.Code, ""))
				return
			}
			if v >= 9 && g.leader == newID {
				r := g.joinResponse(v, newID, newID, true)
				r.SkipAssignment = true
				done(r)
				return
			}
			done(g.joinResponse(v, newID, oldLeader, false))
		})
	case StateCompletingRebalance:
		// The leader may already be assigning for the old member id: start
		// over so the new id gets an assignment.
		c.parkJoin(g, m, v, done)
		c.prepareRebalance(g, now, "static member "+newID+" replaced during sync")
	default: // PreparingRebalance
		c.parkJoin(g, m, v, done)
	}
}

func (c *Coordinator) maybePrepareRebalance(g *group, now time.Time, why string) {
	switch g.state {
	case StateStable, StateCompletingRebalance, StateEmpty:
		c.prepareRebalance(g, now, why)
	}
}

func (c *Coordinator) prepareRebalance(g *group, now time.Time, why string) {
	if g.state == StateCompletingRebalance {
		c.failParkedSyncs(g, kerr.RebalanceInProgress.Code)
	}
	g.syncDeadline = time.Time{}
	clear(g.pendingSync)
	if g.state == StateEmpty && c.cfg.InitialRebalanceDelay > 0 {
		g.initialDelay = true
		g.newMemberAdded = false
		g.initialRemaining = max(g.rebalanceTimeout()-c.cfg.InitialRebalanceDelay, 0)
		g.joinDeadline = now.Add(c.cfg.InitialRebalanceDelay)
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(g.rebalanceTimeout())
	}
	g.transition(StatePreparingRebalance, now)
	c.logTransition(g, why)
	// Like Kafka's tryCompleteElseWatch: a group whose members have all
	// already rejoined (or that has none left) need not wait.
	c.tryCompleteJoin(g, now)
}

// failParkedSyncs answers every parked SyncGroup with code and forgets the
// assignments of the generation that is being abandoned.
func (c *Coordinator) failParkedSyncs(g *group, code int16) {
	for _, id := range g.order {
		m := g.members[id]
		m.assignment = nil
		if m.syncDone != nil {
			f := m.syncDone
			m.syncDone = nil
			f(syncError(m.syncVersion, code))
		}
	}
}

// tryCompleteJoin ends the join phase early once everyone is in; the
// initial-delay phase never ends early (that is its point).
func (c *Coordinator) tryCompleteJoin(g *group, now time.Time) {
	if g.state == StatePreparingRebalance && !g.initialDelay && g.allJoined() {
		c.completeJoin(g, now)
	}
}

// completeJoin ends the join phase: dynamic members that did not rejoin are
// dropped, a new generation starts and every parked join is answered.
func (c *Coordinator) completeJoin(g *group, now time.Time) {
	g.joinDeadline = time.Time{}
	g.initialDelay = false
	for _, id := range append([]string(nil), g.order...) {
		if m := g.members[id]; !m.awaitingJoin() && m.instanceID == nil {
			g.remove(id)
		}
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined remain: wait another
		// rebalance timeout for them (or for their sessions to expire).
		g.joinDeadline = now.Add(g.rebalanceTimeout())
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.subscribed, g.subscribedKnown = nil, false
		g.transition(StateEmpty, now)
		c.logTransition(g, "join phase ended with no members")
		c.persist(c.groupRecord(g), nil)
		return
	}
	g.protocol = g.selectProtocol()
	g.computeSubscribed()
	g.transition(StateCompletingRebalance, now)
	c.logTransition(g, "join phase complete")
	for _, id := range g.order {
		m := g.members[id]
		g.pendingSync[id] = true
		m.isNew = false
		m.deadline = now.Add(m.sessionTO)
		if f := m.joinDone; f != nil {
			m.joinDone = nil
			f(g.joinResponse(m.joinVersion, id, g.leader, id == g.leader))
		}
	}
	g.numAwaitingJoin = 0
	g.syncDeadline = now.Add(g.rebalanceTimeout())
}

// electJoinedLeader keeps the leader if it rejoined, else promotes any member
// that did; false if nobody has joined.
func (g *group) electJoinedLeader() bool {
	if l, ok := g.members[g.leader]; ok && l.awaitingJoin() {
		return true
	}
	for _, id := range g.order {
		if g.members[id].awaitingJoin() {
			g.leader = id
			return true
		}
	}
	return false
}

// removeMember drops a member (left, expired or never synced), answers its
// parked requests with UNKNOWN_MEMBER_ID and moves the group on.
func (c *Coordinator) removeMember(g *group, id string, now time.Time) {
	m, ok := g.members[id]
	if !ok {
		return
	}
	g.remove(id)
	if f := m.joinDone; f != nil {
		m.joinDone = nil
		f(joinError(m.joinVersion, kerr.UnknownMemberID.Code, id))
	}
	if f := m.syncDone; f != nil {
		m.syncDone = nil
		f(syncError(m.syncVersion, kerr.UnknownMemberID.Code))
	}
	switch g.state {
	case StateStable, StateCompletingRebalance:
		c.maybePrepareRebalance(g, now, "member "+id+" removed")
	case StatePreparingRebalance:
		c.tryCompleteJoin(g, now)
	}
}

func (c *Coordinator) removePending(g *group, id string, now time.Time) {
	delete(g.pending, id)
	c.tryCompleteJoin(g, now)
}

package group

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, named as Kafka names it on the wire
// (DescribeGroups, ListGroups).
type State int8

const (
	StateEmpty State = iota
	StatePreparingRebalance
	StateCompletingRebalance
	StateStable
	StateDead
)

func (s State) String() string {
	switch s {
	case StateEmpty:
		return "Empty"
	case StatePreparingRebalance:
		return "PreparingRebalance"
	case StateCompletingRebalance:
		return "CompletingRebalance"
	case StateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// consumerProtocolType is the protocol type whose member metadata the broker
// understands (it reads subscribed topics out of it, as Kafka does).
const consumerProtocolType = "consumer"

type protocol struct {
	name     string
	metadata []byte
}

type member struct {
	id           string
	instanceID   *string
	clientID     string
	clientHost   string
	rebalanceTO  time.Duration
	sessionTO    time.Duration
	protocolType string
	protocols    []protocol
	assignment   []byte

	// isNew marks a member that has not yet completed its first join; its
	// deadline is the new-member join timeout instead of the session.
	isNew bool
	// deadline is when the member's session expires unless it is parked in a
	// join or sync (parked members are waiting on the group, not dead).
	deadline time.Time

	joinDone    func(*kmsg.JoinGroupResponse)
	joinVersion int16
	syncDone    func(*kmsg.SyncGroupResponse)
	syncVersion int16
}

func (m *member) awaitingJoin() bool { return m.joinDone != nil }
func (m *member) awaitingSync() bool { return m.syncDone != nil }

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// matches reports whether a rejoin carries exactly the member's current
// protocols (same order, same bytes): then no rebalance is needed.
func (m *member) matches(ps []protocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b protocol) bool {
		return a.name == b.name && bytes.Equal(a.metadata, b.metadata)
	})
}

type topicPartition struct {
	topic     string
	partition int32
}

type committedOffset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  time.Time
	// expireTime is set only by OffsetCommit v2-v4 with an explicit
	// retention: such offsets keep the old per-offset expiry semantics.
	expireTime time.Time
}

type group struct {
	id           string
	state        State
	stateTime    time.Time // Kafka's currentStateTimestamp
	protocolType string    // "" = none: a simple (offsets-only) group
	protocol     string    // selected protocol of the current generation
	generation   int32
	leader       string

	members map[string]*member
	order   []string          // member ids in join order; leader fallback order
	static  map[string]string // group.instance.id -> member id
	// pending are KIP-394 member ids handed out with MEMBER_ID_REQUIRED,
	// with the session deadline by which they must rejoin.
	pending         map[string]time.Time
	pendingSync     map[string]bool
	numAwaitingJoin int

	// joinDeadline is the rebalance (or initial-delay) timer; zero = none.
	joinDeadline     time.Time
	initialDelay     bool
	initialRemaining time.Duration
	newMemberAdded   bool
	// syncDeadline removes members that got a JoinGroup response but never
	// sent SyncGroup within the rebalance timeout (KAFKA-13766 behaviour).
	syncDeadline time.Time

	subscribed      map[string]bool
	subscribedKnown bool

	offsets map[topicPartition]committedOffset
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id:          id,
		state:       StateEmpty,
		stateTime:   now,
		members:     map[string]*member{},
		static:      map[string]string{},
		pending:     map[string]time.Time{},
		pendingSync: map[string]bool{},
		offsets:     map[topicPartition]committedOffset{},
	}
}

func (g *group) transition(s State, now time.Time) {
	g.state = s
	g.stateTime = now
}

func (g *group) has(id string) bool { _, ok := g.members[id]; return ok }

func (g *group) rebalanceTimeout() time.Duration {
	var max time.Duration
	for _, m := range g.members {
		max = maxDuration(max, m.rebalanceTO)
	}
	return max
}

func (g *group) allJoined() bool {
	return g.numAwaitingJoin == len(g.members) && len(g.pending) == 0
}

func (g *group) isEmptyOfEverything() bool {
	return g.state == StateEmpty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0
}

// add puts a new member into the group; the first member fixes the protocol
// type and becomes leader.
func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if g.leader == "" {
		g.leader = m.id
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if m.joinDone != nil {
		g.numAwaitingJoin++
	}
	delete(g.pending, m.id)
}

// remove drops a member without answering its parked requests.
func (g *group) remove(id string) {
	m, ok := g.members[id]
	if !ok {
		return
	}
	if m.awaitingJoin() {
		g.numAwaitingJoin--
	}
	delete(g.members, id)
	g.order = slices.DeleteFunc(g.order, func(s string) bool { return s == id })
	if m.instanceID != nil && g.static[*m.instanceID] == id {
		delete(g.static, *m.instanceID)
	}
	delete(g.pendingSync, id)
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// rename gives a static member a new member id (KIP-345 replacement).
func (g *group) rename(oldID, newID string) *member {
	m := g.members[oldID]
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	for i, id := range g.order {
		if id == oldID {
			g.order[i] = newID
		}
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = newID
	}
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	return m
}

// candidateProtocols are the protocols every current member supports.
func (g *group) supportsProtocols(protocolType string, names []string) bool {
	if g.state == StateEmpty && len(g.members) == 0 {
		return protocolType != "" && len(names) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, n := range names {
		if g.supportedByAll(n) {
			return true
		}
	}
	return false
}

func (g *group) supportedByAll(name string) bool {
	for _, m := range g.members {
		if !hasProtocol(m, name) {
			return false
		}
	}
	return true
}

func hasProtocol(m *member, name string) bool {
	return slices.ContainsFunc(m.protocols, func(p protocol) bool { return p.name == name })
}

// selectProtocol picks the protocol with the most first-choice votes among
// those every member supports; ties go to the earliest-voted candidate so
// the choice is deterministic.
func (g *group) selectProtocol() string {
	votes := map[string]int{}
	var order []string
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if g.supportedByAll(p.name) {
				if votes[p.name] == 0 {
					order = append(order, p.name)
				}
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, n := range order {
		if best == "" || votes[n] > votes[best] {
			best = n
		}
	}
	return best
}

// computeSubscribed reads the subscribed topics out of consumer-protocol
// member metadata; unknown when the group is not a consumer group or some
// metadata does not parse.
func (g *group) computeSubscribed() {
	g.subscribed, g.subscribedKnown = nil, false
	if g.protocolType != consumerProtocolType || g.protocol == "" {
		return
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	g.subscribed, g.subscribedKnown = topics, true
}

func (g *group) isSubscribedTo(topic string) bool {
	return g.subscribedKnown && g.subscribed[topic]
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

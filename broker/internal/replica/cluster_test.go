package replica

import (
	"fmt"
	"slices"
	"strings"
)

// This file is a test driver: a cluster of replicas with in-memory logs, a
// message queue the test delivers, drops, duplicates and reorders, and a tiny
// controller that only elects from the ISR (unclean election off). Scripts
// and the property test share it; it checks the cluster-wide safety
// properties after every delivery.

const ctlID int32 = -1

type simEntry struct {
	Epoch int32
	Val   string
}

type simNode struct {
	id       int32
	p        *Partition
	start    int64 // log start offset
	log      []simEntry
	incoming map[int64]simEntry // records of the fetch response being stepped
	hwSeen   int64              // high watermark last published (the checkpoint)
	epochs   []EpochEntry       // leader-epoch checkpoint
}

func (n *simNode) leo() int64 { return n.start + int64(len(n.log)) }

func (n *simNode) at(off int64) (simEntry, bool) {
	if off < n.start || off >= n.leo() {
		return simEntry{}, false
	}
	return n.log[off-n.start], true
}

type envelope struct {
	id       int
	from, to int32
	msg      Msg                    // for a node
	alter    *AlterPartitionRequest // for the controller
	records  map[int64]simEntry     // fetch response payload
	fetchOff int64                  // fetch response: offset of the first record
}

func (e *envelope) kind() string {
	switch e.msg.(type) {
	case FollowerFetch:
		return "fetch"
	case FetchResponse:
		return "fetch-resp"
	case PartitionState:
		return "meta"
	case AlterPartitionResponse:
		return "alter-resp"
	}
	return "alter"
}

func nodeName(id int32) string {
	if id == ctlID {
		return "ctl"
	}
	return fmt.Sprintf("n%d", id)
}

func (e *envelope) String() string {
	hdr := fmt.Sprintf("#%d %s %s→%s", e.id, e.kind(), nodeName(e.from), nodeName(e.to))
	switch m := e.msg.(type) {
	case FollowerFetch:
		return fmt.Sprintf("%s epoch=%d off=%d last-epoch=%d", hdr, m.CurrentLeaderEpoch, m.FetchOffset, m.LastFetchedEpoch)
	case FetchResponse:
		s := fmt.Sprintf("%s id=%d hw=%d", hdr, m.FetchID, m.HighWatermark)
		if m.Err != nil {
			s += " err=" + Name(m.Err)
		}
		if m.Diverging != nil {
			s += fmt.Sprintf(" diverging=e%d@%d", m.Diverging.Epoch, m.Diverging.EndOffset)
		}
		if len(m.Batches) > 0 {
			s += fmt.Sprintf(" records=%d..%d", m.Batches[0].BaseOffset, m.Batches[len(m.Batches)-1].LastOffset)
		}
		return s
	case PartitionState:
		return fmt.Sprintf("%s leader=%d epoch=%d pepoch=%d isr=%v", hdr, m.Leader, m.LeaderEpoch, m.PartitionEpoch, m.ISR)
	case AlterPartitionResponse:
		if m.Err != nil {
			return fmt.Sprintf("%s err=%s", hdr, Name(m.Err))
		}
		return fmt.Sprintf("%s isr=%v pepoch=%d", hdr, m.ISR, m.PartitionEpoch)
	}
	return fmt.Sprintf("%s isr=%v epoch=%d pepoch=%d", hdr, e.alter.ISR, e.alter.LeaderEpoch, e.alter.PartitionEpoch)
}

// fakeController keeps the partition's registration as KRaft would and
// applies AlterPartition with KRaft's checks.
type fakeController struct {
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	isr            []int32
	fenced         []int32
}

func (c *fakeController) state() PartitionState {
	return PartitionState{Leader: c.leader, LeaderEpoch: c.leaderEpoch, PartitionEpoch: c.partitionEpoch,
		Replicas: slices.Clone(c.replicas), ISR: slices.Clone(c.isr), Ineligible: slices.Clone(c.fenced)}
}

func (c *fakeController) alter(from int32, req AlterPartitionRequest) (AlterPartitionResponse, bool) {
	resp := AlterPartitionResponse{ProposalID: req.ID}
	switch {
	case from != c.leader || req.LeaderEpoch < c.leaderEpoch:
		resp.Err = ErrFencedLeaderEpoch
	case req.LeaderEpoch > c.leaderEpoch:
		resp.Err = ErrInvalidRequest
	case req.PartitionEpoch != c.partitionEpoch:
		resp.Err = ErrInvalidUpdateVersion
	case !slices.Contains(req.ISR, c.leader):
		resp.Err = ErrInvalidRequest
	}
	if resp.Err != nil {
		return resp, false
	}
	for _, id := range req.ISR {
		if !slices.Contains(c.isr, id) && slices.Contains(c.fenced, id) {
			resp.Err = ErrIneligibleReplica
			return resp, false
		}
	}
	changed := !slices.Equal(sortedIDs(req.ISR), c.isr)
	if changed {
		c.isr = sortedIDs(req.ISR)
		c.partitionEpoch++
	}
	resp.Leader, resp.LeaderEpoch, resp.PartitionEpoch, resp.ISR = c.leader, c.leaderEpoch, c.partitionEpoch, slices.Clone(c.isr)
	return resp, changed
}

// elect makes leader the leader (it must be in the ISR: no unclean election).
func (c *fakeController) elect(leader int32) error {
	if leader >= 0 && !slices.Contains(c.isr, leader) {
		return fmt.Errorf("%d not in isr %v: unclean election refused", leader, c.isr)
	}
	c.leader = leader
	c.leaderEpoch++
	c.partitionEpoch++
	return nil
}

// fence is a broker losing its session: it leaves the ISR unless it is the
// last member (KRaft keeps the last one so the partition can come back) and
// loses leadership to another unfenced ISR member, if any.
func (c *fakeController) fence(id int32) {
	if !slices.Contains(c.fenced, id) {
		c.fenced = append(c.fenced, id)
	}
	if len(c.isr) > 1 {
		c.isr = slices.DeleteFunc(c.isr, func(x int32) bool { return x == id })
	}
	if c.leader == id {
		c.leader = -1
		for _, x := range c.isr {
			if !slices.Contains(c.fenced, x) {
				c.leader = x
				break
			}
		}
		c.leaderEpoch++
	}
	c.partitionEpoch++
}

func (c *fakeController) unfence(id int32) {
	c.fenced = slices.DeleteFunc(c.fenced, func(x int32) bool { return x == id })
	if c.leader < 0 && slices.Contains(c.isr, id) {
		c.leader = id
		c.leaderEpoch++
		c.partitionEpoch++
	}
}

type ackedRecord struct {
	off   int64
	entry simEntry
	epoch int32 // leader epoch of the acknowledging leader
}

type cluster struct {
	cfg      Config
	nodes    map[int32]*simNode
	ids      []int32
	ctl      *fakeController
	queue    []*envelope
	nextEnv  int
	nowMs    int64
	nextVal  int
	nextProd uint64
	acked    []ackedRecord
	produced map[uint64]ackedRecord // acks=all produce id -> its last record
	// committed is the log prefix below some published high watermark: it
	// never changes and no replica ever truncates a record of it.
	committed []simEntry
	failures  []string
	cut       map[int32]bool // isolated nodes: messages to or from them are lost
	logf      func(format string, args ...any)
	maxFetch  int
	// firstOffsets: acks=all produce id -> its first offset
	firstOffsets map[uint64]int64
}

func newCluster(cfg Config, ids []int32, logf func(string, ...any)) *cluster {
	c := &cluster{cfg: cfg, nodes: map[int32]*simNode{}, ids: slices.Clone(ids), logf: logf,
		ctl:      &fakeController{leader: -1, leaderEpoch: -1, partitionEpoch: -1, replicas: slices.Clone(ids), isr: sortedIDs(ids)},
		produced: map[uint64]ackedRecord{}, maxFetch: 4, cut: map[int32]bool{},
		// Kafka's clock is wall time: a caught-up time of 0 means long ago.
		nowMs: 1_000_000}
	for _, id := range ids {
		ncfg := cfg
		ncfg.ReplicaID = id
		p, err := New(ncfg, LogState{})
		if err != nil {
			panic(err)
		}
		c.nodes[id] = &simNode{id: id, p: p}
	}
	return c
}

func (c *cluster) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.failures = append(c.failures, msg)
	c.logf("FAIL %s", msg)
}

func (c *cluster) send(from, to int32, msg Msg) *envelope {
	c.nextEnv++
	e := &envelope{id: c.nextEnv, from: from, to: to, msg: msg}
	c.queue = append(c.queue, e)
	return e
}

func (c *cluster) broadcast() {
	for _, id := range c.ids {
		c.send(ctlID, id, c.ctl.state())
	}
}

// deliver hands one envelope to its destination and runs the driver loop.
func (c *cluster) deliver(e *envelope) {
	if c.cut[e.from] || c.cut[e.to] {
		return
	}
	if e.to == ctlID {
		resp, changed := c.ctl.alter(e.from, *e.alter)
		c.send(ctlID, e.from, resp)
		if changed {
			c.broadcast()
		}
		return
	}
	n := c.nodes[e.to]
	msg := e.msg
	switch m := msg.(type) {
	case FollowerFetch:
		m.NowMs = c.nowMs
		msg = m
	case FetchResponse:
		m.NowMs = c.nowMs
		msg = m
		n.incoming = e.records
	case PartitionState:
		m.NowMs = c.nowMs
		msg = m
	}
	wasLeader, epoch := n.p.Role() == RoleLeader, n.p.LeaderEpoch()
	c.step(n, msg)
	n.incoming = nil
	if n.p.Role() == RoleLeader && (!wasLeader || n.p.LeaderEpoch() != epoch) {
		c.logf("%s: leader at epoch %d from offset %d", nodeName(n.id), n.p.LeaderEpoch(), n.p.EpochStartOffset())
		c.checkAcked(n, "new leader")
	}
}

func (c *cluster) step(n *simNode, m Msg) {
	if err := n.p.Step(m); err != nil {
		c.failf("%s: step %T: %v", nodeName(n.id), m, err)
	}
	c.drain(n)
	c.checkHW()
}

// drain is the driver loop: Ready, apply the writes, send, Advance.
func (c *cluster) drain(n *simNode) {
	for n.p.HasReady() {
		rd := n.p.Ready()
		for _, w := range rd.Writes {
			c.applyWrite(n, w)
		}
		if rd.EpochsChanged {
			n.epochs = rd.Epochs
		}
		if rd.HighWatermarkChanged {
			c.logf("%s: hw %d", nodeName(n.id), rd.HighWatermark)
			c.publishHW(n, rd.HighWatermark)
			n.hwSeen = rd.HighWatermark
		}
		if f := rd.Fetch; f != nil {
			c.send(n.id, f.Leader, FollowerFetch{ReplicaID: n.id, CurrentLeaderEpoch: f.CurrentLeaderEpoch,
				FetchOffset: f.FetchOffset, LastFetchedEpoch: f.LastFetchedEpoch, LogStartOffset: f.LogStartOffset, Token: f.ID})
		}
		for _, r := range rd.FetchResults {
			c.answerFetch(n, r)
		}
		if a := rd.AlterPartition; a != nil {
			c.logf("%s: propose isr %v", nodeName(n.id), a.ISR)
			c.nextEnv++
			c.queue = append(c.queue, &envelope{id: c.nextEnv, from: n.id, to: ctlID, alter: a})
		}
		for _, comp := range rd.Completions {
			c.completed(n, comp)
		}
		n.p.Advance()
	}
}

func (c *cluster) applyWrite(n *simNode, w LogWrite) {
	switch w.Kind {
	case WriteTruncate, WriteTruncateFully:
		// What a replica exposed is never retracted; a replica outside the
		// ISR may cut committed records it never exposed (following a zombie
		// leader) and fetch them again later.
		if w.Offset < n.hwSeen {
			c.failf("committed-never-truncated: %s truncates to %d below its hw %d", nodeName(n.id), w.Offset, n.hwSeen)
		}
		for off := w.Offset; slices.Contains(c.ctl.isr, n.id) && off < n.leo() && off < int64(len(c.committed)); off++ {
			if e, _ := n.at(off); e == c.committed[off] {
				c.failf("committed-never-truncated: isr member %s truncates committed offset %d %v", nodeName(n.id), off, e)
				break
			}
		}
		if w.Kind == WriteTruncateFully {
			n.start, n.log = w.Offset, nil
		} else {
			n.log = n.log[:w.Offset-n.start]
		}
		c.logf("%s: truncate to %d", nodeName(n.id), w.Offset)
	case WriteAppend:
		for _, b := range w.Batches {
			for off := b.BaseOffset; off <= b.LastOffset; off++ {
				e, ok := n.incoming[off]
				if !ok || off != n.leo() || e.Epoch != b.LeaderEpoch {
					c.failf("%s: append of %d not in the response or out of order", nodeName(n.id), off)
					return
				}
				n.log = append(n.log, e)
			}
		}
		c.logf("%s: append %d..%d", nodeName(n.id), w.Batches[0].BaseOffset, w.Batches[len(w.Batches)-1].LastOffset)
	case WriteLogStart:
		n.log = n.log[w.Offset-n.start:]
		n.start = w.Offset
	}
}

// publishHW: what a replica exposes below its high watermark is the
// committed prefix: it agrees with what was exposed before, and extends it.
func (c *cluster) publishHW(n *simNode, hw int64) {
	for off := n.start; off < hw; off++ {
		e, _ := n.at(off)
		switch {
		case off < int64(len(c.committed)) && e != c.committed[off]:
			c.failf("committed-prefix-stable: %s exposes %v at %d, committed %v", nodeName(n.id), e, off, c.committed[off])
			return
		case off == int64(len(c.committed)):
			c.committed = append(c.committed, e)
		}
	}
}

// answerFetch reads records for a fetch result and sends the response, one
// record per batch, at most maxFetch records.
func (c *cluster) answerFetch(n *simNode, r FetchResult) {
	resp := FetchResponse{FetchID: r.Token, Err: r.Err, HighWatermark: r.HighWatermark,
		LogStartOffset: r.LogStartOffset, LogEndOffset: r.LogEndOffset, Diverging: r.Diverging}
	recs := map[int64]simEntry{}
	if r.Err == nil && r.Diverging == nil && r.ReadOffset >= 0 {
		for off := r.ReadOffset; off < n.leo() && off < r.ReadOffset+int64(c.maxFetch); off++ {
			e, _ := n.at(off)
			recs[off] = e
			resp.Batches = append(resp.Batches, Batch{BaseOffset: off, LastOffset: off, LeaderEpoch: e.Epoch})
		}
	}
	env := c.send(n.id, r.ReplicaID, resp)
	env.records = recs
}

func (c *cluster) completed(n *simNode, comp Completion) {
	rec, all := c.produced[comp.ID]
	delete(c.produced, comp.ID)
	c.logf("%s: produce p%d (last offset %d) %s", nodeName(n.id), comp.ID, comp.LastOffset, Name(comp.Err))
	if !all || comp.Err != nil {
		return
	}
	for off := c.firstOf(comp); off <= comp.LastOffset; off++ {
		e, _ := n.at(off)
		c.acked = append(c.acked, ackedRecord{off: off, entry: e, epoch: n.p.LeaderEpoch()})
	}
	// acked-on-isr, checked against the real logs.
	for _, id := range n.p.MaximalISR() {
		if got, ok := c.nodes[id].at(rec.off); !ok || got != rec.entry {
			c.failf("acked-on-isr: offset %d acked by %s but %s has %v", rec.off, nodeName(n.id), nodeName(id), got)
		}
	}
}

func (c *cluster) firstOf(comp Completion) int64 {
	if f, ok := c.firstOffsets[comp.ID]; ok {
		return f
	}
	return comp.LastOffset
}

// checkAcked: every acknowledged acks=all record is in the log of n, a
// leader. A zombie (a replica that got an old decision late and leads an
// epoch older than the acknowledgement) is exempt: it cannot commit anything.
func (c *cluster) checkAcked(n *simNode, why string) {
	for _, a := range c.acked {
		if a.epoch > n.p.LeaderEpoch() {
			continue
		}
		if got, ok := n.at(a.off); !ok || got != a.entry {
			c.failf("acked-never-lost (%s): %s lacks acked offset %d %v (has %v)", why, nodeName(n.id), a.off, a.entry, got)
			return
		}
	}
}

// checkHW: a leader's high watermark never exceeds the log end of any member
// of its ISR (maximal ISR), judged on the real logs.
func (c *cluster) checkHW() {
	for _, id := range c.ids {
		n := c.nodes[id]
		if n.p.Role() != RoleLeader {
			if n.p.HighWatermark() > n.leo() {
				c.failf("hw-le-leo: follower %s hw %d > log end %d", nodeName(id), n.p.HighWatermark(), n.leo())
			}
			continue
		}
		for _, m := range n.p.MaximalISR() {
			if n.p.HighWatermark() > c.nodes[m].leo() {
				c.failf("hw-within-isr: %s hw %d > %s log end %d", nodeName(id), n.p.HighWatermark(), nodeName(m), c.nodes[m].leo())
			}
		}
	}
}

// produce appends n records at node id as one batch and registers the
// produce. It reports the CheckAppend error, if any.
func (c *cluster) produce(id int32, count int, acks int16, deadlineMs int64) (uint64, error) {
	n := c.nodes[id]
	if err := n.p.CheckAppend(acks); err != nil {
		return 0, err
	}
	base := n.leo()
	for i := 0; i < count; i++ {
		c.nextVal++
		n.log = append(n.log, simEntry{Epoch: n.p.LeaderEpoch(), Val: fmt.Sprintf("v%d", c.nextVal)})
	}
	c.step(n, Appended{Batches: []Batch{{BaseOffset: base, LastOffset: n.leo() - 1, LeaderEpoch: n.p.LeaderEpoch()}}})
	c.nextProd++
	last, _ := n.at(n.leo() - 1)
	if acks == AcksAll {
		c.produced[c.nextProd] = ackedRecord{off: n.leo() - 1, entry: last}
		if c.firstOffsets == nil {
			c.firstOffsets = map[uint64]int64{}
		}
		c.firstOffsets[c.nextProd] = base
	}
	c.step(n, Produce{ID: c.nextProd, LastOffset: n.leo() - 1, Acks: acks, DeadlineMs: deadlineMs})
	return c.nextProd, nil
}

// restart replaces id's state machine by one recovered from its log, its
// high-watermark checkpoint and its epoch checkpoint, and replays the
// current metadata to it (a KRaft broker catches up on the metadata log).
func (c *cluster) restart(id int32) error {
	n := c.nodes[id]
	cfg := c.cfg
	cfg.ReplicaID = id
	p, err := New(cfg, LogState{LogStartOffset: n.start, LogEndOffset: n.leo(), HighWatermark: n.hwSeen, Epochs: n.epochs})
	if err != nil {
		return err
	}
	n.p = p
	c.send(ctlID, id, c.ctl.state())
	return nil
}

func (c *cluster) tick(ms int64) {
	c.nowMs += ms
	for _, id := range c.ids {
		c.step(c.nodes[id], Tick{NowMs: c.nowMs})
	}
}

// run delivers everything queued, round after round, until quiet or rounds
// are used up. Followers always have a fetch in flight, so "quiet" means no
// message but fetches and their answers carrying nothing new.
func (c *cluster) run(rounds int) {
	for i := 0; i < rounds && len(c.queue) > 0; i++ {
		batch := c.queue
		c.queue = nil
		for _, e := range batch {
			c.deliver(e)
		}
	}
}

func (c *cluster) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ctl: leader=%d epoch=%d pepoch=%d isr=%v fenced=%v\n", c.ctl.leader, c.ctl.leaderEpoch, c.ctl.partitionEpoch, c.ctl.isr, c.ctl.fenced)
	for _, id := range c.ids {
		n := c.nodes[id]
		p := n.p
		fmt.Fprintf(&b, "%s: %s epoch=%d leo=%d hw=%d", nodeName(id), p.Role(), p.LeaderEpoch(), p.LogEndOffset(), p.HighWatermark())
		if p.Role() == RoleLeader {
			fmt.Fprintf(&b, " isr=%v maximal=%v", p.ISR(), p.MaximalISR())
		}
		fmt.Fprintf(&b, " epochs=%s log=%s\n", fmtEpochs(p.Epochs()), fmtLog(n))
	}
	return b.String()
}

func fmtEpochs(es []EpochEntry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("e%d@%d", e.Epoch, e.StartOffset)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func fmtLog(n *simNode) string {
	parts := make([]string, len(n.log))
	for i, e := range n.log {
		parts[i] = fmt.Sprintf("%s/e%d", e.Val, e.Epoch)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

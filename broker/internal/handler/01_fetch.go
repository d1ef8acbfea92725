package handler

// Fetch (key 1), versions 4-18 (Kafka 4.0's floor is 4).
//
// Long poll: the response waits until MinBytes of records are available or
// MaxWaitMillis passes (or an error occurs), woken by every append.
// PartitionMaxBytes and MaxBytes bound the response, except that the first
// non-empty partition always returns at least one whole batch (KIP-74).
// Incremental fetch sessions (KIP-227, v7+): epoch 0 opens a session, later
// requests name only changed partitions and forgotten ones, and responses
// carry only partitions with new records, a changed high watermark or log
// start offset, or an error; epoch -1 closes the session or fetches without
// one. With one replica the high watermark is the log end offset. Every
// partition answer carries the last stable offset: the smaller of the high
// watermark and the first offset of the oldest open transaction
// (partlog.Log.FirstUnstableOffset). IsolationLevel 1 (read_committed)
// reads only below the last stable offset and returns the aborted
// transactions whose data may lie in the returned batches (those whose
// ABORT marker is at or after the fetch offset and whose first offset is
// below the end of the returned data, from the segments' aborted
// transaction indexes), so the client drops their records; control
// batches are returned as they are and clients skip them.
// v13+ addresses topics by id. Leader epochs are checked (KIP-320;
// this node's epoch is always 0).
// Cluster mode (cluster.go): only the image's leader serves a partition;
// elsewhere NOT_LEADER_OR_FOLLOWER with KIP-951's CurrentLeader (v12+) and
// NodeEndpoints (v16+: not filled yet); leader epochs are checked against the image. The
// high watermark (and what consumers may read) is the replication state
// machine's. Fetches with a replica id (ReplicaState.ID v15+, ReplicaID
// before) are followers' (replication.go): each partition is stepped into
// the leader's state machine, which answers with records from the fetch
// offset up to the log end, the high watermark or a diverging epoch; no
// fetch sessions; the answer waits up to MaxWaitMillis for records.
// Single-node mode refuses replica fetches.
// KIP-392 (v11+): when Config.PreferredReadReplica is set and a consumer
// sends its rack, the leader asks it which replica that consumer should
// read from; another node's id is answered as PreferredReadReplica with no
// records (offsets and watermarks filled), as Kafka does. A follower serves
// a consumer fetch only when the hook names this node for the consumer's
// rack (up to the high watermark it learned from the leader), else
// NOT_LEADER_OR_FOLLOWER.
// Not implemented: throttling.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

func init() { register(kmsg.Fetch, 4, 18, (*Server).fetch) }

// fetchItem is one partition a fetch reads, in response order.
type fetchItem struct {
	key  sessionKey
	part *sessionPartition
}

func (s *Server) fetch(ctx context.Context, _ *Conn, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if id := max(req.ReplicaID, req.ReplicaState.ID); id >= 0 && s.cfg.Replication != nil {
		return s.replicaFetch(ctx, req, id)
	}
	if req.ReplicaID >= 0 || req.ReplicaState.ID >= 0 {
		resp.ErrorCode = kerr.NotLeaderForPartition.Code // no followers on a single node
		return resp, nil
	}
	sessionID, sessionEpoch := req.SessionID, req.SessionEpoch
	if req.Version < 7 {
		sessionID, sessionEpoch = 0, finalEpoch
	}
	sess, full, err := s.sessions.begin(sessionID, sessionEpoch)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	items := s.fetchItems(req, sess, full)
	if sess != nil {
		resp.SessionID = sess.id
	}

	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	var reported []reportedState
	for {
		wake := s.cfg.Topics.Wait() // taken before reading, so no append is missed
		topics, sent, bytes, failed := s.readFetch(req, items, full)
		if bytes >= int(req.MinBytes) || failed || maxWait <= 0 {
			resp.Topics, reported = topics, sent
			break
		}
		select {
		case <-wake:
			continue
		case <-timer.C:
			resp.Topics, reported, _, _ = s.readFetch(req, items, full)
		case <-ctx.Done():
			s.sessions.remove(sess)
			return nil, ctx.Err()
		}
		break
	}
	// Only what this response carries counts as reported to the session.
	for _, r := range reported {
		r.part.sent, r.part.sentHighWatermark, r.part.sentLogStart = true, r.highWatermark, r.logStart
	}
	s.sessions.end(sess)
	s.cfg.Metrics.Fetched(resp, s.cfg.Topics.TopicName)
	return resp, nil
}

// fetchItems applies the request to the session (if any) and returns the
// partitions to read, in order.
func (s *Server) fetchItems(req *kmsg.FetchRequest, sess *fetchSession, full bool) []fetchItem {
	byID := req.Version >= 13
	keyOf := func(topic string, id [16]byte, p int32) sessionKey {
		if byID {
			return sessionKey{topicID: id, partition: p}
		}
		return sessionKey{topic: topic, partition: p}
	}
	if sess == nil || full {
		var items []fetchItem
		parts := map[sessionKey]*sessionPartition{}
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				k := keyOf(rt.Topic, rt.TopicID, rp.Partition)
				sp := &sessionPartition{fetchOffset: rp.FetchOffset, partitionMaxBytes: rp.PartitionMaxBytes, leaderEpoch: rp.CurrentLeaderEpoch}
				if _, dup := parts[k]; !dup {
					items = append(items, fetchItem{k, sp})
				}
				parts[k] = sp
			}
		}
		if sess != nil {
			sess.parts = parts
			sess.order = sess.order[:0]
			for _, it := range items {
				sess.order = append(sess.order, it.key)
			}
		}
		return items
	}
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			delete(sess.parts, keyOf(ft.Topic, ft.TopicID, p))
		}
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := keyOf(rt.Topic, rt.TopicID, rp.Partition)
			sp, ok := sess.parts[k]
			if !ok {
				sp = &sessionPartition{}
				sess.parts[k] = sp
				sess.order = append(sess.order, k)
			}
			sp.fetchOffset, sp.partitionMaxBytes, sp.leaderEpoch = rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch
		}
	}
	order := sess.order[:0]
	var items []fetchItem
	for _, k := range sess.order {
		if sp, ok := sess.parts[k]; ok {
			order = append(order, k)
			items = append(items, fetchItem{k, sp})
		}
	}
	sess.order = order
	return items
}

// reportedState is what a response told the client about one partition.
type reportedState struct {
	part                    *sessionPartition
	highWatermark, logStart int64
}

// readFetch reads every item once, without changing the session. For
// incremental fetches only partitions with something to report are
// included. It returns what it reported, the record bytes read, and whether
// any partition failed (which ends the long poll, as in Kafka).
func (s *Server) readFetch(req *kmsg.FetchRequest, items []fetchItem, full bool) ([]kmsg.FetchResponseTopic, []reportedState, int, bool) {
	var out []kmsg.FetchResponseTopic
	var reported []reportedState
	total, failed := 0, false
	budget := int(req.MaxBytes)
	if req.MaxBytes <= 0 {
		budget = 1 << 30
	}
	for _, it := range items {
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = it.key.partition
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
		rp.PreferredReadReplica = -1
		rp.RecordBatches = []byte{} // empty, not null: librdkafka rejects a null record set
		err := s.readPartition(req, it, budget-total, total == 0, &rp)
		if err != nil {
			rp.ErrorCode = errorCode(err)
			failed = true
		}
		total += len(rp.RecordBatches)
		report := full || err != nil || len(rp.RecordBatches) > 0 || !it.part.sent ||
			rp.HighWatermark != it.part.sentHighWatermark || rp.LogStartOffset != it.part.sentLogStart
		if !report {
			continue
		}
		reported = append(reported, reportedState{it.part, rp.HighWatermark, rp.LogStartOffset})
		if n := len(out); n == 0 || out[n-1].Topic != it.key.topic || out[n-1].TopicID != it.key.topicID {
			t := kmsg.NewFetchResponseTopic()
			t.Topic, t.TopicID = it.key.topic, it.key.topicID
			out = append(out, t)
		}
		out[len(out)-1].Partitions = append(out[len(out)-1].Partitions, rp)
	}
	return out, reported, total, failed
}

// readCommitted is Fetch's IsolationLevel for read_committed.
const readCommitted = 1

// followerReads is what a Replication offers when followers may serve
// consumers (KIP-392): the high watermark a replica knows, leader or not.
type followerReads interface {
	ReplicaHighWatermark(topicID [16]byte, index int32) (int64, error)
}

func (s *Server) readPartition(req *kmsg.FetchRequest, it fetchItem, budget int, first bool, rp *kmsg.FetchResponseTopicPartition) error {
	var name *string
	if it.key.topic != "" || it.key.topicID == [16]byte{} {
		name = &it.key.topic
	}
	t, ok := s.lookupTopic(name, it.key.topicID)
	p, err := s.leaderPartition(t, ok, it.key.partition, name == nil, it.part.leaderEpoch)
	follower := false
	if err != nil && notLeader(err) && ok && s.preferredReplica(req, t, it.key.partition) == s.cfg.NodeID {
		p, err = s.partition(t, ok, it.key.partition, name == nil)
		follower = err == nil
	}
	if err != nil {
		if notLeader(err) && ok {
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch, _ = s.currentLeader(t.ID, it.key.partition)
		}
		return err
	}
	hw, err := s.highWatermark(p, follower)
	if err != nil {
		return err
	}
	lso := min(hw, p.Log.FirstUnstableOffset())
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = hw, lso, p.Log.StartOffset()
	if !follower {
		if id := s.preferredReplica(req, t, it.key.partition); id >= 0 && id != s.cfg.NodeID {
			rp.PreferredReadReplica = id // KIP-392: no records, the client goes there
			return nil
		}
	}
	upTo := hw
	if req.IsolationLevel == readCommitted {
		upTo = lso
	}
	maxBytes := int(it.part.partitionMaxBytes)
	if budget < maxBytes {
		maxBytes = budget
	}
	if maxBytes <= 0 && !first {
		return nil
	}
	data, err := p.Log.Read(it.part.fetchOffset, max(maxBytes, 1), upTo)
	if err != nil {
		return err
	}
	if len(data) > maxBytes && !first {
		return nil // only the first non-empty partition may exceed its limits
	}
	if data != nil {
		rp.RecordBatches = data
		if req.IsolationLevel == readCommitted {
			rp.AbortedTransactions = abortedIn(p, it.part.fetchOffset, data)
			if faults.Planted(faults.TxnAbortedRead) { // planted bug (faults/planted.go)
				rp.AbortedTransactions = nil
			}
		}
	}
	return nil
}

// highWatermark is what consumers may read up to: the log end offset on a
// single node, else the replication state machine's (the one a follower
// learned from its leader when it serves a KIP-392 fetch).
func (s *Server) highWatermark(p *topics.Partition, follower bool) (int64, error) {
	if s.cfg.Replication == nil {
		return p.Log.EndOffset(), nil // one replica: everything appended is replicated
	}
	if follower {
		fr, ok := s.cfg.Replication.(followerReads)
		if !ok {
			return 0, kerr.NotLeaderForPartition
		}
		hw, err := fr.ReplicaHighWatermark(p.Topic.ID, p.Index)
		return hw, replicaErr(err)
	}
	hw, err := s.cfg.Replication.HighWatermark(p.Topic.ID, p.Index)
	return hw, replicaErr(err)
}

// preferredReplica asks Config.PreferredReadReplica where a consumer fetch
// should read (v11+, consumer with a rack); -1 means here / no opinion.
func (s *Server) preferredReplica(req *kmsg.FetchRequest, t *topics.Topic, index int32) int32 {
	hook := s.cfg.PreferredReadReplica
	if hook == nil || req.Version < 11 || req.Rack == "" || t == nil || max(req.ReplicaID, req.ReplicaState.ID) >= 0 {
		return -1
	}
	return hook(t.Name, index, req.Rack)
}

// abortedIn lists the aborted transactions a read_committed client needs
// for the batches in data, read from fetchOffset.
func abortedIn(p *topics.Partition, fetchOffset int64, data []byte) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	end := fetchOffset
	for rest := data; len(rest) >= records.HeaderSize; {
		h, err := records.ReadHeader(rest)
		if err != nil || h.Size() > len(rest) {
			break
		}
		end = h.LastOffset() + 1
		rest = rest[h.Size():]
	}
	var out []kmsg.FetchResponseTopicPartitionAbortedTransaction
	for _, a := range p.Log.AbortedTxns(fetchOffset, end) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return out
}

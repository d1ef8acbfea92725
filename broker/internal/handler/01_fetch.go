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
// one. With one replica the high watermark is the log end offset, and with
// no transactions the last stable offset equals it for both isolation
// levels. v13+ addresses topics by id. Leader epochs are checked (KIP-320;
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
// Not implemented: KIP-392 preferred read replica (always -1), throttling.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
		err := s.readPartition(it, budget-total, total == 0, &rp)
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

func (s *Server) readPartition(it fetchItem, budget int, first bool, rp *kmsg.FetchResponseTopicPartition) error {
	var name *string
	if it.key.topic != "" || it.key.topicID == [16]byte{} {
		name = &it.key.topic
	}
	t, ok := s.lookupTopic(name, it.key.topicID)
	p, err := s.leaderPartition(t, ok, it.key.partition, name == nil, it.part.leaderEpoch)
	if err != nil {
		if notLeader(err) && ok {
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch, _ = s.currentLeader(t.ID, it.key.partition)
		}
		return err
	}
	hw := p.Log.EndOffset() // one replica: everything appended is replicated
	if s.cfg.Replication != nil {
		if hw, err = s.cfg.Replication.HighWatermark(t.ID, it.key.partition); err != nil {
			return replicaErr(err)
		}
	}
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = hw, hw, p.Log.StartOffset()
	maxBytes := int(it.part.partitionMaxBytes)
	if budget < maxBytes {
		maxBytes = budget
	}
	if maxBytes <= 0 && !first {
		return nil
	}
	data, err := p.Log.Read(it.part.fetchOffset, max(maxBytes, 1), hw)
	if err != nil {
		return err
	}
	if len(data) > maxBytes && !first {
		return nil // only the first non-empty partition may exceed its limits
	}
	if data != nil {
		rp.RecordBatches = data
	}
	return nil
}

package group

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type memStore struct {
	mu  sync.Mutex
	log []KV
}

func (s *memStore) Append(records []KV) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, records...)
	return nil
}

func (s *memStore) records() []KV {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]KV(nil), s.log...)
}

// TestServiceConcurrentMembers runs several consumer loops (join, sync,
// heartbeat, commit, occasionally leave) against one Service with the real
// ticker, to let the race detector see every shared path. The property
// checked: every member that ends in a Stable generation got an answer to
// each request, and committed offsets replay into a fresh Service.
func TestServiceConcurrentMembers(t *testing.T) {
	store := &memStore{}
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 20 * time.Millisecond
	cfg.MinSessionTimeout = 50 * time.Millisecond
	cfg.TickInterval = 5 * time.Millisecond
	s, err := NewService(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runCtx, stopRun := context.WithCancel(ctx)
	var runDone sync.WaitGroup
	runDone.Add(1)
	go func() { defer runDone.Done(); s.Run(runCtx) }()

	const members, rounds = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, members)
	for i := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := consumerLoop(WithClient(ctx, Client{ID: fmt.Sprintf("c%d", i), Host: "/127.0.0.1"}), s, i, rounds); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	stopRun()
	runDone.Wait()

	// Replay: the committed offsets come back.
	s2, err := NewService(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Load(store.records()); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "race"}}
	resp := s2.OffsetFetch(ctx, req)
	if len(resp.Groups) != 1 || len(resp.Groups[0].Topics) == 0 {
		t.Fatalf("no offsets after replay: %+v", resp)
	}
}

func consumerLoop(ctx context.Context, s *Service, i, rounds int) error {
	memberID := ""
	for round := 0; round < rounds; round++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		jr := kmsg.NewPtrJoinGroupRequest()
		jr.Version, jr.Group, jr.MemberID = 9, "race", memberID
		jr.SessionTimeoutMillis, jr.RebalanceTimeoutMillis = 2000, 2000
		jr.ProtocolType = "consumer"
		jr.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}
		join := s.JoinGroup(ctx, jr)
		if join == nil {
			return fmt.Errorf("member %d: join abandoned: %v", i, ctx.Err())
		}
		memberID = join.MemberID
		if join.ErrorCode != 0 {
			continue // MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS, ...: rejoin
		}
		sr := kmsg.NewPtrSyncGroupRequest()
		sr.Version, sr.Group, sr.MemberID, sr.Generation = 5, "race", memberID, join.Generation
		if join.LeaderID == memberID {
			for _, m := range join.Members {
				sr.GroupAssignment = append(sr.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: []byte(m.MemberID)})
			}
		}
		sync := s.SyncGroup(ctx, sr)
		if sync == nil {
			return fmt.Errorf("member %d: sync abandoned: %v", i, ctx.Err())
		}
		if sync.ErrorCode != 0 {
			continue
		}
		for hb := 0; hb < 3; hb++ {
			h := kmsg.NewPtrHeartbeatRequest()
			h.Version, h.Group, h.MemberID, h.Generation = 4, "race", memberID, join.Generation
			if s.Heartbeat(ctx, h).ErrorCode != 0 {
				break
			}
			oc := kmsg.NewPtrOffsetCommitRequest()
			oc.Version, oc.Group, oc.MemberID, oc.Generation = 8, "race", memberID, join.Generation
			oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: int32(i), Offset: int64(round)}}}}
			s.OffsetCommit(ctx, oc)
			time.Sleep(time.Millisecond)
		}
		if round%5 == 4 {
			lr := kmsg.NewPtrLeaveGroupRequest()
			lr.Version, lr.Group = 5, "race"
			lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: memberID}}
			s.LeaveGroup(ctx, lr)
			memberID = ""
		}
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Groups = []string{"race"}
		s.DescribeGroups(ctx, d)
		s.ListGroups(ctx, kmsg.NewPtrListGroupsRequest())
	}
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version, lr.Group = 5, "race"
	lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: memberID}}
	s.LeaveGroup(ctx, lr)
	return nil
}

// TestServiceAbandonedJoin checks that a JoinGroup whose context ends
// returns nil promptly and leaves the Service usable.
func TestServiceAbandonedJoin(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = time.Hour // the join would park for an hour
	s, err := NewService(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	jr := kmsg.NewPtrJoinGroupRequest()
	jr.Version, jr.Group = 3, "g"
	jr.SessionTimeoutMillis, jr.RebalanceTimeoutMillis = 10000, 10000
	jr.ProtocolType = "consumer"
	jr.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if r := s.JoinGroup(ctx, jr); r != nil {
		t.Fatalf("expected abandonment, got %+v", r)
	}
	l := s.ListGroups(context.Background(), kmsg.NewPtrListGroupsRequest())
	if len(l.Groups) != 1 || l.Groups[0].GroupState != "PreparingRebalance" {
		t.Fatalf("unexpected groups %+v", l.Groups)
	}
}

package broker

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/highwater-io/highwater/broker/internal/replica"
)

// A state machine that trips an invariant fails every later Step, so
// nothing would complete the acks=all produces waiting on it: the driver
// answers them NOT_LEADER_OR_FOLLOWER at once and refuses new produces
// before appending (BUGS.md: skip-truncation / unclean-election stalls).
func TestFailedPartitionAnswersWaiters(t *testing.T) {
	cfg := replica.DefaultConfig()
	cfg.ReplicaID = 1
	sm, err := replica.New(cfg, replica.LogState{LogEndOffset: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Step(replica.PartitionState{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1}, NowMs: 1}); err != nil {
		t.Fatal(err)
	}
	sm.Ready()
	sm.Advance()
	if err := sm.Step(replica.FollowerFetch{ReplicaID: 2, CurrentLeaderEpoch: 1, FetchOffset: 0, LastFetchedEpoch: -1, NowMs: 2}); err != nil {
		t.Fatal(err)
	}
	rd := sm.Ready()
	sm.Advance()
	if rd.AlterPartition == nil {
		t.Fatal("no ISR proposal to answer")
	}
	r := &replicator{log: slog.New(slog.DiscardHandler), now: time.Now}
	rp := &replPart{sm: sm, waiters: map[uint64]chan error{}}
	rp.role.Store(int32(replica.RoleLeader))
	waiter := make(chan error, 1)
	rp.waiters[7] = waiter
	// A committed ISR without the leader trips isr-contains-leader.
	_, err = r.step(rp, replica.AlterPartitionResponse{ProposalID: rd.AlterPartition.ID, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2, ISR: []int32{2}})
	if !errors.Is(err, replica.ErrInvariant) {
		t.Fatalf("step: %v, want an invariant failure", err)
	}
	select {
	case err := <-waiter:
		if !errors.Is(err, replica.ErrNotLeaderOrFollower) {
			t.Fatalf("waiter answered %v", err)
		}
	default:
		t.Fatal("the waiting produce was not answered")
	}
	if len(rp.waiters) != 0 || replica.Role(rp.role.Load()) != replica.RoleNone {
		t.Fatalf("after the failure: %d waiters, role %v", len(rp.waiters), replica.Role(rp.role.Load()))
	}
	r.parts = map[partKey]*replPart{{}: rp}
	appended := false
	_, err = r.Produce([16]byte{}, 0, -1, time.Second, func(int32) (int64, error) { appended = true; return 0, nil })
	if !errors.Is(err, replica.ErrNotLeaderOrFollower) || appended {
		t.Fatalf("produce on a failed partition: err %v, appended %v", err, appended)
	}
}

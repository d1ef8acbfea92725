package handler

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/group"
)

func newGroupServer(t *testing.T) *Server {
	t.Helper()
	cfg := group.DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	svc, err := group.NewService(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{NodeID: 1, AdvertisedHost: "127.0.0.1", AdvertisedPort: 9092, Groups: svc, Now: time.Now})
}

func TestFindCoordinatorVersions(t *testing.T) {
	s := newGroupServer(t)
	conn := &Conn{ClientID: "c", RemoteAddr: "127.0.0.1:5000"}
	for v := int16(0); v <= 6; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKey, req.CoordinatorKeys = v, "g", []string{"g", "txn"}
		resp, err := s.Dispatch(context.Background(), conn, req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.FindCoordinatorResponse)
		if v < 4 && (r.ErrorCode != 0 || r.NodeID != 1 || r.Port != 9092) {
			t.Fatalf("v%d: %+v", v, r)
		}
		if v >= 4 && (len(r.Coordinators) != 2 || r.Coordinators[1].NodeID != 1) {
			t.Fatalf("v%d: %+v", v, r)
		}
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorType, req.CoordinatorKeys = 6, 2, []string{"share"}
	resp, _ := s.Dispatch(context.Background(), conn, req)
	if c := resp.(*kmsg.FindCoordinatorResponse).Coordinators[0]; c.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("share key: %+v", c)
	}
}

// TestGroupRoundTripOldAndNew joins, syncs, commits and fetches through
// Dispatch at the oldest and newest versions served.
func TestGroupRoundTripOldAndNew(t *testing.T) {
	for _, v := range []struct{ join, sync, commit, fetch int16 }{{0, 0, 0, 1}, {2, 1, 2, 1}, {9, 5, 9, 9}} {
		s := newGroupServer(t)
		conn := &Conn{ClientID: "client", RemoteAddr: "127.0.0.1:5000"}
		ctx := context.Background()
		jr := kmsg.NewPtrJoinGroupRequest()
		jr.Version, jr.Group, jr.SessionTimeoutMillis, jr.RebalanceTimeoutMillis = v.join, "g", 10000, 10000
		jr.ProtocolType = "consumer"
		jr.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
		resp, err := s.Dispatch(ctx, conn, jr)
		if err != nil {
			t.Fatal(err)
		}
		join := resp.(*kmsg.JoinGroupResponse)
		if join.ErrorCode == kerr.MemberIDRequired.Code {
			jr.MemberID = join.MemberID
			resp, _ = s.Dispatch(ctx, conn, jr)
			join = resp.(*kmsg.JoinGroupResponse)
		}
		if join.ErrorCode != 0 || join.Generation != 1 || join.LeaderID != join.MemberID {
			t.Fatalf("join v%d: %+v", v.join, join)
		}
		sr := kmsg.NewPtrSyncGroupRequest()
		sr.Version, sr.Group, sr.MemberID, sr.Generation = v.sync, "g", join.MemberID, 1
		sr.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: join.MemberID, MemberAssignment: []byte("x")}}
		resp, _ = s.Dispatch(ctx, conn, sr)
		if sync := resp.(*kmsg.SyncGroupResponse); sync.ErrorCode != 0 || string(sync.MemberAssignment) != "x" {
			t.Fatalf("sync v%d: %+v", v.sync, sync)
		}
		oc := kmsg.NewPtrOffsetCommitRequest()
		oc.Version, oc.Group, oc.MemberID, oc.Generation = v.commit, "g", join.MemberID, 1
		oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 42}}}}
		resp, _ = s.Dispatch(ctx, conn, oc)
		want := int16(0)
		if v.commit == 0 { // v0 has no generation: a simple commit, refused while the group has members
			want = kerr.UnknownMemberID.Code
		}
		if code := resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != want {
			t.Fatalf("commit v%d: code %d, want %d", v.commit, code, want)
		}
		of := kmsg.NewPtrOffsetFetchRequest()
		of.Version, of.Group = v.fetch, "g"
		of.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
		of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
		resp, _ = s.Dispatch(ctx, conn, of)
		fr := resp.(*kmsg.OffsetFetchResponse)
		var got int64
		if v.fetch >= 8 {
			got = fr.Groups[0].Topics[0].Partitions[0].Offset
		} else {
			got = fr.Topics[0].Partitions[0].Offset
		}
		if wantOff := map[bool]int64{true: -1, false: 42}[v.commit == 0]; got != wantOff {
			t.Fatalf("fetch v%d: offset %d, want %d", v.fetch, got, wantOff)
		}
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Version, d.Groups = 5, []string{"g"}
		resp, _ = s.Dispatch(ctx, conn, d)
		if m := resp.(*kmsg.DescribeGroupsResponse).Groups[0].Members; len(m) != 1 || m[0].ClientHost != "/127.0.0.1" || m[0].ClientID != "client" {
			t.Fatalf("describe: %+v", m)
		}
	}
}

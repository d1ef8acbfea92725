package workload

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/history"
)

func commitResp(codes map[int32]int16) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	rt := kmsg.NewOffsetCommitResponseTopic()
	rt.Topic = "t"
	for p, c := range codes {
		rp := kmsg.NewOffsetCommitResponseTopicPartition()
		rp.Partition, rp.ErrorCode = p, c
		rt.Partitions = append(rt.Partitions, rp)
	}
	resp.Topics = append(resp.Topics, rt)
	return resp
}

// TestCommitOutcome: each partition's result follows its error code, and
// the operation is ok only when all committed, fail only when none can
// have.
func TestCommitOutcome(t *testing.T) {
	inv := &history.Commit{Group: "g", Offsets: []history.PartitionOffset{{Topic: "t", Partition: 0, Offset: 5}, {Topic: "t", Partition: 1, Offset: 9}}}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.MemberID, req.Generation = "m-1", 7
	for _, c := range []struct {
		name  string
		resp  *kmsg.OffsetCommitResponse
		err   error
		want  history.Type
		parts []history.Type
	}{
		{"all ok", commitResp(map[int32]int16{0: 0, 1: 0}), nil, history.TypeOK, []history.Type{history.TypeOK, history.TypeOK}},
		{"fenced", commitResp(map[int32]int16{0: kerr.IllegalGeneration.Code, 1: kerr.IllegalGeneration.Code}), nil, history.TypeFail, []history.Type{history.TypeFail, history.TypeFail}},
		{"mixed", commitResp(map[int32]int16{0: 0, 1: kerr.CoordinatorNotAvailable.Code}), nil, history.TypeInfo, []history.Type{history.TypeOK, history.TypeInfo}},
		{"missing partition", commitResp(map[int32]int16{0: 0}), nil, history.TypeInfo, []history.Type{history.TypeOK, history.TypeInfo}},
		{"no answer", nil, errors.New("deadline"), history.TypeInfo, []history.Type{history.TypeInfo, history.TypeInfo}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, typ := commitOutcome(inv, req, c.resp, c.err)
			if typ != c.want {
				t.Fatalf("type %s, want %s", typ, c.want)
			}
			for i, p := range out.Offsets {
				if p.Result != c.parts[i] {
					t.Errorf("partition %d: %s, want %s (%s)", p.Partition, p.Result, c.parts[i], p.Error)
				}
			}
			if out.MemberID != "m-1" || out.Generation == nil || *out.Generation != 7 {
				t.Errorf("member/generation %q %v", out.MemberID, out.Generation)
			}
			if inv.Offsets[0].Result != "" {
				t.Error("invoke value changed")
			}
		})
	}
}

func TestChangedPartitions(t *testing.T) {
	tp := func(p int32) history.TopicPartition { return history.TopicPartition{Topic: "t", Partition: p} }
	got := changedPartitions([]history.GroupEvent{
		{Kind: history.GroupRevoked, Partitions: []history.TopicPartition{tp(2), tp(0)}},
		{Kind: history.GroupAssigned, Partitions: []history.TopicPartition{tp(0), tp(1)}},
	})
	if len(got) != 3 || got[0] != tp(0) || got[1] != tp(1) || got[2] != tp(2) {
		t.Fatalf("%v", got)
	}
	if changedPartitions(nil) != nil {
		t.Fatal("no events, want nil")
	}
}

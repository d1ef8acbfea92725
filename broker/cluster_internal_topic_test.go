package broker

import (
	"context"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/txn"
)

// unledCoordinators are the cluster's group and transaction routers on a
// node that coordinates nothing (its image has neither internal topic).
func unledCoordinators() (*clusterGroups, *clusterTxn) {
	none := func() metadata.Image { return metadata.Image{} }
	g := &clusterGroups{&internalTopic[*group.Service]{image: none, led: map[int32]*ledService[*group.Service]{}}}
	t := &clusterTxn{internalTopic: &internalTopic[*txn.Service]{image: none, led: map[int32]*ledService[*txn.Service]{}}}
	return g, t
}

// refusal walks a response: every ErrorCode field in it, and the fields
// that a refusal sets to -1 (ids, epochs, offsets) with their values.
func refusal(v reflect.Value, codes *[]int16, unset map[string][]int64) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			refusal(v.Elem(), codes, unset)
		}
	case reflect.Slice:
		for i := range v.Len() {
			refusal(v.Index(i), codes, unset)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f, name := v.Field(i), v.Type().Field(i).Name
			switch name {
			case "ErrorCode":
				*codes = append(*codes, int16(f.Int()))
			case "Generation", "ProducerID", "ProducerEpoch", "Offset", "LeaderEpoch":
				unset[name] = append(unset[name], f.Int())
			default:
				refusal(f, codes, unset)
			}
		}
	}
}

// A node that does not coordinate a key answers every request naming it
// NOT_COORDINATOR, on each item the request names (each group of a batch,
// each partition of a commit), with no id, epoch or offset a client could
// take for an answer; the list APIs answer empty.
func TestInternalTopicRoutesRefuseWhatIsNotLedHere(t *testing.T) {
	ctx := context.Background()
	g, tx := unledCoordinators()
	tests := []struct {
		name  string
		call  func() kmsg.Response
		codes int      // NOT_COORDINATOR codes expected
		unset []string // fields every occurrence of which must be -1
	}{
		{"JoinGroup", func() kmsg.Response { return g.JoinGroup(ctx, &kmsg.JoinGroupRequest{Group: "g"}) }, 1, []string{"Generation"}},
		{"SyncGroup", func() kmsg.Response { return g.SyncGroup(ctx, &kmsg.SyncGroupRequest{Group: "g"}) }, 1, nil},
		{"Heartbeat", func() kmsg.Response { return g.Heartbeat(ctx, &kmsg.HeartbeatRequest{Group: "g"}) }, 1, nil},
		{"LeaveGroup", func() kmsg.Response { return g.LeaveGroup(ctx, &kmsg.LeaveGroupRequest{Group: "g"}) }, 1, nil},
		{"OffsetDelete", func() kmsg.Response { return g.OffsetDelete(ctx, &kmsg.OffsetDeleteRequest{Group: "g"}) }, 1, nil},
		{"OffsetCommit", func() kmsg.Response {
			return g.OffsetCommit(ctx, &kmsg.OffsetCommitRequest{Group: "g", Topics: []kmsg.OffsetCommitRequestTopic{
				{Topic: "a", Partitions: make([]kmsg.OffsetCommitRequestTopicPartition, 2)},
				{Topic: "b", Partitions: make([]kmsg.OffsetCommitRequestTopicPartition, 1)}}})
		}, 3, nil},
		{"OffsetFetch v7", func() kmsg.Response {
			return g.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 7, Group: "g",
				Topics: []kmsg.OffsetFetchRequestTopic{{Topic: "a", Partitions: []int32{0, 1}}}})
		}, 3, []string{"Offset", "LeaderEpoch"}},
		{"OffsetFetch v8", func() kmsg.Response {
			return g.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 8, Groups: []kmsg.OffsetFetchRequestGroup{{Group: "g"}, {Group: "h"}}})
		}, 2, nil},
		{"DescribeGroups", func() kmsg.Response {
			return g.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Groups: []string{"g", "h", "i"}})
		}, 3, nil},
		{"DeleteGroups", func() kmsg.Response {
			return g.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Groups: []string{"g", "h"}})
		}, 2, nil},
		{"ListGroups", func() kmsg.Response { return g.ListGroups(ctx, &kmsg.ListGroupsRequest{}) }, 0, nil},
		{"TxnOffsetCommit", func() kmsg.Response {
			return g.TxnOffsetCommit(ctx, &kmsg.TxnOffsetCommitRequest{Group: "g", Topics: []kmsg.TxnOffsetCommitRequestTopic{
				{Topic: "a", Partitions: make([]kmsg.TxnOffsetCommitRequestTopicPartition, 2)}}})
		}, 2, nil},
		{"InitProducerID", func() kmsg.Response {
			return tx.InitProducerID(ctx, &kmsg.InitProducerIDRequest{TransactionalID: kmsg.StringPtr("x")})
		}, 1, []string{"ProducerID", "ProducerEpoch"}},
		{"InitProducerID without an id", func() kmsg.Response { return tx.InitProducerID(ctx, &kmsg.InitProducerIDRequest{}) },
			1, []string{"ProducerID", "ProducerEpoch"}},
		{"AddPartitionsToTxn v3", func() kmsg.Response {
			return tx.AddPartitionsToTxn(ctx, &kmsg.AddPartitionsToTxnRequest{Version: 3, TransactionalID: "x",
				Topics: []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "a", Partitions: []int32{0, 1, 2}}}})
		}, 3, nil},
		{"AddPartitionsToTxn v4", func() kmsg.Response {
			return tx.AddPartitionsToTxn(ctx, &kmsg.AddPartitionsToTxnRequest{Version: 4, Transactions: []kmsg.AddPartitionsToTxnRequestTransaction{
				{TransactionalID: "x", Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "a", Partitions: []int32{0, 1}}}},
				{TransactionalID: "y", Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "b", Partitions: []int32{0}}}}}})
		}, 3, nil},
		{"AddOffsetsToTxn", func() kmsg.Response {
			return tx.AddOffsetsToTxn(ctx, &kmsg.AddOffsetsToTxnRequest{TransactionalID: "x", Group: "g"})
		}, 1, nil},
		{"EndTxn", func() kmsg.Response { return tx.EndTxn(ctx, &kmsg.EndTxnRequest{TransactionalID: "x"}) },
			1, []string{"ProducerID", "ProducerEpoch"}},
		{"DescribeTransactions", func() kmsg.Response {
			return tx.DescribeTransactions(ctx, &kmsg.DescribeTransactionsRequest{TransactionalIDs: []string{"x", "y"}})
		}, 2, nil},
		{"ListTransactions", func() kmsg.Response { return tx.ListTransactions(ctx, &kmsg.ListTransactionsRequest{}) }, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.call()
			if resp == nil || reflect.ValueOf(resp).IsNil() {
				t.Fatal("no answer: the connection would close")
			}
			var codes []int16
			unset := map[string][]int64{}
			refusal(reflect.ValueOf(resp), &codes, unset)
			refused := 0
			for _, c := range codes {
				switch c {
				case notCoordinator:
					refused++
				case 0:
				default:
					t.Errorf("error code %d in %+v", c, resp)
				}
			}
			if refused != tt.codes {
				t.Errorf("%d items NOT_COORDINATOR, want %d: %+v", refused, tt.codes, resp)
			}
			for _, name := range tt.unset {
				if len(unset[name]) == 0 {
					t.Errorf("no %s in %+v", name, resp)
				}
				for _, v := range unset[name] {
					if v != -1 {
						t.Errorf("%s %d, want -1: %+v", name, v, resp)
					}
				}
			}
		})
	}
}

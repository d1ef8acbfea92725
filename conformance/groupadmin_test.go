package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupAdmin: a group shows up in ListGroups and DescribeGroups while a
// member is in it; it cannot be deleted while not empty; once its member
// leaves it is Empty, keeps its commits, and can be deleted, after which
// deleting it again is GROUP_ID_NOT_FOUND.
func TestGroupAdmin(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 60*time.Second)
	topic := tg.createTopic(ctx, 2, nil)
	group := uniqueName(t, "g")
	adm := tg.admin()

	member := tg.client(
		kgo.ClientID("admin-member"),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(groupSessionTimeout),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.DisableAutoCommit(),
	)
	go func() {
		for ctx.Err() == nil {
			if member.PollFetches(ctx).IsClientClosed() {
				return
			}
		}
	}()
	waitAssignment(t, ctx, adm, group, topic, 2, "admin-member")

	dgs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	dg, _ := dgs.On(group, nil)
	if dg.ProtocolType != "consumer" || dg.Protocol != "range" {
		t.Errorf("described group: protocol type %q, protocol %q; want consumer, range", dg.ProtocolType, dg.Protocol)
	}
	eventually(t, ctx, "group listed", func() error {
		lgs, err := adm.ListGroups(ctx)
		if err != nil {
			return err
		}
		if _, ok := lgs[group]; !ok {
			return fmt.Errorf("ListGroups lacks %s", group)
		}
		return nil
	})

	// Not deletable while a member is in it.
	dr, err := adm.DeleteGroup(ctx, group)
	if !errors.Is(err, kerr.NonEmptyGroup) {
		t.Errorf("delete group with a live member: %v (%+v), want NON_EMPTY_GROUP", err, dr)
	}

	// Commit through the member, then let it leave.
	var commitErr error
	member.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 0}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err == nil {
				err = offsetCommitErr(resp)
			}
			commitErr = err
		})
	if commitErr != nil {
		t.Fatalf("member commit: %v", commitErr)
	}
	member.Close()
	eventually(t, ctx, "group Empty after its only member left", func() error {
		dgs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		dg, err := dgs.On(group, nil)
		if err != nil {
			return err
		}
		if dg.State != "Empty" || len(dg.Members) != 0 {
			return fmt.Errorf("state %s with %d members", dg.State, len(dg.Members))
		}
		return nil
	})

	// An empty group takes commits from outside (generation -1, no
	// member id), with metadata, and keeps them.
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: 1, At: 42, LeaderEpoch: -1, Metadata: "from-admin"})
	if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
		t.Fatalf("admin commit to empty group: %v", err)
	}
	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup(topic, 0); !ok || o.Err != nil || o.At != 0 {
		t.Errorf("partition 0 commit from the member: %+v present %v, want 0", o, ok)
	}
	if o, ok := fetched.Lookup(topic, 1); !ok || o.Err != nil || o.At != 42 || o.Metadata != "from-admin" {
		t.Errorf("partition 1 admin commit: %+v present %v, want 42 with metadata", o, ok)
	}

	if _, err := adm.DeleteGroup(ctx, group); err != nil {
		t.Fatalf("delete empty group: %v", err)
	}
	fetched, err = adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 {
			t.Errorf("commit %s[%d]=%d survived group deletion", o.Topic, o.Partition, o.At)
		}
	})
	if _, err := adm.DeleteGroup(ctx, group); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Errorf("delete deleted group: %v, want GROUP_ID_NOT_FOUND", err)
	}
}

// TestOffsetFetchNeverCommitted: a group with no commits answers
// OffsetFetch for a partition with offset -1 and no error.
func TestOffsetFetchNeverCommitted(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)
	resps, err := tg.admin().FetchOffsetsForTopics(ctx, uniqueName(t, "g"), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := resps.Lookup(topic, 0)
	if !ok || o.Err != nil || o.At != -1 {
		t.Errorf("never-committed partition: %+v present %v, want offset -1 and no error", o, ok)
	}
}

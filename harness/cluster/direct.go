package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Direct is one node with a client seeded with that node alone. A request
// through it reaches that node whatever the cluster's metadata says: a
// node that has not registered yet, or one its peers think dead, still
// answers for itself (the queries in query.go go through one client's
// view of the cluster instead).
type Direct struct {
	ID     int32
	Client *kgo.Client
}

// Metadata asks d's node, and only it, for cluster metadata without
// topics.
func (d Direct) Metadata(ctx context.Context) (*kmsg.MetadataResponse, error) {
	seeds := d.Client.SeedBrokers()
	if len(seeds) == 0 {
		return nil, errors.New("no seed broker")
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	return req.RequestWith(ctx, seeds[0])
}

// Sees asks d's node for Metadata and wants every id in want listed as a
// live broker and a controller named: the node serves, the brokers in
// want have registered (unfenced) and a metadata quorum leads.
func (d Direct) Sees(ctx context.Context, want []int32) error {
	resp, err := d.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("node %d: %w", d.ID, err)
	}
	live := map[int32]bool{}
	for _, b := range resp.Brokers {
		live[b.NodeID] = true
	}
	for _, id := range want {
		if !live[id] {
			return fmt.Errorf("node %d's metadata lists %d live brokers, not node %d", d.ID, len(resp.Brokers), id)
		}
	}
	if resp.ControllerID < 0 {
		return fmt.Errorf("node %d's metadata names no controller", d.ID)
	}
	return nil
}

// AnySees is nil as soon as one of nodes (asked in order) Sees want, else
// the last node's error: some node's view of the cluster is complete.
func AnySees(ctx context.Context, nodes []Direct, want []int32) error {
	last := errors.New("no nodes")
	for _, d := range nodes {
		if last = d.Sees(ctx, want); last == nil {
			return nil
		}
	}
	return last
}

// IDs lists the nodes' ids in the order given.
func IDs(nodes []Direct) []int32 {
	out := make([]int32, len(nodes))
	for i, d := range nodes {
		out[i] = d.ID
	}
	return out
}

// MetadataController is the controller id the answering nodes' Metadata
// names most often (ties: the lowest id), each node asked concurrently
// and bounded by PerNodeTimeout, so a paused or cut-off node is not
// counted. For brokers that report their metadata quorum's leader there
// (the reference broker, Redpanda); a KRaft Kafka broker names a random
// live broker instead, so use QuorumLeader for Kafka.
func MetadataController(ctx context.Context, nodes []Direct) (int32, error) {
	votes := map[int32]int{}
	var mu sync.Mutex
	errs := perNode(ctx, IDs(nodes), func(ctx context.Context, i int) error {
		resp, err := nodes[i].Metadata(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if resp.ControllerID >= 0 {
			votes[resp.ControllerID]++
		}
		return nil
	})
	ids := make([]int32, 0, len(votes))
	for id := range votes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	best, bestVotes := int32(-1), 0
	for _, id := range ids {
		if votes[id] > bestVotes {
			best, bestVotes = id, votes[id]
		}
	}
	if best < 0 {
		return -1, fmt.Errorf("%w: no controller named: %w", ErrNoAnswer, errors.Join(errs...))
	}
	return best, nil
}

package metadata

import (
	"fmt"
	"slices"
)

// CheckImage verifies the invariants of one image: every partition has
// leader ∈ ISR ⊆ replicas (leader-in-isr, isr-in-replicas), topic names and
// ids index each other one to one (unique-topic-name, unique-topic-id), and
// topic configs belong to existing topics. Apply keeps them; tests and
// drivers call this to catch a bug early.
func CheckImage(img Image) error {
	if len(img.names) != len(img.topics) {
		return fmt.Errorf("%w: unique-topic-name: %d names for %d topics", ErrInvariant, len(img.names), len(img.topics))
	}
	for name, id := range img.names {
		t, ok := img.topics[id]
		if !ok || t.Name != name || t.ID != id {
			return fmt.Errorf("%w: unique-topic-id: name %q and id %s disagree", ErrInvariant, name, id)
		}
		for i, p := range t.Partitions {
			if err := checkPartition(p); err != nil {
				return fmt.Errorf("%w: %s-%d: %w", ErrInvariant, name, i, err)
			}
		}
	}
	for res := range img.configs {
		if _, ok := img.names[res.Name]; res.Type == ResourceTopic && !ok {
			return fmt.Errorf("%w: configs of unknown topic %q", ErrInvariant, res.Name)
		}
	}
	for id, b := range img.brokers {
		if b.ID != id || b.Epoch > img.maxBrokerEpoch {
			return fmt.Errorf("%w: broker-epoch-grows: broker %d registration %+v, max epoch %d", ErrInvariant, id, *b, img.maxBrokerEpoch)
		}
	}
	return nil
}

// CheckTransition verifies what must hold from one image to a later one:
// a topic keeps its name and never loses partitions (while it exists);
// leader epochs only grow (epochs-only-grow); a partition that changed has
// a larger partition epoch, and one whose leader changed a larger leader
// epoch (partition-epoch-bumps); broker epochs only grow.
func CheckTransition(before, after Image) error {
	for id, tb := range before.topics {
		ta, ok := after.topics[id]
		if !ok {
			continue // deleted
		}
		if ta.Name != tb.Name || len(ta.Partitions) < len(tb.Partitions) {
			return fmt.Errorf("%w: topic %s: %q with %d partitions became %q with %d",
				ErrInvariant, id, tb.Name, len(tb.Partitions), ta.Name, len(ta.Partitions))
		}
		for i, pb := range tb.Partitions {
			if err := checkPartitionTransition(pb, ta.Partitions[i]); err != nil {
				return fmt.Errorf("%w: %s-%d: %w", ErrInvariant, tb.Name, i, err)
			}
		}
	}
	for id, bb := range before.brokers {
		if ba, ok := after.brokers[id]; ok && ba.Epoch < bb.Epoch {
			return fmt.Errorf("%w: broker-epoch-grows: broker %d epoch %d after %d", ErrInvariant, id, ba.Epoch, bb.Epoch)
		}
	}
	if after.maxBrokerEpoch < before.maxBrokerEpoch || after.nextProducerID < before.nextProducerID {
		return fmt.Errorf("%w: producer-ids-grow/broker-epoch-grows went backwards", ErrInvariant)
	}
	return nil
}

func checkPartitionTransition(pb, pa Partition) error {
	if pa.LeaderEpoch < pb.LeaderEpoch || pa.PartitionEpoch < pb.PartitionEpoch {
		return fmt.Errorf("epochs-only-grow: epochs %d/%d after %d/%d", pa.LeaderEpoch, pa.PartitionEpoch, pb.LeaderEpoch, pb.PartitionEpoch)
	}
	changed := pa.Leader != pb.Leader || !slices.Equal(pa.ISR, pb.ISR) || !slices.Equal(pa.Replicas, pb.Replicas)
	if changed && pa.PartitionEpoch == pb.PartitionEpoch {
		return fmt.Errorf("partition-epoch-bumps: changed at partition epoch %d", pa.PartitionEpoch)
	}
	if pa.Leader != pb.Leader && pa.LeaderEpoch == pb.LeaderEpoch {
		return fmt.Errorf("partition-epoch-bumps: leader %d -> %d at leader epoch %d", pb.Leader, pa.Leader, pa.LeaderEpoch)
	}
	return nil
}

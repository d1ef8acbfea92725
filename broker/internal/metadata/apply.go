package metadata

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// Apply returns img with rec applied, or ErrInvalid (naming the rule) and
// img unchanged. It validates each record against the image: the named
// invariants are
//
//   - leader-in-isr, isr-in-replicas: leader ∈ ISR ⊆ replicas (or no
//     leader), ISR and replicas non-empty, without duplicates, ids ≥ 0;
//     no leader while the ISR is marked unclean (UncleanISR);
//   - epochs-only-grow: a partition's leader epoch never decreases, and
//     partition-epoch-bumps: every change of a partition raises its
//     partition epoch (PartitionChangeRecord derives both, as KRaft does);
//   - unique-topic-name, unique-topic-id;
//   - broker-epoch-grows: a broker re-registers with a larger epoch, and
//     fencing records name the registered epoch;
//   - dense-partitions: partitions are created in id order from 0;
//   - producer-ids-grow.
//
// Apply is deterministic: the same image and record give the same result
// on every node replaying the log.
func Apply(img Image, rec Record) (Image, error) {
	orig := img
	var err error
	switch r := rec.(type) {
	case RegisterBrokerRecord:
		err = img.registerBroker(r)
	case UnregisterBrokerRecord:
		err = img.unregisterBroker(r)
	case FenceBrokerRecord:
		err = img.changeBroker(r.BrokerID, r.BrokerEpoch, FencingFence, false)
	case UnfenceBrokerRecord:
		err = img.changeBroker(r.BrokerID, r.BrokerEpoch, FencingUnfence, false)
	case BrokerRegistrationChangeRecord:
		err = img.changeBroker(r.BrokerID, r.BrokerEpoch, r.Fenced, r.EnterControlledShutdown)
	case TopicRecord:
		err = img.createTopic(r)
	case PartitionRecord:
		err = img.createPartition(r)
	case PartitionChangeRecord:
		err = img.changePartition(r)
	case RemoveTopicRecord:
		err = img.removeTopic(r)
	case ConfigRecord:
		err = img.setConfig(r)
	case ProducerIdsRecord:
		if r.NextProducerID <= img.nextProducerID {
			err = fmt.Errorf("%w: producer-ids-grow: next producer id %d <= %d", ErrInvalid, r.NextProducerID, img.nextProducerID)
		} else {
			img.nextProducerID = r.NextProducerID
		}
	case FeatureLevelRecord:
		err = img.setFeature(r)
	default:
		err = fmt.Errorf("%w: unknown record %T", ErrInvalid, rec)
	}
	if err != nil {
		return orig, err
	}
	return img, nil
}

// The methods below work on Apply's copy of the Image struct: they replace,
// never modify, the maps they change, so images handed out stay intact.

func (img *Image) registerBroker(r RegisterBrokerRecord) error {
	if r.BrokerID < 0 || r.BrokerEpoch < 0 {
		return fmt.Errorf("%w: broker id %d epoch %d", ErrInvalid, r.BrokerID, r.BrokerEpoch)
	}
	if old, ok := img.brokers[r.BrokerID]; ok && r.BrokerEpoch <= old.Epoch {
		return fmt.Errorf("%w: broker-epoch-grows: broker %d registers epoch %d after %d", ErrInvalid, r.BrokerID, r.BrokerEpoch, old.Epoch)
	}
	names := map[string]bool{}
	for _, e := range r.Endpoints {
		if e.Name == "" || names[e.Name] || e.Port < 0 || e.Port > math.MaxUint16 {
			return fmt.Errorf("%w: broker %d endpoint %+v", ErrInvalid, r.BrokerID, e)
		}
		names[e.Name] = true
	}
	img.brokers = cloneMap(img.brokers)
	img.brokers[r.BrokerID] = &Broker{ID: r.BrokerID, Epoch: r.BrokerEpoch, IncarnationID: r.IncarnationID,
		Rack: r.Rack, Endpoints: slices.Clone(r.Endpoints), Fenced: r.Fenced, InControlledShutdown: r.InControlledShutdown}
	img.maxBrokerEpoch = max(img.maxBrokerEpoch, r.BrokerEpoch)
	return nil
}

func (img *Image) unregisterBroker(r UnregisterBrokerRecord) error {
	if err := img.checkBrokerEpoch(r.BrokerID, r.BrokerEpoch); err != nil {
		return err
	}
	img.brokers = cloneMap(img.brokers)
	delete(img.brokers, r.BrokerID)
	return nil
}

func (img *Image) checkBrokerEpoch(id int32, epoch int64) error {
	b, ok := img.brokers[id]
	if !ok {
		return fmt.Errorf("%w: broker %d not registered", ErrInvalid, id)
	}
	if b.Epoch != epoch {
		return fmt.Errorf("%w: broker-epoch-grows: broker %d epoch %d, registered %d", ErrInvalid, id, epoch, b.Epoch)
	}
	return nil
}

func (img *Image) changeBroker(id int32, epoch int64, fencing FencingChange, enterShutdown bool) error {
	if err := img.checkBrokerEpoch(id, epoch); err != nil {
		return err
	}
	b := *img.brokers[id]
	switch fencing {
	case FencingNoChange:
	case FencingFence:
		b.Fenced = true
	case FencingUnfence:
		if b.InControlledShutdown || enterShutdown {
			return fmt.Errorf("%w: broker %d unfenced while in controlled shutdown", ErrInvalid, id)
		}
		b.Fenced = false
	default:
		return fmt.Errorf("%w: broker %d fencing change %d", ErrInvalid, id, fencing)
	}
	if enterShutdown {
		b.InControlledShutdown = true
	}
	img.brokers = cloneMap(img.brokers)
	img.brokers[id] = &b
	return nil
}

func (img *Image) createTopic(r TopicRecord) error {
	if err := ValidTopicName(r.Name); err != nil {
		return err
	}
	if r.TopicID.IsZero() {
		return fmt.Errorf("%w: topic %q with the zero id", ErrInvalid, r.Name)
	}
	if _, ok := img.names[r.Name]; ok {
		return fmt.Errorf("%w: unique-topic-name: topic %q exists", ErrInvalid, r.Name)
	}
	if _, ok := img.topics[r.TopicID]; ok {
		return fmt.Errorf("%w: unique-topic-id: topic id %s exists", ErrInvalid, r.TopicID)
	}
	img.topics, img.names = cloneMap(img.topics), cloneMap(img.names)
	img.topics[r.TopicID] = &Topic{ID: r.TopicID, Name: r.Name}
	img.names[r.Name] = r.TopicID
	return nil
}

func (img *Image) createPartition(r PartitionRecord) error {
	t, ok := img.topics[r.TopicID]
	if !ok {
		return fmt.Errorf("%w: partition %d of unknown topic %s", ErrInvalid, r.PartitionID, r.TopicID)
	}
	if int(r.PartitionID) != len(t.Partitions) {
		return fmt.Errorf("%w: dense-partitions: partition %d of %q with %d partitions", ErrInvalid, r.PartitionID, t.Name, len(t.Partitions))
	}
	p := Partition{Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR), Leader: r.Leader,
		LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch, UncleanISR: r.UncleanISR}
	if err := checkPartition(p); err != nil {
		return fmt.Errorf("%w: %s-%d: %w", ErrInvalid, t.Name, r.PartitionID, err)
	}
	nt := *t
	nt.Partitions = append(slices.Clip(t.Partitions), p)
	img.topics = cloneMap(img.topics)
	img.topics[r.TopicID] = &nt
	return nil
}

func (img *Image) changePartition(r PartitionChangeRecord) error {
	t, ok := img.topics[r.TopicID]
	if !ok || r.PartitionID < 0 || int(r.PartitionID) >= len(t.Partitions) {
		return fmt.Errorf("%w: change of unknown partition %s-%d", ErrInvalid, r.TopicID, r.PartitionID)
	}
	if r.Leader == NoLeaderChange && len(r.ISR) == 0 && len(r.Replicas) == 0 && !r.MarkUncleanISR {
		return fmt.Errorf("%w: %s-%d: a partition change that changes nothing", ErrInvalid, t.Name, r.PartitionID)
	}
	p := t.Partitions[r.PartitionID].clone()
	if p.PartitionEpoch == math.MaxInt32 || (r.Leader != NoLeaderChange && p.LeaderEpoch == math.MaxInt32) {
		return fmt.Errorf("%w: epochs-only-grow: %s-%d epochs exhausted", ErrInvalid, t.Name, r.PartitionID)
	}
	if r.Leader != NoLeaderChange {
		p.Leader = r.Leader
		p.LeaderEpoch++
	}
	switch {
	case r.MarkUncleanISR:
		p.UncleanISR = true
	case p.Leader != NoLeader:
		p.UncleanISR = false
	}
	if len(r.ISR) > 0 {
		p.ISR = slices.Clone(r.ISR)
	}
	if len(r.Replicas) > 0 {
		p.Replicas = slices.Clone(r.Replicas)
	}
	p.PartitionEpoch++
	if err := checkPartition(p); err != nil {
		return fmt.Errorf("%w: %s-%d: %w", ErrInvalid, t.Name, r.PartitionID, err)
	}
	nt := *t
	nt.Partitions = slices.Clone(t.Partitions)
	nt.Partitions[r.PartitionID] = p
	img.topics = cloneMap(img.topics)
	img.topics[r.TopicID] = &nt
	return nil
}

func (img *Image) removeTopic(r RemoveTopicRecord) error {
	t, ok := img.topics[r.TopicID]
	if !ok {
		return fmt.Errorf("%w: remove unknown topic %s", ErrInvalid, r.TopicID)
	}
	img.topics, img.names = cloneMap(img.topics), cloneMap(img.names)
	delete(img.topics, r.TopicID)
	delete(img.names, t.Name)
	res := ConfigResource{Type: ResourceTopic, Name: t.Name}
	if _, ok := img.configs[res]; ok {
		img.configs = cloneMap(img.configs)
		delete(img.configs, res)
	}
	return nil
}

func (img *Image) setConfig(r ConfigRecord) error {
	res := ConfigResource{Type: r.ResourceType, Name: r.ResourceName}
	switch r.ResourceType {
	case ResourceTopic:
		if _, ok := img.names[r.ResourceName]; !ok {
			return fmt.Errorf("%w: config for unknown topic %q", ErrInvalid, r.ResourceName)
		}
	case ResourceBroker:
	default:
		return fmt.Errorf("%w: config resource type %d", ErrInvalid, r.ResourceType)
	}
	if r.Name == "" {
		return fmt.Errorf("%w: config without a name on %v", ErrInvalid, res)
	}
	kv := maps.Clone(img.configs[res])
	if r.Value == nil {
		delete(kv, r.Name)
	} else {
		if kv == nil {
			kv = map[string]string{}
		}
		kv[r.Name] = *r.Value
	}
	img.configs = cloneMap(img.configs)
	if len(kv) == 0 {
		delete(img.configs, res)
	} else {
		img.configs[res] = kv
	}
	return nil
}

func (img *Image) setFeature(r FeatureLevelRecord) error {
	if r.Name == "" || r.FeatureLevel < 0 {
		return fmt.Errorf("%w: feature %q level %d", ErrInvalid, r.Name, r.FeatureLevel)
	}
	img.features = cloneMap(img.features)
	if r.FeatureLevel == 0 {
		delete(img.features, r.Name)
	} else {
		img.features[r.Name] = r.FeatureLevel
	}
	return nil
}

// checkPartition is the per-partition invariant: leader ∈ ISR ⊆ replicas.
func checkPartition(p Partition) error {
	switch {
	case len(p.Replicas) == 0:
		return fmt.Errorf("isr-in-replicas: no replicas")
	case len(p.ISR) == 0:
		return fmt.Errorf("isr-in-replicas: empty isr")
	case hasDuplicateOrNegative(p.Replicas):
		return fmt.Errorf("isr-in-replicas: replicas %v repeat an id or hold a negative one", p.Replicas)
	case hasDuplicateOrNegative(p.ISR):
		return fmt.Errorf("isr-in-replicas: isr %v repeats an id or holds a negative one", p.ISR)
	case p.LeaderEpoch < 0 || p.PartitionEpoch < 0:
		return fmt.Errorf("epochs-only-grow: negative epochs %d/%d", p.LeaderEpoch, p.PartitionEpoch)
	case p.Leader != NoLeader && !slices.Contains(p.ISR, p.Leader):
		return fmt.Errorf("leader-in-isr: leader %d not in isr %v", p.Leader, p.ISR)
	case p.UncleanISR && p.Leader != NoLeader:
		return fmt.Errorf("leader-in-isr: leader %d elected from an unclean isr %v", p.Leader, p.ISR)
	}
	for _, id := range p.ISR {
		if !slices.Contains(p.Replicas, id) {
			return fmt.Errorf("isr-in-replicas: isr %v not within replicas %v", p.ISR, p.Replicas)
		}
	}
	return nil
}

func hasDuplicateOrNegative(ids []int32) bool {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s[0] < 0 || len(slices.Compact(s)) != len(ids)
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return maps.Clone(m)
}

// ValidTopicName applies Kafka's rules for topic names: 1 to 249
// characters of [a-zA-Z0-9._-], and not "." or "..".
func ValidTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w: illegal topic name %q", ErrInvalid, name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: illegal character %q in topic name %q", ErrInvalid, c, name)
		}
	}
	return nil
}

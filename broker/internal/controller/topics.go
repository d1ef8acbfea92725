package controller

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// CreateTopic is one topic of a CreateTopics request.
type CreateTopic struct {
	Name              string
	NumPartitions     int32 // -1: num.partitions
	ReplicationFactor int16 // -1: default.replication.factor
	// Assignments, when set, is the manual assignment: replicas of
	// partition i, preferred leader first (NumPartitions and
	// ReplicationFactor must then be -1).
	Assignments  [][]int32
	Configs      map[string]string
	ValidateOnly bool
}

// CreateTopicResult answers one topic.
type CreateTopicResult struct {
	Name              string
	TopicID           metadata.UUID
	NumPartitions     int32
	ReplicationFactor int16
	Err               error
}

// CreateTopics creates topics: a TopicRecord, one PartitionRecord per
// partition (replicas placed rack-aware, see placement.go; ISR the active
// replicas; leader the first of them) and the topic's ConfigRecords. Topics
// succeed or fail one by one, as in Kafka.
func (c *Controller) CreateTopics(reqs []CreateTopic) ([]CreateTopicResult, []metadata.Record, error) {
	t := c.begin()
	results := make([]CreateTopicResult, 0, len(reqs))
	seen := map[string]int{}
	for _, r := range reqs {
		seen[r.Name]++
	}
	total := 0
	for _, r := range reqs {
		total += max(int(r.NumPartitions), len(r.Assignments), 1)
	}
	for _, r := range reqs {
		res := CreateTopicResult{Name: r.Name}
		switch {
		case seen[r.Name] > 1:
			res.Err = fmt.Errorf("%w: topic %q named more than once", ErrInvalidRequest, r.Name)
		case total > c.cfg.MaxPartitionsPerRequest:
			res.Err = fmt.Errorf("%w: more than %d partitions in one request", ErrPolicyViolation, c.cfg.MaxPartitionsPerRequest)
		default:
			res.Err = c.createTopic(t, r, &res)
		}
		results = append(results, res)
	}
	recs, err := c.commit(t)
	return results, recs, err
}

func (c *Controller) createTopic(t *txn, r CreateTopic, res *CreateTopicResult) error {
	if err := metadata.ValidTopicName(r.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidTopic, err)
	}
	if _, ok := t.img.TopicByName(r.Name); ok {
		return fmt.Errorf("%w: %q", ErrTopicAlreadyExists, r.Name)
	}
	for _, tp := range t.img.Topics() {
		if collides(tp.Name, r.Name) {
			return fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' are the same in metric names)", ErrInvalidTopic, r.Name, tp.Name)
		}
	}
	if err := validateTopicConfigs(r.Configs); err != nil {
		return err
	}
	assignments, isrs, err := c.assign(t.img, r)
	if err != nil {
		return err
	}
	res.NumPartitions, res.ReplicationFactor = int32(len(assignments)), int16(len(assignments[0]))
	if r.ValidateOnly {
		return nil
	}
	res.TopicID = c.newTopicID(t.img)
	t.add(metadata.TopicRecord{Name: r.Name, TopicID: res.TopicID})
	for i, replicas := range assignments {
		t.add(partitionRecord(res.TopicID, int32(i), replicas, isrs[i]))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Configs)) {
		v := r.Configs[k]
		t.add(metadata.ConfigRecord{ResourceType: metadata.ResourceTopic, ResourceName: r.Name, Name: k, Value: &v})
	}
	return nil
}

func partitionRecord(id metadata.UUID, pid int32, replicas, isr []int32) metadata.PartitionRecord {
	return metadata.PartitionRecord{TopicID: id, PartitionID: pid, Replicas: replicas, ISR: sorted(isr),
		Leader: isr[0], LeaderEpoch: 0, PartitionEpoch: 0}
}

// collides: Kafka refuses topics whose names differ only in '.' versus '_'.
func collides(a, b string) bool {
	return a != b && strings.ReplaceAll(a, ".", "_") == strings.ReplaceAll(b, ".", "_")
}

func (c *Controller) newTopicID(img metadata.Image) metadata.UUID {
	for {
		var id metadata.UUID
		for i := range id {
			id[i] = byte(c.rnd.Uint32())
		}
		if _, taken := img.TopicByID(id); !taken && !id.IsZero() {
			return id
		}
	}
}

// assign returns each new partition's replicas and ISR (the active
// replicas, in replica order: the leader is the first).
func (c *Controller) assign(img metadata.Image, r CreateTopic) ([][]int32, [][]int32, error) {
	if r.Assignments != nil {
		if r.NumPartitions != -1 || r.ReplicationFactor != -1 {
			return nil, nil, fmt.Errorf("%w: both a manual assignment and partitions/replication factor", ErrInvalidRequest)
		}
		if len(r.Assignments) == 0 {
			return nil, nil, fmt.Errorf("%w: empty manual assignment", ErrInvalidReplicaAssignment)
		}
		return manualAssignment(img, r.Assignments, len(r.Assignments[0]))
	}
	n, rf := r.NumPartitions, r.ReplicationFactor
	if n == -1 {
		n = c.cfg.DefaultNumPartitions
	}
	if rf == -1 {
		rf = c.cfg.DefaultReplicationFactor
	}
	if n <= 0 {
		return nil, nil, fmt.Errorf("%w: %d partitions", ErrInvalidPartitions, n)
	}
	return c.placeNew(img, nil, int(n), int(rf))
}

func (c *Controller) placeNew(img metadata.Image, existing [][]int32, n, rf int) ([][]int32, [][]int32, error) {
	pl := newPlacer(img, c.rnd, existing)
	var as, isrs [][]int32
	for range n {
		replicas, err := pl.place(rf)
		if err != nil {
			return nil, nil, err
		}
		as = append(as, replicas)
		isrs = append(isrs, activeOf(img, replicas))
	}
	return as, isrs, nil
}

func manualAssignment(img metadata.Image, as [][]int32, rf int) ([][]int32, [][]int32, error) {
	var isrs [][]int32
	for i, replicas := range as {
		switch {
		case len(replicas) == 0:
			return nil, nil, fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, i)
		case len(replicas) != rf:
			return nil, nil, fmt.Errorf("%w: partition %d has %d replicas, others %d", ErrInvalidReplicaAssignment, i, len(replicas), rf)
		case hasDuplicates(replicas):
			return nil, nil, fmt.Errorf("%w: partition %d repeats a broker in %v", ErrInvalidReplicaAssignment, i, replicas)
		}
		for _, id := range replicas {
			if _, ok := img.Broker(id); !ok {
				return nil, nil, fmt.Errorf("%w: broker %d is not registered", ErrInvalidReplicaAssignment, id)
			}
		}
		isr := activeOf(img, replicas)
		if len(isr) == 0 {
			return nil, nil, fmt.Errorf("%w: all brokers of partition %d are fenced or shutting down", ErrInvalidReplicaAssignment, i)
		}
		isrs = append(isrs, isr)
	}
	return slices.Clone(as), isrs, nil
}

func activeOf(img metadata.Image, replicas []int32) []int32 {
	return slices.DeleteFunc(slices.Clone(replicas), func(id int32) bool { return !active(img, id) })
}

func validateTopicConfigs(kv map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		if _, ok := config.TopicDef(k); !ok {
			return fmt.Errorf("%w: unknown topic config %q", ErrInvalidConfig, k)
		}
		if err := config.ValidateTopic(k, kv[k]); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	return nil
}

// CreatePartitions is one topic of a CreatePartitions request.
type CreatePartitions struct {
	Topic string
	Count int32 // the new total
	// Assignments of the new partitions, when manual.
	Assignments  [][]int32
	ValidateOnly bool
}

// CreatePartitions grows topics; partitions are never removed
// (INVALID_PARTITIONS for a count that is not an increase).
func (c *Controller) CreatePartitions(reqs []CreatePartitions) ([]error, []metadata.Record, error) {
	t := c.begin()
	errs := make([]error, 0, len(reqs))
	for _, r := range reqs {
		errs = append(errs, c.createPartitions(t, r))
	}
	recs, err := c.commit(t)
	return errs, recs, err
}

func (c *Controller) createPartitions(t *txn, r CreatePartitions) error {
	tp, ok := t.img.TopicByName(r.Topic)
	if !ok {
		return ErrUnknownTopicOrPartition
	}
	have := int32(len(tp.Partitions))
	if r.Count <= have {
		return fmt.Errorf("%w: topic %q has %d partitions; %d is not an increase", ErrInvalidPartitions, r.Topic, have, r.Count)
	}
	add := int(r.Count - have)
	if add > c.cfg.MaxPartitionsPerRequest {
		return fmt.Errorf("%w: more than %d partitions in one request", ErrPolicyViolation, c.cfg.MaxPartitionsPerRequest)
	}
	rf := len(tp.Partitions[0].Replicas)
	var as, isrs [][]int32
	var err error
	if r.Assignments != nil {
		if len(r.Assignments) != add {
			return fmt.Errorf("%w: %d assignments for %d new partitions", ErrInvalidReplicaAssignment, len(r.Assignments), add)
		}
		as, isrs, err = manualAssignment(t.img, r.Assignments, rf)
	} else {
		existing := make([][]int32, len(tp.Partitions))
		for i, p := range tp.Partitions {
			existing[i] = p.Replicas
		}
		as, isrs, err = c.placeNew(t.img, existing, add, rf)
	}
	if err != nil || r.ValidateOnly {
		return err
	}
	for i := range as {
		t.add(partitionRecord(tp.ID, have+int32(i), as[i], isrs[i]))
	}
	return nil
}

// DeleteTopics removes topics by name (UNKNOWN_TOPIC_OR_PARTITION) or,
// for names left empty, by id (UNKNOWN_TOPIC_ID).
func (c *Controller) DeleteTopics(names []string, ids []metadata.UUID) ([]error, []metadata.Record, error) {
	t := c.begin()
	errs := make([]error, 0, len(names))
	for i, name := range names {
		var tp metadata.Topic
		var ok bool
		if name != "" {
			tp, ok = t.img.TopicByName(name)
		} else if i < len(ids) {
			tp, ok = t.img.TopicByID(ids[i])
		}
		switch {
		case ok:
			t.add(metadata.RemoveTopicRecord{TopicID: tp.ID})
			errs = append(errs, nil)
		case name != "":
			errs = append(errs, ErrUnknownTopicOrPartition)
		default:
			errs = append(errs, ErrUnknownTopicID)
		}
	}
	recs, err := c.commit(t)
	return errs, recs, err
}

// ConfigOp is one incremental config change (IncrementalAlterConfigs SET
// or DELETE).
type ConfigOp struct {
	Key    string
	Delete bool
	Value  string
}

// AlterConfig is one resource of an IncrementalAlterConfigs request.
type AlterConfig struct {
	Resource     metadata.ConfigResource
	Ops          []ConfigOp
	ValidateOnly bool
}

// AlterConfigs changes topic and broker configs. Keys must be known
// (INVALID_CONFIG) and values valid; a topic must exist. Turning
// unclean.leader.election.enable on elects leaders for the leaderless
// partitions it affects in the same decision.
func (c *Controller) AlterConfigs(reqs []AlterConfig) ([]error, []metadata.Record, error) {
	t := c.begin()
	errs := make([]error, 0, len(reqs))
	for _, r := range reqs {
		err := c.validateAlterConfig(t.img, r)
		if err == nil && !r.ValidateOnly {
			for _, op := range r.Ops {
				old, had := t.img.ConfigValue(r.Resource, op.Key)
				if (op.Delete && !had) || (!op.Delete && had && old == op.Value) {
					continue
				}
				rec := metadata.ConfigRecord{ResourceType: r.Resource.Type, ResourceName: r.Resource.Name, Name: op.Key}
				if !op.Delete {
					v := op.Value
					rec.Value = &v
				}
				t.add(rec)
			}
			topic := r.Resource.Name
			if r.Resource.Type == metadata.ResourceBroker {
				topic = ""
			}
			c.electUncleanLeaderless(t, topic)
		}
		errs = append(errs, err)
	}
	recs, err := c.commit(t)
	return errs, recs, err
}

func (c *Controller) validateAlterConfig(img metadata.Image, r AlterConfig) error {
	switch r.Resource.Type {
	case metadata.ResourceTopic:
		if _, ok := img.TopicByName(r.Resource.Name); !ok {
			return ErrUnknownTopicOrPartition
		}
		kv := map[string]string{}
		for _, op := range r.Ops {
			if _, ok := config.TopicDef(op.Key); !ok {
				return fmt.Errorf("%w: unknown topic config %q", ErrInvalidConfig, op.Key)
			}
			if !op.Delete {
				kv[op.Key] = op.Value
			}
		}
		return validateTopicConfigs(kv)
	case metadata.ResourceBroker:
		if r.Resource.Name != "" {
			if _, err := strconv.ParseInt(r.Resource.Name, 10, 32); err != nil {
				return fmt.Errorf("%w: broker resource %q", ErrInvalidRequest, r.Resource.Name)
			}
		}
		for _, op := range r.Ops {
			d, ok := config.BrokerDef(op.Key)
			if !ok {
				return fmt.Errorf("%w: unknown broker config %q", ErrInvalidConfig, op.Key)
			}
			if !op.Delete {
				if err := d.Validate(op.Value); err != nil {
					return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
				}
			}
		}
		return nil
	}
	return fmt.Errorf("%w: config resource type %d", ErrInvalidRequest, r.Resource.Type)
}

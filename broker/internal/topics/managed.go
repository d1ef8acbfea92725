package topics

import (
	"errors"
	"fmt"
	"maps"
)

// TopicSpec is one topic as the cluster's metadata image describes it,
// reduced to what this node stores: the partitions it hosts (is a replica
// of).
type TopicSpec struct {
	Name     string
	ID       [16]byte
	Internal bool
	Configs  map[string]string
	// Hosted are the partition indexes this node is a replica of, in
	// increasing order.
	Hosted []int32
}

// ErrNotManaged: Sync or Drop on a catalogue that persists itself.
var ErrNotManaged = errors.New("topics: catalogue is not managed by cluster metadata")

// Sync makes the managed catalogue hold spec: a topic whose name now has
// another id (deleted and recreated) is dropped with its data first; hosted
// partitions not open yet are opened (created, or recovered from disk);
// configs are replaced and applied to the open logs. Partitions this node
// no longer hosts stay open (reassignment is not modelled yet).
func (c *Catalog) Sync(spec TopicSpec) error {
	if !c.managed {
		return ErrNotManaged
	}
	if err := ValidateName(spec.Name); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[spec.Name]
	if ok && t.ID != spec.ID {
		delete(c.topics, spec.Name)
		closeAll(t.Partitions(), true)
		ok = false
	}
	if !ok {
		t = &Topic{Name: spec.Name, ID: spec.ID, Internal: spec.Internal, configs: maps.Clone(spec.Configs)}
		if t.configs == nil {
			t.configs = map[string]string{}
		}
		c.topics[spec.Name] = t
	} else if !maps.Equal(t.Configs(), spec.Configs) {
		t.mu.Lock()
		t.configs = maps.Clone(spec.Configs)
		if t.configs == nil {
			t.configs = map[string]string{}
		}
		t.mu.Unlock()
		cfg := c.LogConfig(t.Configs())
		for _, p := range t.Partitions() {
			if err := p.Log.SetConfig(cfg); err != nil {
				return fmt.Errorf("topics: %s-%d: %w", t.Name, p.Index, err)
			}
		}
	}
	parts := t.Partitions()
	var added []*Partition
	for _, idx := range spec.Hosted {
		if t.Partition(idx) != nil {
			continue
		}
		part, err := c.openPartition(t, idx)
		if err != nil {
			c.setPartitions(t, parts, added)
			return err
		}
		added = append(added, part)
	}
	c.setPartitions(t, parts, added)
	return nil
}

// setPartitions publishes parts plus added, kept in index order.
func (c *Catalog) setPartitions(t *Topic, parts, added []*Partition) {
	if len(added) == 0 {
		return
	}
	all := append(append([]*Partition(nil), parts...), added...)
	for i := 1; i < len(all); i++ { // insertion sort: both halves are short and sorted
		for j := i; j > 0 && all[j-1].Index > all[j].Index; j-- {
			all[j-1], all[j] = all[j], all[j-1]
		}
	}
	t.mu.Lock()
	t.partitions = all
	t.mu.Unlock()
}

// Drop removes a topic the metadata image no longer has, with its data.
func (c *Catalog) Drop(name string) error {
	if !c.managed {
		return ErrNotManaged
	}
	c.mu.Lock()
	t, ok := c.topics[name]
	delete(c.topics, name)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	closeAll(t.Partitions(), true)
	c.Notify()
	return nil
}

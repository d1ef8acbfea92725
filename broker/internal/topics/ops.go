package topics

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"sort"

	"github.com/highwater-io/highwater/broker/internal/config"
)

// maxTopicNameLength is Kafka's limit (249), which keeps partition
// directory names under common filesystem limits.
const maxTopicNameLength = 249

// ValidateName applies Kafka's topic naming rules.
func ValidateName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidTopic, name)
	}
	if len(name) > maxTopicNameLength {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidTopic, maxTopicNameLength)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", ErrInvalidTopic, name)
		}
	}
	return nil
}

// ValidateConfigs checks topic overrides, naming the first bad key.
func ValidateConfigs(configs map[string]string) error {
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := config.ValidateTopic(k, configs[k]); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	return nil
}

// Create adds a topic with the given partitions and overrides. With
// validateOnly it checks everything and creates nothing.
func (c *Catalog) Create(name string, partitions int32, configs map[string]string, internal, validateOnly bool) (*Topic, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if partitions <= 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, partitions)
	}
	if err := ValidateConfigs(configs); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[name]; ok {
		return nil, fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	if validateOnly {
		return &Topic{Name: name, configs: maps.Clone(configs)}, nil
	}
	t := &Topic{Name: name, Internal: internal, configs: maps.Clone(configs)}
	if t.configs == nil {
		t.configs = map[string]string{}
	}
	if _, err := c.random.Read(t.ID[:]); err != nil {
		return nil, err
	}
	t.ID[6] = t.ID[6]&0x0f | 0x40 // a version-4 UUID, as Kafka's topic ids are
	t.ID[8] = t.ID[8]&0x3f | 0x80
	for p := int32(0); p < partitions; p++ {
		part, err := c.openPartition(t, p)
		if err != nil {
			closeAll(t.partitions, true)
			return nil, err
		}
		t.partitions = append(t.partitions, part)
	}
	c.topics[name] = t
	if err := c.save(); err != nil {
		delete(c.topics, name)
		closeAll(t.partitions, true)
		return nil, err
	}
	return t, nil
}

func closeAll(parts []*Partition, remove bool) {
	for _, p := range parts {
		if remove {
			_ = p.Log.Delete()
		} else {
			_ = p.Log.Close()
		}
	}
}

// Delete removes a topic and its data.
func (c *Catalog) Delete(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	delete(c.topics, name)
	if err := c.save(); err != nil {
		c.topics[name] = t
		return err
	}
	closeAll(t.Partitions(), true)
	c.Notify() // wake long polls so they notice the topic is gone
	return nil
}

// AddPartitions grows a topic to total partitions (never shrinks).
func (c *Catalog) AddPartitions(name string, total int32, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	have := int32(len(t.Partitions()))
	if total <= have {
		return fmt.Errorf("%w: topic %s has %d partitions; the new count must be larger, got %d", ErrInvalidPartitions, name, have, total)
	}
	if validateOnly {
		return nil
	}
	parts := append([]*Partition(nil), t.Partitions()...)
	for p := have; p < total; p++ {
		part, err := c.openPartition(t, p)
		if err != nil {
			closeAll(parts[have:], true)
			return err
		}
		parts = append(parts, part)
	}
	t.mu.Lock()
	t.partitions = parts
	t.mu.Unlock()
	if err := c.save(); err != nil {
		return err
	}
	return nil
}

// SetConfigs replaces a topic's overrides and applies them to its logs.
func (c *Catalog) SetConfigs(name string, configs map[string]string, validateOnly bool) error {
	if err := ValidateConfigs(configs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if validateOnly {
		return nil
	}
	t.mu.Lock()
	old := t.configs
	t.configs = maps.Clone(configs)
	if t.configs == nil {
		t.configs = map[string]string{}
	}
	t.mu.Unlock()
	if err := c.save(); err != nil {
		t.mu.Lock()
		t.configs = old
		t.mu.Unlock()
		return err
	}
	cfg := c.LogConfig(t.Configs())
	var errs []error
	for _, p := range t.Partitions() {
		if err := p.Log.SetConfig(cfg); err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w", t.Name, p.Index, err))
		}
	}
	return errors.Join(errs...)
}

// Get returns a topic by name.
func (c *Catalog) Get(name string) (*Topic, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.topics[name]
	return t, ok
}

// GetByID returns a topic by its id.
func (c *Catalog) GetByID(id [16]byte) (*Topic, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, t := range c.topics {
		if t.ID == id {
			return t, true
		}
	}
	return nil, false
}

// List returns every topic in name order.
func (c *Catalog) List() []*Topic {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Topic, 0, len(c.topics))
	for _, t := range c.topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Broker returns the broker configuration topic values fall back to.
func (c *Catalog) Broker() *config.Broker { return c.broker }

// Wait returns a channel closed at the next Notify: a long-polling fetch
// takes it before checking for data, so it cannot miss an append.
func (c *Catalog) Wait() <-chan struct{} {
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	return c.notify
}

// Notify wakes every waiter; the produce path calls it after appending.
func (c *Catalog) Notify() {
	c.notifyMu.Lock()
	close(c.notify)
	c.notify = make(chan struct{})
	c.notifyMu.Unlock()
}

// EnforceRetention applies retention to every partition.
func (c *Catalog) EnforceRetention() (deletedSegments int, err error) {
	var errs []error
	for _, t := range c.List() {
		for _, p := range t.Partitions() {
			n, err := p.Log.EnforceRetention()
			deletedSegments += n
			if err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", t.Name, p.Index, err))
			}
		}
	}
	return deletedSegments, errors.Join(errs...)
}

// Flush syncs every partition log.
func (c *Catalog) Flush() error {
	var errs []error
	for _, t := range c.List() {
		for _, p := range t.Partitions() {
			if err := p.Log.Flush(); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", t.Name, p.Index, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Close flushes and closes every partition log.
func (c *Catalog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, t := range c.topics {
		for _, p := range t.Partitions() {
			if err := p.Log.Flush(); err != nil {
				errs = append(errs, err)
			} else if err := c.saveProducers(p); err != nil {
				errs = append(errs, err)
			}
			if err := p.Log.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func formatID(id [16]byte) string { return hex.EncodeToString(id[:]) }

func parseID(s string, id *[16]byte) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return fmt.Errorf("bad topic id %q", s)
	}
	copy(id[:], b)
	return nil
}

// PartitionExists reports whether topic has partition p.
func (c *Catalog) PartitionExists(topic string, p int32) bool {
	t, ok := c.Get(topic)
	return ok && t.Partition(p) != nil
}

// TopicName resolves a topic id to its name.
func (c *Catalog) TopicName(id [16]byte) (string, bool) {
	t, ok := c.GetByID(id)
	if !ok {
		return "", false
	}
	return t.Name, true
}

// TopicID resolves a topic name to its id.
func (c *Catalog) TopicID(name string) ([16]byte, bool) {
	t, ok := c.Get(name)
	if !ok {
		return [16]byte{}, false
	}
	return t.ID, true
}

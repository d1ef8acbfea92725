package topics

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/internal/vfs"
)

// Sentinel errors, mapped to Kafka error codes by the handlers.
var (
	ErrTopicExists       = errors.New("topics: topic already exists")
	ErrUnknownTopic      = errors.New("topics: unknown topic")
	ErrInvalidTopic      = errors.New("topics: invalid topic name")
	ErrInvalidPartitions = errors.New("topics: invalid partition count")
	ErrInvalidConfig     = errors.New("topics: invalid topic config")
)

// Topic is one topic. Its fields other than Partitions and Configs never
// change; Partitions and Configs are replaced (never mutated) under the
// catalogue lock, so readers holding a *Topic see a consistent snapshot
// through Snapshot.
type Topic struct {
	Name     string
	ID       [16]byte
	Internal bool

	mu         sync.RWMutex
	partitions []*Partition
	configs    map[string]string
}

// Partitions returns the topic's partitions (a snapshot; do not modify).
func (t *Topic) Partitions() []*Partition {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.partitions
}

// Partition returns partition p, or nil. In a managed catalogue (cluster
// mode) a topic holds only the partitions this node hosts, in index order,
// so the slice position and the index may differ.
func (t *Topic) Partition(p int32) *Partition {
	parts := t.Partitions()
	if p >= 0 && int(p) < len(parts) && parts[p].Index == p {
		return parts[p]
	}
	for _, part := range parts {
		if part.Index == p {
			return part
		}
	}
	return nil
}

// Configs returns the topic's overrides (a snapshot; do not modify).
func (t *Topic) Configs() map[string]string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.configs
}

// Partition is one partition of a topic and its log.
type Partition struct {
	Topic *Topic
	Index int32
	Log   *partlog.Log

	producers *producerState // idempotent-producer state; see Append
}

// Catalog holds every topic of the broker.
type Catalog struct {
	fs     vfs.FS
	dir    string
	broker *config.Broker
	now    func() time.Time
	random io.Reader

	managed bool

	mu     sync.RWMutex
	topics map[string]*Topic

	notifyMu sync.Mutex
	notify   chan struct{}
}

// Options are the catalogue's seams.
type Options struct {
	FS     vfs.FS
	Dir    string // the data directory (log.dirs)
	Broker *config.Broker
	Now    func() time.Time
	Random io.Reader // topic ids; crypto/rand when nil
	// Managed: the topic list comes from the cluster's metadata image
	// (Sync, Drop) instead of topics.json, which is neither read nor
	// written.
	Managed bool
}

type persistedTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
}

const catalogFile = "topics.json"

// Open loads the catalogue from dir and opens (recovering) every partition log.
func Open(opts Options) (*Catalog, error) {
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	c := &Catalog{fs: opts.FS, dir: opts.Dir, broker: opts.Broker, now: opts.Now, random: opts.Random,
		managed: opts.Managed, topics: map[string]*Topic{}, notify: make(chan struct{})}
	if err := c.fs.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	if c.managed {
		return c, nil
	}
	saved, err := c.load()
	if err != nil {
		return nil, err
	}
	for _, pt := range saved {
		t := &Topic{Name: pt.Name, Internal: pt.Internal, configs: pt.Configs}
		if t.configs == nil {
			t.configs = map[string]string{}
		}
		if err := parseID(pt.ID, &t.ID); err != nil {
			return nil, fmt.Errorf("topics: %s: %w", pt.Name, err)
		}
		for p := int32(0); p < pt.Partitions; p++ {
			part, err := c.openPartition(t, p)
			if err != nil {
				c.Close()
				return nil, err
			}
			t.partitions = append(t.partitions, part)
		}
		c.topics[t.Name] = t
	}
	return c, nil
}

func (c *Catalog) load() ([]persistedTopic, error) {
	f, err := c.fs.OpenFile(filepath.Join(c.dir, catalogFile), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var saved []persistedTopic
	if err := json.NewDecoder(f).Decode(&saved); err != nil {
		return nil, fmt.Errorf("topics: reading %s: %w", catalogFile, err)
	}
	return saved, nil
}

// save writes the catalogue atomically. Callers hold c.mu. A managed
// catalogue is not persisted (the metadata log is).
func (c *Catalog) save() error {
	if c.managed {
		return nil
	}
	saved := make([]persistedTopic, 0, len(c.topics))
	for _, t := range c.topics {
		saved = append(saved, persistedTopic{Name: t.Name, ID: formatID(t.ID), Partitions: int32(len(t.Partitions())),
			Configs: t.Configs(), Internal: t.Internal})
	}
	sort.Slice(saved, func(i, j int) bool { return saved[i].Name < saved[j].Name })
	data, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(c.fs, filepath.Join(c.dir, catalogFile), data, 0o644)
}

func (c *Catalog) partitionDir(topic string, p int32) string {
	return filepath.Join(c.dir, topic+"-"+strconv.Itoa(int(p)))
}

func (c *Catalog) openPartition(t *Topic, p int32) (*Partition, error) {
	log, err := partlog.Open(c.fs, c.partitionDir(t.Name, p), c.LogConfig(t.Configs()), c.now)
	if err != nil {
		return nil, fmt.Errorf("topics: opening %s-%d: %w", t.Name, p, err)
	}
	part := &Partition{Topic: t, Index: p, Log: log}
	if err := c.loadProducers(part); err != nil {
		_ = log.Close()
		return nil, err
	}
	return part, nil
}

// LogConfig derives a partition log's settings from a topic's overrides
// over the broker's values.
func (c *Catalog) LogConfig(overrides map[string]string) partlog.Config {
	b := c.broker
	ms := func(key string) time.Duration {
		v := b.TopicInt64(overrides, key)
		if v < 0 || v > math.MaxInt64/int64(time.Millisecond) {
			return -1 // forever; Long.MAX_VALUE in Kafka's defaults
		}
		return time.Duration(v) * time.Millisecond
	}
	policy, _ := b.Topic(overrides, "cleanup.policy")
	deleteSegments, compact := config.CleanupPolicy(policy)
	ratioText, _ := b.Topic(overrides, "min.cleanable.dirty.ratio")
	ratio, err := strconv.ParseFloat(ratioText, 64)
	if err != nil || ratio < 0 || ratio > 1 {
		ratio = partlog.DefaultConfig().MinCleanableDirtyRatio
	}
	roll := ms("segment.ms")
	if maxLag := ms("max.compaction.lag.ms"); compact && maxLag > 0 && (roll <= 0 || maxLag < roll) {
		// Kafka's LogConfig.maxSegmentMs: a compacted log rolls by
		// max.compaction.lag.ms too, so no record waits in the active
		// segment longer than that to become cleanable.
		roll = maxLag
	}
	return partlog.Config{
		SegmentBytes:           b.TopicInt64(overrides, "segment.bytes"),
		SegmentRoll:            roll,
		RetentionTime:          ms("retention.ms"),
		RetentionBytes:         b.TopicInt64(overrides, "retention.bytes"),
		FlushIntervalMessages:  b.TopicInt64(overrides, "flush.messages"),
		IndexIntervalBytes:     int(b.TopicInt64(overrides, "index.interval.bytes")),
		Delete:                 deleteSegments,
		Compact:                compact,
		DeleteRetention:        max(ms("delete.retention.ms"), 0),
		MinCompactionLag:       max(ms("min.compaction.lag.ms"), 0),
		MaxCompactionLag:       ms("max.compaction.lag.ms"),
		MinCleanableDirtyRatio: ratio,
	}
}

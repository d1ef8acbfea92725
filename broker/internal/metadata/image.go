package metadata

import (
	"maps"
	"slices"
	"strings"
)

// Broker is a broker's registration.
type Broker struct {
	ID                   int32
	Epoch                int64
	IncarnationID        UUID
	Rack                 string
	Endpoints            []Endpoint
	Fenced               bool
	InControlledShutdown bool
}

// Active reports whether the broker may lead partitions and join ISRs:
// registered, unfenced and not shutting down (KIP-841).
func (b Broker) Active() bool { return !b.Fenced && !b.InControlledShutdown }

// Partition is the controller's view of one partition.
type Partition struct {
	Replicas       []int32 // assignment; Replicas[0] is the preferred leader
	ISR            []int32 // in replica order is not required; never empty
	Leader         int32   // NoLeader when offline
	LeaderEpoch    int32
	PartitionEpoch int32
	// UncleanISR: the ISR's only member lost unflushed records in an
	// unclean shutdown after it was last the leader's equal (KIP-966), so
	// it may lead again only by an unclean election. Cleared when a
	// leader is elected.
	UncleanISR bool
}

// State returns a copy of p safe to keep.
func (p Partition) clone() Partition {
	p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	return p
}

// Topic is a topic and its partitions, indexed by partition id.
type Topic struct {
	ID         UUID
	Name       string
	Partitions []Partition
}

// Image is the metadata state the log's records build. It is a value:
// Apply returns a new Image and never changes the one it was given, so an
// Image can be handed to another goroutine and read there while the owner
// applies further records. Slices and maps reached through it (Replicas,
// Endpoints, ...) are shared between images and must not be modified.
// The zero Image is the empty cluster.
//
// Apply copies the maps it changes (copy on write): a record costs time
// linear in the number of topics and in the partitions of its topic, fine
// for the reference broker's scale (thousands of partitions).
type Image struct {
	brokers        map[int32]*Broker
	topics         map[UUID]*Topic
	names          map[string]UUID
	configs        map[ConfigResource]map[string]string
	features       map[string]int16
	nextProducerID int64
	maxBrokerEpoch int64
}

// Broker returns the registration of broker id.
func (img Image) Broker(id int32) (Broker, bool) {
	b, ok := img.brokers[id]
	if !ok {
		return Broker{}, false
	}
	return *b, true
}

// Brokers returns every registration, by id.
func (img Image) Brokers() []Broker {
	out := make([]Broker, 0, len(img.brokers))
	for _, id := range slices.Sorted(maps.Keys(img.brokers)) {
		out = append(out, *img.brokers[id])
	}
	return out
}

// TopicByName looks a topic up by name.
func (img Image) TopicByName(name string) (Topic, bool) {
	id, ok := img.names[name]
	if !ok {
		return Topic{}, false
	}
	return img.TopicByID(id)
}

// TopicByID looks a topic up by id.
func (img Image) TopicByID(id UUID) (Topic, bool) {
	t, ok := img.topics[id]
	if !ok {
		return Topic{}, false
	}
	return *t, true
}

// Topics returns every topic, by name.
func (img Image) Topics() []Topic {
	out := make([]Topic, 0, len(img.topics))
	for _, name := range slices.Sorted(maps.Keys(img.names)) {
		out = append(out, *img.topics[img.names[name]])
	}
	return out
}

// Partition returns partition p of topic id.
func (img Image) Partition(id UUID, p int32) (Partition, bool) {
	t, ok := img.topics[id]
	if !ok || p < 0 || int(p) >= len(t.Partitions) {
		return Partition{}, false
	}
	return t.Partitions[p], true
}

// Config returns a copy of the configs set on r (overrides only; defaults
// are the reader's business).
func (img Image) Config(r ConfigResource) map[string]string {
	return maps.Clone(img.configs[r])
}

// ConfigValue returns one config key of r.
func (img Image) ConfigValue(r ConfigResource, key string) (string, bool) {
	v, ok := img.configs[r][key]
	return v, ok
}

// ConfigResources returns the resources with at least one config, sorted
// by type then name.
func (img Image) ConfigResources() []ConfigResource {
	return slices.SortedFunc(maps.Keys(img.configs), compareResource)
}

func compareResource(a, b ConfigResource) int {
	if a.Type != b.Type {
		return int(a.Type) - int(b.Type)
	}
	return strings.Compare(a.Name, b.Name)
}

// Features returns the finalized feature levels.
func (img Image) Features() map[string]int16 { return maps.Clone(img.features) }

// NextProducerID is the first producer id not yet handed out.
func (img Image) NextProducerID() int64 { return img.nextProducerID }

// MaxBrokerEpoch is the largest broker epoch ever registered; a new
// registration gets a larger one.
func (img Image) MaxBrokerEpoch() int64 { return img.maxBrokerEpoch }

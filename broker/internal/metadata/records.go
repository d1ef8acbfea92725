package metadata

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// UUID is a Kafka UUID (topic id, broker incarnation id). The zero value is
// Kafka's ZERO_UUID and never names a topic.
type UUID [16]byte

// String is Kafka's form: URL-safe base64 without padding.
func (u UUID) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// IsZero reports whether u is the zero UUID.
func (u UUID) IsZero() bool { return u == UUID{} }

// MarshalText encodes u as String does.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText parses Kafka's base64 form.
func (u *UUID) UnmarshalText(b []byte) error {
	raw, err := base64.RawURLEncoding.DecodeString(string(b))
	if err != nil || len(raw) != 16 {
		return fmt.Errorf("%w: uuid %q", ErrDecode, b)
	}
	copy(u[:], raw)
	return nil
}

// NoLeader is the leader of a partition without one (offline).
const NoLeader int32 = -1

// NoLeaderChange in PartitionChangeRecord.Leader leaves the leader (and the
// leader epoch) as it is.
const NoLeaderChange int32 = -2

// Record is one entry of the metadata log. The concrete types below are the
// whole set; Decode returns one of them (by value).
type Record interface {
	// Type names the record in its encoding and in scripts.
	Type() string
	// Encode is the versioned encoding Decode reads back.
	Encode() []byte
	String() string
	isRecord()
}

// Endpoint is one listener of a broker.
type Endpoint struct {
	Name             string `json:"name"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
	SecurityProtocol string `json:"securityProtocol,omitempty"`
}

// RegisterBrokerRecord registers a broker (or replaces its registration
// after a restart) with a new, larger broker epoch. A registration starts
// fenced: the broker is unfenced once it has caught up with the metadata
// log. Snapshots carry the current fenced / controlled-shutdown state.
type RegisterBrokerRecord struct {
	BrokerID             int32      `json:"brokerId"`
	BrokerEpoch          int64      `json:"brokerEpoch"`
	IncarnationID        UUID       `json:"incarnationId"`
	Rack                 string     `json:"rack,omitempty"`
	Endpoints            []Endpoint `json:"endpoints,omitempty"`
	Fenced               bool       `json:"fenced,omitempty"`
	InControlledShutdown bool       `json:"inControlledShutdown,omitempty"`
}

// UnregisterBrokerRecord removes a broker's registration.
type UnregisterBrokerRecord struct {
	BrokerID    int32 `json:"brokerId"`
	BrokerEpoch int64 `json:"brokerEpoch"`
}

// FenceBrokerRecord fences a broker: it leads nothing and may not join an
// ISR. Its epoch must be the registered one.
type FenceBrokerRecord struct {
	BrokerID    int32 `json:"brokerId"`
	BrokerEpoch int64 `json:"brokerEpoch"`
}

// UnfenceBrokerRecord unfences a broker that caught up.
type UnfenceBrokerRecord struct {
	BrokerID    int32 `json:"brokerId"`
	BrokerEpoch int64 `json:"brokerEpoch"`
}

// FencingChange is BrokerRegistrationChangeRecord's fencing field.
type FencingChange int8

const (
	FencingNoChange FencingChange = 0
	FencingFence    FencingChange = 1
	FencingUnfence  FencingChange = -1
)

// BrokerRegistrationChangeRecord changes a registration in place: fencing,
// or entering controlled shutdown (left only by registering again).
type BrokerRegistrationChangeRecord struct {
	BrokerID                int32         `json:"brokerId"`
	BrokerEpoch             int64         `json:"brokerEpoch"`
	Fenced                  FencingChange `json:"fenced,omitempty"`
	EnterControlledShutdown bool          `json:"enterControlledShutdown,omitempty"`
}

// TopicRecord creates a topic; its partitions follow as PartitionRecords.
type TopicRecord struct {
	Name    string `json:"name"`
	TopicID UUID   `json:"topicId"`
}

// PartitionRecord creates partition PartitionID of a topic (partitions are
// created densely, in order) or, in a snapshot, restores it with its epochs.
type PartitionRecord struct {
	TopicID        UUID    `json:"topicId"`
	PartitionID    int32   `json:"partitionId"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
	UncleanISR     bool    `json:"uncleanIsr,omitempty"`
}

// PartitionChangeRecord changes a partition. As in KRaft, epochs are not
// carried but derived on Apply: every change bumps the partition epoch, and
// a Leader other than NoLeaderChange (even the same leader) bumps the
// leader epoch. ISR and Replicas nil (or empty) mean unchanged.
type PartitionChangeRecord struct {
	TopicID     UUID    `json:"topicId"`
	PartitionID int32   `json:"partitionId"`
	Leader      int32   `json:"leader"`
	ISR         []int32 `json:"isr,omitempty"`
	Replicas    []int32 `json:"replicas,omitempty"`
	// MarkUncleanISR sets Partition.UncleanISR (its last ISR member
	// restarted after an unclean shutdown); electing a leader clears it.
	MarkUncleanISR bool `json:"markUncleanIsr,omitempty"`
}

// RemoveTopicRecord deletes a topic, its partitions and its configs.
type RemoveTopicRecord struct {
	TopicID UUID `json:"topicId"`
}

// ConfigResourceType is Kafka's config resource type code.
type ConfigResourceType int8

const (
	ResourceTopic  ConfigResourceType = 2
	ResourceBroker ConfigResourceType = 4
)

// ConfigResource names what a config belongs to: a topic by name, a broker
// by id ("" is the cluster-wide broker default).
type ConfigResource struct {
	Type ConfigResourceType `json:"type"`
	Name string             `json:"name"`
}

// ConfigRecord sets (Value non-nil) or deletes (Value nil) one config key.
type ConfigRecord struct {
	ResourceType ConfigResourceType `json:"resourceType"`
	ResourceName string             `json:"resourceName"`
	Name         string             `json:"name"`
	Value        *string            `json:"value"`
}

// ProducerIdsRecord hands out producer ids below NextProducerID: the
// block [previous next, NextProducerID) went to BrokerID.
type ProducerIdsRecord struct {
	BrokerID       int32 `json:"brokerId"`
	BrokerEpoch    int64 `json:"brokerEpoch"`
	NextProducerID int64 `json:"nextProducerId"`
}

// FeatureLevelRecord sets a finalized feature level (0 removes it).
type FeatureLevelRecord struct {
	Name         string `json:"name"`
	FeatureLevel int16  `json:"featureLevel"`
}

func (RegisterBrokerRecord) Type() string           { return "register-broker" }
func (UnregisterBrokerRecord) Type() string         { return "unregister-broker" }
func (FenceBrokerRecord) Type() string              { return "fence-broker" }
func (UnfenceBrokerRecord) Type() string            { return "unfence-broker" }
func (BrokerRegistrationChangeRecord) Type() string { return "broker-registration-change" }
func (TopicRecord) Type() string                    { return "topic" }
func (PartitionRecord) Type() string                { return "partition" }
func (PartitionChangeRecord) Type() string          { return "partition-change" }
func (RemoveTopicRecord) Type() string              { return "remove-topic" }
func (ConfigRecord) Type() string                   { return "config" }
func (ProducerIdsRecord) Type() string              { return "producer-ids" }
func (FeatureLevelRecord) Type() string             { return "feature-level" }

func (RegisterBrokerRecord) isRecord()           {}
func (UnregisterBrokerRecord) isRecord()         {}
func (FenceBrokerRecord) isRecord()              {}
func (UnfenceBrokerRecord) isRecord()            {}
func (BrokerRegistrationChangeRecord) isRecord() {}
func (TopicRecord) isRecord()                    {}
func (PartitionRecord) isRecord()                {}
func (PartitionChangeRecord) isRecord()          {}
func (RemoveTopicRecord) isRecord()              {}
func (ConfigRecord) isRecord()                   {}
func (ProducerIdsRecord) isRecord()              {}
func (FeatureLevelRecord) isRecord()             {}

func (r RegisterBrokerRecord) Encode() []byte           { return encode(r) }
func (r UnregisterBrokerRecord) Encode() []byte         { return encode(r) }
func (r FenceBrokerRecord) Encode() []byte              { return encode(r) }
func (r UnfenceBrokerRecord) Encode() []byte            { return encode(r) }
func (r BrokerRegistrationChangeRecord) Encode() []byte { return encode(r) }
func (r TopicRecord) Encode() []byte                    { return encode(r) }
func (r PartitionRecord) Encode() []byte                { return encode(r) }
func (r PartitionChangeRecord) Encode() []byte          { return encode(r) }
func (r RemoveTopicRecord) Encode() []byte              { return encode(r) }
func (r ConfigRecord) Encode() []byte                   { return encode(r) }
func (r ProducerIdsRecord) Encode() []byte              { return encode(r) }
func (r FeatureLevelRecord) Encode() []byte             { return encode(r) }

// String forms are compact and stable: data-driven scripts pin them.

func (r RegisterBrokerRecord) String() string {
	s := fmt.Sprintf("register-broker id=%d epoch=%d rack=%q", r.BrokerID, r.BrokerEpoch, r.Rack)
	if r.Fenced {
		s += " fenced"
	}
	if r.InControlledShutdown {
		s += " shutting-down"
	}
	return s
}

func (r UnregisterBrokerRecord) String() string {
	return fmt.Sprintf("unregister-broker id=%d epoch=%d", r.BrokerID, r.BrokerEpoch)
}

func (r FenceBrokerRecord) String() string {
	return fmt.Sprintf("fence-broker id=%d epoch=%d", r.BrokerID, r.BrokerEpoch)
}

func (r UnfenceBrokerRecord) String() string {
	return fmt.Sprintf("unfence-broker id=%d epoch=%d", r.BrokerID, r.BrokerEpoch)
}

func (r BrokerRegistrationChangeRecord) String() string {
	s := fmt.Sprintf("broker-registration-change id=%d epoch=%d", r.BrokerID, r.BrokerEpoch)
	switch r.Fenced {
	case FencingFence:
		s += " fence"
	case FencingUnfence:
		s += " unfence"
	}
	if r.EnterControlledShutdown {
		s += " controlled-shutdown"
	}
	return s
}

func (r TopicRecord) String() string { return fmt.Sprintf("topic name=%s", r.Name) }

func (r PartitionRecord) String() string {
	return fmt.Sprintf("partition %s-%d replicas=%v isr=%v leader=%d epoch=%d pepoch=%d",
		r.TopicID.short(), r.PartitionID, r.Replicas, r.ISR, r.Leader, r.LeaderEpoch, r.PartitionEpoch)
}

func (r PartitionChangeRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "partition-change %s-%d", r.TopicID.short(), r.PartitionID)
	if r.Leader != NoLeaderChange {
		fmt.Fprintf(&b, " leader=%d", r.Leader)
	}
	if len(r.ISR) > 0 {
		fmt.Fprintf(&b, " isr=%v", r.ISR)
	}
	if len(r.Replicas) > 0 {
		fmt.Fprintf(&b, " replicas=%v", r.Replicas)
	}
	if r.MarkUncleanISR {
		b.WriteString(" unclean-isr")
	}
	return b.String()
}

func (r RemoveTopicRecord) String() string { return "remove-topic " + r.TopicID.short() }

func (r ConfigRecord) String() string {
	v := "<delete>"
	if r.Value != nil {
		v = *r.Value
	}
	return fmt.Sprintf("config %s/%q %s=%s", r.ResourceType, r.ResourceName, r.Name, v)
}

func (r ProducerIdsRecord) String() string {
	return fmt.Sprintf("producer-ids broker=%d next=%d", r.BrokerID, r.NextProducerID)
}

func (r FeatureLevelRecord) String() string {
	return fmt.Sprintf("feature-level %s=%d", r.Name, r.FeatureLevel)
}

func (t ConfigResourceType) String() string {
	switch t {
	case ResourceTopic:
		return "topic"
	case ResourceBroker:
		return "broker"
	}
	return fmt.Sprintf("resource(%d)", int8(t))
}

// short is the first bytes of the id, enough to tell topics apart in logs
// and scripts.
func (u UUID) short() string { return u.String()[:6] }

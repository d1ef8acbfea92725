package group

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrInvalidConfig is wrapped by every Config validation failure.
var ErrInvalidConfig = errors.New("group: invalid config")

// CoordinatorConfig configures the pure state machine. Field defaults follow
// the Kafka broker configs named in each comment.
type CoordinatorConfig struct {
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms (KIP-134):
	// how long the first rebalance of an Empty group waits for more members,
	// extended by the same amount each time a member joins, capped by the
	// rebalance timeout.
	InitialRebalanceDelay time.Duration
	// OffsetsRetention is offsets.retention.minutes (KIP-211 semantics).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	OffsetsRetentionCheckInterval time.Duration
	// MinSessionTimeout / MaxSessionTimeout are group.min/max.session.timeout.ms.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// NewMemberJoinTimeout bounds how long a brand-new member may sit in a
	// rebalance without completing its first join (Kafka hard-codes 5 min).
	NewMemberJoinTimeout time.Duration
	// MaxGroupSize is group.max.size; 0 means unlimited.
	MaxGroupSize int
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int
	// NewMemberID returns a fresh, never reused member id for a client;
	// Kafka uses clientID + "-" + a random UUID. Required.
	NewMemberID func(clientID string) string
	// TopicExists reports whether an offset may be committed for a
	// partition; nil accepts every partition.
	TopicExists func(topic string, partition int32) bool
	// TopicNameByID and TopicIDByName resolve KIP-516 topic ids for
	// OffsetCommit/OffsetFetch v10+; nil resolves nothing (UNKNOWN_TOPIC_ID).
	TopicNameByID func(id [16]byte) (string, bool)
	TopicIDByName func(name string) ([16]byte, bool)
	// Logger receives state transitions; nil discards.
	Logger *slog.Logger
}

// DefaultCoordinatorConfig returns Kafka's defaults. NewMemberID is left nil:
// the caller chooses the source of randomness.
func DefaultCoordinatorConfig() CoordinatorConfig {
	return CoordinatorConfig{
		InitialRebalanceDelay:         3 * time.Second,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		NewMemberJoinTimeout:          5 * time.Minute,
		OffsetMetadataMaxBytes:        4096,
	}
}

// Validate reports the first inconsistent field.
func (c CoordinatorConfig) Validate() error {
	switch {
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("%w: negative InitialRebalanceDelay", ErrInvalidConfig)
	case c.OffsetsRetention <= 0:
		return fmt.Errorf("%w: OffsetsRetention must be positive", ErrInvalidConfig)
	case c.OffsetsRetentionCheckInterval <= 0:
		return fmt.Errorf("%w: OffsetsRetentionCheckInterval must be positive", ErrInvalidConfig)
	case c.MinSessionTimeout <= 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("%w: need 0 < MinSessionTimeout <= MaxSessionTimeout", ErrInvalidConfig)
	case c.NewMemberJoinTimeout <= 0:
		return fmt.Errorf("%w: NewMemberJoinTimeout must be positive", ErrInvalidConfig)
	case c.MaxGroupSize < 0 || c.OffsetMetadataMaxBytes < 0:
		return fmt.Errorf("%w: negative MaxGroupSize or OffsetMetadataMaxBytes", ErrInvalidConfig)
	case c.NewMemberID == nil:
		return fmt.Errorf("%w: NewMemberID is required", ErrInvalidConfig)
	}
	return nil
}

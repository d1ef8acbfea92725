package controller

import "fmt"

// Config holds the controller's tunables, named after the Kafka settings
// they model.
type Config struct {
	// SessionTimeoutMs is broker.session.timeout.ms: a broker that has not
	// heartbeaten for longer than this is fenced and loses its leaderships.
	SessionTimeoutMs int64
	// DefaultReplicationFactor is default.replication.factor, used when a
	// CreateTopics request leaves it at -1.
	DefaultReplicationFactor int16
	// DefaultNumPartitions is num.partitions.
	DefaultNumPartitions int32
	// UncleanLeaderElectionEnable is the broker-wide
	// unclean.leader.election.enable; a topic config overrides it.
	UncleanLeaderElectionEnable bool
	// AutoLeaderRebalanceEnable is auto.leader.rebalance.enable.
	AutoLeaderRebalanceEnable bool
	// LeaderImbalancePerBrokerPercentage is
	// leader.imbalance.per.broker.percentage: a broker whose preferred
	// partitions it does not lead exceed this share triggers preferred
	// elections for them.
	LeaderImbalancePerBrokerPercentage int
	// LeaderImbalanceCheckIntervalMs is
	// leader.imbalance.check.interval.seconds, in milliseconds.
	LeaderImbalanceCheckIntervalMs int64
	// ProducerIDBlockSize is how many producer ids one allocation hands a
	// broker (KRaft: 1000).
	ProducerIDBlockSize int64
	// MaxPartitionsPerRequest caps partitions created by one request
	// (KRaft: 10,000, POLICY_VIOLATION beyond).
	MaxPartitionsPerRequest int
	// Seed drives replica placement's starting offsets and topic ids, so a
	// run replays from its seed.
	Seed uint64
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SessionTimeoutMs:                   9_000,
		DefaultReplicationFactor:           1,
		DefaultNumPartitions:               1,
		AutoLeaderRebalanceEnable:          true,
		LeaderImbalancePerBrokerPercentage: 10,
		LeaderImbalanceCheckIntervalMs:     300_000,
		ProducerIDBlockSize:                1_000,
		MaxPartitionsPerRequest:            10_000,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.SessionTimeoutMs <= 0:
		return fmt.Errorf("%w: SessionTimeoutMs %d <= 0", ErrConfig, c.SessionTimeoutMs)
	case c.DefaultReplicationFactor < 1:
		return fmt.Errorf("%w: DefaultReplicationFactor %d < 1", ErrConfig, c.DefaultReplicationFactor)
	case c.DefaultNumPartitions < 1:
		return fmt.Errorf("%w: DefaultNumPartitions %d < 1", ErrConfig, c.DefaultNumPartitions)
	case c.LeaderImbalancePerBrokerPercentage < 0:
		return fmt.Errorf("%w: LeaderImbalancePerBrokerPercentage %d < 0", ErrConfig, c.LeaderImbalancePerBrokerPercentage)
	case c.LeaderImbalanceCheckIntervalMs <= 0:
		return fmt.Errorf("%w: LeaderImbalanceCheckIntervalMs %d <= 0", ErrConfig, c.LeaderImbalanceCheckIntervalMs)
	case c.ProducerIDBlockSize <= 0:
		return fmt.Errorf("%w: ProducerIDBlockSize %d <= 0", ErrConfig, c.ProducerIDBlockSize)
	case c.MaxPartitionsPerRequest <= 0:
		return fmt.Errorf("%w: MaxPartitionsPerRequest %d <= 0", ErrConfig, c.MaxPartitionsPerRequest)
	}
	return nil
}

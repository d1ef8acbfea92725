package replica

import "fmt"

// Config holds the tunables of one partition replica. Names follow the Kafka
// settings they model.
type Config struct {
	// ReplicaID is this broker's id (node.id).
	ReplicaID int32
	// ReplicaLagTimeMaxMs is replica.lag.time.max.ms: a follower that has not
	// caught up to the leader's log end offset for longer than this leaves
	// the ISR.
	ReplicaLagTimeMaxMs int64
	// MinInsyncReplicas is the topic's min.insync.replicas. The effective
	// value is capped at the replication factor, as Kafka does.
	MinInsyncReplicas int
	// FetchTimeoutMs: a follower whose fetch got no answer for this long sends
	// a new one (Kafka: the replica fetcher's request timeout,
	// replica.socket.timeout.ms).
	FetchTimeoutMs int64
	// FetchBackoffMs is replica.fetch.backoff.ms: the pause after a fetch
	// answered with a retriable error.
	FetchBackoffMs int64
	// AlterPartitionRetryMs: an ISR proposal with no answer for this long is
	// sent again (Kafka's AlterPartitionManager retries on timeouts).
	AlterPartitionRetryMs int64
	// HoldHighWatermarkUnderMinISR makes the leader stop advancing the high
	// watermark while the ISR is smaller than min.insync.replicas, as Kafka
	// 4 does with eligible leader replicas (KIP-966 part 1). Off by default:
	// the classic behaviour, where the ISR shrinking below the minimum lets
	// waiting acks=all produces finish with NOT_ENOUGH_REPLICAS_AFTER_APPEND.
	HoldHighWatermarkUnderMinISR bool
}

// DefaultConfig returns Kafka's defaults for replica id 0.
func DefaultConfig() Config {
	return Config{
		ReplicaID:             0,
		ReplicaLagTimeMaxMs:   30_000,
		MinInsyncReplicas:     1,
		FetchTimeoutMs:        30_000,
		FetchBackoffMs:        1_000,
		AlterPartitionRetryMs: 30_000,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.ReplicaID < 0:
		return fmt.Errorf("%w: ReplicaID %d < 0", ErrConfig, c.ReplicaID)
	case c.ReplicaLagTimeMaxMs <= 0:
		return fmt.Errorf("%w: ReplicaLagTimeMaxMs %d <= 0", ErrConfig, c.ReplicaLagTimeMaxMs)
	case c.MinInsyncReplicas < 1:
		return fmt.Errorf("%w: MinInsyncReplicas %d < 1", ErrConfig, c.MinInsyncReplicas)
	case c.FetchTimeoutMs <= 0:
		return fmt.Errorf("%w: FetchTimeoutMs %d <= 0", ErrConfig, c.FetchTimeoutMs)
	case c.FetchBackoffMs < 0:
		return fmt.Errorf("%w: FetchBackoffMs %d < 0", ErrConfig, c.FetchBackoffMs)
	case c.AlterPartitionRetryMs <= 0:
		return fmt.Errorf("%w: AlterPartitionRetryMs %d <= 0", ErrConfig, c.AlterPartitionRetryMs)
	}
	return nil
}

// LogState is what the replica's local log looks like when the state machine
// is created: after log recovery on start-up, or empty for a new partition.
type LogState struct {
	LogStartOffset int64
	LogEndOffset   int64
	// HighWatermark is the last checkpointed value (Kafka's
	// replication-offset-checkpoint); it is clamped into
	// [LogStartOffset, LogEndOffset].
	HighWatermark int64
	// Epochs is the leader-epoch cache (Kafka's leader-epoch-checkpoint):
	// epochs strictly increasing, start offsets non-decreasing.
	Epochs []EpochEntry
}

func (s LogState) validate() error {
	if s.LogStartOffset < 0 || s.LogEndOffset < s.LogStartOffset {
		return fmt.Errorf("%w: log [%d, %d)", ErrConfig, s.LogStartOffset, s.LogEndOffset)
	}
	for i, e := range s.Epochs {
		if e.Epoch < 0 || e.StartOffset < 0 || e.StartOffset > s.LogEndOffset {
			return fmt.Errorf("%w: epoch entry %+v outside log [%d, %d)", ErrConfig, e, s.LogStartOffset, s.LogEndOffset)
		}
		if i > 0 && (e.Epoch <= s.Epochs[i-1].Epoch || e.StartOffset < s.Epochs[i-1].StartOffset) {
			return fmt.Errorf("%w: epoch entries not increasing at %d", ErrConfig, i)
		}
	}
	return nil
}

package partlog

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Sentinel errors; the broker maps them to Kafka error codes.
var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or above
	// the log end offset (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("partlog: offset out of range")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("partlog: log closed")
	// ErrStorage: a write or fsync failed; the log takes no more writes until
	// it is reopened (KAFKA_STORAGE_ERROR).
	ErrStorage = errors.New("partlog: storage failure")
	// ErrInvalidConfig: Config.Validate rejected the configuration.
	ErrInvalidConfig = errors.New("partlog: invalid config")
	// ErrCorruptCheckpoint: the log start offset checkpoint is unreadable.
	// It is written atomically, so this means outside interference.
	ErrCorruptCheckpoint = errors.New("partlog: corrupt log start offset checkpoint")
)

// Config is the per-partition log configuration (Kafka's topic-level log
// settings). It may change at runtime via SetConfig.
type Config struct {
	// SegmentBytes (segment.bytes): roll when appending would make the active
	// segment exceed this.
	SegmentBytes int64
	// SegmentRoll (segment.ms): roll when the new batch's max timestamp is
	// this much past the first batch's in the active segment (or, without
	// timestamps, the segment is this old by the clock). <= 0 disables.
	SegmentRoll time.Duration
	// RetentionTime (retention.ms): delete segments whose largest timestamp
	// is older than this. < 0 keeps forever.
	RetentionTime time.Duration
	// RetentionBytes (retention.bytes): delete oldest segments while the log
	// stays at or above this size without them. < 0 is unlimited.
	RetentionBytes int64
	// FlushIntervalMessages (flush.messages): fsync once this many offsets
	// were appended since the last flush; 1 fsyncs every append before it
	// returns. <= 0 never flushes on count.
	FlushIntervalMessages int64
	// IndexIntervalBytes (index.interval.bytes): bytes of log between offset
	// index entries.
	IndexIntervalBytes int

	// Delete (cleanup.policy contains delete): EnforceRetention deletes by
	// time and size. Without it only records below the log start offset go.
	Delete bool
	// Compact (cleanup.policy contains compact): Clean may compact the log.
	Compact bool
	// DeleteRetention (delete.retention.ms): how long tombstones and
	// transaction markers survive after their segment was first cleaned.
	DeleteRetention time.Duration
	// MinCompactionLag (min.compaction.lag.ms): segments holding a batch
	// younger than this are not cleaned.
	MinCompactionLag time.Duration
	// MaxCompactionLag (max.compaction.lag.ms): a log whose oldest dirty
	// segment is older than this is cleaned whatever its dirty ratio. < 0 or
	// 0: never forced.
	MaxCompactionLag time.Duration
	// MinCleanableDirtyRatio (min.cleanable.dirty.ratio): the share of dirty
	// bytes a log needs before it is worth cleaning.
	MinCleanableDirtyRatio float64
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentRoll:            7 * 24 * time.Hour,
		RetentionTime:          7 * 24 * time.Hour,
		RetentionBytes:         -1,
		FlushIntervalMessages:  math.MaxInt64,
		IndexIntervalBytes:     4096,
		Delete:                 true,
		DeleteRetention:        24 * time.Hour,
		MaxCompactionLag:       -1,
		MinCleanableDirtyRatio: 0.5,
	}
}

// Validate reports a configuration the log cannot work with.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes <= 0:
		return fmt.Errorf("%w: SegmentBytes %d must be positive", ErrInvalidConfig, c.SegmentBytes)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("%w: IndexIntervalBytes %d must not be negative", ErrInvalidConfig, c.IndexIntervalBytes)
	case c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1 || math.IsNaN(c.MinCleanableDirtyRatio):
		return fmt.Errorf("%w: MinCleanableDirtyRatio %v must be in [0, 1]", ErrInvalidConfig, c.MinCleanableDirtyRatio)
	case c.DeleteRetention < 0 || c.MinCompactionLag < 0:
		return fmt.Errorf("%w: DeleteRetention and MinCompactionLag must not be negative", ErrInvalidConfig)
	}
	return nil
}

// AppendResult describes an appended batch.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogStartOffset int64
}

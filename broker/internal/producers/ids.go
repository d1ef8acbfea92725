package producers

import (
	"errors"
	"fmt"
	"math"
)

// ErrIDsExhausted means every producer id has been handed out.
var ErrIDsExhausted = errors.New("producers: producer ids exhausted")

// DefaultIDBlockSize is how many ids one persisted reservation covers, as
// Kafka's controller hands brokers blocks of 1000.
const DefaultIDBlockSize = 1000

// IDAllocator hands out producer ids that are never reused, across
// restarts too: before it gives out an id at or above the persisted
// high-water mark it persists a new mark one block higher. After a
// restart it resumes at the mark, skipping what was left of the block.
type IDAllocator struct {
	next, reservedEnd int64 // ids in [next, reservedEnd) are reserved and unused
	blockSize         int64
	persist           func(highWater int64) error
}

// NewIDAllocator resumes from a persisted high-water mark (0 when none was
// ever persisted). persist must make the new mark durable before returning.
func NewIDAllocator(highWater, blockSize int64, persist func(highWater int64) error) (*IDAllocator, error) {
	if highWater < 0 || blockSize < 1 || persist == nil {
		return nil, fmt.Errorf("producers: bad id allocator arguments: high water %d, block size %d", highWater, blockSize)
	}
	return &IDAllocator{next: highWater, reservedEnd: highWater, blockSize: blockSize, persist: persist}, nil
}

// Next returns a fresh producer id. If persisting a reservation fails,
// no id is handed out and the next call tries again.
func (a *IDAllocator) Next() (int64, error) {
	if a.next == a.reservedEnd {
		if a.reservedEnd > math.MaxInt64-a.blockSize {
			return -1, ErrIDsExhausted
		}
		end := a.reservedEnd + a.blockSize
		if err := a.persist(end); err != nil {
			return -1, fmt.Errorf("producers: reserving ids up to %d: %w", end, err)
		}
		a.reservedEnd = end
	}
	id := a.next
	a.next++
	return id, nil
}

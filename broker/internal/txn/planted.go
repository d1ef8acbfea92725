package txn

import (
	"context"
)

// abortAllButFirst is the planted bug faults.TxnMarkerPartial: before a
// commit's markers go out, every partition but the first (in
// SortedPartitions order) is closed with an abort marker and dropped from
// remaining, so the transaction is reported committed while its records
// outside the first partition can never be read. An abort marker rather
// than none: a partition left without any marker keeps its last stable
// offset stuck, which read_committed readers see as unavailability, not
// as the lost committed write this bug is meant to cause. It reports
// false if the job must stop.
func (s *Service) abortAllButFirst(ctx context.Context, m Metadata, remaining map[TopicPartition]struct{}) bool {
	parts := (Metadata{Partitions: remaining}).SortedPartitions()
	if len(parts) < 2 {
		return true
	}
	rest := map[TopicPartition]struct{}{}
	for _, tp := range parts[1:] {
		rest[tp] = struct{}{}
	}
	aborted := m
	aborted.State = PrepareAbort
	if !s.sendUntilAcknowledged(ctx, aborted, rest) {
		return false
	}
	for tp := range rest {
		delete(remaining, tp)
	}
	return true
}

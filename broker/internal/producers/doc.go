// Package producers is the idempotent-producer state of one partition and
// the allocator of producer ids: pure state machines with no I/O, clocks or
// goroutines. Time comes in as milliseconds arguments; persistence of the
// producer id high-water mark is a callback the caller supplies.
//
// Per-partition contract (Kafka's ProducerStateManager/ProducerAppendInfo
// for a client append to a single-leader partition):
//
//   - For each producer id the state keeps the current epoch, the last
//     BatchesRetained batches (first/last sequence, first/last offset, max
//     timestamp) and the last timestamp, which drives expiry.
//   - Check, on a batch about to be appended, answers in this order:
//     same epoch and a sequence range equal to a retained batch: a
//     duplicate (the caller does not append and reports the original
//     offsets, no error); epoch below the current one: ErrInvalidProducerEpoch;
//     no state for the producer (new, expired, or its batches were never
//     seen since the state was rebuilt): any sequence is accepted, as Kafka
//     4 does (UNKNOWN_PRODUCER_ID is no longer returned since KIP-360);
//     epoch above the current one: the sequence must be 0; same epoch: the
//     first sequence must follow the last one (MaxInt32 wraps to 0), else
//     ErrOutOfOrderSequence.
//   - Transactions (KIP-98): a transactional batch (Batch.Transactional)
//     opens the producer's transaction at its base offset if none is open
//     (Producer.CurrentTxnFirstOffset); a non-transactional batch while
//     one is open is ErrInvalidTxnState. CheckMarker validates a COMMIT or
//     ABORT marker from the coordinator (epoch below the producer's:
//     ErrInvalidProducerEpoch; coordinator epoch below the last marker's:
//     ErrCoordinatorFenced); ApplyMarker ends the open transaction
//     (returning it as a CompletedTxn), records the coordinator epoch and
//     adopts a higher producer epoch, forgetting the old epoch's batches,
//     so a fenced producer's late writes get ErrInvalidProducerEpoch and
//     the new epoch starts at sequence 0. A producer with an open
//     transaction never expires.
//   - Update records a batch once it has offsets. It does not validate: log
//     recovery replays the log through it, as Kafka's replication/recovery
//     origin does. A batch with a different epoch resets the retained
//     batches.
//   - Expiry (producer.id.expiration.ms): a producer whose last timestamp
//     (the max timestamp of its last batch, as in Kafka) is ExpirationMs or
//     more before now is forgotten. Check treats an expired producer as
//     unknown; Update sweeps all producers at most every SweepIntervalMs
//     (producer.id.expiration.check.interval.ms), so the result does not
//     depend on when a background task happens to run.
//   - The state is not trimmed when the log start offset advances (Kafka
//     keeps it too); only expiry removes producers.
//
// Rebuilding after a restart is the caller's: Restore the last snapshot
// (Snapshot encodes the whole state as of a log offset, CRC-checked, see
// snapshot.go), then replay the header of every batch above its offset
// through Update; without a usable snapshot, replay from the log start
// offset. The broker writes a snapshot per partition at a clean close
// only (not at every segment roll as Kafka does), so after a crash the
// rebuild reads the log above the last clean close's snapshot, or all of
// it; and a producer whose batches were all deleted by retention or
// DeleteRecords is forgotten by a crash-restart without such a snapshot
// (it is then accepted at any sequence, as Kafka accepts producers it has
// no state for).
//
// Concurrency: State and IDAllocator are not safe for concurrent use. The
// owner serialises Check, the log append and Update under one per-partition
// lock so that the check and the append are atomic.
package producers

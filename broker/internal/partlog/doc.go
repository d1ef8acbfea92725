// Package partlog is one partition's log on disk, in Kafka's layout.
//
// A partition directory holds segments named by their base offset
// (%020d.log, .index, .timeindex) and a log-start-offset checkpoint. A .log
// file is v2 record batches back to back, exactly as produced except that
// Append rewrites the base offset. The .index maps the relative last offset
// of every batch that follows at least IndexIntervalBytes of unindexed data
// to that batch's file position (4+4 bytes, big endian). The .timeindex
// records the running maximum timestamp and the relative offset that
// reached it (8+4 bytes), appended only when the maximum grows, plus a final
// entry when the segment is sealed, so a sealed segment's largest timestamp
// is its last time-index entry.
//
// Transactions: the log follows open transactions from its own batches (a
// transactional data batch opens its producer's transaction, a COMMIT or
// ABORT marker, see ParseMarker/BuildMarker, closes it), so leaders and
// followers, which copy batches byte for byte, agree. FirstUnstableOffset
// is the first offset of the oldest open transaction (the last stable
// offset is its minimum with the high watermark). An ABORT that ends a
// transaction adds an entry to the active segment's aborted transaction
// index (%020d.txnindex, Kafka's layout: version, producer id, first
// offset, last offset = the marker's, last stable offset after it, 34
// bytes; created with its first entry), which AbortedTxns reads for
// read_committed fetches. The open transactions are checkpointed in
// txn-state-checkpoint as of an offset at every roll (the new segment's
// base: all below is synced) and at Close (the log end). Open restores
// them from a checkpoint that still lies within the log, keeps the
// .txnindex entries below its offset and replays the batch headers above
// it (whole batches only for markers), rewriting any .txnindex that
// disagrees; without a usable checkpoint (or with a damaged index below
// it) it replays the whole log, one header read per batch. Truncation
// drops a checkpoint above the cut first, rebuilds the same way and
// checkpoints the new end. A transaction whose first batches were all
// deleted by retention before a full replay is forgotten, as Kafka
// forgets it without a producer snapshot.
//
// Durability contract:
//   - Append makes a batch durable before returning once FlushIntervalMessages
//     offsets have accumulated since the last flush (1 = every append);
//     Flush makes everything durable.
//   - Rolling a segment fsyncs the old one (log and both indexes) before the
//     new one is created, so only the last segment can hold unsynced data.
//     Open therefore validates the last segment batch by batch (CRC, base
//     offsets contiguous) and truncates it at the first bad batch; older
//     segments get a cheap check (indexes sane, batches after the last index
//     entry valid) and a full recovery if that fails. Segments that no longer
//     follow contiguously are deleted. After Open the log is a prefix of what
//     was appended that contains everything made durable.
//   - The log start offset is written with write-temp, fsync, rename before
//     any segment below it is deleted.
//   - After a failed write or fsync the log refuses further writes with
//     ErrStorage (a failed fsync may have dropped dirty pages; retrying it
//     could falsely succeed). Reopen to recover.
//
// Compaction (compact.go): Clean runs one pass of Kafka's log cleaner over
// the sealed segments below a bound the caller gives (the last stable
// offset), keeping the newest record per key at its original offset.
// Offsets only grow along the log but may have gaps, within and between
// segments; recovery accepts gaps, Read skips them and AppendReplica takes
// a batch above the log end. A cleaned segment is swapped in through
// <base>.log.swap, which Open completes after a crash.
//
// Goroutines: Log starts none. All methods are safe for concurrent use; reads
// share a read lock and proceed in parallel, writes are serialised. Periodic
// work (Flush every log.flush.interval.ms, EnforceRetention every
// log.retention.check.interval.ms) is the caller's to schedule.
package partlog

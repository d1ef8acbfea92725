// Package group is the classic (pre-KIP-848) consumer-group coordinator:
// JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
// ListGroups, DescribeGroups, DeleteGroups and OffsetDelete, with the
// semantics of Apache Kafka's GroupCoordinator (KIP-62 session vs rebalance
// timeout, KIP-134 initial rebalance delay, KIP-345 static membership,
// KIP-394 MEMBER_ID_REQUIRED, KIP-211 offset retention, KIP-496 OffsetDelete),
// and TxnOffsetCommit (KIP-98/KIP-447): a transactional producer's offsets
// stay pending under its producer id (UNSTABLE_OFFSET_COMMIT to
// require_stable fetches) until CompleteTxn brings its transaction's
// marker: commit materializes them, abort drops them. With a TxnStore they
// are written as Kafka lays them out (a transactional batch of the
// producer, then its control record) and Load rebuilds pending ones too.
//
// # Layers
//
// Coordinator is a pure state machine: no goroutines, no clocks, no I/O.
// Every input carries `now`; Tick(now) fires expired timers (session
// timeouts, rebalance timeouts, the initial rebalance delay, the pending-sync
// timeout, offset expiry). Requests that must wait (a JoinGroup parked until
// the rebalance completes, a SyncGroup parked until the leader's assignment)
// are answered later through the completion the caller passed in; a
// completion is called synchronously from inside whichever Coordinator
// method completes it, and at most once.
//
// State that must survive a restart is written as __consumer_offsets
// key/value records in Kafka's own formats (kmsg.OffsetCommitKey/Value,
// kmsg.GroupMetadataKey/Value; a nil value is a tombstone). The Coordinator
// never writes them itself: it queues them, Ready hands them out, the driver
// makes them durable and calls Advance, and only then do the completions that
// depend on them run (an offset commit is acknowledged only once durable).
// Load replays such records, in log order, to rebuild the state, so a
// replicated coordinator can later drive the same machine from a replicated
// log.
//
// Service is the thin driver used by the broker: one mutex around the
// Coordinator, a Store to make records durable, and a ticker goroutine (Run).
// Each Service method blocks the calling goroutine (the connection's request
// goroutine) until its response is ready or its context is done.
//
// # Goroutines
//
// Coordinator is not safe for concurrent use; Service serialises all access
// with its mutex and owns the only goroutine it starts (Run, until its ctx is
// done). Store.Append is called with that mutex held.
package group

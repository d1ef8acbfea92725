// Package txn is the transaction coordinator: one state machine per
// transactional.id with the semantics of Apache Kafka's
// TransactionCoordinator / TransactionMetadata (KIP-98 transactions,
// KIP-360 epoch bumps and producer id rotation, KIP-588 PRODUCER_FENCED).
// Both transaction protocols are served, per transaction as Kafka does:
// the older one (EndTxn v0-4 keeps the epoch, clients add partitions with
// AddPartitionsToTxn) and transaction version 2 (KIP-890 part 2, tv2.go:
// EndTxn v5 bumps the epoch on every commit and abort, rotating to a new
// producer id when the epoch is exhausted; partition leaders add the
// partitions of Produce v12+ batches; the client transaction version and
// the next producer id are persisted in the __transaction_state record's
// tagged fields). Config.TransactionVersion, the broker's finalized level,
// only decides how a timed-out transaction is aborted; which requests a
// client may send at which level is the handlers' business.
//
// # Layers
//
// Coordinator is pure: no goroutines, clocks or I/O. Every input carries
// `now`; producer ids come from Config.NextProducerID. A request is decided
// by one method that returns a Decision: the reply, and (when the state
// changes) the Metadata to make durable. The caller persists
// Decision.Next.Record() to __transaction_state, then calls Apply; nothing
// changes before that, so a failed write leaves the state as it was. A
// Next in PrepareCommit/PrepareAbort obliges the caller to write markers to
// every partition of the transaction and then call MarkersWritten, whose
// CompleteCommit/CompleteAbort it persists and applies the same way. Load
// replays __transaction_state records (Kafka's TransactionLogKey/Value,
// kmsg.TxnMetadataKey/Value; a nil value is a tombstone) in log order, so a
// coordinator taking over a partition resumes every PrepareCommit and
// PrepareAbort by re-sending its markers (Pending).
//
// Service is the driver: a mutex around one Coordinator (one
// __transaction_state partition in cluster mode, all of them on a single
// node), a Store that makes records durable (replicated with acks=all in
// cluster mode) and a Markers sender. Its methods take and return the
// kmsg request/response types, so the handlers stay thin.
//
// # Goroutines
//
// Coordinator is not safe for concurrent use. Service serialises access
// with its mutex and holds it across Store.Append (a transition is decided,
// persisted and applied as one step). Run owns the Service's goroutines: a
// ticker that aborts timed-out transactions and expires idle ids, and one
// goroutine per transaction whose markers are being written, retried until
// every partition acknowledged them (or the Service stops). Markers are
// never sent with the mutex held.
package txn

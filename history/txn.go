package history

// Txn is the value of a txn operation: one Kafka transaction of one
// transactional producer (workloads txn and eos).
//
// The invoke carries what the client means to do: its TransactionalID, the
// records it will send (Sends, without offsets) and whether it will ask to
// commit or abort (Commit). The completion repeats them and adds what
// became known: the records polled inside the transaction (Reads), the
// offsets each send was acknowledged at, the producer id and epoch, and
// EndTime.
//
// The completion type says how the transaction ended:
//   - ok: it ended as Commit asked — committed when Commit is true, aborted
//     when false;
//   - fail: it certainly did not commit (aborted, whatever was asked);
//   - info: it may or may not have committed (EndTxn unanswered, a fenced or
//     crashed client before the outcome was known).
type Txn struct {
	TransactionalID string `json:"transactional_id"`
	ProducerID      *int64 `json:"producer_id,omitempty"`
	ProducerEpoch   *int16 `json:"producer_epoch,omitempty"`
	// Commit is the end the client asked for: commit (true) or abort.
	Commit bool `json:"commit"`
	// Reads are the records the client polled (read_committed) inside the
	// transaction, before its first send: for eos the input it transforms.
	Reads []PartitionRecords `json:"reads,omitempty"`
	// Sends are the records sent inside the transaction, in the order
	// handed to the client; Offset is set once acknowledged.
	Sends []SendRecord `json:"sends,omitempty"`
	// Group and Offsets are the consumer-group offsets committed with the
	// transaction (consume-transform-produce), if any.
	Group   string            `json:"group,omitempty"`
	Offsets []PartitionOffset `json:"offsets,omitempty"`
	// EndTime is when the client asked to end the transaction (EndTxn),
	// in nanoseconds since the header's start on the history's clock; nil
	// when it never got that far.
	EndTime *int64 `json:"end_time,omitempty"`
}

// Committed reports whether an operation with this value, completed with
// t, certainly committed.
func (x Txn) Committed(t Type) bool { return t == TypeOK && x.Commit }

// Aborted reports whether an operation with this value, completed with t,
// certainly did not commit.
func (x Txn) Aborted(t Type) bool { return t == TypeFail || (t == TypeOK && !x.Commit) }

// Int16 returns a pointer to v, for the optional epoch field.
func Int16(v int16) *int16 { return &v }

package txn

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// State is a transaction's state, numbered as Kafka stores it in
// __transaction_state (TransactionLogValue.TransactionStatus).
type State int8

const (
	Empty             State = 0
	Ongoing           State = 1
	PrepareCommit     State = 2
	PrepareAbort      State = 3
	CompleteCommit    State = 4
	CompleteAbort     State = 5
	Dead              State = 6
	PrepareEpochFence State = 7
)

var stateNames = map[State]string{
	Empty: "Empty", Ongoing: "Ongoing", PrepareCommit: "PrepareCommit", PrepareAbort: "PrepareAbort",
	CompleteCommit: "CompleteCommit", CompleteAbort: "CompleteAbort", Dead: "Dead", PrepareEpochFence: "PrepareEpochFence",
}

// String is Kafka's name for the state (TransactionState.stateName), the
// one DescribeTransactions and ListTransactions report.
func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// ParseState maps a Kafka state name (case-insensitive) to its State.
func ParseState(name string) (State, bool) {
	for s, n := range stateNames {
		if strings.EqualFold(n, name) {
			return s, true
		}
	}
	return 0, false
}

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// noEpoch is Kafka's RecordBatch.NO_PRODUCER_EPOCH.
const noEpoch int16 = -1

// epochExhausted is Kafka's TransactionMetadata.isEpochExhausted: the
// epoch one bump away from overflow, where the coordinator hands out a new
// producer id instead (KIP-360).
func epochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }

// Metadata is one transactional id's state, what __transaction_state
// records. Values are copied, never shared: Partitions is cloned by Clone.
type Metadata struct {
	TransactionalID string
	ProducerID      int64
	// PrevProducerID is the producer id before the last rotation (Kafka's
	// lastProducerId), -1 if none.
	PrevProducerID int64
	ProducerEpoch  int16
	// LastProducerEpoch is the epoch before the last bump (KIP-360: a
	// producer retrying InitProducerId after a lost response gets the
	// current epoch back). In memory only, as in Kafka's v0 record.
	LastProducerEpoch int16
	TimeoutMs         int32
	State             State
	Partitions        map[TopicPartition]struct{}
	// StartMs is when the open transaction began (-1: none);
	// LastUpdateMs when the state last changed.
	StartMs, LastUpdateMs int64
	// NextProducerID is the producer id a transaction version 2 commit
	// or abort whose epoch bump overflows hands the producer once its
	// markers are written (Kafka's nextProducerId), -1 if none.
	NextProducerID int64
	// ClientTxnVersion is the transaction version the producer runs the
	// transaction with (Kafka's clientTransactionVersion): 2 once it took
	// the KIP-890 part 2 path (EndTxn v5, partitions added by the produce
	// path), 0 for the older protocol.
	ClientTxnVersion int16
}

// TV2 is transaction version 2 (KIP-890 part 2): EndTxn bumps the epoch.
const TV2 int16 = 2

// tv2 reports whether m's transaction runs under transaction version 2.
func (m Metadata) tv2() bool { return m.ClientTxnVersion >= TV2 }

// Clone returns a deep copy.
func (m Metadata) Clone() Metadata {
	m.Partitions = maps.Clone(m.Partitions)
	if m.Partitions == nil {
		m.Partitions = map[TopicPartition]struct{}{}
	}
	return m
}

// SortedPartitions lists the partitions in topic, partition order.
func (m Metadata) SortedPartitions() []TopicPartition {
	out := slices.Collect(maps.Keys(m.Partitions))
	slices.SortFunc(out, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}

// Committing reports which marker a Prepare state writes.
func (s State) Committing() bool { return s == PrepareCommit || s == CompleteCommit }

// validTransitions is Kafka's TransactionState.validPreviousStates,
// inverted: the states each state may move to.
// Transaction version 2 lets a producer abort with no transaction open
// (Empty, CompleteCommit, CompleteAbort → PrepareAbort), as Kafka 4.0
// added to PrepareAbort's previous states.
var validTransitions = map[State][]State{
	Empty:             {Empty, Ongoing, Dead, PrepareEpochFence, PrepareAbort},
	Ongoing:           {Ongoing, PrepareCommit, PrepareAbort, PrepareEpochFence},
	PrepareCommit:     {CompleteCommit},
	PrepareAbort:      {CompleteAbort},
	CompleteCommit:    {Empty, Ongoing, Dead, PrepareEpochFence, PrepareAbort},
	CompleteAbort:     {Empty, Ongoing, Dead, PrepareEpochFence, PrepareAbort},
	PrepareEpochFence: {PrepareAbort},
}

// CanTransition reports whether Kafka allows from → to.
func CanTransition(from, to State) bool { return slices.Contains(validTransitions[from], to) }

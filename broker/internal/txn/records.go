package txn

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrBadRecord is wrapped by Load and DecodeRecord for a record that is not
// a __transaction_state record this package understands.
var ErrBadRecord = errors.New("txn: undecodable __transaction_state record")

// KV is one __transaction_state record; a nil Value is a tombstone.
type KV struct{ Key, Value []byte }

// Record encodings written: key v0 (Kafka's only one) and value v1, the
// flexible version Kafka 3.5+ reads (KIP-915), whose tagged
// PreviousProducerID keeps KIP-360 rotation across a failover.
const (
	keyVersion   = 0
	valueVersion = 1
)

// Key is the __transaction_state key of a transactional id.
func Key(transactionalID string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version, k.TransactionalID = keyVersion, transactionalID
	return k.AppendTo(nil)
}

// Record is m as a __transaction_state record; Dead is a tombstone.
func (m Metadata) Record() KV {
	if m.State == Dead {
		return KV{Key: Key(m.TransactionalID)}
	}
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = m.ProducerID, m.ProducerEpoch, m.TimeoutMs
	v.State = kmsg.TransactionState(m.State)
	v.PreviousProducerID = m.PrevProducerID
	// Tagged fields: absent (as before transaction version 2) while
	// NextProducerID is -1 and ClientTxnVersion 0.
	if m.tv2() {
		v.NextProducerID, v.ClientTransactionVersion = m.NextProducerID, m.ClientTxnVersion
	}
	v.LastUpdateTimestamp, v.StartTimestamp = m.LastUpdateMs, m.StartMs
	v.Topics = []kmsg.TxnMetadataValueTopic{}
	for _, tp := range m.SortedPartitions() {
		if n := len(v.Topics); n > 0 && v.Topics[n-1].Topic == tp.Topic {
			v.Topics[n-1].Partitions = append(v.Topics[n-1].Partitions, tp.Partition)
			continue
		}
		t := kmsg.NewTxnMetadataValueTopic()
		t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
		v.Topics = append(v.Topics, t)
	}
	return KV{Key: Key(m.TransactionalID), Value: v.AppendTo(nil)}
}

// DecodeRecord parses a __transaction_state record. A tombstone returns
// the id with State Dead.
func DecodeRecord(r KV) (Metadata, error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(r.Key); err != nil || k.Version != keyVersion {
		return Metadata{}, fmt.Errorf("%w: key (version %d): %v", ErrBadRecord, k.Version, err)
	}
	m := Metadata{TransactionalID: k.TransactionalID, PrevProducerID: -1, NextProducerID: -1, LastProducerEpoch: noEpoch,
		Partitions: map[TopicPartition]struct{}{}}
	if r.Value == nil {
		m.State = Dead
		return m, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(r.Value); err != nil || v.Version < 0 || v.Version > valueVersion {
		return Metadata{}, fmt.Errorf("%w: value of %q (version %d): %v", ErrBadRecord, k.TransactionalID, v.Version, err)
	}
	m.ProducerID, m.ProducerEpoch, m.TimeoutMs = v.ProducerID, v.ProducerEpoch, v.TimeoutMillis
	m.State = State(v.State)
	if _, ok := stateNames[m.State]; !ok || m.State == Dead || m.State == PrepareEpochFence {
		return Metadata{}, fmt.Errorf("%w: %q has state %d", ErrBadRecord, k.TransactionalID, v.State)
	}
	if v.Version >= 1 {
		m.PrevProducerID = v.PreviousProducerID
		m.NextProducerID, m.ClientTxnVersion = v.NextProducerID, v.ClientTransactionVersion
	}
	m.LastUpdateMs, m.StartMs = v.LastUpdateTimestamp, v.StartTimestamp
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.Partitions[TopicPartition{t.Topic, p}] = struct{}{}
		}
	}
	return m, nil
}

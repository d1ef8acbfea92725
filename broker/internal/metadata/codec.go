package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Encoding: one JSON object per record, {"v":1,"type":...,"record":{...}}.
// JSON because metadata is small and a human reading a raft log or a
// snapshot in a post-mortem should not need a tool; the version lets a
// later layout be read next to this one. Encoding is deterministic (struct
// field order, no maps), so equal records encode to equal bytes.
const recordVersion = 1

type envelope struct {
	V      int             `json:"v"`
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

func encode(r Record) []byte {
	body, err := json.Marshal(r)
	if err != nil {
		// Records hold only ints, strings, bools and slices of them.
		panic(fmt.Sprintf("metadata: encoding %T: %v", r, err))
	}
	out, _ := json.Marshal(envelope{V: recordVersion, Type: r.Type(), Record: body})
	return out
}

// Decode reads one record written by Encode. Unknown versions, types or
// fields, and trailing bytes, are ErrDecode. It checks shape only; Apply
// checks meaning.
func Decode(b []byte) (Record, error) {
	var env envelope
	if err := strictUnmarshal(b, &env); err != nil {
		return nil, err
	}
	if env.V != recordVersion {
		return nil, fmt.Errorf("%w: record version %d", ErrDecode, env.V)
	}
	switch env.Type {
	case RegisterBrokerRecord{}.Type():
		return decodeAs[RegisterBrokerRecord](env.Record)
	case UnregisterBrokerRecord{}.Type():
		return decodeAs[UnregisterBrokerRecord](env.Record)
	case FenceBrokerRecord{}.Type():
		return decodeAs[FenceBrokerRecord](env.Record)
	case UnfenceBrokerRecord{}.Type():
		return decodeAs[UnfenceBrokerRecord](env.Record)
	case BrokerRegistrationChangeRecord{}.Type():
		return decodeAs[BrokerRegistrationChangeRecord](env.Record)
	case TopicRecord{}.Type():
		return decodeAs[TopicRecord](env.Record)
	case PartitionRecord{}.Type():
		return decodeAs[PartitionRecord](env.Record)
	case PartitionChangeRecord{}.Type():
		return decodeAs[PartitionChangeRecord](env.Record)
	case RemoveTopicRecord{}.Type():
		return decodeAs[RemoveTopicRecord](env.Record)
	case ConfigRecord{}.Type():
		return decodeAs[ConfigRecord](env.Record)
	case ProducerIdsRecord{}.Type():
		return decodeAs[ProducerIdsRecord](env.Record)
	case FeatureLevelRecord{}.Type():
		return decodeAs[FeatureLevelRecord](env.Record)
	}
	return nil, fmt.Errorf("%w: record type %q", ErrDecode, env.Type)
}

func decodeAs[T Record](raw json.RawMessage) (Record, error) {
	var r T
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: %s without a body", ErrDecode, r.Type())
	}
	if err := strictUnmarshal(raw, &r); err != nil {
		return nil, err
	}
	return r, nil
}

// strictUnmarshal refuses unknown fields and anything after the value.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data", ErrDecode)
	}
	return nil
}

// EncodeBatch encodes the records one controller decision produced, to be
// appended (and applied) atomically as one log entry.
func EncodeBatch(recs []Record) []byte {
	raws := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		raws[i] = r.Encode()
	}
	out, _ := json.Marshal(batch{V: recordVersion, Records: raws})
	return out
}

type batch struct {
	V       int               `json:"v"`
	Records []json.RawMessage `json:"records"`
}

// DecodeBatch reads what EncodeBatch wrote.
func DecodeBatch(b []byte) ([]Record, error) {
	var bt batch
	if err := strictUnmarshal(b, &bt); err != nil {
		return nil, err
	}
	if bt.V != recordVersion {
		return nil, fmt.Errorf("%w: batch version %d", ErrDecode, bt.V)
	}
	recs := make([]Record, 0, len(bt.Records))
	for i, raw := range bt.Records {
		r, err := Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("batch record %d: %w", i, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

package quorum

import (
	"encoding/binary"
	"errors"
)

// Every entry this package proposes wraps the caller's bytes in an envelope
// naming the proposing node and a per-process proposal sequence number. The
// proposer recognises its own entry when raft hands it back (to learn its
// index, and to tell it from a different entry committed at that index after
// a leader change). Entries with empty data are raft's own (a new leader's
// empty entry) and carry no envelope.
//
// Layout: version byte (1), uvarint proposer id, uvarint sequence, payload.
const envelopeV1 byte = 1

var errBadEnvelope = errors.New("bad entry envelope")

type envelope struct {
	proposer, seq uint64
	payload       []byte
}

func encodeEnvelope(proposer, seq uint64, payload []byte) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(payload))
	b = append(b, envelopeV1)
	b = binary.AppendUvarint(b, proposer)
	b = binary.AppendUvarint(b, seq)
	return append(b, payload...)
}

func decodeEnvelope(b []byte) (envelope, error) {
	if len(b) == 0 || b[0] != envelopeV1 {
		return envelope{}, errBadEnvelope
	}
	b = b[1:]
	proposer, n := binary.Uvarint(b)
	if n <= 0 {
		return envelope{}, errBadEnvelope
	}
	b = b[n:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return envelope{}, errBadEnvelope
	}
	return envelope{proposer: proposer, seq: seq, payload: b[n:]}, nil
}

package producers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
)

// ErrCorruptSnapshot means snapshot bytes that do not decode: wrong
// version, CRC mismatch, truncated or trailing data, or impossible values.
var ErrCorruptSnapshot = errors.New("producers: corrupt producer state snapshot")

// A snapshot is the whole state as of a log offset (the log end offset
// when it was taken), so a restart replays only the log above it, and
// producers whose batches retention deleted are still known, as Kafka's
// .snapshot files keep them. Layout, big endian:
//
//	version int16 (2) | crc uint32 (CRC-32C of what follows) |
//	offset int64 | producer count int32 |
//	per producer: id int64, epoch int16, last timestamp int64,
//	  coordinator epoch int32, open transaction's first offset int64 (-1: none),
//	  batch count int8,
//	  per batch: first seq int32, last seq int32, first offset int64,
//	  last offset int64, max timestamp int64
//
// Version 1 (before transactions) is refused as corrupt: the caller then
// rebuilds the state from the log.
const (
	snapshotVersion     = 2
	snapshotHeaderBytes = 2 + 4 + 8 + 4
	producerBytes       = 8 + 2 + 8 + 4 + 8 + 1
	batchBytes          = 4 + 4 + 8 + 8 + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot encodes the state as of log offset. Producers come out in id
// order so equal states encode to equal bytes.
func (s *State) Snapshot(offset int64) []byte {
	ids := make([]int64, 0, len(s.producers))
	for id := range s.producers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	be := binary.BigEndian
	out := make([]byte, snapshotHeaderBytes, snapshotHeaderBytes+len(ids)*(producerBytes+BatchesRetained*batchBytes))
	be.PutUint16(out[0:], snapshotVersion)
	be.PutUint64(out[6:], uint64(offset))
	be.PutUint32(out[14:], uint32(len(ids)))
	for _, id := range ids {
		p := s.producers[id]
		out = be.AppendUint64(out, uint64(p.ID))
		out = be.AppendUint16(out, uint16(p.Epoch))
		out = be.AppendUint64(out, uint64(p.LastTimestampMs))
		out = be.AppendUint32(out, uint32(p.CoordinatorEpoch))
		out = be.AppendUint64(out, uint64(p.CurrentTxnFirstOffset))
		out = append(out, byte(len(p.Batches)))
		for _, b := range p.Batches {
			out = be.AppendUint32(out, uint32(b.FirstSequence))
			out = be.AppendUint32(out, uint32(b.LastSequence))
			out = be.AppendUint64(out, uint64(b.FirstOffset))
			out = be.AppendUint64(out, uint64(b.LastOffset))
			out = be.AppendUint64(out, uint64(b.MaxTimestampMs))
		}
	}
	be.PutUint32(out[2:], crc32.Checksum(out[6:], castagnoli))
	return out
}

// Restore replaces the state with a decoded snapshot, dropping producers
// already expired at nowMs, and returns the snapshot's offset.
func (s *State) Restore(data []byte, nowMs int64) (offset int64, err error) {
	offset, ps, err := decodeSnapshot(data)
	if err != nil {
		return 0, err
	}
	s.producers = make(map[int64]*Producer, len(ps))
	for _, p := range ps {
		if !s.expired(p, nowMs) {
			s.producers[p.ID] = p
		}
	}
	return offset, nil
}

func decodeSnapshot(data []byte) (int64, []*Producer, error) {
	be := binary.BigEndian
	if len(data) < snapshotHeaderBytes {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrCorruptSnapshot, len(data))
	}
	if v := be.Uint16(data); v != snapshotVersion {
		return 0, nil, fmt.Errorf("%w: version %d", ErrCorruptSnapshot, v)
	}
	if crc32.Checksum(data[6:], castagnoli) != be.Uint32(data[2:]) {
		return 0, nil, fmt.Errorf("%w: CRC mismatch", ErrCorruptSnapshot)
	}
	offset := int64(be.Uint64(data[6:]))
	count := int64(be.Uint32(data[14:]))
	rest := data[snapshotHeaderBytes:]
	if offset < 0 || count < 0 || count > int64(len(rest)/producerBytes) {
		return 0, nil, fmt.Errorf("%w: offset %d, %d producers in %d bytes", ErrCorruptSnapshot, offset, count, len(rest))
	}
	ps := make([]*Producer, 0, count)
	prevID := int64(-1)
	for i := int64(0); i < count; i++ {
		if len(rest) < producerBytes {
			return 0, nil, fmt.Errorf("%w: truncated producer %d", ErrCorruptSnapshot, i)
		}
		p := &Producer{ID: int64(be.Uint64(rest)), Epoch: int16(be.Uint16(rest[8:])), LastTimestampMs: int64(be.Uint64(rest[10:])),
			CoordinatorEpoch: int32(be.Uint32(rest[18:])), CurrentTxnFirstOffset: int64(be.Uint64(rest[22:]))}
		n := int(rest[30])
		rest = rest[producerBytes:]
		// Ids strictly ascend: Snapshot writes them sorted, so any other
		// order (or a repeat) is corruption, and decoding stays canonical.
		// A producer without batches exists only through a marker.
		if p.ID <= prevID || p.Epoch < 0 || n > BatchesRetained || len(rest) < n*batchBytes ||
			p.CoordinatorEpoch < -1 || p.CurrentTxnFirstOffset < -1 || p.CurrentTxnFirstOffset >= offset {
			return 0, nil, fmt.Errorf("%w: producer %d (id %d, epoch %d, %d batches)", ErrCorruptSnapshot, i, p.ID, p.Epoch, n)
		}
		prevID = p.ID
		for j := 0; j < n; j++ {
			b := BatchMetadata{
				FirstSequence:  int32(be.Uint32(rest)),
				LastSequence:   int32(be.Uint32(rest[4:])),
				FirstOffset:    int64(be.Uint64(rest[8:])),
				LastOffset:     int64(be.Uint64(rest[16:])),
				MaxTimestampMs: int64(be.Uint64(rest[24:])),
			}
			rest = rest[batchBytes:]
			if b.FirstSequence < 0 || b.LastSequence < 0 || b.FirstOffset < 0 || b.LastOffset < b.FirstOffset || b.LastOffset >= offset {
				return 0, nil, fmt.Errorf("%w: producer %d batch %d: %+v at snapshot offset %d", ErrCorruptSnapshot, p.ID, j, b, offset)
			}
			p.Batches = append(p.Batches, b)
		}
		ps = append(ps, p)
	}
	if len(rest) != 0 {
		return 0, nil, fmt.Errorf("%w: %d trailing bytes", ErrCorruptSnapshot, len(rest))
	}
	return offset, ps, nil
}

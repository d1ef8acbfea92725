package records

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Sentinel errors; the handler layer maps them to Kafka error codes.
var (
	// ErrCorrupt means the bytes are not a well-formed v2 record batch:
	// short, a length that disagrees with the data, or a CRC mismatch.
	ErrCorrupt = errors.New("records: corrupt record batch")
	// ErrUnsupportedMagic means a message set older than v2 (magic 0 or 1),
	// which Kafka 4 no longer accepts.
	ErrUnsupportedMagic = errors.New("records: unsupported message format (magic < 2)")
)

// HeaderSize is the fixed size of a v2 record batch header, up to and
// including the record count.
const HeaderSize = 61

// Byte positions inside a v2 batch header.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21 // the CRC covers everything from here on
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed part of a v2 record batch.
type Header struct {
	BaseOffset           int64
	Length               int32 // bytes after the Length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the whole batch size in bytes.
func (h Header) Size() int { return int(h.Length) + 12 }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec in the attributes.
func (h Header) Codec() Codec { return Codec(h.Attributes & 0x07) }

// LogAppendTime reports whether the batch timestamps are broker append times.
func (h Header) LogAppendTime() bool { return h.Attributes&0x08 != 0 }

// Transactional reports the transactional attribute bit.
func (h Header) Transactional() bool { return h.Attributes&0x10 != 0 }

// Control reports whether this is a control batch (transaction marker).
func (h Header) Control() bool { return h.Attributes&0x20 != 0 }

// ReadHeader decodes the fixed header at the start of b without checking the
// CRC. b must hold at least HeaderSize bytes; the batch itself may be cut short.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < offMagic+1 {
		return Header{}, ErrCorrupt
	}
	h := Header{
		BaseOffset: int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		Length:     int32(binary.BigEndian.Uint32(b[offLength:])),
		Magic:      int8(b[offMagic]),
	}
	if h.Magic != 2 {
		return h, ErrUnsupportedMagic
	}
	if len(b) < HeaderSize || h.Length < HeaderSize-12 {
		return h, ErrCorrupt
	}
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.FirstTimestamp = int64(binary.BigEndian.Uint64(b[offFirstTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, ErrCorrupt
	}
	return h, nil
}

// CheckBatch decodes the header of the batch at the start of b and verifies
// that the whole batch is present and its CRC matches. It returns the header;
// the batch occupies b[:h.Size()].
func CheckBatch(b []byte) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() > len(b) {
		return h, ErrCorrupt
	}
	if crc32.Checksum(b[offAttributes:h.Size()], castagnoli) != h.CRC {
		return h, ErrCorrupt
	}
	return h, nil
}

// SetBaseOffset rewrites the base offset in place. The CRC does not cover it.
func SetBaseOffset(b []byte, base int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(base))
}

// SetPartitionLeaderEpoch rewrites the leader epoch in place (not under CRC).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as carrying the broker's append time ts:
// it sets the timestamp-type attribute, the max timestamp, and recomputes the
// CRC, as Kafka does for topics with message.timestamp.type=LogAppendTime.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | 0x08
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	UpdateCRC(b)
}

// UpdateCRC recomputes the CRC of the whole batch at the start of b.
func UpdateCRC(b []byte) {
	length := int(int32(binary.BigEndian.Uint32(b[offLength:]))) + 12
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:length], castagnoli))
}

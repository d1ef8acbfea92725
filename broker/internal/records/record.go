package records

import (
	"encoding/binary"
	"errors"
	"math"
)

// RecordHeader is one header of a record. Key may be empty but is never
// null on the wire; a nil Value is Kafka's null header value.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one record of a v2 batch. Kafka distinguishes a null key or value
// (length -1) from an empty one (length 0); here a nil slice is null and a
// non-nil empty slice is empty, and both survive Build and Decode.
//
// Slices returned by Decode alias the batch (uncompressed) or the buffer it
// decompressed into: copy them before mutating or keeping the batch bytes
// past their lifetime.
type Record struct {
	Attributes     int8 // unused by Kafka so far; kept for round trips
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []RecordHeader
}

// minRecordBytes is the smallest encoding of a record: a one-byte length,
// then attributes, timestamp delta, offset delta, key length, value length
// and header count of one byte each. It bounds how many records a buffer can
// hold, so a lying record count cannot make us allocate.
const minRecordBytes = 7

// Varint limits: Kafka's readers reject a varint of more than 5 bytes and a
// varlong of more than 10.
const (
	maxVarintBytes  = 5
	maxVarlongBytes = 10
)

var errVarint = errors.New("malformed varint")

// uvarint reads an unsigned LEB128 value of at most maxBytes bytes. It
// returns n <= 0 on truncated or overlong input.
func uvarint(b []byte, maxBytes int) (uint64, int) {
	var x uint64
	var s uint
	for i := 0; i < len(b) && i < maxBytes; i++ {
		c := b[i]
		if c < 0x80 {
			if i == maxVarlongBytes-1 && c > 1 {
				return 0, -1 // overflows 64 bits
			}
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, -1
}

// varint32 reads a zigzag varint that must fit Kafka's int32.
func varint32(b []byte) (int32, int) {
	u, n := uvarint(b, maxVarintBytes)
	if n <= 0 || u > math.MaxUint32 {
		return 0, -1
	}
	v := uint32(u)
	return int32(v>>1) ^ -int32(v&1), n
}

// varint64 reads a zigzag varlong.
func varint64(b []byte) (int64, int) {
	u, n := uvarint(b, maxVarlongBytes)
	if n <= 0 {
		return 0, -1
	}
	return int64(u>>1) ^ -int64(u&1), n
}

// sizeVarint is the encoded size of v as a zigzag varint.
func sizeVarint(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// sizeBytes is the encoded size of a nullable byte field.
func sizeBytes(b []byte) int {
	if b == nil {
		return 1 // varint -1
	}
	return sizeVarint(int64(len(b))) + len(b)
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// bodySize is the size of r's encoding after its length prefix.
func (r *Record) bodySize() int {
	n := 1 + sizeVarint(r.TimestampDelta) + sizeVarint(int64(r.OffsetDelta)) +
		sizeBytes(r.Key) + sizeBytes(r.Value) + sizeVarint(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		n += sizeVarint(int64(len(h.Key))) + len(h.Key) + sizeBytes(h.Value)
	}
	return n
}

// appendRecord appends r's wire encoding: length, attributes, timestamp
// delta, offset delta, key, value, headers.
func appendRecord(dst []byte, r *Record) []byte {
	dst = binary.AppendVarint(dst, int64(r.bodySize()))
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, r.TimestampDelta)
	dst = binary.AppendVarint(dst, int64(r.OffsetDelta))
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// recordParser walks the records of a decompressed batch payload.
type recordParser struct {
	b   []byte
	pos int
}

// field reads a nullable length-prefixed byte field of body starting at
// *pos; ok is false if the length is out of range.
func field(body []byte, pos *int) (v []byte, ok bool) {
	l, n := varint32(body[*pos:])
	if n <= 0 {
		return nil, false
	}
	*pos += n
	if l == -1 {
		return nil, true
	}
	if l < -1 || int(l) > len(body)-*pos {
		return nil, false
	}
	v = body[*pos : *pos+int(l) : *pos+int(l)]
	*pos += int(l)
	return v, true
}

// next parses one record into r. Headers are appended to hdrs (one backing
// array shared by all records of a batch) when keepHeaders is set, and only
// checked otherwise. It returns the grown hdrs.
func (p *recordParser) next(r *Record, hdrs []RecordHeader, keepHeaders bool) ([]RecordHeader, error) {
	size, n := varint32(p.b[p.pos:])
	if n <= 0 {
		return hdrs, invalidf("record length: %v", errVarint)
	}
	p.pos += n
	if size < minRecordBytes-1 || int(size) > len(p.b)-p.pos {
		return hdrs, invalidf("record length %d with %d bytes left", size, len(p.b)-p.pos)
	}
	body := p.b[p.pos : p.pos+int(size)]
	p.pos += int(size)

	r.Attributes = int8(body[0])
	pos := 1
	if r.TimestampDelta, n = varint64(body[pos:]); n <= 0 {
		return hdrs, invalidf("timestamp delta: %v", errVarint)
	}
	pos += n
	if r.OffsetDelta, n = varint32(body[pos:]); n <= 0 {
		return hdrs, invalidf("offset delta: %v", errVarint)
	}
	pos += n
	var ok bool
	if r.Key, ok = field(body, &pos); !ok {
		return hdrs, invalidf("key length out of range")
	}
	if r.Value, ok = field(body, &pos); !ok {
		return hdrs, invalidf("value length out of range")
	}
	count, n := varint32(body[pos:])
	if n <= 0 || count < 0 || int(count) > len(body)-pos-n {
		return hdrs, invalidf("header count out of range")
	}
	pos += n
	start := len(hdrs)
	for range count {
		kl, n := varint32(body[pos:])
		if n <= 0 || kl < 0 || int(kl) > len(body)-pos-n {
			return hdrs, invalidf("header key length out of range")
		}
		pos += n
		key := body[pos : pos+int(kl)]
		pos += int(kl)
		v, ok := field(body, &pos)
		if !ok {
			return hdrs, invalidf("header value length out of range")
		}
		if keepHeaders {
			hdrs = append(hdrs, RecordHeader{Key: string(key), Value: v})
		}
	}
	if pos != len(body) {
		return hdrs, invalidf("record length %d but fields end at %d", size, pos)
	}
	r.Headers = nil
	if keepHeaders && len(hdrs) > start {
		r.Headers = hdrs[start:len(hdrs):len(hdrs)]
	}
	return hdrs, nil
}

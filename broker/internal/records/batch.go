package records

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sync"
)

// Attribute bits of a v2 batch.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// bufPool recycles scratch buffers (encoded records before compression,
// decompressed payloads that are only validated). Buffers over
// maxPooledBytes are dropped so one huge batch does not pin memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxPooledBytes = 4 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBytes {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// payload returns the records section of a checked batch, decompressed into
// dst's spare capacity (or, uncompressed, a sub-slice of the batch).
func payload(batch []byte, h Header, dst []byte, maxBytes int) ([]byte, error) {
	c := h.Codec()
	if !c.valid() {
		return nil, corruptf("unknown compression codec %d in attributes", c)
	}
	raw := batch[HeaderSize:h.Size()]
	if c == CodecNone {
		if len(raw) > maxBytes {
			return nil, fmt.Errorf("%w: %w: %d record bytes > %d", ErrCorrupt, ErrDecompressLimit, len(raw), maxBytes)
		}
		return raw, nil
	}
	return decompressAppend(c, dst[:0], raw, maxBytes)
}

// scanRecords parses exactly h.NumRecords records filling data, checking
// that offset deltas strictly increase within [0, LastOffsetDelta] and that
// no bytes trail the last record. With keep it returns the records; each
// (possibly nil) is called with every record as it is parsed.
func scanRecords(h Header, data []byte, keep bool, each func(i int, r *Record) error) ([]Record, error) {
	if int64(h.NumRecords)*minRecordBytes > int64(len(data)) {
		return nil, invalidf("%d records cannot fit in %d bytes", h.NumRecords, len(data))
	}
	var (
		recs []Record
		hdrs []RecordHeader
		rec  Record
		err  error
		p    = recordParser{b: data}
		prev = int32(-1)
	)
	if keep {
		recs = make([]Record, h.NumRecords)
	}
	for i := range int(h.NumRecords) {
		r := &rec
		if keep {
			r = &recs[i]
		}
		if hdrs, err = p.next(r, hdrs, keep); err != nil {
			return nil, &RecordError{Index: i, Err: err}
		}
		if r.OffsetDelta <= prev || r.OffsetDelta > h.LastOffsetDelta {
			return nil, &RecordError{Index: i, Err: invalidf("offset delta %d after %d (last offset delta %d)", r.OffsetDelta, prev, h.LastOffsetDelta)}
		}
		prev = r.OffsetDelta
		if each != nil {
			if err := each(i, r); err != nil {
				return nil, err
			}
		}
	}
	if p.pos != len(data) {
		return nil, invalidf("%d bytes after the last of %d records", len(data)-p.pos, h.NumRecords)
	}
	return recs, nil
}

// Decode checks the batch at the start of batch (length, magic, CRC),
// decompresses it (at most DefaultMaxDecompressedBytes) and decodes its
// records. It never panics. Record slices alias the batch or a fresh
// decompression buffer.
func Decode(batch []byte) (Header, []Record, error) {
	return DecodeMax(batch, DefaultMaxDecompressedBytes)
}

// DecodeMax is Decode with an explicit decompressed-size limit in bytes.
func DecodeMax(batch []byte, maxBytes int) (Header, []Record, error) {
	h, err := CheckBatch(batch)
	if err != nil {
		return h, nil, err
	}
	data, err := payload(batch, h, nil, maxBytes)
	if err != nil {
		return h, nil, err
	}
	recs, err := scanRecords(h, data, true, nil)
	return h, recs, err
}

// BuildOptions are the header fields of a batch made by Build. The zero
// value is NOT a plain batch (producer id 0 is a real id): start from
// DefaultBuildOptions.
type BuildOptions struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	// FirstTimestamp is the base the records' TimestampDelta adds to.
	FirstTimestamp int64
	// MaxTimestamp 0 means FirstTimestamp plus the largest TimestampDelta
	// (or FirstTimestamp for no records). With LogAppendTime set it should
	// be the append time.
	MaxTimestamp  int64
	ProducerID    int64 // -1: not idempotent
	ProducerEpoch int16 // -1 with ProducerID -1
	BaseSequence  int32 // -1 with ProducerID -1
	// LastOffsetDelta 0 means the last record's OffsetDelta. A larger value
	// keeps the offset span of a batch whose tail records were compacted
	// away.
	LastOffsetDelta int32
	Transactional   bool
	Control         bool
	LogAppendTime   bool
}

// DefaultBuildOptions is a non-idempotent, non-transactional batch at base
// offset 0 with the leader epoch a client sends (-1).
func DefaultBuildOptions() BuildOptions {
	return BuildOptions{PartitionLeaderEpoch: -1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// Build encodes recs as a complete v2 batch compressed with codec, CRC
// included. Record offset deltas must be set by the caller and strictly
// increase from 0 or more (a fresh batch uses 0, 1, 2, ...).
func Build(opts BuildOptions, codec Codec, recs []Record) ([]byte, error) {
	if !codec.valid() {
		return nil, fmt.Errorf("%w: %v", ErrUnknownCodec, codec)
	}
	if len(recs) > math.MaxInt32/minRecordBytes {
		return nil, invalidf("%d records is too many for one batch", len(recs))
	}
	maxDelta := int64(math.MinInt64)
	prev := int32(-1)
	size := 0
	for i := range recs {
		r := &recs[i]
		if r.OffsetDelta <= prev {
			return nil, &RecordError{Index: i, Err: invalidf("offset delta %d not above %d", r.OffsetDelta, prev)}
		}
		prev = r.OffsetDelta
		maxDelta = max(maxDelta, r.TimestampDelta)
		n := r.bodySize()
		size += sizeVarint(int64(n)) + n
	}
	last := opts.LastOffsetDelta
	if last == 0 && len(recs) > 0 {
		last = prev
	}
	if last < prev {
		return nil, invalidf("last offset delta %d below the last record's %d", last, prev)
	}
	maxTS := opts.MaxTimestamp
	if maxTS == 0 {
		maxTS = opts.FirstTimestamp
		if len(recs) > 0 {
			maxTS = opts.FirstTimestamp + maxDelta
		}
	}
	attrs := int16(codec)
	if opts.LogAppendTime {
		attrs |= attrLogAppendTime
	}
	if opts.Transactional {
		attrs |= attrTransactional
	}
	if opts.Control {
		attrs |= attrControl
	}
	h := Header{
		BaseOffset: opts.BaseOffset, PartitionLeaderEpoch: opts.PartitionLeaderEpoch,
		Magic: 2, Attributes: attrs, LastOffsetDelta: last,
		FirstTimestamp: opts.FirstTimestamp, MaxTimestamp: maxTS,
		ProducerID: opts.ProducerID, ProducerEpoch: opts.ProducerEpoch,
		BaseSequence: opts.BaseSequence, NumRecords: int32(len(recs)),
	}

	var out []byte
	if codec == CodecNone {
		out = make([]byte, HeaderSize, HeaderSize+size)
		for i := range recs {
			out = appendRecord(out, &recs[i])
		}
	} else {
		scratch := getBuf()
		defer putBuf(scratch)
		raw := (*scratch)[:0]
		for i := range recs {
			raw = appendRecord(raw, &recs[i])
		}
		*scratch = raw
		var err error
		if out, err = compressBatch(codec, raw); err != nil {
			return nil, err
		}
	}
	if len(out)-12 > math.MaxInt32 {
		return nil, invalidf("batch of %d bytes is too large", len(out))
	}
	h.Length = int32(len(out) - 12)
	putHeader(out, h)
	return out, nil
}

// compressBatch returns a new batch-sized slice: HeaderSize bytes left for
// the header, then raw compressed with c. It compresses into a pooled buffer
// and copies out, because the compressed size is unknown up front and
// growing the result would allocate several times its size.
func compressBatch(c Codec, raw []byte) ([]byte, error) {
	scratch := getBuf()
	defer putBuf(scratch)
	z, err := Compress(c, append((*scratch)[:0], make([]byte, HeaderSize)...), raw)
	if err != nil {
		return nil, fmt.Errorf("records: compressing with %v: %w", c, err)
	}
	*scratch = z[:0]
	return bytes.Clone(z), nil
}

// putHeader writes h into b[:HeaderSize] and computes the CRC over the rest
// of the batch (h.CRC is ignored).
func putHeader(b []byte, h Header) {
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offLength:], uint32(h.Length))
	be.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = byte(h.Magic)
	be.PutUint16(b[offAttributes:], uint16(h.Attributes))
	be.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offFirstTimestamp:], uint64(h.FirstTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offNumRecords:], uint32(h.NumRecords))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:h.Size()], castagnoli))
}

// Recompress re-encodes the records of batch with codec to, keeping every
// other header field (offsets, leader epoch, timestamps, producer id, epoch
// and sequence, the non-codec attribute bits) and the record bytes
// themselves; the length and CRC are recomputed. A batch already using to is
// returned unchanged. The batch frame and CRC are checked; the records are
// not parsed (Validate does that).
func Recompress(batch []byte, to Codec) ([]byte, error) {
	h, err := CheckBatch(batch)
	if err != nil {
		return nil, err
	}
	if !to.valid() {
		return nil, fmt.Errorf("%w: %v", ErrUnknownCodec, to)
	}
	if h.Codec() == to {
		return batch, nil
	}
	scratch := getBuf()
	defer putBuf(scratch)
	data, err := payload(batch, h, *scratch, DefaultMaxDecompressedBytes)
	if err != nil {
		return nil, err
	}
	if h.Codec() != CodecNone {
		*scratch = data[:0]
	}
	out, err := compressBatch(to, data)
	if err != nil {
		return nil, err
	}
	if len(out)-12 > math.MaxInt32 {
		return nil, invalidf("recompressed batch of %d bytes is too large", len(out))
	}
	h.Attributes = h.Attributes&^attrCodecMask | int16(to)
	h.Length = int32(len(out) - 12)
	putHeader(out, h)
	return out, nil
}

// SplitBatches cuts a produce request's or a log's records blob into whole
// v2 batches, each a sub-slice of data (capacity-limited, so appending to
// one cannot overwrite the next). It checks framing only: magic and lengths,
// not CRCs. An empty blob yields no batches; a cut-off trailing batch is
// ErrCorrupt and a magic 0/1 message set ErrUnsupportedMagic.
func SplitBatches(data []byte) ([][]byte, error) {
	var batches [][]byte
	for rest := data; len(rest) > 0; {
		if len(rest) <= offMagic {
			return nil, corruptf("%d trailing bytes after %d batches", len(rest), len(batches))
		}
		if rest[offMagic] != 2 {
			return nil, fmt.Errorf("%w (magic %d at batch %d)", ErrUnsupportedMagic, int8(rest[offMagic]), len(batches))
		}
		length := int64(int32(binary.BigEndian.Uint32(rest[offLength:])))
		if length < HeaderSize-12 || length+12 > int64(len(rest)) {
			return nil, corruptf("batch %d claims length %d with %d bytes left", len(batches), length, len(rest)-12)
		}
		n := int(length) + 12
		batches = append(batches, rest[:n:n])
		rest = rest[n:]
	}
	return batches, nil
}

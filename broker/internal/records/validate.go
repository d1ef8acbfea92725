package records

import (
	"errors"
	"fmt"
	"math"
)

// ValidateOptions are the topic settings and clock a produce is checked
// against. The zero value checks structure only (Kafka's rules for a
// CreateTime topic with unlimited timestamp bounds, not compacted).
type ValidateOptions struct {
	// MaxDecompressedBytes bounds the decompressed records; 0 means
	// DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int
	// RequireKeys rejects records without a key (compacted topics).
	RequireKeys bool
	// CheckTimestamps enables the CreateTime bounds below, relative to
	// NowMs (message.timestamp.before.max.ms / after.max.ms).
	CheckTimestamps      bool
	NowMs                int64
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
}

// Validated is what the produce path learns from a valid batch.
type Validated struct {
	Header Header
	// MaxTimestamp is the largest record timestamp (FirstTimestamp plus
	// delta), which Kafka writes into the batch for CreateTime topics; it is
	// -1 when every record has no timestamp.
	MaxTimestamp int64
	// OffsetDeltaOfMaxTimestamp is the offset delta of the first record
	// carrying MaxTimestamp (-1 if none).
	OffsetDeltaOfMaxTimestamp int32
	// UncompressedBytes is the size of the decoded records section.
	UncompressedBytes int
}

// ValidationError lists the per-record rejections of a batch, as Kafka
// reports them in the produce response (RecordErrors, v8+). It wraps
// ErrInvalidTimestamp if any record has a bad timestamp, else
// ErrInvalidRecord, matching Kafka's choice of top-level error.
type ValidationError struct {
	Records []RecordError
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%v (%d records rejected, first: %v)", e.Unwrap(), len(e.Records), &e.Records[0])
}

func (e *ValidationError) Unwrap() error {
	for i := range e.Records {
		if errors.Is(e.Records[i].Err, ErrInvalidTimestamp) {
			return ErrInvalidTimestamp
		}
	}
	return ErrInvalidRecord
}

// Validate is what the produce path runs on each partition's records: batch
// must be exactly one v2 batch. It checks the frame and CRC (ErrCorrupt),
// then Kafka's LogValidator rules for a batch sent by a client:
//   - the offset range agrees with the record count: NumRecords > 0 and
//     LastOffsetDelta == NumRecords-1;
//   - no control batch (those are written by the broker only);
//   - an idempotent batch (ProducerID >= 0) has BaseSequence >= 0;
//   - no LogAppendTime attribute (ErrInvalidTimestamp, as in Kafka);
//   - a known codec, a payload that decompresses within maxDecompressed,
//     and exactly NumRecords well-formed records with no trailing bytes;
//   - offset deltas 0, 1, 2, ... in order. Kafka instead rewrites a
//     compressed batch with wrong inner offsets and does not look at them
//     in an uncompressed one; we reject (ErrInvalidRecord), since every
//     current client numbers them this way.
//
// Rejections map to ErrInvalidRecord unless noted.
func Validate(batch []byte, maxDecompressed int) (Header, error) {
	v, err := ValidateBatch(batch, ValidateOptions{MaxDecompressedBytes: maxDecompressed})
	return v.Header, err
}

// ValidateBatch is Validate with topic settings: keys for compacted topics
// and CreateTime timestamp bounds, reported per record in a
// *ValidationError.
func ValidateBatch(batch []byte, opts ValidateOptions) (Validated, error) {
	v := Validated{MaxTimestamp: -1, OffsetDeltaOfMaxTimestamp: -1}
	h, err := CheckBatch(batch)
	v.Header = h
	if err != nil {
		return v, err
	}
	if len(batch) != h.Size() {
		return v, invalidf("%d bytes after the batch: a v2 produce carries exactly one batch per partition", len(batch)-h.Size())
	}
	if err := checkClientHeader(h); err != nil {
		return v, err
	}
	maxBytes := opts.MaxDecompressedBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxDecompressedBytes
	}
	scratch := getBuf()
	defer putBuf(scratch)
	data, err := payload(batch, h, *scratch, maxBytes)
	if err != nil {
		return v, err
	}
	if h.Codec() != CodecNone {
		*scratch = data[:0]
	}
	v.UncompressedBytes = len(data)

	var (
		recErrs     []RecordError
		lo, hi      = timestampBounds(opts)
		appendTime  = h.LogAppendTime()
		wantTSCheck = opts.CheckTimestamps
	)
	_, err = scanRecords(h, data, false, func(i int, r *Record) error {
		ts := h.FirstTimestamp + r.TimestampDelta
		if ts > v.MaxTimestamp {
			v.MaxTimestamp, v.OffsetDeltaOfMaxTimestamp = ts, r.OffsetDelta
		}
		switch {
		case opts.RequireKeys && r.Key == nil:
			recErrs = append(recErrs, RecordError{Index: i, Err: invalidf("compacted topic cannot accept a record without key")})
		case wantTSCheck && ts != -1 && (ts < lo || ts > hi):
			recErrs = append(recErrs, RecordError{Index: i, Err: fmt.Errorf("%w: timestamp %d outside [%d, %d]", ErrInvalidTimestamp, ts, lo, hi)})
		case appendTime:
			recErrs = append(recErrs, RecordError{Index: i, Err: fmt.Errorf("%w: producer must not set the LogAppendTime attribute", ErrInvalidTimestamp)})
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	if len(recErrs) > 0 {
		return v, &ValidationError{Records: recErrs}
	}
	return v, nil
}

// checkClientHeader applies LogValidator's batch-level rules for appends
// that come from clients.
func checkClientHeader(h Header) error {
	switch {
	case h.NumRecords <= 0:
		return invalidf("record count %d", h.NumRecords)
	case int64(h.LastOffsetDelta)+1 != int64(h.NumRecords):
		return invalidf("last offset delta %d disagrees with record count %d", h.LastOffsetDelta, h.NumRecords)
	case h.Control():
		return invalidf("clients may not write control batches")
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return invalidf("sequence %d for producer id %d", h.BaseSequence, h.ProducerID)
	}
	return nil
}

// timestampBounds is [now-before, now+after], saturating instead of
// wrapping (Kafka's default before.max.ms is Long.MAX_VALUE).
func timestampBounds(o ValidateOptions) (lo, hi int64) {
	if !o.CheckTimestamps {
		return math.MinInt64, math.MaxInt64
	}
	lo, hi = o.NowMs-o.TimestampBeforeMaxMs, o.NowMs+o.TimestampAfterMaxMs
	if o.TimestampBeforeMaxMs > 0 && lo > o.NowMs {
		lo = math.MinInt64
	}
	if o.TimestampAfterMaxMs > 0 && hi < o.NowMs {
		hi = math.MaxInt64
	}
	return lo, hi
}

// SetMaxTimestamp rewrites the max timestamp and, for CreateTime, clears the
// LogAppendTime bit (logAppendTime true sets it), then recomputes the CRC;
// it is a no-op when nothing changes, as in Kafka where an unchanged batch
// keeps its CRC.
func SetMaxTimestamp(b []byte, ts int64, logAppendTime bool) {
	h, err := ReadHeader(b)
	if err != nil || h.Size() > len(b) {
		return
	}
	if h.MaxTimestamp == ts && h.LogAppendTime() == logAppendTime {
		return
	}
	if logAppendTime {
		h.Attributes |= attrLogAppendTime
	} else {
		h.Attributes &^= attrLogAppendTime
	}
	h.MaxTimestamp = ts
	putHeader(b, h)
}

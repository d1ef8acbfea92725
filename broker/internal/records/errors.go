package records

import (
	"errors"
	"fmt"
)

// More sentinel errors (ErrCorrupt and ErrUnsupportedMagic live in
// header.go). The handler layer maps them to Kafka error codes:
//
//	ErrCorrupt          -> CORRUPT_MESSAGE (2): frame, CRC or compressed stream broken
//	ErrUnsupportedMagic -> CORRUPT_MESSAGE (2) or UNSUPPORTED_VERSION, handler's choice
//	ErrInvalidRecord    -> INVALID_RECORD (87): the batch frame is intact but
//	                       its records or header fields break Kafka's rules
//	ErrInvalidTimestamp -> INVALID_TIMESTAMP (32)
//	ErrUnknownCodec     -> configuration error (not a wire error)
//
// CORRUPT_MESSAGE is retriable for Kafka clients while INVALID_RECORD is not,
// which is why a batch whose CRC matches but whose records do not parse is
// ErrInvalidRecord: resending the same bytes can never succeed.
var (
	ErrInvalidRecord    = errors.New("records: invalid record")
	ErrInvalidTimestamp = errors.New("records: invalid timestamp")
	ErrUnknownCodec     = errors.New("records: unknown compression codec")
	// ErrDecompressLimit is returned (together with ErrCorrupt) when a
	// payload would decompress to more than the allowed number of bytes.
	ErrDecompressLimit = errors.New("records: decompressed size over limit")
)

// RecordError is a rejection that Kafka reports per record (the produce
// response's RecordErrors, v8+): Index is the record's position in its batch.
// It wraps one of the sentinels above.
type RecordError struct {
	Index int
	Err   error
}

func (e *RecordError) Error() string { return fmt.Sprintf("record %d: %v", e.Index, e.Err) }
func (e *RecordError) Unwrap() error { return e.Err }

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRecord}, args...)...)
}

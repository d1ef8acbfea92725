package replica

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Kafka errors the state machine produces or consumes. They are sentinels so
// that callers match them with errors.Is; Code and FromCode are the one place
// that maps them to and from wire error codes.
var (
	ErrNotLeaderOrFollower          = errors.New("replica: not leader or follower")
	ErrNotEnoughReplicas            = errors.New("replica: not enough in-sync replicas")
	ErrNotEnoughReplicasAfterAppend = errors.New("replica: not enough in-sync replicas after append")
	ErrRequestTimedOut              = errors.New("replica: request timed out")
	ErrFencedLeaderEpoch            = errors.New("replica: fenced leader epoch")
	ErrUnknownLeaderEpoch           = errors.New("replica: unknown leader epoch")
	ErrOffsetOutOfRange             = errors.New("replica: offset out of range")
	ErrInvalidUpdateVersion         = errors.New("replica: invalid update version")
	ErrOperationNotAttempted        = errors.New("replica: operation not attempted")
	ErrIneligibleReplica            = errors.New("replica: ineligible replica")
	ErrNewLeaderElected             = errors.New("replica: new leader elected")
	ErrUnknownTopicOrPartition      = errors.New("replica: unknown topic or partition")
	ErrInvalidRequest               = errors.New("replica: invalid request")
)

// Errors of this package's own contract; they never travel on the wire.
var (
	// ErrBadInput: a message that no correct driver or controller can send
	// (offsets out of order, an ISR without its leader, a leader epoch going
	// backwards). Step rejects it and the state is unchanged.
	ErrBadInput = errors.New("replica: bad input")
	// ErrStaleDecision (always with ErrBadInput): a PartitionState whose
	// leader epoch is below the latest epoch of the local log, from a
	// metadata image older than the log. Drivers skip it and wait for a
	// newer image.
	ErrStaleDecision = errors.New("replica: stale partition state")
	// ErrInvariant: a named safety property failed. The partition is poisoned:
	// every later Step returns the same error. It means a bug here or a
	// driver that did not apply a Ready faithfully.
	ErrInvariant = errors.New("replica: invariant violated")
	// ErrConfig: an invalid Config or initial LogState.
	ErrConfig = errors.New("replica: invalid config")
)

var codes = []struct {
	err  error
	kerr *kerr.Error
}{
	{ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
	{ErrNotLeaderOrFollower, kerr.NotLeaderForPartition},
	{ErrRequestTimedOut, kerr.RequestTimedOut},
	{ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	{ErrInvalidRequest, kerr.InvalidRequest},
	{ErrOperationNotAttempted, kerr.OperationNotAttempted},
	{ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	{ErrInvalidUpdateVersion, kerr.InvalidUpdateVersion},
	{ErrIneligibleReplica, kerr.IneligibleReplica},
	{ErrNewLeaderElected, kerr.NewLeaderElected},
}

// Code maps an error from this package to its Kafka error code: 0 for nil,
// UNKNOWN_SERVER_ERROR (-1) for anything without a Kafka meaning.
func Code(err error) int16 {
	if err == nil {
		return 0
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.kerr.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// FromCode maps a Kafka error code from a response (fetch, AlterPartition)
// to this package's sentinel; codes without one come back as the kerr error.
func FromCode(code int16) error {
	if code == 0 {
		return nil
	}
	for _, c := range codes {
		if c.kerr.Code == code {
			return c.err
		}
	}
	return kerr.ErrorForCode(code)
}

// Name is the Kafka name of an error (NONE for nil), for logs and scripts.
func Name(err error) string {
	if err == nil {
		return "NONE"
	}
	for _, c := range codes {
		if errors.Is(err, c.kerr) || errors.Is(err, c.err) {
			if c.err == ErrNotLeaderOrFollower {
				return "NOT_LEADER_OR_FOLLOWER" // renamed from NOT_LEADER_FOR_PARTITION in Kafka 2.7
			}
			return c.kerr.Message
		}
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

package metaserver

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidConfig: Config.Validate refused the configuration.
	ErrInvalidConfig = errors.New("metaserver: invalid config")
	// ErrNotController: this node is not the active controller. The
	// concrete error is a *NotControllerError naming the leader it knows.
	// The request was certainly not applied; retry at the leader.
	ErrNotController = errors.New("metaserver: not the active controller")
	// ErrStopped: the server is stopped (or stopping).
	ErrStopped = errors.New("metaserver: stopped")
	// ErrOutcomeUnknown: the decision was proposed but whether it was
	// committed cannot be told (leadership lost mid-flight, timeout). The
	// caller may retry; the retry sees the committed state.
	ErrOutcomeUnknown = errors.New("metaserver: outcome unknown")
)

// NotControllerError is the concrete error behind ErrNotController.
type NotControllerError struct {
	// Leader is the active controller as this node knows it, -1 if none.
	Leader int32
}

func (e *NotControllerError) Error() string {
	return fmt.Sprintf("metaserver: not the active controller (leader %d)", e.Leader)
}

// Is makes errors.Is(err, ErrNotController) true.
func (e *NotControllerError) Is(target error) bool { return target == ErrNotController }

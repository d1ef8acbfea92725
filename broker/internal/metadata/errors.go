package metadata

import "errors"

// Errors of this package. Apply and the decoders never panic on bad input:
// they return one of these, wrapped with the detail (and, for Apply, the
// name of the invariant the record would break).
var (
	// ErrDecode: bytes that are not a record, batch or snapshot of a
	// version this package reads.
	ErrDecode = errors.New("metadata: cannot decode")
	// ErrInvalid: a record that cannot be applied to the image (unknown
	// topic or broker, duplicate name, a partition state breaking
	// leader ∈ ISR ⊆ replicas, ...). The image is unchanged.
	ErrInvalid = errors.New("metadata: invalid record")
	// ErrInvariant: an image or a transition between two images breaks a
	// named invariant (CheckImage, CheckTransition).
	ErrInvariant = errors.New("metadata: invariant violated")
)

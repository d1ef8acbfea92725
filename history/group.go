package history

// GroupEventKind says what a group membership change did to a consumer's
// partitions.
type GroupEventKind string

// Kinds of [GroupEvent], after franz-go's group callbacks.
const (
	// GroupAssigned: the partitions were added to the member's assignment
	// in the generation (OnPartitionsAssigned). With the cooperative
	// protocol only newly added partitions are listed: partitions the
	// member keeps across a rebalance stay owned without being repeated.
	// An assigned event with no partitions still says the member joined
	// the generation.
	GroupAssigned GroupEventKind = "assigned"
	// GroupRevoked: the member gave the partitions up (OnPartitionsRevoked).
	GroupRevoked GroupEventKind = "revoked"
	// GroupLost: the member's session ended without an orderly revoke
	// (OnPartitionsLost: fenced, session expired, fatal error); it owns
	// none of the partitions any more.
	GroupLost GroupEventKind = "lost"
)

// GroupEvent is one membership change a group consumer's client reported:
// the member id and generation the client held when its callback ran, and
// the partitions concerned.
type GroupEvent struct {
	Kind       GroupEventKind   `json:"kind"`
	MemberID   string           `json:"member_id,omitempty"`
	Generation int32            `json:"generation"`
	Partitions []TopicPartition `json:"partitions,omitempty"`
}

// PartitionResult is how the commit of one partition of a commit
// operation completed with type t ended: the partition's own Result when
// the completion recorded one, t otherwise.
func (p PartitionOffset) PartitionResult(t Type) Type {
	if p.Result != "" {
		return p.Result
	}
	return t
}

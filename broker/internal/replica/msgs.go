package replica

// Msg is an input to Step. The concrete types below are the whole set.
type Msg interface{ isMsg() }

// PartitionState is a controller decision as the metadata log delivers it
// (KRaft PartitionRecord / PartitionChangeRecord, or a LeaderAndIsr request):
// the full leader, epochs, assignment and ISR of the partition. It makes this
// replica leader or follower; a state with a partition epoch older than the
// one already applied is ignored.
type PartitionState struct {
	Leader         int32 // -1: no leader (offline partition)
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	// Ineligible are replicas that may not join the ISR: fenced or in
	// controlled shutdown (KIP-841). The leader neither proposes them nor
	// waits for them when advancing the high watermark.
	Ineligible []int32
	NowMs      int64
}

// Batch is the header of one appended record batch: its offsets and the
// leader epoch stamped in it (partitionLeaderEpoch).
type Batch struct {
	BaseOffset  int64
	LastOffset  int64
	LeaderEpoch int32
}

// Appended reports batches the leader appended to its own log (a produce).
// The caller stamps them with LeaderEpoch() and checks CheckAppend first,
// under the same lock as the append. Followers never send it: their appends
// come out of Ready.
type Appended struct {
	Batches []Batch
}

// Acks values of a produce request.
const (
	AcksNone   int16 = 0
	AcksLeader int16 = 1
	AcksAll    int16 = -1
)

// Produce registers a produce whose records were appended up to LastOffset.
// acks=0/1 complete at once; acks=all completes when the high watermark
// passes LastOffset, or fails (timeout at DeadlineMs, leadership lost, ISR
// below min.insync.replicas by then).
type Produce struct {
	ID         uint64 // chosen by the caller, echoed in the Completion
	LastOffset int64
	Acks       int16
	DeadlineMs int64
}

// FollowerFetch is a follower's fetch for this partition, received by the
// leader. Epoch fields are -1 when the request version has none.
type FollowerFetch struct {
	ReplicaID          int32
	CurrentLeaderEpoch int32
	FetchOffset        int64
	LastFetchedEpoch   int32
	LogStartOffset     int64
	// ReplicaEpoch is the follower's broker epoch (Fetch's
	// ReplicaState.ReplicaEpoch; ≤ 0: unknown). The leader proposes ISR
	// members with the epoch of the incarnation whose fetches it counted
	// (KIP-903), so a restarted follower is not admitted on its previous
	// incarnation's progress.
	ReplicaEpoch int64
	NowMs        int64
	Token        uint64 // opaque, echoed in the FetchResult
}

// FetchResponse is the leader's answer to a fetch this replica sent as a
// follower (Ready.Fetch), with the headers of the batches it carries.
type FetchResponse struct {
	FetchID        uint64 // FetchRequest.ID it answers
	Err            error  // FromCode(partition error code)
	HighWatermark  int64
	LogStartOffset int64
	// LogEndOffset is the leader's log end offset. Kafka's follower learns it
	// with a ListOffsets call after OFFSET_OUT_OF_RANGE; it is only read then.
	LogEndOffset int64
	Diverging    *EpochEndOffset
	Batches      []Batch
	NowMs        int64
}

// AlterPartitionResponse is the controller's answer to Ready.AlterPartition.
type AlterPartitionResponse struct {
	ProposalID     uint64 // AlterPartitionRequest.ID it answers
	Err            error  // FromCode(partition error code)
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// Tick moves the clock: ISR shrink checks, produce deadlines, fetch and
// AlterPartition retries.
type Tick struct{ NowMs int64 }

// LogStartAdvanced reports that retention or DeleteRecords moved the local
// log start up to Offset (never past the high watermark on a leader).
type LogStartAdvanced struct{ Offset int64 }

// MinISRChanged reports a new min.insync.replicas for the topic.
type MinISRChanged struct{ MinInsyncReplicas int }

func (PartitionState) isMsg()         {}
func (Appended) isMsg()               {}
func (Produce) isMsg()                {}
func (FollowerFetch) isMsg()          {}
func (FetchResponse) isMsg()          {}
func (AlterPartitionResponse) isMsg() {}
func (Tick) isMsg()                   {}
func (LogStartAdvanced) isMsg()       {}
func (MinISRChanged) isMsg()          {}

// WriteKind says what a LogWrite does to the local log.
type WriteKind uint8

const (
	// WriteTruncate cuts the log to end at Offset (records >= Offset go).
	WriteTruncate WriteKind = iota + 1
	// WriteTruncateFully empties the log and restarts it at Offset.
	WriteTruncateFully
	// WriteAppend appends Batches from the fetch response FetchID, as they
	// came (appendAsFollower: offsets and epochs kept).
	WriteAppend
	// WriteLogStart moves the log start up to Offset (follower following the
	// leader's retention).
	WriteLogStart
)

// LogWrite is one change the driver makes to the local log, in order.
type LogWrite struct {
	Kind    WriteKind
	Offset  int64
	FetchID uint64
	Batches []Batch
}

// FetchRequest is the next fetch a follower sends to its leader.
type FetchRequest struct {
	ID                 uint64 // echo it in FetchResponse.FetchID
	Leader             int32
	CurrentLeaderEpoch int32
	FetchOffset        int64
	LastFetchedEpoch   int32 // -1 when the log has no epochs
	LogStartOffset     int64
}

// FetchResult is the leader's partition-level answer to a FollowerFetch:
// the driver reads records from ReadOffset (when >= 0) and sends them with
// this metadata. Err, Diverging and ReadOffset < 0 mean no records.
type FetchResult struct {
	ReplicaID      int32
	Token          uint64
	Err            error
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	Diverging      *EpochEndOffset
	ReadOffset     int64
}

// AlterPartitionRequest proposes a new ISR to the controller.
type AlterPartitionRequest struct {
	ID             uint64
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	// ISREpochs: the broker epoch of each follower in ISR as of its last
	// counted fetch (KIP-903), absent where unknown.
	ISREpochs map[int32]int64
}

// Completion ends a Produce.
type Completion struct {
	ID         uint64
	LastOffset int64
	Err        error
}

// Ready is what the driver must do, in this order: apply Writes to the local
// log (durably, as its flush policy says) and checkpoint Epochs, then send Fetch, FetchResults and
// AlterPartition, publish HighWatermark if HighWatermarkChanged, answer
// Completions; then call Advance.
type Ready struct {
	Writes []LogWrite
	// Epochs is the leader-epoch cache to checkpoint, when EpochsChanged
	// (Kafka's leader-epoch-checkpoint). A new leader's epoch start has no
	// record yet, so the cache cannot be rebuilt from the log alone.
	Epochs               []EpochEntry
	EpochsChanged        bool
	HighWatermark        int64
	HighWatermarkChanged bool
	Fetch                *FetchRequest
	FetchResults         []FetchResult
	AlterPartition       *AlterPartitionRequest
	Completions          []Completion
}

// Empty reports whether there is nothing to do.
func (r *Ready) Empty() bool {
	return len(r.Writes) == 0 && !r.EpochsChanged && !r.HighWatermarkChanged && r.Fetch == nil &&
		len(r.FetchResults) == 0 && r.AlterPartition == nil && len(r.Completions) == 0
}

package history

// The replica logs snapshot (phase event "replicas"): after the final
// drain the harness stops the cluster, reads every node's log of each
// workload partition from its data directory and records what each
// replica holds, so a checker can compare the replicas' logs with each
// other below the final high watermark. It is a phase event (process
// HarnessProcess, type "phase", f "replicas") so readers that predate it
// see one more phase marker and nothing else; histories without it read
// as before.

// PhaseReplicas names the replica logs snapshot event; its value is
// [Replicas].
const PhaseReplicas = "replicas"

// Replicas is the value of the replicas phase event.
type Replicas struct {
	// Skipped says why the replicas' logs could not be read (a driver
	// without data directories: kfake, containers, an external cluster);
	// empty when they were.
	Skipped string `json:"skipped,omitempty"`
	Topic   string `json:"topic,omitempty"`
	// Partitions holds one entry per workload partition, in partition
	// order.
	Partitions []ReplicaPartition `json:"partitions,omitempty"`
}

// ReplicaPartition is one partition's replicas as found on disk.
type ReplicaPartition struct {
	Partition int32 `json:"partition"`
	// HighWatermark is the partition's high watermark after the drain (the
	// end offset a read_uncommitted ListOffsets answered before the cluster
	// stopped); -1 when it could not be asked.
	HighWatermark int64 `json:"high_watermark"`
	// ISR lists the in-sync replicas the cluster reported then; nil when
	// unknown.
	ISR []int32 `json:"isr,omitempty"`
	// Replicas holds one log per node that has a directory for the
	// partition, in node order.
	Replicas []ReplicaLog `json:"replicas,omitempty"`
}

// ReplicaLog is one node's log of a partition.
type ReplicaLog struct {
	Node int32 `json:"node"`
	// StartOffset is the first offset held (the first batch's base
	// offset), EndOffset one past the last (the log end offset).
	StartOffset int64 `json:"start_offset"`
	EndOffset   int64 `json:"end_offset"`
	// Offsets and Values are the data records in offset order (control
	// records left out), as parallel lists to keep the event small.
	Offsets []int64  `json:"offsets,omitempty"`
	Values  []string `json:"values,omitempty"`
	// Error says why the log could not be read to its end (a corrupt
	// batch); the records before it are kept.
	Error string `json:"error,omitempty"`
}

// Replicas returns the event's replica logs snapshot, if it is one.
func (e Event) Replicas() (*Replicas, bool) {
	v, ok := e.Value.(*Replicas)
	return v, ok && v != nil
}

// Replicas returns the history's replica logs snapshot (the last one, if
// it somehow has several), if it has one.
func (h *History) Replicas() (*Replicas, bool) {
	for i := len(h.Phases) - 1; i >= 0; i-- {
		if r, ok := h.Phases[i].Replicas(); ok {
			return r, true
		}
	}
	return nil, false
}

// RecordReplicas appends the replica logs snapshot as a phase event.
func (w *Writer) RecordReplicas(r Replicas) (Event, error) {
	return w.Append(Event{Process: HarnessProcess, Type: TypePhase, F: PhaseReplicas, Value: &r})
}

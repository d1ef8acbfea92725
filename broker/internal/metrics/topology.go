package metrics

// Topology is the replication view the partition gauges read in cluster
// mode, where a node may follow partitions, ISRs shrink and only one node
// is the active controller. Without one (single node) the node leads
// every partition it has, alone.
type Topology interface {
	// Partition reports a hosted partition's state as this node's
	// metadata says: whether this node leads it, and the sizes of its
	// replica set and ISR; ok false when the metadata does not know it.
	Partition(topicID [16]byte, partition int32) (leader bool, replicas, isr int, ok bool)
	// ActiveController reports whether this node is the active controller.
	ActiveController() bool
	// OfflinePartitions counts partitions without a live leader (Kafka
	// reports it on the active controller only, 0 elsewhere).
	OfflinePartitions() int
}

// SetTopology makes the partition gauges follow t. Call it before serving
// scrapes.
func (m *Metrics) SetTopology(t Topology) {
	if m == nil {
		return
	}
	m.collector.topology = t
}

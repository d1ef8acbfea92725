// Package controller makes the KRaft controller's decisions over a
// metadata.Image and returns them as metadata records: topic creation with
// rack-aware placement, partition growth, deletion, config changes, broker
// registration / heartbeats / session fencing / unfencing, controlled
// shutdown, AlterPartition (ISR changes), preferred and unclean elections
// and automatic leader rebalancing.
//
// Contract:
//
//   - Every decision method returns the records it decided (already
//     applied to the controller's own image, which runs ahead of the
//     committed log as KRaft's active controller does) and its answer.
//     The driver appends the records of one call as one batch
//     (metadata.EncodeBatch) to the quorum. A Go error is request-level
//     (STALE_BROKER_EPOCH, ...) or ErrInternal (a generated record failed
//     metadata.Apply: a bug; nothing changes). Kafka errors per topic or
//     partition are sentinels in the results; Code maps them to wire codes.
//   - If the quorum loses leadership or fails an append, the driver drops
//     this Controller and builds a new one with New over the committed
//     image when it leads again. Standby controllers and brokers only
//     metadata.Apply committed records.
//   - Time comes in as nowMs arguments; randomness (placement offsets,
//     topic ids) from Config.Seed. No goroutines, clocks or I/O.
//   - Elections follow KRaft's PartitionChangeBuilder: a leader stays while
//     it is an active ISR member; otherwise the first active ISR member in
//     replica order leads; a fenced or shutting-down broker leaves every
//     ISR except as its last member (KIP-841), where the partition goes
//     leaderless unless the topic allows unclean election, which then
//     picks any active replica with an ISR of just itself. A leader change
//     bumps the leader epoch; every change bumps the partition epoch; an
//     ISR change alone keeps the leader epoch.
//
// How this meets broker/internal/replica: a partition of the image is a
// replica.PartitionState (Leader, LeaderEpoch, PartitionEpoch, Replicas,
// ISR; Ineligible = replicas whose broker is not Active). The leader's
// replica.AlterPartitionRequest becomes an AlterPartitionItem (ID aside)
// and an AlterPartitionResult maps onto replica.AlterPartitionResponse;
// Code gives the wire code for replica.FromCode. Where replica's test
// controller differs, this package follows Kafka's validation order: epochs
// ahead of the controller's are NOT_CONTROLLER (not INVALID_REQUEST), and a
// non-leader at the current leader epoch is INVALID_REQUEST (not
// FENCED_LEADER_EPOCH); every ISR member (not only additions) must be
// active, which is the same in practice since fencing removes brokers
// from ISRs.
//
// Differences from Kafka, on purpose: broker epochs count up from the
// image's largest (Kafka uses the registration record's log offset), and a
// heartbeat says CaughtUp instead of sending its metadata offset; a broker
// re-registering while unfenced is fenced first (see RegisterBroker); a
// new incarnation is a duplicate only while the old registration's
// session was renewed with this controller (a new active controller's
// grace sessions do not block it) and its clean-shutdown marker does not
// name the registered epoch; KIP-966 without ELR: a registration after an
// unclean shutdown (PreviousBrokerEpoch ≠ registered epoch) leaves every
// ISR, and as a last member marks the ISR unclean (leaderless until an
// unclean election) while another active replica did not go through an
// unclean shutdown (Partition.UncleanISR); KIP-903: AlterPartition's
// member broker epochs must be the registered ones; auto
// rebalance uses the per-broker imbalance percentage (ZooKeeper-era rule;
// KRaft elects every imbalanced partition); a broker in controlled
// shutdown is told to shut down on the heartbeat after the one that moved
// its leaderships (Kafka waits for the other brokers' metadata offsets).
// Not modelled: ELR and unclean recovery (KIP-966), reassignment, leader recovery state,
// controller mutation quotas, create-topic policies.
//
// Concurrency: a Controller is not safe for concurrent use; the quorum
// driver's goroutine owns it.
package controller

// Package broker is the highwater reference broker: wiring only. It turns
// Kafka-named properties into a validated configuration, opens (and
// recovers) the data directory, binds the listener and runs the connection
// server and the background loops (retention, periodic flush, group
// timers, the log cleaner: log.cleaner.threads goroutines, cleaner.go,
// each taking the dirtiest due log no other is cleaning, which it
// compacts of a cleanup.policy=compact topic up to
// its last stable offset with partlog.Log.Clean), and the optional Prometheus /metrics listener
// (highwater.metrics.listener, not a Kafka key; see internal/metrics for
// the Strimzi-compatible series names). The protocol lives in internal/handler and internal/wire, the
// storage in internal/partlog, consumer groups in internal/group.
//
// Cluster mode (process.roles=broker,controller with
// controller.quorum.voters; see cluster.go): every node is a voter of the
// KRaft-style metadata quorum (internal/metaserver, its log in
// <log.dirs>/__cluster_metadata-0, its listener the CONTROLLER listener of
// listeners or else the node's voter address) and a broker. The data
// catalogue is managed by the metadata image: a driver goroutine opens the
// partitions whose replicas include this node and drops deleted topics; a
// BrokerLifecycle registers broker.rack and the PLAINTEXT endpoint,
// heartbeats with the metadata offset the catalogue reflects (so the
// controller unfences the node once it hosts what the image says), and
// Close runs a controlled shutdown bounded by broker.session.timeout.ms.
// Metadata answers from the image, Produce/Fetch/ListOffsets are served
// by the image's leader only, producer ids come in blocks from the
// controller. Data replication (replication.go, replication_fetch.go):
// one internal/replica state machine per hosted partition, fed with the
// image's decisions (fenced and shutting-down brokers ineligible); a
// fetcher goroutine per leader broker fetches with this node's replica id
// and appends the leader's batches as they are (partlog AppendReplica),
// truncating on a diverging epoch; the leader-epoch cache is checkpointed
// to <partition dir>/leader-epoch-checkpoint; the leader's high watermark
// bounds consumer fetches and ListOffsets latest; ISR changes go to the
// controller as AlterPartition; acks=all waits for the high watermark.
// Consumer groups (cluster_groups.go): __consumer_offsets is a replicated
// internal topic; the coordinator of a group is the leader of partition
// GroupPartition(group); a node loads a partition's groups (replaying its
// log) when it becomes that partition's leader, into one group.Service per
// led partition, drops them when it stops leading (NOT_COORDINATOR), and
// acknowledges group writes once the high watermark passed them.
// __consumer_offsets and __transaction_state are compacted topics; every
// replica compacts its own log (a follower appends the leader's batches
// across the offset gaps compaction leaves).
// The high watermark survives role changes and is checkpointed per
// partition (<partition dir>/replication-offset-checkpoint, at most every
// 100 ms and at shutdown; a restart starts from it, clamped to the log);
// a new leader whose high watermark is still below its epoch start
// answers ListOffsets latest with OFFSET_NOT_AVAILABLE (KIP-207) while
// consumer fetches get its current high watermark, as Kafka does.
// A partition state whose leader epoch is below the latest epoch of the
// local log (the leader-epoch-checkpoint) comes from a metadata image older
// than the log, as a restarted node replays before it caught up with the
// quorum: the driver skips it (replica.ErrStaleDecision, debug log) and
// waits for a newer image, as Kafka skips a stale leader epoch.
// A restarted node acts on partition leadership (state machines, group
// coordinators) only once its image holds this process's own broker
// registration, so everything the quorum committed before it is applied
// (KRaft's catch-up before unfencing); until then Produce, Fetch,
// ListOffsets and OffsetForLeaderEpoch answer NOT_LEADER_OR_FOLLOWER.
// A follower truncating a diverged tail rolls the idempotent-producer
// state back with it (topics.Catalog.TruncateTo rebuilds it from the
// snapshot and the log left). Topic admin and ElectLeaders sent to a node
// that is not the active controller are forwarded to it (metaserver
// admin.go, KIP-590). replica.lag.time.max.ms, auto.leader.rebalance.enable,
// leader.imbalance.check.interval.seconds and
// leader.imbalance.per.broker.percentage come from the configuration;
// replica.selector.class may name Kafka's RackAwareReplicaSelector, and
// then consumers that send client.rack read from an in-sync replica in
// their rack (KIP-392, preferredReadReplica). The partition gauges of
// /metrics follow the image (clusterTopology): leaders, under-replicated
// and under-min-ISR partitions on their leader, offline partitions and the
// active controller on the active controller; ISR shrinks and expansions
// a leader committed are counted.
// Current limits: a kill loses up to 100 ms of checkpoint progress (a
// restarted leader relearns it as followers fetch); follower fetches have
// no fetch sessions and are not delayed by MinBytes beyond "some
// records"; no reassignment; Metadata from a node that has not caught up
// yet still answers from its replayed image (clients get
// NOT_LEADER_OR_FOLLOWER there and refresh); __consumer_offsets is
// created only by the node that is the active controller (eagerly once
// offsets.topic.replication.factor brokers are live, or on a
// FindCoordinator it receives, capped at the live brokers); partition
// directories of topics deleted while a node was down are not removed at
// restart.
//
// Nondeterminism enters only through Config: the filesystem, the listener,
// the clock, the random source and the logger.
package broker

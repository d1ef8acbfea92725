// Package broker is the highwater reference broker: wiring only. It turns
// Kafka-named properties into a validated configuration, opens (and
// recovers) the data directory, binds the listener and runs the connection
// server and the background loops (retention, periodic flush, group
// timers), and the optional Prometheus /metrics listener
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
// controller. Current limits: no data replication yet (followers hold
// empty logs, acks=all on a partition with more than one replica is
// refused with NOT_ENOUGH_REPLICAS, a new leader starts from its own log); consumer groups are
// node-local (__consumer_offsets lives in <log.dirs>/__groups and
// FindCoordinator answers COORDINATOR_NOT_AVAILABLE in cluster mode);
// topic admin is decided only by the node that is the active controller
// (others answer NOT_CONTROLLER, no forwarding); partition directories of
// topics deleted while a node was down are not removed at restart.
//
// Nondeterminism enters only through Config: the filesystem, the listener,
// the clock, the random source and the logger.
package broker

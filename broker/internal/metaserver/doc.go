// Package metaserver is one node's KRaft-style metadata service in
// combined mode (process.roles=broker,controller): a voter of the raft
// metadata quorum (broker/internal/quorum), the metadata.Image every
// committed entry builds on this node, and — while this node leads the
// quorum — the active controller (broker/internal/controller).
//
// Contract:
//
//   - Every node applies committed entries, in log order, to its own image
//     and publishes a State (image + offset, the raft index of the last
//     metadata entry). State is an atomic pointer; State.Changed is closed
//     when a newer one is published, so the broker side (the future
//     replication driver) loads, reacts, waits, and never misses the
//     newest. Snapshots hold the image and the offset bookkeeping; a
//     restarted node restores the newest one and replays the entries after
//     it.
//   - An entry is one batch of records (metadata.EncodeBatch) behind a
//     header naming the offset the deciding controller's image was at. A
//     node applies a batch only if its own offset equals that, and all of
//     it or nothing (metadata.Apply on a copy). Every node sees the same
//     entries, so a deposed controller's batch that committed after other
//     entries is skipped everywhere alike, and the proposer learns it was
//     (optimistic concurrency, standing in for KRaft's epoch-checked
//     appends).
//   - The raft leader runs the active controller. When it starts leading
//     in a new term it commits a barrier entry first, so every entry of
//     earlier terms is applied here, then builds controller.New over the
//     committed image (KRaft's new active controller replays the log
//     before it acts). Requests are decided one after the other (each sees
//     the previous one's records), the records of the requests queued at
//     once go to raft as one entry (group commit), and callers are
//     answered when it is committed and applied here. Any failure to
//     commit drops the controller; it is rebuilt from the committed image.
//     A controller clock (Config.ControllerTick) drives session fencing,
//     unclean elections and leader rebalancing.
//   - A non-leader answers *NotControllerError naming the leader it knows
//     (-1 if none); the request was not applied. ErrOutcomeUnknown or a
//     context error means it may or may not have been.
//   - Heartbeats carry the broker's metadata offset; the broker is caught
//     up (and may be unfenced) once it reaches the entry of its own
//     registration.
//
// The wire: every voter has one address (controller.quorum.voters) and
// one listener serving both raft and the Kafka controller APIs, as KRaft's
// controller listener does. Raft messages stay etcd raft's protobufs on
// quorum's TCP transport (Kafka has no API for them: KRaft's Vote /
// BeginQuorumEpoch / Fetch have different semantics), and a raft
// connection opens with four bytes starting 0xff, which no Kafka request
// (a non-negative int32 size) can start with; the listener routes each
// connection by those bytes. The Kafka side serves ApiVersions (18),
// AlterPartition (56, v0-3: names before v2, ids from v2; v3's member
// epochs are checked, KIP-903), BrokerRegistration (62, v0-4; v3's
// PreviousBrokerEpoch tells a clean shutdown, KIP-966), BrokerHeartbeat
// (63, v0-2) and AllocateProducerIds (67, v0), and the topic admin APIs
// a broker that is not the active controller forwards (admin.go,
// KIP-590 without the Envelope): CreateTopics (19, v5-7), DeleteTopics
// (20, v6), CreatePartitions (37, v0-3), IncrementalAlterConfigs (44,
// v0-1, which also carries legacy AlterConfigs as set/delete operations)
// and ElectLeaders (43, v1-2). Client is the broker's way
// to the active controller over it: it tries its leader hint or the voter
// that answered last and moves on after NOT_CONTROLLER (which carries no
// leader id on the wire) or a broken connection. The Client does not
// negotiate versions: both ends are this package. BrokerLifecycle is the
// broker side of registration, heartbeats and controlled shutdown.
//
// Differences from KRaft:
// see broker/internal/controller (broker epochs, caught-up rule).
//
// Goroutines: Start launches the raft node's goroutine (which calls apply,
// snapshot and restore), the controller loop (which alone owns the
// active controller and proposes), and, with TCP, the listener's accept
// loop, one routing goroutine per new connection, quorum's transport
// goroutines and one goroutine per Kafka connection. Stop ends them all
// and waits. Every exported method of Server and Client is safe for
// concurrent use.
package metaserver

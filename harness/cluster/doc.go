// Package cluster is the small interface the harness and the nemesis use to
// drive a cluster of Kafka-protocol brokers, whatever runs them: local
// processes (the reference broker, Apache Kafka JVMs), containers, or later
// remote hosts and Kubernetes pods.
//
// Contract:
//   - A Cluster names its nodes by Kafka node id (int32) and exposes only
//     what a remote driver could also provide: client and controller
//     addresses as host:port strings, a rack, and a log location string.
//     Nothing here assumes local PIDs, loopback addresses or one filesystem.
//   - Process faults (Stop = graceful SIGTERM-like, Kill = SIGKILL-like,
//     Pause/Resume = SIGSTOP/SIGCONT-like) and Restart keep the node's data.
//   - "Who leads what" comes from the Kafka protocol (Metadata,
//     DescribeQuorum) through the helpers in this package, never from a
//     driver's private knowledge, so every driver answers the same way.
//     Direct (a client seeded with one node) asks a single node for its
//     own view: readiness (Sees, AnySees) and, for brokers that name
//     their quorum leader in Metadata, MetadataController.
//   - Network faults are a separate interface (Network) because many drivers
//     cannot cut links. NetworkOf returns ErrUnavailable, wrapped with the
//     reason and the fix, when a cluster cannot.
//   - Optional abilities (Links for slow and lossy links, Clocks for clock
//     skew, UnsyncedLoss for crashes that lose unsynced writes) are
//     interfaces a driver may implement, each with an availability check;
//     their method sets match package nemesis's so a driver is passed to
//     the nemesis as is. Adding them changed nothing for existing
//     drivers.
//
// Goroutines: the package starts none. Implementations document their own.
//
// This is library code: it never imports testing.
package cluster

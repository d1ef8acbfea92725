// Package clustertest holds cluster behaviour checks written once against
// the harness/cluster driver interface, so the same code runs against the
// 3-node reference cluster (harness/reference) and a 3-node Apache Kafka
// cluster (harness/kafka): Kafka's behaviour is the yardstick, and every
// expectation held against the reference cluster must first be true of
// Kafka.
//
// Library side (used by the package's tests and by `highwater failover`):
//   - Start starts either implementation with the same settings (node
//     count, racks, session timeout, rack-aware replica selection), so
//     figures taken against both are comparable.
//   - Describe, CreateTopic and WaitFullISR read partition state (leader,
//     epoch, replicas, ISR) from the Kafka protocol, asking every node and
//     keeping the newest leader epoch.
//   - Producer is a continuous acks=all idempotent producer to one
//     partition that timestamps every acknowledgement; ReadBack and Check
//     verify a partition afterwards (every acknowledged record at its
//     offset, order kept, no duplicates, and everything a concurrent
//     consumer saw still there: nothing was read beyond the high
//     watermark).
//   - Failover kills the leader of a partition repeatedly during acks=all
//     produce and measures the gap between the last acknowledgement before
//     each kill and the first after it; Throughput measures produce MB/s
//     through bench.Produce.
//
// Tests: TestReferenceCluster runs the suite against the reference cluster
// (./cmd/highwater built once, or HIGHWATER_BROKER_BINARY); TestKafkaCluster
// against Apache Kafka when HIGHWATER_REQUIRE_KAFKA (CI),
// HIGHWATER_KAFKA_CLUSTER or HIGHWATER_TARGET=kafka is set (the last runs
// only the Kafka pass: make test-kafka). Both implementations get
// broker.session.timeout.ms 6 s. HIGHWATER_CLUSTERTEST_CLIENT_LOG=1 logs the
// concurrent consumers' franz-go debug output.
//
// Goroutines: Producer and Watcher each run one goroutine (plus the
// franz-go client's) from their start until Stop; everything else runs on
// the caller's goroutine. Nothing here keeps processes running: callers
// Close the clusters they Start.
//
// This is library code: it never imports testing.
package clustertest

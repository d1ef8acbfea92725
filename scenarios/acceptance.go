package scenarios

import (
	"time"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/harness/run"
)

// The acceptance pairs of issue 6: the same safe and unsafe settings
// against Apache Kafka and against the 3-node reference cluster.
//
// Safe: RF 3, min.insync.replicas 2 (topic and broker), unclean leader
// election off; the workload's producers are idempotent with acks=all.
// Under the smoke faults (kill -9, pause) that must be VALID.
//
// Unsafe: min.insync.replicas 1, unclean leader election on, and producers
// with acks=1 (idempotence off). A leader acknowledges alone, so a leader
// that is cut off or lost with its rack takes acknowledged writes no other
// replica has, and the replica elected next truncates them away: the
// harness must find lost-write, unseen or inconsistent-offsets. A seed
// whose schedule misses that window comes back valid; the next seed is
// tried (ExpectAnomaly), and every seed's verdict is logged.

// Broker properties of the two settings.
var (
	safeSet = map[string]string{
		"unclean.leader.election.enable": "false",
		"min.insync.replicas":            "2",
		"default.replication.factor":     "3",
	}
	unsafeSet = map[string]string{
		"unclean.leader.election.enable": "true",
		"min.insync.replicas":            "1",
		"default.replication.factor":     "3",
	}
)

// Fault mixes: the smoke faults, and leader partitions with AZ loss.
var (
	smokeFaults  = []string{"kill", "pause"}
	unsafeFaults = []string{"partition-leader", "az-loss"}
)

// lostWrites are the anomalies an unsafe election leaves behind.
var lostWrites = []string{checker.LostWrite, checker.Unseen, checker.InconsistentOffsets}

// acceptance is the four nightly entries: {Kafka, reference} x {safe,
// unsafe}, 90 s of workload each on 3 nodes.
func acceptance() []Case {
	kafkaSafe := settingsCase("nightly-kafka-safe-smoke-faults", run.ImplKafka, safeSet, 2, smokeFaults)
	kafkaSafe.Labels = append(kafkaSafe.Labels, LabelKafka)
	// The leader partition needs network namespaces with Kafka (root);
	// without them only az-loss would run.
	kafkaUnsafe := settingsCase("nightly-kafka-unsafe-partitions-az", run.ImplKafka, unsafeSet, 1, unsafeFaults)
	kafkaUnsafe.Scenario.Cluster.NetNS = true
	kafkaUnsafe.NeedsRoot = true
	kafkaUnsafe.Labels = append(kafkaUnsafe.Labels, LabelKafka)
	kafkaUnsafe.Expect, kafkaUnsafe.Anomalies = ExpectAnomaly, lostWrites
	kafkaUnsafe.Seeds = []int64{201, 202, 203, 204}
	kafkaUnsafe.Scenario.Workload.Acks = "1"

	refSafe := settingsCase("nightly-reference-safe-smoke-faults", run.ImplReference, safeSet, 2, smokeFaults)
	// The reference cluster runs the same unsafe settings and faults
	// (leader partitions through network namespaces, as root); its
	// verdict is the finding (recorded, not asserted).
	refUnsafe := settingsCase("nightly-reference-unsafe-partitions-az", run.ImplReference, unsafeSet, 1, unsafeFaults)
	refUnsafe.Scenario.Cluster.NetNS = true
	refUnsafe.NeedsRoot = true
	refUnsafe.Scenario.Workload.Acks = "1"
	refUnsafe.Expect = ExpectRecord
	refUnsafe.Seeds = []int64{201}
	return []Case{kafkaSafe, kafkaUnsafe, refSafe, refUnsafe}
}

// settingsCase is a 90 s, 3-node run of impl with the broker properties
// set, the topic at RF 3 and minISR, under faults.
func settingsCase(name, impl string, set map[string]string, minISR int, faults []string) Case {
	rate := 200.0
	if impl == run.ImplKafka {
		rate = 100
	}
	return Case{
		Scenario: run.Scenario{
			Name:      name,
			Cluster:   run.ClusterConfig{Impl: impl, Nodes: 3, Set: set},
			Workload:  queue(rate, 90*time.Second, 3, minISR),
			Faults:    faults,
			MeanQuiet: 8 * time.Second,
			MeanFault: 10 * time.Second,
		},
		Labels:  []string{LabelNightly},
		Seeds:   []int64{1},
		Timeout: 12 * time.Minute,
	}
}

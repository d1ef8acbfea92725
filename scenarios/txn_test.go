package scenarios

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/highwater-io/highwater/harness/run"
	"github.com/highwater-io/highwater/harness/workload"
)

// LabelTxn marks the transactional (txn, eos) scenarios.
const LabelTxn = "txn"

// txnWorkload is the transactional workloads' shared config: rate is
// transactions per second (txn) or inputs per second (eos).
func txnWorkload(rate float64, d time.Duration, rf, minISR int) workload.Config {
	w := workload.DefaultConfig("")
	w.SendRatePerSec = rate
	w.Duration = d
	w.ReplicationFactor, w.MinInsyncReplicas = rf, minISR
	return w
}

// txnCatalogue: the quick kfake entries (about 25 s together, no faults:
// kfake has no processes) also run by default with smoke; the reference
// cluster entries need its transaction support; the Apache Kafka entries
// are nightly.
var txnCatalogue = []Case{
	txnCase("txn-kfake", run.WorkloadTxn, run.ClusterConfig{Impl: run.ImplKfake}, 10*time.Second, []string{}, LabelTxn, LabelSmoke),
	txnCase("eos-kfake", run.WorkloadEOS, run.ClusterConfig{Impl: run.ImplKfake}, 10*time.Second, []string{}, LabelTxn, LabelSmoke),
	txnCase("txn-reference-all", run.WorkloadTxn, run.ClusterConfig{Impl: run.ImplReference, Nodes: 3}, time.Minute, nil, LabelTxn),
	txnCase("eos-reference-all", run.WorkloadEOS, run.ClusterConfig{Impl: run.ImplReference, Nodes: 3}, time.Minute, nil, LabelTxn),
	txnCase("txn-kafka-kill-pause", run.WorkloadTxn, run.ClusterConfig{Impl: run.ImplKafka, Nodes: 3}, 3*time.Minute, []string{"kill", "pause", "restart"}, LabelTxn, LabelNightly),
	txnCase("eos-kafka-kill-pause", run.WorkloadEOS, run.ClusterConfig{Impl: run.ImplKafka, Nodes: 3}, 3*time.Minute, []string{"kill", "pause", "restart"}, LabelTxn, LabelNightly),
	nightlyTxnReference("nightly-txn-reference-netns", run.WorkloadTxn),
	nightlyTxnReference("nightly-eos-reference-netns", run.WorkloadEOS),
}

// nightlyTxnReference is a 5-minute run of a transactional workload
// against the 3-node reference cluster at its default transaction version
// (2) under every fault, network partitions included (each node in its
// own namespace, so root), over three seeds.
func nightlyTxnReference(name, kind string) Case {
	e := txnCase(name, kind, run.ClusterConfig{Impl: run.ImplReference, Nodes: 3, NetNS: true}, 5*time.Minute, nil, LabelNightly, LabelTxn)
	e.Seeds, e.NeedsRoot = []int64{101, 102, 103}, true
	return e
}

// txnCase is one transactional scenario; nil faults means every fault the
// cluster supports (--nemesis all), empty none.
func txnCase(name, kind string, c run.ClusterConfig, d time.Duration, faults []string, labels ...string) Case {
	rf, minISR := min(3, max(c.Nodes, 1)), min(2, max(c.Nodes, 1))
	rate := 20.0
	if kind == run.WorkloadEOS {
		rate = 100
	}
	return Case{
		Scenario: run.Scenario{
			Name: name, Kind: kind, Cluster: c,
			Workload:        txnWorkload(rate, d, rf, minISR),
			Faults:          faults,
			RecoveryTimeout: 2 * time.Minute,
			DrainTimeout:    2 * time.Minute,
			CheckTimeout:    2 * time.Minute,
		},
		Labels:  labels,
		Seeds:   []int64{1},
		Timeout: d + 8*time.Minute,
	}
}

var _ = Describe("transactional scenarios", func() {
	for _, e := range txnCatalogue {
		Describe(e.Scenario.Name, Label(e.Labels...), func() {
			seeds := e.Seeds
			if s, ok := seedOverride(); ok {
				seeds = []int64{s}
			}
			for _, seed := range seeds {
				It(fmt.Sprintf("is valid with seed %d", seed), SpecTimeout(e.Timeout), func(ctx SpecContext) {
					runEntry(ctx, e, seed)
				})
			}
		})
	}
})

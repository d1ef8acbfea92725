package scenarios

// The transactional half of the checker self-test (issue 8, item 6): each
// transaction bug the reference broker can plant (txn-marker-partial,
// txn-aborted-read, txn-zombie-write; broker/internal/faults) must make a
// short txn run on a single reference node come back INVALID with the
// anomaly it causes, and the same run without a bug VALID. Label
// `planted` (run by default with smoke). No nemesis faults: each bug
// shows in every fault-free run, the zombie one through the workload's
// zombie rounds (TxnOptions.Zombies: a producer fenced by a second one
// with its transactional id writes on).

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/harness/run"
	"github.com/highwater-io/highwater/harness/workload"
)

// plantedTxnScenario is the short transactional run every case uses: one
// reference node, 3 partitions, 4 transactional producers at 20
// transactions/s for 12 s (one in five aborted, up to 3 partitions each),
// one zombie loop, read_committed and read_uncommitted consumers, no
// faults.
func plantedTxnScenario(name, bug string) run.Scenario {
	w := txnWorkload(20, 12*time.Second, 1, 1)
	w.Partitions = 3
	w.Producers = 4
	opts := workload.DefaultTxnOptions()
	opts.Zombies = 1
	set := map[string]string{}
	if bug != "" {
		set["highwater.planted.bug"] = bug
	}
	return run.Scenario{
		Name:            name,
		Kind:            run.WorkloadTxn,
		Cluster:         run.ClusterConfig{Impl: run.ImplReference, Nodes: 1, Set: set},
		Workload:        w,
		Txn:             opts,
		Faults:          []string{},
		RecoveryTimeout: 30 * time.Second,
		DrainTimeout:    30 * time.Second,
		CheckTimeout:    60 * time.Second,
	}
}

// plantedTxn lists the transactional self-test.
func plantedTxn() []plantedCase {
	bug := func(name string, expect ...string) plantedCase {
		return plantedCase{Bug: name, Scenario: plantedTxnScenario("planted-"+name, name), Expect: expect, Seeds: []int64{1}}
	}
	// The zombie bug is in the partition's epoch check. At transaction
	// version 2 (the default) the partition leader also asks the
	// coordinator to add the partition for every batch, and the
	// coordinator fences the zombie's old epoch before the partition sees
	// it: two guards, one planted away. The self-test runs version 1, where
	// the partition's check is the only one, as for clients that do not
	// speak version 2 (librdkafka, kafka-python).
	zombie := bug("txn-zombie-write", checker.AbortedRead)
	zombie.Scenario.Cluster.Set["highwater.transaction.version"] = "1"
	return []plantedCase{
		{Scenario: plantedTxnScenario("planted-txn-control", ""), Seeds: []int64{1}},
		// Committed records outside the first partition are aborted: the
		// completed read_committed drain misses them.
		bug("txn-marker-partial", checker.LostWrite),
		// Aborted records reach read_committed consumers.
		bug("txn-aborted-read", checker.AbortedRead),
		// The zombie's write joins the fencing producer's transaction and
		// commits with it, although the zombie's own transaction aborted.
		zombie,
	}
}

var _ = Describe("planted transaction bugs", Label(LabelPlanted, LabelTxn), func() {
	for _, pc := range plantedTxn() {
		what := "is valid without a planted bug"
		if pc.Bug != "" {
			what = fmt.Sprintf("finds %s with %s planted", strings.Join(pc.Expect, " or "), pc.Bug)
		}
		Describe(pc.Scenario.Name, func() {
			seed := pc.Seeds[0] // every run shows the bug: one seed
			if s, ok := seedOverride(); ok {
				seed = s
			}
			It(fmt.Sprintf("%s (seed %d)", what, seed), SpecTimeout(plantedTimeout), func(ctx SpecContext) {
				runPlanted(ctx, pc, seed, true)
			})
		})
	}
})

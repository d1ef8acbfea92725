package scenarios

// The idempotent-producer half of the checker self-test (KAFKA.md "forget
// idempotent-producer sequence state on restart → duplicate under kill +
// retries"): with forget-producer-state planted, a restarted broker keeps
// no producer state, so a batch that was appended before a kill and that
// the client retries after the restart is appended a second time. A
// leader kill in a replicated cluster rarely shows it (the retry goes to
// a new leader that learnt the producer state by replication, and the
// restarted node truncates to it), so the run is on one node that is
// killed and restarted while its producers have sends in flight: their
// retries reach the restarted broker. Every Produce answer is held 250 ms
// after its append (the highwater.fault.produce.answer.delay.ms seam), so
// each kill finds appended but unanswered batches. (An fsync per message
// made that window only as long as an fsync, which on a fast disk was too
// short for four seeds in a row in CI.) The send timeout (15 s) is long
// enough that franz-go retries the same batch across the restart instead
// of giving up. Label `planted`.

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/harness/run"
)

// nodeKills kills the single node six times, 2 s apart, restarting it
// after 1 s: each kill has to land while a batch is appended but not yet
// answered, so more kills make a detection likelier per seed.
const nodeKills = "at 2s for 1s kill all; at 4s for 1s kill all; at 6s for 1s kill all; at 8s for 1s kill all; at 10s for 1s kill all; at 12s for 1s kill all"

// forgetProducerState is the forget-producer-state case (and its control,
// bug ""): one reference node, 3 partitions, 16 producers sending 200
// records/s for 15 s, node kills, 15 s sends.
func forgetProducerState(bug string) plantedCase {
	// Each appended batch waits 250 ms for its answer: the window a kill
	// must land in. The control run has the same window.
	set := map[string]string{"highwater.fault.produce.answer.delay.ms": "250"}
	name := "planted-control-producer-restart"
	if bug != "" {
		set["highwater.planted.bug"] = bug
		name = "planted-" + bug
	}
	w := queue(200, 15*time.Second, 1, 1)
	w.Partitions = 3
	w.Producers = 16
	w.GroupConsumers = 0
	w.SendTimeout = 15 * time.Second
	sc := run.Scenario{
		Name:            name,
		Cluster:         run.ClusterConfig{Impl: run.ImplReference, Nodes: 1, Set: set},
		Workload:        w,
		Schedule:        nodeKills,
		RecoveryTimeout: 30 * time.Second,
		DrainTimeout:    30 * time.Second,
		CheckTimeout:    60 * time.Second,
	}
	return plantedCase{Bug: bug, Scenario: sc, Expect: []string{checker.Duplicate}, Seeds: []int64{1, 2, 3, 4}}
}

var _ = Describe("planted producer-state bug", Label(LabelPlanted), func() {
	for _, pc := range []plantedCase{forgetProducerState(""), forgetProducerState("forget-producer-state")} {
		what := "is valid without a planted bug"
		if pc.Bug != "" {
			what = fmt.Sprintf("finds %s with %s planted", checker.Duplicate, pc.Bug)
		}
		Describe(pc.Scenario.Name, func() {
			seeds := pc.Seeds
			if s, ok := seedOverride(); ok {
				seeds = []int64{s}
			}
			if pc.Bug == "" {
				seeds = seeds[:1]
			}
			It(fmt.Sprintf("%s (seeds %v)", what, seeds), SpecTimeout(time.Duration(len(seeds))*plantedTimeout+time.Minute), func(ctx SpecContext) {
				for i, seed := range seeds {
					if runPlanted(ctx, pc, seed, i == len(seeds)-1) {
						return
					}
				}
			})
		})
	}
})

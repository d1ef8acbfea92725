package scenarios

// The checker self-test (issue 6, KAFKA.md "planted bugs"): for every bug
// the reference broker can plant (highwater.planted.bug, see
// broker/internal/faults and BUGS.md), a short chaos run against the
// 3-node reference cluster with the bug on and the fault that exposes it
// must come back INVALID with the anomaly the bug causes; the same runs
// without a bug must come back VALID. Label `planted`; the default
// `go test ./scenarios` runs it with smoke.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/harness/run"
)

// LabelPlanted marks the planted-bug self-test.
const LabelPlanted = "planted"

// plantedCase is one self-test run.
type plantedCase struct {
	// Bug is the planted bug (highwater.planted.bug); "" is a control run
	// that must be valid.
	Bug      string
	Scenario run.Scenario
	// Expect lists anomaly types of which at least one must be reported.
	Expect []string
	// Seeds are tried in turn until one run shows an expected anomaly
	// (detection needs a kill to land while a leader holds unreplicated
	// records, which is likely, not certain); a control runs the first.
	Seeds []int64
}

// plantedTimeout bounds one run end to end; a run that does not finish in
// time counts as a miss (the next seed is tried).
const plantedTimeout = 150 * time.Second

// Fault schedules of the self-test. leaderKills kills the leader of a
// workload partition every 2 s (restarted after 1 s), six times, so
// leadership moves around and restarted replicas rejoin as followers;
// killAll kills every node at once (a power cut), twice.
const (
	leaderKills = "at 2s for 1s kill leader:highwater-queue/0; at 4s for 1s kill leader:highwater-queue/1; " +
		"at 6s for 1s kill leader:highwater-queue/0; at 8s for 1s kill leader:highwater-queue/2; " +
		"at 10s for 1s kill leader:highwater-queue/0; at 12s for 1s kill leader:highwater-queue/1"
	killAll = "at 4s for 2s kill all; at 11s for 2s kill all"
	// p0LeaderKills kills partition 0's leader four times, 4 s apart, so
	// that traffic resumes between kills (each lands on a leader with an
	// unreplicated tail) and leadership of partition 0 visits the replicas
	// left with diverged tails.
	p0LeaderKills = "at 2s for 1s kill leader:highwater-queue/0; at 6s for 1s kill leader:highwater-queue/0; " +
		"at 10s for 1s kill leader:highwater-queue/0; at 14s for 1s kill leader:highwater-queue/0"
)

// plantedScenario is the short run every case uses: 3 reference nodes
// with fast failure detection (3 s sessions), RF 3, min ISR 2, 3
// partitions, 16 producers sending 200 records/s for 16 s (every schedule
// below has healed by 15 s), no group consumers (the bugs are in the data
// plane), set applied last.
func plantedScenario(name, schedule string, set map[string]string) run.Scenario {
	w := queue(200, 16*time.Second, 3, 2)
	w.Partitions = 3
	w.Producers = 16
	w.GroupConsumers = 0
	props := map[string]string{"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500"}
	maps.Copy(props, set)
	return run.Scenario{
		Name:            name,
		Cluster:         run.ClusterConfig{Impl: run.ImplReference, Nodes: 3, Set: props},
		Workload:        w,
		Schedule:        schedule,
		RecoveryTimeout: 45 * time.Second,
		DrainTimeout:    45 * time.Second,
		CheckTimeout:    60 * time.Second,
	}
}

// planted lists the self-test. Replication cases run with a 100 ms slow
// replication link (highwater.fault.replica.fetch.delay.ms: a leader
// always holds ~100 ms of records its followers lack, the window a leader
// kill exposes) and a 2 s replica.lag.time.max.ms; storage cases with the
// page cache and an fsync per message (without a bug, a power cut then
// loses nothing acknowledged). Each kind has its control run.
func planted() []plantedCase {
	slowLink := map[string]string{"highwater.fault.replica.fetch.delay.ms": "100", "replica.lag.time.max.ms": "2000"}
	durable := map[string]string{"highwater.fault.page.cache": "true", "log.flush.interval.messages": "1"}
	withBug := func(bug string, set map[string]string) map[string]string {
		m := map[string]string{"highwater.planted.bug": bug}
		maps.Copy(m, set)
		return m
	}
	replication := func(bug string, expect ...string) plantedCase {
		return plantedCase{Bug: bug, Scenario: plantedScenario("planted-"+bug, leaderKills, withBug(bug, slowLink)), Expect: expect, Seeds: []int64{1, 2, 3}}
	}
	return []plantedCase{
		{Scenario: plantedScenario("planted-control-leader-kills", leaderKills, slowLink), Seeds: []int64{1}},
		{Scenario: plantedScenario("planted-control-power-cut", killAll, durable), Seeds: []int64{1}},
		replication("ack-before-replication", checker.LostWrite, checker.Unseen, checker.InconsistentOffsets, checker.NotLinearizable),
		replication("hw-beyond-isr", checker.InconsistentOffsets, checker.NotLinearizable, checker.LostWrite),
		skipTruncation(withBug),
		withSeeds(replication("unclean-election", checker.LostWrite, checker.Unseen, checker.InconsistentOffsets, checker.NotLinearizable),
			// Probabilistic: the elected out-of-sync replica must miss
			// records someone reads (seeds 3 and 4 caught it when 2 did not).
			1, 2, 3, 4, 5),
		// A drain that trusts a stale end stops short: unseen.
		replication("stale-read", checker.NotLinearizable, checker.Unseen),
		{
			Bug:      "lose-fsync",
			Scenario: plantedScenario("planted-lose-fsync", killAll, withBug("lose-fsync", durable)),
			Expect:   []string{checker.LostWrite, checker.Unseen, checker.InconsistentOffsets},
			Seeds:    []int64{1, 2},
		},
	}
}

// withSeeds gives c its own seed list, tried in order until one catches it.
func withSeeds(c plantedCase, seeds ...int64) plantedCase {
	c.Seeds = seeds
	return c
}

// skipTruncation is the skip-truncation case. A diverged tail shows only
// once its replica leads and the diverged offsets are read (the readers
// read near the end, the drain reads the final leader), and the tail holds
// the records pending when its leader died, so it runs with more producers
// (more pending records), a slower link (250 ms) and repeated kills of one
// partition's leader. Even so the client-side checkers miss it in about
// half the runs; the replicas checker, which compares every replica's log
// on disk after the run (replica-divergence below the final high
// watermark), catches the diverged tail itself. The broker's own acked-on-isr assertion sometimes
// trips on the diverged leader and stalls the partition (BUGS.md); such a
// run ends unknown or times out and the next seed is tried.
func skipTruncation(withBug func(string, map[string]string) map[string]string) plantedCase {
	sc := plantedScenario("planted-skip-truncation", p0LeaderKills, withBug("skip-truncation",
		map[string]string{"highwater.fault.replica.fetch.delay.ms": "250", "replica.lag.time.max.ms": "2000"}))
	sc.Workload.Producers = 32
	return plantedCase{Bug: "skip-truncation", Scenario: sc, Seeds: []int64{1, 2, 3},
		Expect: []string{checker.ReplicaDivergence, checker.InconsistentOffsets, checker.Duplicate, checker.NotLinearizable, checker.LostWrite}}
}

var _ = Describe("planted bugs", Label(LabelPlanted), func() {
	for _, pc := range planted() {
		what := "is valid without a planted bug"
		if pc.Bug != "" {
			what = fmt.Sprintf("finds %s with %s planted", strings.Join(pc.Expect, " or "), pc.Bug)
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

// plantedReplay is the go test command that repeats pc with seed.
func plantedReplay(pc plantedCase, seed int64) string {
	return fmt.Sprintf("HIGHWATER_SEED=%d go test ./scenarios -timeout 0 -v --ginkgo.focus='%s'", seed, pc.Scenario.Name)
}

// runPlanted runs pc with seed and reports whether it showed what pc
// expects. A miss fails the spec when last, else returns false so the
// next seed is tried; a control or harness failure always fails.
func runPlanted(ctx context.Context, pc plantedCase, seed int64, last bool) bool {
	runsDir := os.Getenv("HIGHWATER_RUNS_DIR")
	keep := runsDir != ""
	if !keep {
		d, err := os.MkdirTemp("", "highwater-planted-")
		Expect(err).NotTo(HaveOccurred())
		runsDir = d
	}
	sc := pc.Scenario
	sc.Cluster.Binary = binary
	started := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, plantedTimeout)
	defer cancel()
	res, err := run.Run(runCtx, sc, run.Options{
		RunsDir: runsDir, Seed: seed, Out: GinkgoWriter,
		Replay: func(seed int64, _ []string) string { return plantedReplay(pc, seed) },
	})
	if err != nil && pc.Bug != "" && !last && ctx.Err() == nil {
		GinkgoWriter.Printf("seed %d: %v; trying the next seed\n", seed, err)
		if !keep {
			_ = os.RemoveAll(runsDir)
		}
		return false
	}
	Expect(err).NotTo(HaveOccurred(), "run directory %s", res.Dir)
	found := map[string]int{}
	for _, r := range res.Summary.Results {
		for typ, n := range r.Counts {
			found[typ] += n
		}
	}
	AddReportEntry("summary", res.Text)
	GinkgoWriter.Printf("%s: verdict %s, anomalies %v, %s\n", sc.Name, res.Verdict, found, time.Since(started).Round(time.Second))
	fail := func(why string) {
		Fail(fmt.Sprintf("%s\n%s\nrun directory kept: %s\nreplay: %s", why, res.Text, res.Dir, plantedReplay(pc, seed)))
	}
	if pc.Bug == "" {
		if res.Verdict != checker.Valid {
			fail(fmt.Sprintf("control run without a planted bug: verdict %s", strings.ToUpper(res.Verdict.String())))
		}
		Expect(res.Figures.SendsOK).To(BeNumerically(">", 0), "no acknowledged sends")
	} else {
		miss := ""
		switch {
		case res.Verdict != checker.Invalid:
			miss = fmt.Sprintf("%s planted but the verdict is %s", pc.Bug, strings.ToUpper(res.Verdict.String()))
		case !slices.ContainsFunc(pc.Expect, func(t string) bool { return found[t] > 0 }):
			miss = fmt.Sprintf("%s planted: INVALID, but with %v instead of any of %v", pc.Bug, found, pc.Expect)
		}
		if miss != "" {
			if last {
				fail(miss)
			}
			GinkgoWriter.Printf("seed %d: %s; trying the next seed\n", seed, miss)
			if !keep {
				_ = os.RemoveAll(runsDir)
			}
			return false
		}
	}
	if !keep {
		_ = os.RemoveAll(runsDir)
	}
	return true
}

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
	// Seeds are tried in turn until one run shows an expected anomaly; a
	// control runs the first. Every case's fault lands in its bug's window
	// by construction (fault seams hold the window open), so the first
	// seed is expected to catch it; the others are a fallback, not the
	// plan.
	Seeds []int64
}

// plantedTimeout bounds one run end to end; a run that does not finish in
// time counts as a miss (the next seed is tried).
const plantedTimeout = 150 * time.Second

// Fault schedules of the self-test. leaderKills kills the leader of a
// workload partition three times, 6 s apart, each restarted after 1 s:
// franz-go refreshes its metadata at most every 5 s, so a kill closer to
// the last one finds every producer still waiting on the dead leader and
// nothing in flight for the kill to catch; 6 s apart, traffic has resumed
// before each kill. killAll kills every node at once (a power cut), twice.
const (
	leaderKills = "at 2s for 1s kill leader:highwater-queue/0; at 8s for 1s kill leader:highwater-queue/1; " +
		"at 14s for 1s kill leader:highwater-queue/2"
	killAll = "at 4s for 2s kill all; at 11s for 2s kill all"
)

// plantedScenario is the short run every case uses: 3 reference nodes
// with fast failure detection (3 s sessions), RF 3, min ISR 2, 3
// partitions, 16 producers sending up to 200 records/s for 16 s (every
// schedule below has healed by 15 s), no group consumers (the bugs are in
// the data plane), set applied last. Each producer sends one record at a
// time and waits for its answer.
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

// planted lists the self-test. Replication cases run with leader kills
// (above) and 48 producers over a slow replication link
// (highwater.fault.replica.fetch.delay.ms=300: a leader always holds the
// records of about 300 ms, one per waiting producer, that its followers
// lack: the tail a leader kill exposes), with a 9 s restart hold
// (highwater.fault.replica.restart.delay.ms: a killed node, once
// restarted, fetches nothing for 9 s, so it is still out of sync at the
// next kill's election, 6 s later, and back in sync before the one after)
// and min ISR 1 (while the held node is out, the two others carry the
// partitions; with 2, acknowledgements would stop whenever one of them is
// killed). Storage cases run with the page cache and an fsync per message
// (without a bug, a power cut then loses nothing acknowledged). Each kind
// has its control run with the same settings.
func planted() []plantedCase {
	slowLink := map[string]string{"highwater.fault.replica.fetch.delay.ms": "300", "replica.lag.time.max.ms": "2000",
		"highwater.fault.replica.restart.delay.ms": "9000"}
	durable := map[string]string{"highwater.fault.page.cache": "true", "log.flush.interval.messages": "1"}
	withBug := func(bug string, set map[string]string) map[string]string {
		m := map[string]string{"highwater.planted.bug": bug}
		maps.Copy(m, set)
		return m
	}
	replicated := func(name string, set map[string]string) run.Scenario {
		sc := plantedScenario(name, leaderKills, set)
		sc.Workload.MinInsyncReplicas = 1
		sc.Workload.Producers = 48
		return sc
	}
	replication := func(bug string, expect ...string) plantedCase {
		return plantedCase{Bug: bug, Scenario: replicated("planted-"+bug, withBug(bug, slowLink)), Expect: expect, Seeds: []int64{1, 2}}
	}
	return []plantedCase{
		{Scenario: replicated("planted-control-leader-kills", slowLink), Seeds: []int64{1}},
		{Scenario: plantedScenario("planted-control-power-cut", killAll, durable), Seeds: []int64{1}},
		// Each kill loses the killed leader's acknowledged tail.
		replication("ack-before-replication", checker.LostWrite, checker.Unseen, checker.InconsistentOffsets, checker.NotLinearizable),
		// Each kill truncates the tail consumers read; the producers'
		// retries land at other offsets.
		replication("hw-beyond-isr", checker.InconsistentOffsets, checker.NotLinearizable, checker.LostWrite),
		skipTruncation(replication("skip-truncation")),
		// The second and third kills' elections pick the held node, which
		// lacks everything acknowledged since its own kill 6 s earlier.
		replication("unclean-election", checker.LostWrite, checker.Unseen, checker.InconsistentOffsets, checker.NotLinearizable),
		staleRead(replication("stale-read", checker.NotLinearizable, checker.Unseen)),
		{
			Bug:      "lose-fsync",
			Scenario: plantedScenario("planted-lose-fsync", killAll, withBug("lose-fsync", durable)),
			Expect:   []string{checker.LostWrite, checker.Unseen, checker.InconsistentOffsets},
			Seeds:    []int64{1, 2},
		},
	}
}

// staleRead runs c without faults. The bug shows in every read that
// follows an acknowledgement by less than a second, and the
// linearizability checker excuses a stale high watermark for 10 s after a
// fault (a new leader catching up, allowed): with leader kills only the
// 2 s before the first kill counted.
func staleRead(c plantedCase) plantedCase {
	c.Scenario.Schedule = ""
	c.Scenario.Faults = []string{}
	return c
}

// skipTruncation is the skip-truncation case on the replication
// settings. Each kill leaves the killed leader's unreplicated tail on its
// disk while the new leader takes other records at those offsets; with
// the bug the restarted node keeps that tail when it rejoins, and the
// replicas checker, which compares every replica's log on disk after the
// run, finds the replicas holding different records below the final high
// watermark (replica-divergence). The client-side checkers see it only
// when the diverged replica leads while its offsets are read. The
// broker's own acked-on-isr assertion sometimes trips on a diverged
// leader and stalls the partition (BUGS.md); such a run does not recover
// in time but is still checked.
func skipTruncation(c plantedCase) plantedCase {
	c.Expect = []string{checker.ReplicaDivergence, checker.InconsistentOffsets, checker.Duplicate, checker.NotLinearizable, checker.LostWrite}
	return c
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

package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/harness/run"
)

// The thin layer: one Describe per scenario, labelled as catalogued; one
// It per seed, or for ExpectAnomaly one It trying the seeds in turn.
var _ = Describe("chaos scenarios", func() {
	for _, e := range Catalogue {
		Describe(e.Scenario.Name, Label(e.Labels...), func() {
			seeds := e.Seeds
			if s, ok := seedOverride(); ok {
				seeds = []int64{s}
			}
			if e.Expect == ExpectAnomaly {
				title := fmt.Sprintf("finds %s within seeds %v", strings.Join(e.Anomalies, " or "), seeds)
				It(title, SpecTimeout(time.Duration(len(seeds))*e.Timeout), func(ctx SpecContext) {
					findAnomaly(ctx, e, seeds)
				})
				return
			}
			for _, seed := range seeds {
				title := fmt.Sprintf("is valid with seed %d", seed)
				if e.Expect == ExpectRecord {
					title = fmt.Sprintf("records its verdict with seed %d", seed)
				}
				It(title, SpecTimeout(e.Timeout), func(ctx SpecContext) {
					runEntry(ctx, e, seed)
				})
			}
		})
	}
})

// skipUnlessRunnable skips e where its environment is missing.
func skipUnlessRunnable(e Case) {
	if e.NeedsRoot && os.Geteuid() != 0 {
		Skip("needs root for network namespaces")
	}
	if e.Scenario.Cluster.Impl == run.ImplKafka {
		if _, err := exec.LookPath("java"); err != nil && os.Getenv("JAVA_HOME") == "" {
			Skip("needs java for Apache Kafka")
		}
	}
}

// runsRoot is where run directories go, and whether they are kept.
func runsRoot() (string, bool) {
	if d := os.Getenv("HIGHWATER_RUNS_DIR"); d != "" {
		return d, true
	}
	d, err := os.MkdirTemp("", "highwater-runs-")
	Expect(err).NotTo(HaveOccurred())
	return d, false
}

// runOnce runs e with seed under runsDir; a harness error fails the spec.
func runOnce(ctx context.Context, e Case, seed int64, runsDir string) run.Result {
	sc := e.Scenario
	sc.Cluster.Binary = binary
	started := time.Now()
	res, err := run.Run(ctx, sc, run.Options{
		RunsDir: runsDir, Seed: seed, Out: GinkgoWriter,
		Replay: func(seed int64, _ []string) string { return e.ReplayCommand(seed) },
	})
	Expect(err).NotTo(HaveOccurred(), "run directory %s", res.Dir)
	AddReportEntry(fmt.Sprintf("summary (seed %d)", seed), res.Text)
	GinkgoWriter.Printf("%s seed %d: verdict %s, anomalies %v, %d/%d sends acknowledged, %s\n",
		sc.Name, seed, strings.ToUpper(res.Verdict.String()), anomalyCounts(res), res.Figures.SendsOK,
		res.Figures.Sends, time.Since(started).Round(time.Second))
	return res
}

// anomalyCounts sums res's anomalies by type over every checker.
func anomalyCounts(res run.Result) map[string]int {
	found := map[string]int{}
	for _, r := range res.Summary.Results {
		for typ, n := range r.Counts {
			found[typ] += n
		}
	}
	return found
}

func runEntry(ctx context.Context, e Case, seed int64) {
	skipUnlessRunnable(e)
	runsDir, keep := runsRoot()
	res := runOnce(ctx, e, seed, runsDir)
	if e.Expect == ExpectValid && res.Verdict != checker.Valid {
		Fail(fmt.Sprintf("verdict %s\n%s\nrun directory kept: %s\nreplay: %s",
			strings.ToUpper(res.Verdict.String()), res.Text, res.Dir, res.Replay))
	}
	Expect(res.Figures.SendsOK).To(BeNumerically(">", 0), "no acknowledged sends")
	if !keep && res.Verdict == checker.Valid {
		_ = os.RemoveAll(runsDir)
	}
}

// findAnomaly runs e's seeds in order until one is INVALID with one of
// e.Anomalies; a valid run (the schedule missed the unsafe window) moves
// on. Another verdict (unknown, or INVALID with other anomalies only) is
// logged and also moves on: the entry fails only when no seed found it.
func findAnomaly(ctx context.Context, e Case, seeds []int64) {
	skipUnlessRunnable(e)
	runsDir, keep := runsRoot()
	var tried []string
	for _, seed := range seeds {
		res := runOnce(ctx, e, seed, runsDir)
		found := anomalyCounts(res)
		hit := slices.ContainsFunc(e.Anomalies, func(t string) bool { return found[t] > 0 })
		tried = append(tried, fmt.Sprintf("seed %d: %s %v (%s)", seed, strings.ToUpper(res.Verdict.String()), found, res.Dir))
		if res.Verdict == checker.Invalid && hit {
			GinkgoWriter.Printf("found with seed %d after %d run(s); replay: %s\n", seed, len(tried), e.ReplayCommand(seed))
			if !keep {
				_ = os.RemoveAll(runsDir)
			}
			return
		}
	}
	Fail(fmt.Sprintf("no seed found any of %v:\n%s", e.Anomalies, strings.Join(tried, "\n")))
}

package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/harness/run"
)

// The thin layer: one Describe per scenario, one It per seed, labelled as
// catalogued.
var _ = Describe("chaos scenarios", func() {
	for _, e := range Catalogue {
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

func runEntry(ctx context.Context, e Case, seed int64) {
	if e.NeedsRoot && os.Geteuid() != 0 {
		Skip("needs root for network namespaces")
	}
	if e.Scenario.Cluster.Impl == run.ImplKafka {
		if _, err := exec.LookPath("java"); err != nil && os.Getenv("JAVA_HOME") == "" {
			Skip("needs java for Apache Kafka")
		}
	}
	runsDir := os.Getenv("HIGHWATER_RUNS_DIR")
	keep := runsDir != ""
	if !keep {
		d, err := os.MkdirTemp("", "highwater-runs-")
		Expect(err).NotTo(HaveOccurred())
		runsDir = d
	}
	sc := e.Scenario
	sc.Cluster.Binary = binary
	res, err := run.Run(ctx, sc, run.Options{
		RunsDir: runsDir, Seed: seed, Out: GinkgoWriter,
		Replay: func(seed int64, _ []string) string { return e.ReplayCommand(seed) },
	})
	Expect(err).NotTo(HaveOccurred(), "run directory %s", res.Dir)
	AddReportEntry("summary", res.Text)
	if res.Verdict != checker.Valid {
		Fail(fmt.Sprintf("verdict %s\n%s\nrun directory kept: %s\nreplay: %s",
			strings.ToUpper(res.Verdict.String()), res.Text, res.Dir, res.Replay))
	}
	Expect(res.Figures.SendsOK).To(BeNumerically(">", 0), "no acknowledged sends")
	if !keep {
		_ = os.RemoveAll(runsDir)
	}
	GinkgoWriter.Println("seed " + strconv.FormatInt(seed, 10) + ": valid")
}

package scenarios

import (
	"context"
	"os"
	"strconv"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/highwater-io/highwater/internal/brokerproc"
)

// TestScenarios runs the catalogue. Without a label filter smoke and
// planted (the checker self-test, planted_test.go) run: nightly entries
// take many minutes each.
func TestScenarios(t *testing.T) {
	RegisterFailHandler(Fail)
	suite, reporter := GinkgoConfiguration()
	if suite.LabelFilter == "" {
		suite.LabelFilter = LabelSmoke + " || " + LabelPlanted
	}
	RunSpecs(t, "Scenarios", suite, reporter)
}

// binary is the highwater executable reference brokers run.
var binary string

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	if b := os.Getenv("HIGHWATER_BINARY"); b != "" {
		return []byte(b)
	}
	dir, err := os.MkdirTemp("", "highwater-scenarios-bin-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	b, err := brokerproc.Build(context.WithoutCancel(ctx), dir)
	Expect(err).NotTo(HaveOccurred(), "build ./cmd/highwater for the reference broker")
	return []byte(b)
}, func(b []byte) {
	binary = string(b)
})

// seedOverride is HIGHWATER_SEED, when set.
func seedOverride() (int64, bool) {
	s := os.Getenv("HIGHWATER_SEED")
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		Fail("HIGHWATER_SEED: " + err.Error())
	}
	return v, true
}

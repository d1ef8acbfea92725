package scenarios

import (
	"fmt"
	"slices"
	"time"

	"github.com/highwater-io/highwater/harness/run"
	"github.com/highwater-io/highwater/harness/workload"
)

// Labels the suite filters on.
const (
	LabelSmoke   = "smoke"
	LabelNightly = "nightly"
)

// LabelKafka marks the entries that run Apache Kafka (java and the jars
// of conformance/fetch.sh), so a filter can pick or drop them.
const LabelKafka = "kafka"

// Expectation is what a catalogued scenario must show.
type Expectation int

const (
	// ExpectValid: every seed's run is VALID (the zero value).
	ExpectValid Expectation = iota
	// ExpectAnomaly: the seeds run in order until one is INVALID with one
	// of Case.Anomalies; a fault schedule may miss the window an unsafe
	// setting opens, so a valid run moves on to the next seed, and only
	// when every seed came back without the anomaly does the entry fail.
	ExpectAnomaly
	// ExpectRecord: any verdict passes (a harness error does not); the
	// summary is recorded. For settings whose outcome is the finding.
	ExpectRecord
)

// String names e for spec titles.
func (e Expectation) String() string {
	switch e {
	case ExpectValid:
		return "valid"
	case ExpectAnomaly:
		return "anomaly"
	case ExpectRecord:
		return "record"
	default:
		return fmt.Sprintf("expectation(%d)", int(e))
	}
}

// Case is one catalogued scenario.
type Case struct {
	Scenario run.Scenario
	Labels   []string
	// Expect is what the runs must show; Anomalies the anomaly types of
	// which ExpectAnomaly needs one.
	Expect    Expectation
	Anomalies []string
	// Seeds are the root seeds run by default: one spec each for
	// ExpectValid and ExpectRecord, one spec trying them in turn for
	// ExpectAnomaly. The HIGHWATER_SEED environment variable replaces them
	// with one.
	Seeds []int64
	// Timeout bounds one run end to end (cluster start to verdict); an
	// ExpectAnomaly spec gets it once per seed.
	Timeout time.Duration
	// NeedsRoot marks scenarios that need network namespaces.
	NeedsRoot bool
}

// HasLabel reports whether e carries label.
func (e Case) HasLabel(label string) bool { return slices.Contains(e.Labels, label) }

// queue is the workload of the catalogue at the given rate and duration.
func queue(rate float64, d time.Duration, rf, minISR int) workload.Config {
	w := workload.DefaultConfig("")
	w.SendRatePerSec = rate
	w.Duration = d
	w.ReplicationFactor, w.MinInsyncReplicas = rf, minISR
	return w
}

// Catalogue lists every scenario. Smoke entries are short and must be
// valid on a 2-core machine; nightly entries are long, many-seed runs.
var Catalogue = []Case{
	{
		// kill -9 and pause of a single reference broker: acknowledged
		// writes survive a crash, a frozen broker loses nothing, and the
		// drain reads everything back.
		Scenario: run.Scenario{
			Name:            "smoke-reference-kill-pause",
			Cluster:         run.ClusterConfig{Impl: run.ImplReference, Nodes: 1},
			Workload:        queue(150, 30*time.Second, 1, 1),
			Schedule:        "at 3s for 4s kill random; at 10s for 4s pause random; at 17s for 3s kill random; at 22s for 3s pause random",
			RecoveryTimeout: 45 * time.Second,
			DrainTimeout:    45 * time.Second,
			CheckTimeout:    60 * time.Second,
		},
		Labels:  []string{LabelSmoke},
		Seeds:   []int64{1},
		Timeout: 3 * time.Minute,
	},
	nightlyKafka("nightly-kafka-partitions", []string{"partition-leader", "partition-node", "partition-halves", "partition-controller", "kill", "pause"}),
	nightlyKafka("nightly-kafka-az", []string{"az-loss", "az-cut", "partition-ring", "partition-bridge", "restart"}),
}

func init() { Catalogue = append(Catalogue, acceptance()...) }

// nightlyKafka is a 5-minute 3-node Apache Kafka run with its safe
// settings (RF 3, min ISR 2, acks=all, idempotence, unclean election off)
// under the given faults, over several seeds.
func nightlyKafka(name string, faults []string) Case {
	return Case{
		Scenario: run.Scenario{
			Name:      name,
			Cluster:   run.ClusterConfig{Impl: run.ImplKafka, Nodes: 3, NetNS: true},
			Workload:  queue(100, 5*time.Minute, 3, 2),
			Faults:    faults,
			MeanQuiet: 10 * time.Second,
			MeanFault: 15 * time.Second,
		},
		Labels:    []string{LabelNightly, LabelKafka},
		Seeds:     []int64{101, 102, 103},
		Timeout:   15 * time.Minute,
		NeedsRoot: true,
	}
}

// ReplayCommand is the go test command that repeats e with seed.
func (e Case) ReplayCommand(seed int64) string {
	filter := ""
	if !e.HasLabel(LabelSmoke) {
		filter = " --ginkgo.label-filter=" + e.Labels[0]
	}
	return fmt.Sprintf("HIGHWATER_SEED=%d go test ./scenarios -timeout 0 -v --ginkgo.focus='%s'%s", seed, e.Scenario.Name, filter)
}

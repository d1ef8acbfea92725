// Package scenarios is the scenario catalogue: chaos runs as plain Go
// values (Catalogue), each a run.Scenario with labels, seeds and what the
// runs must show (Case.Expect: valid; an expected anomaly found by one of
// a bounded list of seeds, tried in turn; or a verdict that is only
// recorded). The ginkgo suite in this directory turns every entry into
// specs with a thin Describe/It layer.
//
// Labels: `smoke` (short, one run per fault family) and `planted` (the
// checker self-test in planted_test.go: one short run per planted broker
// bug that must be INVALID with the anomaly the bug causes, and control
// runs that must be VALID) are what `go test ./scenarios` runs when no
// label filter is given; `nightly`
// (long, many-seed runs: `go test ./scenarios -timeout 0
// --ginkgo.label-filter=nightly`), `kafka` (needs java and the Kafka
// jars of conformance/fetch.sh; some need root for network namespaces).
// The nightly set holds issue 6's acceptance pairs (acceptance.go): the
// same safe settings (RF 3, min ISR 2, acks=all, idempotence, no unclean
// election) and unsafe settings (min ISR 1, unclean election) against
// Apache Kafka and the 3-node reference cluster.
//
// Environment:
//
//	HIGHWATER_SEED      root seed for every run (replays a failure)
//	HIGHWATER_BINARY    a prebuilt highwater binary for reference brokers
//	                    (default: built from ./cmd/highwater once per suite)
//	HIGHWATER_RUNS_DIR  keep run directories here (default: a temporary
//	                    directory, removed when every run was valid)
//
// Goroutines: the catalogue is immutable data built at init; runs happen
// in the suite's spec goroutines through harness/run.
//
// This is library code: it never imports testing, ginkgo or gomega.
package scenarios

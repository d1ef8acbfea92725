// Package scenarios is the scenario catalogue: chaos runs as plain Go
// values (Catalogue), each a run.Scenario with labels and a default seed.
// The ginkgo suite in this directory turns every entry into a spec with a
// thin Describe/Entry layer; `go test ./scenarios` runs the `smoke` label
// only, and `go test ./scenarios --ginkgo.label-filter=nightly` the long
// runs (see README in scenarios_test.go's package comment).
//
// Environment:
//
//	HIGHWATER_SEED      root seed for every run (replays a failure)
//	HIGHWATER_BINARY    a prebuilt highwater binary for reference brokers
//	                    (default: built from ./cmd/highwater once per suite)
//	HIGHWATER_RUNS_DIR  keep run directories here (default: a temporary
//	                    directory, removed when every run was valid)
//
// This is library code: it never imports testing, ginkgo or gomega.
package scenarios

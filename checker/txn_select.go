package checker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/highwater-io/highwater/history"
)

// Workload names a history's header records under Params["workload"]; an
// empty or missing name means the queue workload (histories written before
// the transactional workloads existed).
const (
	WorkloadQueue = "queue"
	WorkloadTxn   = "txn"
	WorkloadEOS   = "eos"
)

// ForWorkload returns the checkers a run of the named workload is judged
// by: Default for the queue workload, the transactional checkers for txn,
// and those plus ExactlyOnce for eos.
func ForWorkload(workload, outDir string) ([]Checker, error) {
	switch workload {
	case "", WorkloadQueue:
		return append(Default(outDir), &Replicas{}), nil
	case WorkloadTxn:
		return []Checker{&Txn{}, &TxnCycles{}, &Replicas{}}, nil
	case WorkloadEOS:
		return []Checker{&Txn{}, &TxnCycles{}, &ExactlyOnce{}}, nil
	}
	return nil, fmt.Errorf("checker: unknown workload %q (want queue, txn or eos)", workload)
}

// forHistory returns the checkers for the workload h's header names; an
// unknown name gets the queue checkers, whose preconditions then say what
// is wrong rather than the check failing to run.
func forHistory(h *history.History, outDir string) []Checker {
	cs, err := ForWorkload(h.Header.Params["workload"], outDir)
	if err != nil {
		return Default(outDir)
	}
	return cs
}

// CheckWorkload is CheckWith with the workload named explicitly (highwater
// check --workload); an empty workload takes the one the history's header
// names.
func CheckWorkload(ctx context.Context, historyPath, outDir, workload string, opts Options) (Summary, error) {
	if workload == "" {
		return CheckWith(ctx, historyPath, outDir, opts)
	}
	checkers, err := ForWorkload(workload, outDir)
	if err != nil {
		return Summary{}, err
	}
	h, err := history.Load(historyPath)
	if err != nil {
		return Summary{}, fmt.Errorf("checker: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("checker: %w", err)
	}
	s := Run(ctx, h, opts.apply(checkers)...)
	js, err := s.JSON()
	if err != nil {
		return s, err
	}
	if err := os.WriteFile(filepath.Join(outDir, "results.json"), js, 0o644); err != nil {
		return s, fmt.Errorf("checker: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "summary.txt"), []byte(s.Text()), 0o644); err != nil {
		return s, fmt.Errorf("checker: %w", err)
	}
	return s, nil
}

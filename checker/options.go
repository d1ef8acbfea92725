package checker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/highwater-io/highwater/history"
)

// Options tune the default checkers for one check run.
type Options struct {
	// StrictHighWatermark makes a read's lagging high watermark fatal even
	// during and right after faults (highwater check --strict-hw); see
	// Linearizability.StrictHighWatermark.
	StrictHighWatermark bool
	// StaleHWCheckpoint, when positive, overrides the brokers'
	// high-watermark checkpoint interval the history's header records
	// (highwater check --hw-checkpoint); see
	// Linearizability.StaleHWCheckpoint.
	StaleHWCheckpoint time.Duration
}

// apply sets the options on the checkers that take them.
func (o Options) apply(cs []Checker) []Checker {
	for _, c := range cs {
		if l, ok := c.(*Linearizability); ok {
			l.StrictHighWatermark = o.StrictHighWatermark
			l.StaleHWCheckpoint = o.StaleHWCheckpoint
		}
	}
	return cs
}

// CheckWith is Check with options.
func CheckWith(ctx context.Context, historyPath, outDir string, opts Options) (Summary, error) {
	h, err := history.Load(historyPath)
	if err != nil {
		return Summary{}, fmt.Errorf("checker: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("checker: %w", err)
	}
	s := Run(ctx, h, opts.apply(forHistory(h, outDir))...) // by the header's workload (txn_select.go)
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

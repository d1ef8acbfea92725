package checker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/highwater-io/highwater/history"
)

// Default returns the checkers a queue run is judged by. outDir receives
// artifacts (porcupine visualizations); empty means none are written.
func Default(outDir string) []Checker {
	return []Checker{
		&Queue{},
		&Linearizability{OutDir: outDir},
	}
}

// Check loads the history at historyPath, runs every default checker and
// writes results.json and summary.txt into outDir (created if needed). The
// error reports only what stopped the check from running (unreadable
// history, unwritable outDir); anomalies are in the Summary.
func Check(ctx context.Context, historyPath, outDir string) (Summary, error) {
	h, err := history.Load(historyPath)
	if err != nil {
		return Summary{}, fmt.Errorf("checker: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("checker: %w", err)
	}
	s := Run(ctx, h, Default(outDir)...)
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

package checker

import (
	"context"
)

// Default returns the checkers a queue run is judged by. outDir receives
// artifacts (porcupine visualizations); empty means none are written.
func Default(outDir string) []Checker {
	return []Checker{
		&Queue{},
		&Linearizability{OutDir: outDir},
		&Group{},
	}
}

// Check loads the history at historyPath, runs every default checker and
// writes results.json and summary.txt into outDir (created if needed). The
// error reports only what stopped the check from running (unreadable
// history, unwritable outDir); anomalies are in the Summary.
func Check(ctx context.Context, historyPath, outDir string) (Summary, error) {
	return CheckWith(ctx, historyPath, outDir, Options{})
}

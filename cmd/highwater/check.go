package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/reports"
)

// exitError carries a process exit status chosen by a verdict.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func checkCommand() *cobra.Command {
	var opts checker.Options
	var workloadName string
	cmd := &cobra.Command{
		Use:   "check RUN_DIR|HISTORY.jsonl",
		Short: "Re-check a saved run's history offline",
		Long: `Run every checker over a saved history (RUN_DIR/history.jsonl, or a
history file given directly) and write results.json, summary.txt,
report.html (re-rendered with the new results) and, for
partitions that are not linearizable, linearizability/*.html beside it.

By default a read whose high watermark lags an acknowledged offset during
or shortly after a fault (a new leader catching up, as Kafka documents) is
reported as the finding stale-high-watermark-after-failover and the verdict
stays valid; --strict-hw makes it not linearizable. After a kill -9 the
restarted replica's high watermark may be as old as its brokers'
checkpoint interval, which the run recorded for its cluster (100ms for the
reference broker, 5s for Kafka); --hw-checkpoint overrides it.

The exit status follows the verdict: 0 valid, 1 invalid (an anomaly was
found), 2 unknown (a check ran out of time or its preconditions failed),
3 the history could not be read.

The checkers follow the workload the history's header names (queue: the
queue and linearizability checkers; txn: txn and txn-cycles; eos: those
and exactly-once); --workload overrides it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, outDir := args[0], args[0]
			if st, err := os.Stat(path); err == nil && st.IsDir() {
				path = filepath.Join(path, "history.jsonl")
			} else {
				outDir = filepath.Dir(path)
			}
			summary, err := checker.CheckWorkload(cmd.Context(), path, outDir, workloadName, opts)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "highwater check:", err)
				return exitError{3}
			}
			fmt.Fprint(cmd.OutOrStdout(), summary.Text())
			if err := reports.WriteRunReport(outDir); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "highwater check: report.html not written:", err)
			}
			switch summary.Valid {
			case checker.Valid:
				return nil
			case checker.Invalid:
				return exitError{1}
			default:
				return exitError{2}
			}
		},
	}
	cmd.Flags().BoolVar(&opts.StrictHighWatermark, "strict-hw", false, "treat a lagging high watermark after failover as not linearizable")
	cmd.Flags().DurationVar(&opts.StaleHWCheckpoint, "hw-checkpoint", 0, "the brokers' high-watermark checkpoint interval, how old a killed replica's restart high watermark may be (default: what the history header records for its cluster, else the reference broker's 100ms; Kafka's is 5s)")
	cmd.Flags().StringVar(&workloadName, "workload", "", "judge the history as this workload's: queue | txn | eos (default: the one its header names)")
	return cmd
}

func reportCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Render a run directory's report.html from its saved results",
		Long: `Write RUN_DIR/report.html from RUN_DIR/results.json, run.json and
history.jsonl without checking again (highwater check RUN_DIR re-checks and
re-renders it). The page is self-contained: verdict, checker results,
anomalies and findings with explanations, links to porcupine's pages, and
throughput and latency over time with fault windows and ack gaps.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := reports.WriteRunReport(args[0]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(args[0], reports.RunReportFile))
			return nil
		},
	}
}

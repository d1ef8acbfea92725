// Command highwater is the project's one binary: the reference broker now,
// and the cluster, chaos, check, report, bench and size commands as they
// land.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "highwater",
		Short:         "A Kafka-compatible reference broker and the harness that proves what brokers promise",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(brokerCommand())
	root.AddCommand(checkCommand())
	root.AddCommand(reportCommand())
	root.AddCommand(sizeCommand())
	root.AddCommand(benchCommand())
	root.AddCommand(clusterCommand())
	root.AddCommand(chaosCommand())
	root.AddCommand(failoverCommand())
	root.AddCommand(txnBenchCommand())
	if err := root.Execute(); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			os.Exit(exit.code) // the command already said why
		}
		fmt.Fprintln(os.Stderr, "highwater:", err)
		os.Exit(1)
	}
}

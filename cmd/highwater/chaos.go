package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/highwater-io/highwater/harness/kafka"
	"github.com/highwater-io/highwater/harness/run"
	"github.com/highwater-io/highwater/harness/workload"
	"github.com/highwater-io/highwater/internal/seed"
	"github.com/highwater-io/highwater/nemesis"
)

type chaosFlags struct {
	scenario    string
	workload    string
	nemesis     string
	impl        string
	nodes       int
	seed        int64
	duration    time.Duration
	faults      string
	schedule    string
	rate        float64
	readRate    float64
	partitions  int
	producers   int
	assign      int
	group       int
	readers     int
	recordBytes int
	rf, minISR  int
	runsDir     string
	netns       bool
	acks        string
	bootstrap   string
	proxy       bool
	set         []string
	meanQuiet   time.Duration
	meanFault   time.Duration
	recovery    time.Duration
	verbose     bool
	// file is a YAML scenario (chaos_file.go) whose values apply where
	// no flag was given; printScenario prints the resolved scenario.
	file          string
	printScenario bool
}

func chaosCommand() *cobra.Command {
	cmd, _ := newChaosCommand()
	return cmd
}

// newChaosCommand returns the command and the flags it binds (tests parse
// into them).
func newChaosCommand() (*cobra.Command, *chaosFlags) {
	var f chaosFlags
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run a Jepsen-style chaos run: cluster, workload, faults, drain, check",
		Long: `Start a cluster, run a workload while a seeded nemesis
schedule injects faults, heal everything, wait for the cluster to converge
(bounded), drain every partition, and check the history.

The run directory runs/<scenario>/<UTC time>-<seed>/ holds run.json,
history.jsonl, nemesis.jsonl, results.json, summary.txt and the nodes' logs;
'highwater check DIR' re-checks it. Every run replays from (commit,
scenario, seed): the seed is printed, and a failing run prints the one-line
replay command.

Workloads (--workload): queue (idempotent acks=all producers, assign and
group consumers, explicit-offset reads; checked by the queue and
linearizability checkers), txn (transactional producers writing to several
partitions per transaction, committing or aborting from the seed, polling
inside transactions; read_committed and read_uncommitted consumers;
checked for G1a, precommitted-read, lost-write, duplicate, G1c cycles and
their process and realtime variants)
and eos (consume-transform-produce with GroupTransactSession from a
pre-filled input topic, checked for exactly-once besides). For txn,
--rate counts transactions per second; for eos, inputs per second.

The cluster defaults to the 3-node reference cluster; --impl kafka runs
Apache Kafka, --impl kfake franz-go's in-process kfake (no process faults;
for developing workloads and checkers, not a reference).

--faults (or --nemesis) defaults to every fault the cluster can run ('all');
with --impl kafka --netns (root) the partition faults too. 'none' runs
without faults.

Exit status: 0 valid, 1 anomalies found, 2 unknown (a check ran out of
time, recovery did not converge, the drain did not finish) or a harness
error.`,
		Example: `  highwater chaos --duration 30s
  highwater chaos --workload txn --nemesis all
  highwater chaos --impl kfake --print-scenario > s.yaml && highwater chaos --file s.yaml --seed 7
  highwater chaos --workload eos --impl kafka --faults kill
  highwater chaos --impl kafka --nodes 3 --duration 60s --faults kill,pause
  sudo highwater chaos --impl kafka --netns --faults partition-leader,kill`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seedSet := cmd.Flags().Changed("seed")
			if f.file != "" {
				sf, err := readScenarioFile(f.file)
				if err != nil {
					return err
				}
				seedSet = mergeScenarioFile(&f, sf, cmd.Flags().Changed)
			}
			if !seedSet {
				f.seed = seed.Random()
			}
			if f.printScenario {
				out, err := printScenario(f)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			return runChaos(cmd.Context(), cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.scenario, "scenario", "chaos", "scenario name (the run directory's parent)")
	fl.StringVar(&f.workload, "workload", "queue", "workload: queue | txn | eos")
	fl.StringVar(&f.impl, "impl", "reference", "what runs the nodes: reference | kafka | kfake | container (reference brokers in podman/Docker containers; scripts/podman-setup.sh) | container-kafka, container-redpanda (official images; HIGHWATER_KAFKA_IMAGE / HIGHWATER_REDPANDA_IMAGE to use a local one) | address (a cluster you run, at --bootstrap; no faults that need control)")
	fl.StringVar(&f.bootstrap, "bootstrap", "", "with --impl address: the cluster's client addresses, host:port[,host:port...]")
	fl.IntVar(&f.nodes, "nodes", 0, "number of nodes (default 3; 1 for kfake)")
	fl.Int64Var(&f.seed, "seed", 0, "root seed (default random, printed)")
	fl.DurationVar(&f.duration, "duration", 30*time.Second, "workload duration (faults heal before it ends)")
	fl.StringVar(&f.faults, "faults", "", "comma-separated faults ("+strings.Join(nemesis.Names(), ",")+", or none); default every available one")
	fl.StringVar(&f.nemesis, "nemesis", "", "same as --faults; 'all' is every fault the cluster driver supports")
	fl.StringVar(&f.schedule, "schedule", "", "explicit nemesis schedule (as printed in run.json), instead of generating one")
	fl.Float64Var(&f.rate, "rate", 0, "sends per second over all producers (default 200 reference, 100 kafka; txn: 20 transactions/s; eos: 100 inputs/s)")
	fl.Float64Var(&f.readRate, "read-rate", 20, "explicit reads (fetch, list-offsets) per second")
	fl.IntVar(&f.partitions, "partitions", 4, "partitions of the workload topic")
	fl.IntVar(&f.producers, "producers", 4, "producers")
	fl.IntVar(&f.assign, "assign-consumers", 1, "consumers by manual assignment")
	fl.IntVar(&f.group, "group-consumers", 2, "consumers by group subscription")
	fl.IntVar(&f.readers, "readers", 1, "explicit-offset readers")
	fl.IntVar(&f.recordBytes, "record-bytes", 100, "record size in bytes")
	fl.IntVar(&f.rf, "replication-factor", 0, "topic replication factor (default min(3, nodes))")
	fl.IntVar(&f.minISR, "min-insync-replicas", 0, "topic min.insync.replicas (default min(2, nodes))")
	fl.StringVar(&f.runsDir, "runs-dir", "runs", "root of run directories")
	fl.BoolVar(&f.netns, "netns", false, "run each node (kafka, reference) in its own network namespace (root): enables partition faults, and lossy for reference")
	fl.BoolVar(&f.proxy, "proxy", false, "reference only: client and controller links through TCP proxies (unprivileged): enables partition, slow and lossy faults")
	fl.StringVar(&f.acks, "acks", "all", "producer acks: all (idempotent) or 1 (leader only, idempotence off: unsafe, may lose acknowledged writes)")
	fl.StringArrayVar(&f.set, "set", nil, "broker property key=value for every node, repeatable")
	fl.DurationVar(&f.meanQuiet, "mean-quiet", 5*time.Second, "mean quiet period between faults")
	fl.DurationVar(&f.meanFault, "mean-fault", 5*time.Second, "mean fault duration")
	fl.DurationVar(&f.recovery, "recovery-timeout", 0, "bound on recovery after the faults heal (default 60s reference, 2m kafka)")
	fl.StringVar(&f.file, "file", "", "YAML scenario file whose keys are these flags' names (set: {key: value} for --set); flags given on the command line win")
	fl.BoolVar(&f.printScenario, "print-scenario", false, "print the resolved scenario as YAML (a --file to start from) and exit")
	fl.BoolVar(&f.verbose, "verbose", false, "log the clients and the nemesis to stderr")
	return cmd, &f
}

// scenarioFromFlags builds the scenario the flags describe.
func scenarioFromFlags(f chaosFlags) (run.Scenario, error) {
	set, err := kafka.ParseSet(f.set)
	if err != nil {
		return run.Scenario{}, err
	}
	w := workload.DefaultConfig("")
	w.Duration = f.duration
	w.Partitions = f.partitions
	w.Producers, w.AssignConsumers, w.GroupConsumers, w.Readers = f.producers, f.assign, f.group, f.readers
	w.RecordBytes = f.recordBytes
	w.Acks = f.acks
	w.ReadRatePerSec = f.readRate
	w.SendRatePerSec = f.rate
	nodes := f.nodes
	if nodes == 0 {
		nodes = 3 // the reference cluster
		if f.impl == run.ImplKfake {
			nodes = 1
		}
	}
	if w.SendRatePerSec == 0 {
		switch {
		case f.workload == run.WorkloadTxn:
			w.SendRatePerSec = 20
		case f.workload == run.WorkloadEOS:
			w.SendRatePerSec = 100
		case f.impl == run.ImplKafka:
			w.SendRatePerSec = 100
		default:
			w.SendRatePerSec = 200
		}
	}
	w.ReplicationFactor, w.MinInsyncReplicas = f.rf, f.minISR
	if w.ReplicationFactor == 0 {
		w.ReplicationFactor = min(3, nodes)
	}
	if w.MinInsyncReplicas == 0 {
		w.MinInsyncReplicas = min(2, nodes)
	}
	sc := run.Scenario{
		Name:            f.scenario,
		Kind:            f.workload,
		Cluster:         run.ClusterConfig{Impl: f.impl, Nodes: nodes, NetNS: f.netns, Proxy: f.proxy, Set: set, Bootstrap: f.bootstrap},
		Workload:        w,
		Schedule:        f.schedule,
		MeanQuiet:       f.meanQuiet,
		MeanFault:       f.meanFault,
		RecoveryTimeout: f.recovery,
	}
	faults := f.faults
	if f.nemesis != "" {
		if faults != "" && faults != f.nemesis {
			return run.Scenario{}, fmt.Errorf("--nemesis %q and --faults %q disagree: give one", f.nemesis, f.faults)
		}
		faults = f.nemesis
	}
	switch faults {
	case "", run.FaultsAll:
	case "none":
		sc.Faults = []string{}
	default:
		for _, name := range strings.Split(faults, ",") {
			if name = strings.TrimSpace(name); name != "" {
				sc.Faults = append(sc.Faults, name)
			}
		}
	}
	return sc, nil
}

func runChaos(ctx context.Context, cmd *cobra.Command, f chaosFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	sc, err := scenarioFromFlags(f)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var logger *slog.Logger
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "seed %d\n", f.seed)
	opts := run.Options{RunsDir: f.runsDir, Seed: f.seed, Out: cmd.OutOrStdout(), Logger: logger}
	if errOut := cmd.ErrOrStderr(); !f.verbose && isTerminal(errOut) { // bench.go
		// A live status line on the terminal; pipes and logs keep only
		// the plain progress lines (and --verbose logs would tear it).
		opts.Status = errOut
	}
	res, err := run.Run(ctx, sc, opts)
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "highwater chaos:", err)
		if res.Dir != "" {
			fmt.Fprintln(cmd.ErrOrStderr(), "run directory:", res.Dir)
		}
		return exitError{2}
	}
	if code := res.ExitCode(); code != 0 {
		return exitError{code}
	}
	return nil
}

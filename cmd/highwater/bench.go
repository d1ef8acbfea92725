package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/highwater-io/highwater/bench"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

type benchFlags struct {
	target, compare, jsonOut  string
	rounds                    int
	binary, kfakeBin, kafkaSh string
	kafkaHeap, workDir        string
	noConsume                 bool
	w                         bench.Workload
}

func benchCommand() *cobra.Command {
	f := benchFlags{w: bench.DefaultWorkload()}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Producer and consumer throughput and latency, side by side across brokers",
		Long: `Measure producer throughput and latency (HdrHistogram, warm-up excluded,
open-loop latency from the intended send time) and consumer throughput.

Targets: reference (a highwater broker process in a temp dir), kfake (franz-go's
kfake in a process of its own), kafka (one Apache Kafka KRaft node through
conformance/java/kafka-single.sh, heap --kafka-heap), or HOST:PORT.
--compare runs the same load on several targets interleaved in rounds
(A B C A B C ...) and prints medians, min–max spreads, each process target's
peak RSS, CPU seconds and bytes written, and ratios to the first target.`,
		Example: `  highwater bench
  highwater bench --compare reference,kfake,kafka --json bench.json
  highwater bench --target 127.0.0.1:9092 --rate 20000 --duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "reference", "reference, kfake, kafka or HOST:PORT")
	fl.StringVar(&f.compare, "compare", "", "comma-separated targets to run side by side (first is the ratio base)")
	fl.IntVar(&f.rounds, "rounds", 0, "rounds per target (default 3 with --compare, else 1)")
	fl.StringVar(&f.jsonOut, "json", "", "write results as JSON to this file")
	fl.StringVar(&f.binary, "binary", "", "highwater binary for the reference target (default: this executable)")
	fl.StringVar(&f.kfakeBin, "kfake-binary", "", "kfakebroker binary (default: built from ./internal/brokerproc/kfakebroker)")
	fl.StringVar(&f.kafkaSh, "kafka-script", "", "kafka-single.sh (default: conformance/java/kafka-single.sh of this module)")
	fl.StringVar(&f.kafkaHeap, "kafka-heap", "1g", "Apache Kafka JVM heap")
	fl.StringVar(&f.workDir, "work-dir", "", "parent of the per-run broker directories (default: the temp dir)")
	fl.BoolVar(&f.noConsume, "no-consume", false, "skip the consumer phase")
	fl.BoolVar(&f.w.EndToEnd, "end-to-end", false, "consume alongside producing and measure produce-to-consume latency")
	fl.IntVar(&f.w.RecordBytes, "record-size", f.w.RecordBytes, "record value size in bytes")
	fl.StringVar(&f.w.Acks, "acks", f.w.Acks, "0, 1 or all")
	fl.StringVar(&f.w.Compression, "compression", f.w.Compression, "none, gzip, snappy, lz4 or zstd")
	fl.Int32Var(&f.w.BatchMaxBytes, "batch-max-bytes", f.w.BatchMaxBytes, "producer batch size limit")
	fl.DurationVar(&f.w.Linger, "linger", f.w.Linger, "producer linger")
	fl.Int32Var(&f.w.Partitions, "partitions", f.w.Partitions, "topic partitions")
	fl.Int16Var(&f.w.ReplicationFactor, "replication-factor", f.w.ReplicationFactor, "topic replication factor")
	fl.IntVar(&f.w.Producers, "producers", f.w.Producers, "producer clients")
	fl.IntVar(&f.w.MaxInflight, "max-in-flight", f.w.MaxInflight, "produce requests in flight per broker (acks 0/1)")
	fl.IntVar(&f.w.MaxBufferedBytes, "buffer-bytes", f.w.MaxBufferedBytes, "producer buffer")
	fl.Int64Var(&f.w.Records, "records", f.w.Records, "records to send (all producers)")
	fl.DurationVar(&f.w.Duration, "duration", 0, "produce for this long instead of --records")
	fl.Float64Var(&f.w.RatePerSec, "rate", 0, "open-loop rate in records/s over all producers (0: closed loop)")
	fl.DurationVar(&f.w.Warmup, "warmup", f.w.Warmup, "excluded from the figures")
	fl.StringVar(&f.w.Topic, "topic", "", "topic name (default: a fresh one per run)")
	return cmd
}

func runBench(ctx context.Context, out, errOut io.Writer, f benchFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	f.w.Consume = !f.noConsume
	if err := f.w.Validate(); err != nil {
		return err
	}
	names := []string{f.target}
	if f.compare != "" {
		names = strings.Split(f.compare, ",")
	}
	if f.rounds == 0 {
		f.rounds = 1
		if f.compare != "" {
			f.rounds = 3
		}
	}
	buildDir, err := os.MkdirTemp(f.workDir, "highwater-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(buildDir)
	var targets []bench.Target
	for _, n := range names {
		t, err := benchTarget(ctx, strings.TrimSpace(n), f, buildDir)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	started := time.Now()
	loadStart := loadAvg()
	fmt.Fprintf(out, "workload: %d B records, acks=%s, %d partitions, batch %d B, linger %v, compression %s, %d producer(s), %s, warm-up %v; load average %s on %d CPUs\n",
		f.w.RecordBytes, f.w.Acks, f.w.Partitions, f.w.BatchMaxBytes, f.w.Linger, f.w.Compression, f.w.Producers,
		amount(f.w), f.w.Warmup, loadStart, runtime.NumCPU())
	runs, cmpErr := bench.Compare(ctx, targets, f.w, f.rounds, errOut, func(r bench.RunResult) { printRun(out, r) })
	loadEnd := loadAvg()
	sums := bench.Summarise(runs)
	fmt.Fprintln(out)
	if err := bench.WriteTable(out, sums); err != nil {
		return err
	}
	fmt.Fprintf(out, "load average: %s at start, %s at end\n", loadStart, loadEnd)
	if f.jsonOut != "" {
		rep := bench.NewReport(started, f.w, runs)
		rep.Host = map[string]string{"cpus": fmt.Sprint(runtime.NumCPU()), "loadavgStart": loadStart, "loadavgEnd": loadEnd}
		file, err := os.Create(f.jsonOut)
		if err != nil {
			return err
		}
		if err := rep.WriteJSON(file); err != nil {
			file.Close()
			return err
		}
		if err := file.Close(); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s\n", f.jsonOut)
	}
	if cmpErr != nil {
		return cmpErr
	}
	for _, s := range sums {
		if s.Failed == s.Runs {
			return fmt.Errorf("bench: every run against %s failed", s.Target)
		}
	}
	return nil
}

func benchTarget(ctx context.Context, name string, f benchFlags, buildDir string) (bench.Target, error) {
	switch name {
	case "reference":
		bin := f.binary
		if bin == "" {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("bench: locate this binary (use --binary): %w", err)
			}
			bin = exe
		}
		return bench.ProcTarget{TargetName: "reference", Binary: bin, WorkDir: f.workDir}, nil
	case "kfake":
		bin := f.kfakeBin
		if bin == "" {
			var err error
			bin, err = brokerproc.BuildPackage(ctx, buildDir, "./internal/brokerproc/kfakebroker", "kfakebroker")
			if err != nil {
				return nil, fmt.Errorf("bench: build kfakebroker (run inside the module or pass --kfake-binary): %w", err)
			}
		}
		return bench.ProcTarget{TargetName: "kfake", Binary: bin, WorkDir: f.workDir}, nil
	case "kafka":
		script := f.kafkaSh
		if script == "" {
			root, err := brokerproc.ModuleRoot(ctx)
			if err != nil {
				return nil, fmt.Errorf("bench: find kafka-single.sh (run inside the module or pass --kafka-script): %w", err)
			}
			script = filepath.Join(root, "conformance", "java", "kafka-single.sh")
		}
		return bench.KafkaTarget{Script: script, Heap: f.kafkaHeap, WorkDir: f.workDir}, nil
	}
	if strings.Contains(name, ":") {
		return bench.AddressTarget{Addr: name}, nil
	}
	return nil, fmt.Errorf("bench: unknown target %q (want reference, kfake, kafka or HOST:PORT)", name)
}

func printRun(out io.Writer, r bench.RunResult) {
	prefix := fmt.Sprintf("[%s round %d]", r.Target, r.Round)
	if r.Produce.TotalRecords > 0 {
		fmt.Fprintf(out, "%s produce: %s\n", prefix, bench.ProducerLine(r.Produce))
	}
	if r.Consume.Records > 0 {
		fmt.Fprintf(out, "%s consume: %s\n", prefix, bench.ConsumerLine(r.Consume))
	}
	if r.Measured {
		fmt.Fprintf(out, "%s broker: started in %.1f s, peak RSS %.0f MiB, %.1f CPU s, %.0f MiB written; client %.1f CPU s\n",
			prefix, r.StartSeconds, float64(r.Broker.PeakRSSBytes)/(1<<20), r.Broker.CPUSeconds,
			float64(r.Broker.WriteBytes)/(1<<20), r.ClientCPUSeconds)
	}
	if pw, cw := r.Produce.Wire, r.Consume.Wire; pw.Requests > 0 || cw.Requests > 0 {
		fmt.Fprintf(out, "%s wire: %d produce requests (avg %.0f KiB), %d fetch responses (avg %.0f KiB)\n",
			prefix, pw.Requests, pw.AvgBytes/1024, cw.Requests, cw.AvgBytes/1024)
	}
	if !r.OK() {
		fmt.Fprintf(out, "%s FAILED: %s\n", prefix, r.Err)
	}
}

func amount(w bench.Workload) string {
	s := fmt.Sprintf("%d records", w.Records)
	if w.Duration > 0 {
		s = w.Duration.String()
	}
	if w.RatePerSec > 0 {
		return s + fmt.Sprintf(" at %.0f records/s (open loop)", w.RatePerSec)
	}
	return s + " closed loop"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/highwater-io/highwater/bench"
	hcontainer "github.com/highwater-io/highwater/harness/container"
	"github.com/highwater-io/highwater/internal/brokerproc"
	"github.com/highwater-io/highwater/reports"
)

type benchFlags struct {
	target, compare, jsonOut  string
	htmlOut, markdownOut      string
	rounds                    int
	binary, kfakeBin, kafkaSh string
	kafkaHeap, workDir        string
	nodes                     int
	noConsume                 bool
	w                         bench.Workload

	capacity       bool
	capCfg         bench.CapacityConfig
	calibrationOut string
	instanceType   string
	vcpu           int
}

func benchCommand() *cobra.Command {
	f := benchFlags{w: bench.DefaultWorkload(), capCfg: bench.DefaultCapacityConfig()}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Producer and consumer throughput and latency, side by side across brokers",
		Long: `Measure producer throughput and latency (HdrHistogram, warm-up excluded,
open-loop latency from the intended send time) and consumer throughput.

Targets: reference (the replicated reference cluster: --nodes broker processes,
3 by default, one per rack, in a temp dir), kafka (an Apache Kafka KRaft
cluster of --nodes JVMs, heap --kafka-heap each), kfake (franz-go's kfake in a
process of its own), container, or HOST:PORT. reference:1 and kafka:1 are a
single broker (kafka:1 through conformance/java/kafka-single.sh); any
reference:N or kafka:N overrides --nodes for that target. The topic's
replication factor defaults to min(3, nodes) per target.
--compare runs the same load on several targets interleaved in rounds
(A B C A B C ...) and prints medians, min–max spreads, each process target's
peak RSS, CPU seconds and bytes written, and ratios to the first target.

--capacity searches for the sustainable rate of one target instead: open-loop
probes of --duration (10 s when unset) from --capacity-start (default half a
closed-loop run's throughput) up by --capacity-step until sent/requested falls
below 0.995 or p99 passes --p99-bound, then bisection. It prints records/s and
MB/s per broker and per core (broker CPU seconds per wall second) and writes
the calibration that "highwater size --calibrate" reads (--calibration-out).

--consumers N reads back with a consumer group of N members (total
throughput; the group's join is timed apart); 1 is a single group-less reader.
A progress bar is drawn when stderr is a terminal, plain lines otherwise.`,
		Example: `  highwater bench
  highwater bench --compare reference,kfake,kafka --json bench.json
  highwater bench --target 127.0.0.1:9092 --rate 20000 --duration 30s
  highwater bench --compare reference,kfake --records 500000 --html bench.html
  highwater bench --capacity --duration 5s --calibration-out calibration.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "reference", "reference, kfake, kafka, container (the reference broker in a podman/Docker container), container:kafka / container:redpanda (official images, --nodes containers; HIGHWATER_KAFKA_IMAGE / HIGHWATER_REDPANDA_IMAGE pick a local image) or HOST:PORT; reference:N and kafka:N pick a node count")
	fl.IntVar(&f.nodes, "nodes", 3, "nodes of the reference and kafka targets (a local cluster, one node per rack) unless the target names its own (reference:1)")
	fl.StringVar(&f.compare, "compare", "", "comma-separated targets to run side by side (first is the ratio base)")
	fl.IntVar(&f.rounds, "rounds", 0, "rounds per target (default 3 with --compare, else 1)")
	fl.StringVar(&f.jsonOut, "json", "", "write results as JSON to this file")
	fl.StringVar(&f.markdownOut, "markdown", "", "write the comparison as a Markdown report to this file")
	fl.StringVar(&f.htmlOut, "html", "", "write a self-contained HTML report (latency and throughput plots) to this file")
	fl.BoolVar(&f.capacity, "capacity", false, "search for the sustainable open-loop rate of --target")
	fl.DurationVar(&f.capCfg.P99Bound, "p99-bound", f.capCfg.P99Bound, "capacity search: highest acceptable produce p99")
	fl.Float64Var(&f.capCfg.StartRatePerSec, "capacity-start", 0, "capacity search: first rate in records/s (0: half a closed-loop run's)")
	fl.Float64Var(&f.capCfg.StepFactor, "capacity-step", f.capCfg.StepFactor, "capacity search: rate factor between probes while they pass")
	fl.Float64Var(&f.capCfg.MaxRatePerSec, "capacity-max-rate", 0, "capacity search: rate cap in records/s (0: none)")
	fl.Float64Var(&f.capCfg.MinSentRatio, "min-sent-ratio", f.capCfg.MinSentRatio, "capacity search: least acknowledged/offered rate")
	fl.IntVar(&f.capCfg.BisectSteps, "capacity-bisect", f.capCfg.BisectSteps, "capacity search: bisection probes after the first failure")
	fl.IntVar(&f.capCfg.MaxProbes, "capacity-max-probes", f.capCfg.MaxProbes, "capacity search: probe budget")
	fl.StringVar(&f.calibrationOut, "calibration-out", "", "capacity search: write sizing's calibration JSON to this file")
	fl.StringVar(&f.instanceType, "instance-type", "local", "capacity search: instance type label for the calibration")
	fl.IntVar(&f.vcpu, "vcpu", runtime.NumCPU(), "capacity search: vCPUs per broker for the calibration")
	fl.StringVar(&f.binary, "binary", "", "highwater binary for the reference target (default: this executable)")
	fl.StringVar(&f.kfakeBin, "kfake-binary", "", "kfakebroker binary (default: built from ./internal/brokerproc/kfakebroker)")
	fl.StringVar(&f.kafkaSh, "kafka-script", "", "kafka-single.sh (default: conformance/java/kafka-single.sh of this module)")
	fl.StringVar(&f.kafkaHeap, "kafka-heap", "1g", "Apache Kafka JVM heap")
	fl.StringVar(&f.workDir, "work-dir", "", "parent of the per-run broker directories (default: the temp dir)")
	fl.BoolVar(&f.noConsume, "no-consume", false, "skip the consumer phase")
	fl.IntVar(&f.w.Consumers, "consumers", f.w.Consumers, "consumer clients; more than 1 form a consumer group")
	fl.StringVar(&f.w.Group, "group", "", "consumer group name (default: none for 1 consumer, a fresh one per run otherwise)")
	fl.BoolVar(&f.w.EndToEnd, "end-to-end", false, "consume alongside producing and measure produce-to-consume latency")
	fl.IntVar(&f.w.RecordBytes, "record-size", f.w.RecordBytes, "record value size in bytes")
	fl.StringVar(&f.w.Acks, "acks", f.w.Acks, "0, 1 or all")
	fl.StringVar(&f.w.Compression, "compression", f.w.Compression, "none, gzip, snappy, lz4 or zstd")
	fl.Int32Var(&f.w.BatchMaxBytes, "batch-max-bytes", f.w.BatchMaxBytes, "producer batch size limit")
	fl.DurationVar(&f.w.Linger, "linger", f.w.Linger, "producer linger")
	fl.Int32Var(&f.w.Partitions, "partitions", f.w.Partitions, "topic partitions")
	fl.Int16Var(&f.w.ReplicationFactor, "replication-factor", f.w.ReplicationFactor, "topic replication factor (0: min(3, the target's nodes); capped at its nodes)")
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
	opts := bench.RunOptions{Log: errOut}
	if isTerminal(errOut) {
		opts.Progress = bench.BarProgress{Out: errOut}
	}
	if f.capacity {
		return runCapacity(ctx, out, errOut, f, opts)
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
	runs, cmpErr := bench.Compare(ctx, targets, f.w, f.rounds, opts, func(r bench.RunResult) { printRun(out, r) })
	loadEnd := loadAvg()
	sums := bench.Summarise(runs)
	fmt.Fprintln(out)
	if err := bench.WriteTable(out, sums); err != nil {
		return err
	}
	fmt.Fprintf(out, "load average: %s at start, %s at end\n", loadStart, loadEnd)
	rep := bench.NewReport(started, f.w, runs)
	rep.Host = hostInfo(loadStart, loadEnd)
	if f.jsonOut != "" {
		if err := writeFile(out, f.jsonOut, rep.WriteJSON); err != nil {
			return err
		}
	}
	if f.markdownOut != "" {
		if err := writeFile(out, f.markdownOut, rep.WriteMarkdown); err != nil {
			return err
		}
	}
	if f.htmlOut != "" {
		page := reports.NewBenchPage(rep, runs)
		if err := writeFile(out, f.htmlOut, page.WriteHTML); err != nil {
			return err
		}
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

// runCapacity is --capacity: the search against one target, its
// summary, and the calibration file.
func runCapacity(ctx context.Context, out, errOut io.Writer, f benchFlags, opts bench.RunOptions) error {
	if f.compare != "" {
		return fmt.Errorf("bench: --capacity searches one --target, not --compare")
	}
	buildDir, err := os.MkdirTemp(f.workDir, "highwater-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(buildDir)
	t, err := benchTarget(ctx, strings.TrimSpace(f.target), f, buildDir)
	if err != nil {
		return err
	}
	w := f.w
	if w.Duration <= 0 {
		w.Duration = 10 * time.Second
	}
	fmt.Fprintf(out, "capacity search on %s: %d B records, acks=%s, %d partitions, RF %d, probes of %v (warm-up %v), p99 ≤ %v, sent/requested ≥ %v; load average %s on %d CPUs\n",
		t.Name(), w.RecordBytes, w.Acks, w.Partitions, w.ReplicationFactor, w.Duration, w.Warmup,
		f.capCfg.P99Bound, f.capCfg.MinSentRatio, loadAvg(), runtime.NumCPU())
	loadStart := loadAvg()
	res, err := bench.FindCapacity(ctx, t, w, f.capCfg, opts)
	bench.WriteCapacity(out, res)
	if f.htmlOut != "" && len(res.Probes) > 0 {
		page := reports.CapacityPage{Title: "highwater bench --capacity", Result: res, Host: hostInfo(loadStart, loadAvg())}
		if werr := writeFile(out, f.htmlOut, page.WriteHTML); werr != nil && err == nil {
			err = werr
		}
	}
	if f.jsonOut != "" {
		if werr := writeFile(out, f.jsonOut, func(wr io.Writer) error { return writeIndented(wr, res) }); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	if f.calibrationOut != "" {
		cal, err := res.Calibration(f.instanceType, f.vcpu, w, time.Now(), "highwater bench --capacity")
		if err != nil {
			return err
		}
		if err := writeFile(out, f.calibrationOut, cal.WriteJSON); err != nil {
			return err
		}
	}
	if !res.Found {
		return fmt.Errorf("bench: no sustainable rate found (%s)", res.LimitedBy)
	}
	return nil
}

// writeFile creates path, lets write fill it and says so on out.
func writeFile(out io.Writer, path string, write func(io.Writer) error) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(file); err != nil {
		file.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := file.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", path)
	return nil
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a terminal with a known width, where a
// progress bar may redraw itself (mpb draws nothing on a terminal whose
// size reads as zero, as under a detached pseudo-terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return err == nil && ws.Col > 0
}

// hostInfo describes the machine for the JSON and HTML reports.
func hostInfo(loadStart, loadEnd string) map[string]string {
	h := map[string]string{
		"cpus": fmt.Sprint(runtime.NumCPU()), "loadavgStart": loadStart, "loadavgEnd": loadEnd,
		"os": runtime.GOOS + "/" + runtime.GOARCH, "go": runtime.Version(),
	}
	if name, err := os.Hostname(); err == nil {
		h["hostname"] = name
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h["cpuModel"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				h["memTotal"] = strings.TrimSpace(rest)
				break
			}
		}
	}
	return h
}

// targetNodes splits "reference:3" into its name and node count; a bare
// name takes the --nodes default. HOST:PORT passes through unchanged.
func targetNodes(name string, def int) (string, int, error) {
	base, count, ok := strings.Cut(name, ":")
	if !ok || (base != "reference" && base != "kafka") {
		return name, def, nil
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > 32 {
		return "", 0, fmt.Errorf("bench: target %q: want %s:N with N in 1..32", name, base)
	}
	return base, n, nil
}

// heapMB reads a JVM heap size like "1g" or "768m" in MiB (0 when it is
// not one: the driver's default applies).
func heapMB(heap string) int {
	heap = strings.ToLower(strings.TrimSpace(heap))
	mult := 1
	switch {
	case strings.HasSuffix(heap, "g"):
		mult, heap = 1024, strings.TrimSuffix(heap, "g")
	case strings.HasSuffix(heap, "m"):
		heap = strings.TrimSuffix(heap, "m")
	}
	n, err := strconv.Atoi(heap)
	if err != nil {
		return 0
	}
	return n * mult
}

func benchTarget(ctx context.Context, name string, f benchFlags, buildDir string) (bench.Target, error) {
	name, nodes, err := targetNodes(name, f.nodes)
	if err != nil {
		return nil, err
	}
	if (name == "reference" || name == "kafka") && nodes > 1 {
		return bench.ClusterTarget{Impl: name, Nodes: nodes, Binary: f.binary, WorkDir: f.workDir,
			KafkaHeapMB: heapMB(f.kafkaHeap)}, nil
	}
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
	case "container": // the reference broker in a podman/Docker container (scripts/podman-setup.sh)
		return &bench.ContainerTarget{WorkDir: buildDir}, nil
	case "container:kafka", "container:redpanda": // official images; fail fast naming the image when absent
		return bench.OfficialContainerTarget{Flavor: hcontainer.Flavor(strings.TrimPrefix(name, "container:")),
			Nodes: nodes, WorkDir: f.workDir, KafkaHeapMB: heapMB(f.kafkaHeap)}, nil
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
	return nil, fmt.Errorf("bench: unknown target %q (want reference, kfake, kafka, container, container:kafka, container:redpanda or HOST:PORT)", name)
}

func printRun(out io.Writer, r bench.RunResult) {
	prefix := fmt.Sprintf("[%s round %d]", r.Target, r.Round)
	if r.Produce.TotalRecords > 0 {
		load := ""
		if r.LoadAvg1 >= 0 {
			load = fmt.Sprintf(" (load average %.2f at start)", r.LoadAvg1)
		}
		fmt.Fprintf(out, "%s produce: %s%s\n", prefix, bench.ProducerLine(r.Produce), load)
		if sec, ms := r.Produce.WorstSecond(); sec >= 0 {
			fmt.Fprintf(out, "%s worst second: %d s after the start, max latency %.1f ms (JSON: publishMaxLatencyMsPerSecond)\n", prefix, sec, ms)
		}
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

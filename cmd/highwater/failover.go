package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/highwater-io/highwater/bench"
	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/clustertest"
)

type failoverFlags struct {
	impl           string
	kills          int
	sessionTimeout time.Duration
	dir            string
	set            []string
	throughput     bool
	duration       time.Duration
	warmup         time.Duration
	recordBytes    int
	partitions     int32
}

func failoverCommand() *cobra.Command {
	var f failoverFlags
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Measure failover after kill -9 of a partition leader (and produce throughput) on 3-node clusters",
		Long: `Start a 3-node cluster per --impl with the same settings (racks az-a/b/c,
RF 3, min.insync.replicas 2, broker.session.timeout.ms from --session-timeout
and a heartbeat of a quarter of it), produce acks=all with the idempotent
producer to a fresh RF-3 partition without pause, and kill -9 its leader
--kills times (restarting the victim and waiting for the full ISR between
kills). For each kill it measures the gap between the last acknowledged
write before the kill and the first after it, and prints median and max per
implementation, then reads the partition back and checks that nothing
acknowledged was lost.

--throughput instead measures produce MB/s (1 KiB records, 6 partitions,
bench's producer: 1 MiB batches, 5 ms linger, one client, closed loop):
RF 3 acks=all and RF 1 acks=1 on the reference cluster, RF 3 acks=all on
Apache Kafka, one after the other in one run.

Each implementation's start-up time and, where the driver exposes process
ids, the resident memory per node are printed too.`,
		Example: `  highwater failover --impl both --kills 10
  highwater failover --impl kafka --kills 3 --session-timeout 6s
  highwater failover --throughput --duration 20s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFailover(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.impl, "impl", "both", "reference | kafka | both")
	fl.IntVar(&f.kills, "kills", 10, "leader kills per implementation")
	fl.DurationVar(&f.sessionTimeout, "session-timeout", clustertest.DefaultSessionTimeout, "broker.session.timeout.ms on every node of both implementations")
	fl.StringVar(&f.dir, "dir", "", "directory for the clusters' data and logs; default a temporary one, removed afterwards")
	fl.StringArrayVar(&f.set, "set", nil, "extra broker property key=value for every node of both implementations, repeatable")
	fl.BoolVar(&f.throughput, "throughput", false, "measure produce MB/s (reference RF 3 acks=all, reference RF 1 acks=1, Kafka RF 3 acks=all) instead of failover")
	fl.DurationVar(&f.duration, "duration", 20*time.Second, "--throughput: produce phase per measurement, warm-up included")
	fl.DurationVar(&f.warmup, "warmup", 3*time.Second, "--throughput: excluded from the figure")
	fl.IntVar(&f.recordBytes, "record-bytes", 1024, "--throughput: record value size")
	fl.Int32Var(&f.partitions, "partitions", 6, "--throughput: partitions per topic")
	return cmd
}

func runFailover(ctx context.Context, stdout, stderr io.Writer, f failoverFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	impls, err := clustertest.ParseImpls(f.impl)
	if err != nil {
		return err
	}
	set := map[string]string{}
	for _, kv := range f.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("--set %q: want key=value", kv)
		}
		set[strings.TrimSpace(k)] = v
	}
	dir := f.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "highwater-failover-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var lines []string
	mbps := map[string]float64{} // "<impl> rf<N> acks=<a>" -> MB/s
	for _, impl := range impls {
		cfg := clustertest.Config{Impl: impl, Dir: dir, SessionTimeout: f.sessionTimeout, Set: set}
		c, startup, err := startMeasured(ctx, stderr, cfg)
		if err != nil {
			return err
		}
		var out []string
		if f.throughput {
			out, err = throughputRuns(ctx, stderr, c, impl, f, mbps)
		} else {
			out, err = failoverRun(ctx, stderr, c, impl, f)
		}
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if cerr := c.Close(closeCtx); cerr != nil {
			fmt.Fprintf(stderr, "%s: close: %v\n", impl, cerr)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", impl, err)
		}
		lines = append(lines, fmt.Sprintf("%-9s start-up %v", impl, startup.Round(100*time.Millisecond)))
		lines = append(lines, out...)
	}
	fmt.Fprintf(stdout, "session timeout %v on every node; racks az-a/az-b/az-c; RF 3, min.insync.replicas 2\n", f.sessionTimeout)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	ratio := func(what, a, b string) {
		if mbps[a] > 0 && mbps[b] > 0 {
			fmt.Fprintf(stdout, "%s: %.2f× (%.1f / %.1f MB/s)\n", what, mbps[a]/mbps[b], mbps[a], mbps[b])
		}
	}
	ratio("reference RF 3 acks=all vs reference RF 1 acks=1", "reference rf3 acks=all", "reference rf1 acks=1")
	ratio("kafka RF 3 acks=all vs reference RF 3 acks=all", "kafka rf3 acks=all", "reference rf3 acks=all")
	return nil
}

// startMeasured starts a cluster and reports how long it took and each
// node's resident memory (when the driver exposes process ids).
func startMeasured(ctx context.Context, stderr io.Writer, cfg clustertest.Config) (cluster.Cluster, time.Duration, error) {
	fmt.Fprintf(stderr, "starting 3-node %s cluster …\n", cfg.Impl)
	began := time.Now()
	c, err := clustertest.Start(ctx, cfg)
	if err != nil {
		return nil, 0, err
	}
	took := time.Since(began)
	fmt.Fprintf(stderr, "%s ready in %v: %s\n", cfg.Impl, took.Round(100*time.Millisecond), c.Bootstrap())
	return c, took, nil
}

// nodeRSS describes every node's current and peak resident memory.
func nodeRSS(c cluster.Cluster) string {
	var parts []string
	for _, n := range c.Nodes() {
		cur, peak := rssOf(nodePID(c, n.ID))
		parts = append(parts, fmt.Sprintf("node %d %d MiB (peak %d MiB)", n.ID, cur>>20, peak>>20))
	}
	return "rss per node: " + strings.Join(parts, ", ")
}

// nodePID is node id's process id: from the driver when it exposes one,
// else the process whose command line names the node's directory (the
// directory of its log), 0 when none is found.
func nodePID(c cluster.Cluster, id int32) int {
	if p, ok := c.(interface{ PID(int32) int }); ok {
		return p.PID(id)
	}
	dir := filepath.Dir(c.Logs(id)) + string(filepath.Separator)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range procs {
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
			return pid
		}
	}
	return 0
}

// rssOf reads VmRSS and VmHWM of pid in bytes (0 when unreadable).
func rssOf(pid int) (cur, peak int64) {
	if pid <= 0 {
		return 0, 0
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			cur = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return cur, peak
}

func failoverRun(ctx context.Context, stderr io.Writer, c cluster.Cluster, impl clustertest.Impl, f failoverFlags) ([]string, error) {
	rssBefore := nodeRSS(c)
	res, err := clustertest.Failover(ctx, c, clustertest.FailoverConfig{
		Topic: "failover-" + string(impl), Kills: f.kills, Log: prefixWriter{stderr, string(impl) + " "},
	})
	if err != nil {
		return nil, err
	}
	verdict := "nothing acknowledged lost, order kept"
	if res.CheckErr != nil {
		verdict = "CHECK FAILED: " + strings.ReplaceAll(res.CheckErr.Error(), "\n", "; ")
	}
	var gaps []string
	for _, g := range res.Gaps() {
		gaps = append(gaps, g.Round(10*time.Millisecond).String())
	}
	controllerKills := 0
	for _, k := range res.Kills {
		if k.VictimWasController {
			controllerKills++
		}
	}
	return []string{
		fmt.Sprintf("%-9s after start-up: %s", impl, rssBefore),
		fmt.Sprintf("%-9s after the kills: %s", impl, nodeRSS(c)),
		fmt.Sprintf("%-9s failover after kill -9 of the leader: median %v, max %v over %d kills (%d also killed the active controller); gaps %s",
			impl, res.Median().Round(time.Millisecond), res.Max().Round(time.Millisecond), len(res.Kills), controllerKills, strings.Join(gaps, " ")),
		fmt.Sprintf("%-9s %d sent, %d acknowledged, %d failed; %s", impl, res.Sent, res.Acked, res.Failed, verdict),
	}, nil
}

// throughputRuns measures impl's produce throughput per RF/acks pair and
// records each MB/s figure in mbps.
func throughputRuns(ctx context.Context, stderr io.Writer, c cluster.Cluster, impl clustertest.Impl, f failoverFlags, mbps map[string]float64) ([]string, error) {
	type run struct {
		rf   int16
		acks string
	}
	runs := []run{{3, "all"}}
	if impl == clustertest.Reference {
		runs = append(runs, run{1, "1"})
	}
	var out []string
	for _, r := range runs {
		fmt.Fprintf(stderr, "%s: producing RF %d acks=%s for %v …\n", impl, r.rf, r.acks, f.duration)
		res, err := clustertest.Throughput(ctx, c, clustertest.ThroughputConfig{
			Topic: fmt.Sprintf("throughput-rf%d-acks%s", r.rf, r.acks), ReplicationFactor: r.rf, Acks: r.acks,
			Partitions: f.partitions, RecordBytes: f.recordBytes, Duration: f.duration, Warmup: f.warmup,
		})
		if err != nil {
			return nil, err
		}
		mbps[fmt.Sprintf("%s rf%d acks=%s", impl, r.rf, r.acks)] = res.MBPerSec
		out = append(out, fmt.Sprintf("%-9s RF %d acks=%-3s %s", impl, r.rf, r.acks, bench.ProducerLine(res)))
	}
	return append(out, fmt.Sprintf("%-9s %s", impl, nodeRSS(c))), nil
}

// prefixWriter prefixes each write (one progress line) with a label.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/run"
)

// txnBenchFlags are highwater txnbench's flags.
type txnBenchFlags struct {
	impl       string
	nodes      int
	seconds    int
	producers  int
	records    int
	partitions int
	keep       bool
	// metadataMinAge is the producers' kgo.MetadataMinAge: franz-go holds
	// a retried produce batch until a metadata refresh, at most one per
	// min age (default 5 s). Kafka 4.1 answered some first produces of a
	// transaction right after the previous commit with a retriable
	// partition error (franz-go: "produce request had retry batches"), so
	// with the default each such retry cost ~5 s and the figure measured
	// the client's backoff, not the broker.
	metadataMinAge time.Duration
}

// txnBenchResult is one target's figures.
type txnBenchResult struct {
	impl                 string
	commits, failures    int
	elapsed              time.Duration
	p50, p99, maxLatency time.Duration
}

func txnBenchCommand() *cobra.Command {
	var f txnBenchFlags
	cmd := &cobra.Command{
		Use:   "txnbench",
		Short: "Measure committed transactions per second (10 records over 3 partitions each)",
		Long: `Start each cluster (3 nodes, RF 3, min ISR 2 by default), then run
transactional producers (franz-go, acks=all) that each loop: begin, send
--records records spread round-robin over --partitions partitions of one
topic, commit. Transactions per second count commits over --seconds after a
warm-up; latency is begin to commit acknowledged. --impl both measures the
reference cluster and Apache Kafka one after the other in the same run.`,
		Example: "  highwater txnbench --impl both --seconds 20",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTxnBench(ctx, f, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.impl, "impl", "both", "reference | kafka | both")
	fl.IntVar(&f.nodes, "nodes", 3, "nodes per cluster")
	fl.IntVar(&f.seconds, "seconds", 20, "measured seconds per target")
	fl.IntVar(&f.producers, "producers", 1, "concurrent transactional producers")
	fl.IntVar(&f.records, "records", 10, "records per transaction")
	fl.IntVar(&f.partitions, "partitions", 3, "partitions a transaction writes to")
	fl.BoolVar(&f.keep, "keep", false, "keep the clusters' data and logs")
	fl.DurationVar(&f.metadataMinAge, "metadata-min-age", 100*time.Millisecond,
		"producers' metadata min age: how soon franz-go retries a produce batch a broker asked to retry (franz-go's default is 5s)")
	return cmd
}

func runTxnBench(ctx context.Context, f txnBenchFlags, out io.Writer) error {
	var impls []string
	switch f.impl {
	case "both":
		impls = []string{run.ImplReference, run.ImplKafka}
	case run.ImplReference, run.ImplKafka:
		impls = []string{f.impl}
	default:
		return fmt.Errorf("txnbench: --impl %q: want reference, kafka or both", f.impl)
	}
	if f.seconds < 1 || f.producers < 1 || f.records < 1 || f.partitions < 1 || f.nodes < 1 {
		return errors.New("txnbench: --seconds, --producers, --records, --partitions and --nodes must be positive")
	}
	var results []txnBenchResult
	for _, impl := range impls {
		fmt.Fprintf(out, "%s: starting %d node(s)\n", impl, f.nodes)
		r, err := txnBenchOne(ctx, f, impl)
		if err != nil {
			return fmt.Errorf("txnbench %s: %w", impl, err)
		}
		results = append(results, r)
	}
	fmt.Fprintf(out, "\ntransactions of %d records over %d partitions, %d producer(s), %d node(s), acks=all, RF %d, metadata min age %v\n",
		f.records, f.partitions, f.producers, f.nodes, min(3, f.nodes), f.metadataMinAge)
	fmt.Fprintf(out, "%-10s %10s %9s %9s %9s %9s %9s\n", "target", "txn/s", "commits", "failed", "p50", "p99", "max")
	for _, r := range results {
		fmt.Fprintf(out, "%-10s %10.1f %9d %9d %9s %9s %9s\n", r.impl, float64(r.commits)/r.elapsed.Seconds(),
			r.commits, r.failures, r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.maxLatency.Round(100*time.Microsecond))
	}
	return nil
}

// txnBenchOne starts impl's cluster, creates the topic, warms the
// transaction coordinator up and measures.
func txnBenchOne(ctx context.Context, f txnBenchFlags, impl string) (txnBenchResult, error) {
	dir, err := os.MkdirTemp("", "highwater-txnbench-"+impl+"-")
	if err != nil {
		return txnBenchResult{}, err
	}
	if !f.keep {
		defer os.RemoveAll(dir)
	}
	c, err := run.StartCluster(ctx, run.ClusterConfig{Impl: impl, Nodes: f.nodes}, dir)
	if err != nil {
		return txnBenchResult{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		_ = c.Close(cctx)
	}()
	const topic = "highwater-txnbench"
	seeds := kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...)
	adm, err := kgo.NewClient(seeds)
	if err != nil {
		return txnBenchResult{}, err
	}
	defer adm.Close()
	rf := int16(min(3, f.nodes))
	minISR := fmt.Sprint(min(2, f.nodes))
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		_, err = kadm.NewClient(adm).CreateTopic(tctx, int32(f.partitions), rf, map[string]*string{"min.insync.replicas": &minISR}, topic)
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			break
		}
		if tctx.Err() != nil {
			return txnBenchResult{}, fmt.Errorf("create topic: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	producers := make([]*kgo.Client, f.producers)
	for i := range producers {
		cl, err := kgo.NewClient(seeds, kgo.TransactionalID(fmt.Sprintf("highwater-txnbench-%d", i)),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
			kgo.MetadataMinAge(f.metadataMinAge))
		if err != nil {
			return txnBenchResult{}, err
		}
		defer cl.Close()
		producers[i] = cl
		for range 3 { // warm-up: producer id, coordinator, partition leaders
			if _, err := txnBenchTxn(tctx, cl, topic, f); err != nil {
				return txnBenchResult{}, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	r := txnBenchResult{impl: impl}
	var mu sync.Mutex
	var lat []time.Duration
	mctx, mcancel := context.WithTimeout(ctx, time.Duration(f.seconds)*time.Second)
	defer mcancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, cl := range producers {
		wg.Go(func() {
			for mctx.Err() == nil {
				d, err := txnBenchTxn(ctx, cl, topic, f)
				mu.Lock()
				if err != nil {
					r.failures++
				} else {
					r.commits++
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return r, err
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		r.p50, r.p99, r.maxLatency = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return r, nil
}

// txnBenchTxn runs one transaction and returns how long it took until the
// commit was acknowledged.
func txnBenchTxn(ctx context.Context, cl *kgo.Client, topic string, f txnBenchFlags) (time.Duration, error) {
	start := time.Now()
	if err := cl.BeginTransaction(); err != nil {
		return 0, err
	}
	rs := make([]*kgo.Record, f.records)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Partition: int32(i % f.partitions), Value: []byte("highwater-txnbench-record")}
	}
	perr := cl.ProduceSync(ctx, rs...).FirstErr()
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := cl.EndTransaction(ectx, kgo.TransactionEndTry(perr == nil)); err != nil {
		return 0, errors.Join(perr, err)
	}
	if perr != nil {
		return 0, perr
	}
	return time.Since(start), nil
}

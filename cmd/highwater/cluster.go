package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/kafka"
	"github.com/highwater-io/highwater/harness/reference"
)

// clusterFlags are the flags shared by every --impl.
type clusterFlags struct {
	impl         string
	nodes        int
	racks        []string
	basePort     int
	dir          string
	set          []string
	netns        bool
	readyTimeout time.Duration
}

func clusterCommand() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local cluster (reference broker or Apache Kafka) until Ctrl-C",
		Long: `Run a local cluster and print its bootstrap string, each node's address,
rack and log file; Ctrl-C stops every node and leaves nothing running.

--impl kafka runs Apache Kafka 4.x KRaft nodes as JVM processes (combined
broker+controller, static quorum, racks az-a/az-b/az-c cycled, RF 3 and
min.insync.replicas 2 by default, sized for 2 cores). Kafka's jars come
from Maven Central through conformance/java/fetch.sh (cached after the first
run) unless HIGHWATER_KAFKA_LIB names a jar directory. --set passes broker
properties through, e.g. unclean.leader.election.enable=true.
--netns (root) puts every node in its own network namespace so the harness
can cut links between nodes.

--impl reference (default) runs highwater reference brokers as local
processes: with --nodes > 1 every node is a combined broker+controller of
one cluster (static quorum, racks cycled, default.replication.factor
min(3,N), min.insync.replicas min(2,N)); --nodes 1 runs the single-node
broker. Each node also serves Prometheus metrics. Network partitions are
not available for the reference cluster yet. Consumer groups do not work
in cluster mode yet (FindCoordinator answers COORDINATOR_NOT_AVAILABLE).`,
		Example: `  highwater cluster
  highwater cluster --nodes 5 --base-port 19092 --set broker.session.timeout.ms=3000
  highwater cluster --impl kafka
  highwater cluster --impl kafka --nodes 5 --set min.insync.replicas=1
  highwater cluster --impl reference --nodes 1 --base-port 9092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCluster(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.impl, "impl", "reference", "what runs the nodes: reference | kafka")
	fl.IntVar(&f.nodes, "nodes", 3, "number of nodes")
	fl.StringSliceVar(&f.racks, "racks", kafka.DefaultRacks, "racks assigned to nodes round-robin")
	fl.IntVar(&f.basePort, "base-port", 0, "first client port; kafka node i: base+2(i-1), controller one above; reference node i: base+3(i-1), controller +1, metrics +2; 0 picks free ports")
	fl.StringVar(&f.dir, "dir", "", "cluster directory (data and logs); default a new temporary directory, kept on exit")
	fl.StringArrayVar(&f.set, "set", nil, "broker property key=value for every node, repeatable")
	fl.BoolVar(&f.netns, "netns", false, "run each node in its own network namespace (root): the harness can then cut real traffic between nodes")
	fl.DurationVar(&f.readyTimeout, "ready-timeout", kafka.DefaultReadyTimeout, "how long to wait for the cluster to become ready")
	return cmd
}

func runCluster(ctx context.Context, stdout, stderr io.Writer, f clusterFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	set, err := kafka.ParseSet(f.set)
	if err != nil {
		return err
	}
	dir := f.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "highwater-cluster-"); err != nil {
			return err
		}
	}
	madeDir := f.dir == ""
	// Ctrl-C during start-up aborts the wait; New then cleans up itself.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	fmt.Fprintf(stderr, "starting %s cluster in %s …\n", f.impl, dir)
	c, err := startCluster(ctx, f, dir, set)
	if err != nil {
		if madeDir {
			_ = os.RemoveAll(dir) // nothing worth keeping from a failed start we placed
		}
		return err
	}
	fmt.Fprintf(stdout, "bootstrap: %s\n", c.Bootstrap())
	metrics, _ := c.(interface{ MetricsURL(int32) string })
	for _, n := range c.Nodes() {
		m := ""
		if metrics != nil {
			m = metrics.MetricsURL(n.ID)
		}
		fmt.Fprintf(stdout, "node %d  rack %-6s  client %-21s  controller %-21s  metrics %s  log %s\n",
			n.ID, n.Rack, n.Addr, orDash(n.ControllerAddr), orDash(m), c.Logs(n.ID))
	}
	if _, err := cluster.NetworkOf(c); err != nil {
		fmt.Fprintf(stderr, "network partitions: %v\n", err)
	}
	fmt.Fprintf(stderr, "ready in %v; Ctrl-C stops it\n", time.Since(began).Round(time.Millisecond))
	<-ctx.Done()
	fmt.Fprintln(stderr, "stopping …")
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if s, ok := c.(interface{ StopAll(context.Context) error }); ok {
		// Graceful first (SIGTERM to every node, each bounded by its stop
		// timeout); Close then kills whatever is left.
		if err := s.StopAll(closeCtx); err != nil {
			fmt.Fprintf(stderr, "graceful stop: %v\n", err)
		}
	}
	if err := c.Close(closeCtx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	fmt.Fprintf(stderr, "stopped; data and logs kept in %s\n", dir)
	return nil
}

func startCluster(ctx context.Context, f clusterFlags, dir string, set map[string]string) (cluster.Cluster, error) {
	switch f.impl {
	case "kafka":
		return kafka.New(ctx, kafka.Config{
			Nodes: f.nodes, Racks: f.racks, Dir: dir, BasePort: f.basePort,
			Set: set, NetNS: f.netns, ReadyTimeout: f.readyTimeout,
		})
	case "reference":
		// A cluster for people, not the nemesis: no fault endpoints on the
		// metrics listener unless asked for with --set.
		if _, ok := set["highwater.fault.endpoints"]; !ok {
			if set == nil {
				set = map[string]string{}
			}
			set["highwater.fault.endpoints"] = "false"
		}
		return reference.New(ctx, reference.Config{
			Nodes: f.nodes, Dir: dir, BasePort: f.basePort, Racks: f.racks, Set: set,
			ReadyTimeout: f.readyTimeout, NetNS: f.netns,
		})
	default:
		return nil, fmt.Errorf("--impl %q: want reference or kafka", f.impl)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
